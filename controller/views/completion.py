"""Shell completion scripts for bash and zsh, generated from the argparse tree.

Nothing here is written by hand per command: the tree `ringlab` parses with is walked
for its subcommands, options, the options that take a value and their choices, so a
new command or option completes as soon as it is registered. The scripts hold that
tree as data (associative arrays keyed by the command path, like ``ringlab runs``) and
one small function per shell walks the words typed so far through it.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

ROOT = "ringlab"


@dataclass
class CommandNode:
    """What completes after one command path: its subcommands, options and values."""

    subcommands: dict[str, str] = field(default_factory=dict)  # name -> help
    options: list[str] = field(default_factory=list)
    takes_value: dict[str, list[str]] = field(default_factory=dict)  # option -> choices
    argument_choices: list[str] = field(default_factory=list)  # `completion bash|zsh`


def command_tree(
    children: Mapping[str, argparse.ArgumentParser],
    root_options: Mapping[str, bool],
    helps: Mapping[str, str],
) -> dict[str, CommandNode]:
    """Every command path (``ringlab``, ``ringlab runs``, ``ringlab runs list``) and what
    completes after it. ``children`` are the top-level subcommands' parsers, ``helps`` their
    one-line help and ``root_options`` the top-level options (True: takes a value)."""
    root = CommandNode(options=sorted(root_options))
    root.takes_value = {option: [] for option, value in root_options.items() if value}
    tree = {ROOT: root}
    for name, parser in children.items():
        root.subcommands[name] = helps.get(name, "")
        tree.update(_walk(parser, f"{ROOT} {name}"))
    return tree


def _walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, CommandNode]]:
    node = CommandNode()
    nested: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, child in action.choices.items():
                node.subcommands[name] = helps.get(name, "")
                nested.append((f"{path} {name}", child))
            continue
        node.options.extend(action.option_strings)
        if not action.option_strings and action.choices:
            node.argument_choices.extend(str(c) for c in action.choices)
        if action.option_strings and action.nargs != 0:
            choices = [str(c) for c in action.choices] if action.choices else []
            for option in action.option_strings:
                node.takes_value[option] = choices
    yield path, node
    for child_path, child in nested:
        yield from _walk(child, child_path)


def _bash_assoc(name: str, entries: Mapping[str, str]) -> str:
    body = "\n".join(f"  [{shlex.quote(k)}]={shlex.quote(v)}" for k, v in entries.items())
    return f"{name}=(\n{body}\n)"


def _tables(tree: Mapping[str, CommandNode]) -> dict[str, dict[str, str]]:
    """The tree as the four string tables both scripts read."""
    subs = {path: " ".join(node.subcommands) for path, node in tree.items() if node.subcommands}
    arguments = {
        path: " ".join(node.argument_choices)
        for path, node in tree.items()
        if node.argument_choices
    }
    options = {path: " ".join(node.options) for path, node in tree.items() if node.options}
    values = {
        f"{path}|{option}": " ".join(choices) or "-"  # "-": a value, no fixed choices
        for path, node in tree.items()
        for option, choices in node.takes_value.items()
    }
    described = {
        path: "\n".join(
            f"{name}:{' '.join(text.split())}".replace("\\", "\\\\")
            for name, text in node.subcommands.items()
        )
        for path, node in tree.items()
        if node.subcommands
    }
    return {"subs": subs, "args": arguments, "opts": options, "value": values, "help": described}


# The words typed so far walk the tree: a known subcommand moves down, an option that
# takes a value skips that value; then the word under the cursor completes as the value
# of the option before it (its choices, else a file), an option, a subcommand, an
# argument's choices or a file.
_BASH_FUNCTION = r"""
_ringlab() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
  local cmd=ringlab word i skip=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    if [[ $word == -* ]]; then
      [[ -n "${_ringlab_value["$cmd|$word"]:-}" ]] && skip=1
      continue
    fi
    [[ " ${_ringlab_subs["$cmd"]:-} " == *" $word "* ]] && cmd="$cmd $word"
  done
  local value="${_ringlab_value["$cmd|$prev"]:-}"
  if [[ $prev == -* && -n $value ]]; then
    if [[ $value == - ]]; then
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$value" -- "$cur"))
    fi
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "${_ringlab_opts["$cmd"]:-}" -- "$cur"))
  elif [[ -n "${_ringlab_subs["$cmd"]:-}" ]]; then
    COMPREPLY=($(compgen -W "${_ringlab_subs["$cmd"]}" -- "$cur"))
  elif [[ -n "${_ringlab_args["$cmd"]:-}" ]]; then
    COMPREPLY=($(compgen -W "${_ringlab_args["$cmd"]}" -- "$cur"))
  else
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _ringlab ringlab
"""

_ZSH_FUNCTION = r"""
_ringlab() {
  local cmd=ringlab word i skip=0
  for ((i = 2; i < CURRENT; i++)); do
    word=${words[i]}
    if ((skip)); then skip=0; continue; fi
    if [[ $word == -* ]]; then
      [[ -n ${_ringlab_value[$cmd|$word]} ]] && skip=1
      continue
    fi
    [[ " ${_ringlab_subs[$cmd]} " == *" $word "* ]] && cmd="$cmd $word"
  done
  local prev=${words[CURRENT-1]} cur=${words[CURRENT]}
  local value=${_ringlab_value[$cmd|$prev]}
  if [[ $prev == -* && -n $value ]]; then
    if [[ $value == - ]]; then _files; else compadd -- ${=value}; fi
  elif [[ $cur == -* ]]; then
    compadd -- ${=_ringlab_opts[$cmd]}
  elif [[ -n ${_ringlab_subs[$cmd]} ]]; then
    local -a described
    described=("${(@f)_ringlab_help[$cmd]}")
    _describe -t commands 'ringlab command' described
  elif [[ -n ${_ringlab_args[$cmd]} ]]; then
    compadd -- ${=_ringlab_args[$cmd]}
  else
    _files
  fi
}
"""


def bash_script(tree: Mapping[str, CommandNode]) -> str:
    tables = _tables(tree)
    arrays = "\n".join(
        f"declare -gA _ringlab_{name}\n" + _bash_assoc(f"_ringlab_{name}", tables[name])
        for name in ("subs", "args", "opts", "value")
    )
    return (
        "# bash completion for ringlab, made by `ringlab completion bash` from its parser.\n"
        "# Load it: source <(ringlab completion bash)\n" + arrays + "\n" + _BASH_FUNCTION
    )


def _zsh_assoc(name: str, entries: Mapping[str, str]) -> str:
    body = "\n".join(f"  {shlex.quote(k)} {shlex.quote(v)}" for k, v in entries.items())
    return f"typeset -gA {name}\n{name}=(\n{body}\n)"


def zsh_script(tree: Mapping[str, CommandNode]) -> str:
    tables = _tables(tree)
    arrays = "\n".join(
        _zsh_assoc(f"_ringlab_{name}", tables[name])
        for name in ("subs", "args", "opts", "value", "help")
    )
    return (
        "#compdef ringlab\n"
        "# zsh completion for ringlab, made by `ringlab completion zsh` from its parser.\n"
        "# Load it: source <(ringlab completion zsh), after compinit; or save it as _ringlab\n"
        "# in a directory of $fpath.\n"
        + arrays
        + "\n"
        + _ZSH_FUNCTION
        + 'if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _ringlab "$@";'
        " else compdef _ringlab ringlab; fi\n"
    )
