"""`ringlab completion bash|zsh`: print a shell completion script for ringlab.

The script is generated from the parser tree every other command registers into
(controller/views/completion.py), so new commands and options complete without edits.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ringlab.controller.commands.help import BAD_INPUT, add_command
from ringlab.controller.views.completion import bash_script, command_tree, zsh_script

# The top-level parser's own options (controller/cli.py); a test holds them to it.
ROOT_OPTIONS = {"-h": False, "--help": False, "--version": False}


def register(sub: Any) -> None:
    completion = add_command(
        sub,
        "completion",
        help="print a bash or zsh completion script for ringlab",
        description="Print a shell completion script for ringlab, made from its own parser:"
        " commands, subcommands, options and their choices complete. Bash: add"
        " `source <(ringlab completion bash)` to ~/.bashrc. Zsh: add"
        " `source <(ringlab completion zsh)` to ~/.zshrc after compinit, or save the"
        " output as _ringlab in a directory of $fpath.",
        exits=[(0, "printed"), BAD_INPUT],
    )
    completion.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")

    def print_script(args: argparse.Namespace) -> int:
        helps = {choice.dest: choice.help or "" for choice in sub._choices_actions}
        tree = command_tree(sub.choices, ROOT_OPTIONS, helps)
        sys.stdout.write(bash_script(tree) if args.shell == "bash" else zsh_script(tree))
        return 0

    completion.set_defaults(handler=print_script)
