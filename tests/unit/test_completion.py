"""`ringlab completion bash|zsh`: the scripts, loaded in a real bash and zsh, complete
what the parser knows (commands, subcommands, options, choices)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ringlab

from ringlab.controller.cli import build_parser
from ringlab.controller.commands.completion import ROOT_OPTIONS


def script(shell: str, tmp_path: Path) -> Path:
    made = ringlab("completion", shell)
    assert made.returncode == 0, made.stderr
    path = tmp_path / f"ringlab.{shell}"
    path.write_text(made.stdout)
    return path


# Each call sets the words typed so far (the last is the one under the cursor), runs the
# completion function and prints what it offers, sorted.
BASH_DRIVER = """
source {script}
complete -p ringlab >/dev/null || exit 3
offer() {{
  COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMPREPLY=()
  _ringlab
  printf '%s\\n' "${{COMPREPLY[*]}}" | tr ' ' '\\n' | sort | tr '\\n' ' '; echo
}}
"""

CASES = [
    (["ringlab", "ru"], "run runs"),
    (["ringlab", "runs", "l"], "list"),
    (["ringlab", "runs", "export", "--format", ""], "csv json"),
    (["ringlab", "--version", "runs", "list", "--j"], "--json"),
    (["ringlab", "runs", "trend", "--limit", "5", "--a"], "--alpha"),
    (["ringlab", "completion", ""], "bash zsh"),
    (["ringlab", "lab", "down", "--"], "--all --help --name --stale"),
]


def _quoted(words: list[str]) -> str:
    return " ".join(f"'{w}'" for w in words)


def test_bash_completes_commands_subcommands_options_and_choices(tmp_path: Path) -> None:
    calls = "\n".join(f"offer {_quoted(words)}" for words, _ in CASES)
    driver = BASH_DRIVER.format(script=script("bash", tmp_path)) + calls
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", driver], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    offered = [line.strip() for line in done.stdout.splitlines()]
    assert offered == [expected for _, expected in CASES]


def test_bash_completes_a_scenario_path_after_run(tmp_path: Path) -> None:
    (tmp_path / "pair.yaml").write_text("")
    driver = (
        BASH_DRIVER.format(script=script("bash", tmp_path))
        + f"cd {tmp_path}\noffer ringlab run --lab x pa\n"
    )
    done = subprocess.run(["bash", "--norc", "-c", driver], capture_output=True, text=True)
    assert done.stdout.strip() == "pair.yaml", done.stderr


ZSH_DRIVER = """
autoload -Uz compinit && compinit -u -D
source {script}
(( $+_comps[ringlab] )) || exit 3
# compsys offers only what matches the word under the cursor; these stand-ins for its
# compadd, _describe and _files do that and print the offer.
_offer() {{
  local w out=()
  for w in "$@"; do [[ $w == ${{words[CURRENT]}}* ]] && out+=($w); done
  out=(${{(o)out}})
  print -r -- "${{(j: :)out}}"
}}
compadd() {{ [[ $1 == -- ]] && shift; _offer "$@" }}
_describe() {{ local -a items; items=("${{(@P)${{@[-1]}}}}"); _offer "${{items[@]%%:*}}" }}
_files() {{ print -r -- FILES }}
offer() {{ words=("$@"); CURRENT=$#words; _ringlab }}
"""


@pytest.mark.skipif(
    shutil.which("zsh") is None, reason="zsh is not installed (scripts/install --dev installs it)"
)
def test_zsh_completes_commands_subcommands_options_and_choices(tmp_path: Path) -> None:
    calls = "\n".join(f"offer {_quoted(words)}" for words, _ in CASES)
    driver = ZSH_DRIVER.format(script=script("zsh", tmp_path)) + calls
    done = subprocess.run(["zsh", "-f", "-c", driver], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    offered = [line.strip() for line in done.stdout.splitlines()]
    assert offered == [expected for _, expected in CASES]


def test_the_top_level_options_are_the_parsers() -> None:
    root = build_parser()
    options = {o for action in root._actions for o in action.option_strings}
    assert options == set(ROOT_OPTIONS)


def test_a_new_command_completes_without_edits(tmp_path: Path) -> None:
    """The script comes from the parser: every registered command and option is in it."""
    text = script("bash", tmp_path).read_text()
    root = build_parser()
    for action in root._actions:
        for name in getattr(action, "choices", None) or {}:
            assert name in text
    assert "--case-timeout" in text  # regress run's, three levels down
