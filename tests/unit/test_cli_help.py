"""Every command has a description and its exit codes; every option has a help text."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
from helpers import ringlab

from ringlab.agent.cli import build_parser as build_agent_parser
from ringlab.controller.cli import build_parser


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("ringlab",)
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the tree, with its command line (``ringlab runs show``)."""
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*path, name))


def undocumented(parser: argparse.ArgumentParser) -> list[str]:
    """Options, arguments and subcommands of one parser that have no help text."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            missing += [f"{c.dest} (subcommand)" for c in action._choices_actions if not c.help]
        elif not action.help or action.help == argparse.SUPPRESS:
            missing.append("/".join(action.option_strings) or action.dest)
    return missing


TREE = list(commands(build_parser()))
# `ringlab agent ...` has a parser of its own (the agent never loads controller code).
AGENT_TREE = list(commands(build_agent_parser(), ("ringlab", "agent")))


def test_the_tree_is_the_whole_cli() -> None:
    names = {name for name, _ in TREE}
    # Leaves and groups alike, so a new command cannot slip past the checks below.
    assert {
        "ringlab run",
        "ringlab runs show",
        "ringlab lab down",
        "ringlab certs init",
        "ringlab regress run",
        "ringlab completion",
    } <= names
    assert "ringlab agent serve" in {name for name, _ in AGENT_TREE}
    assert len(TREE) >= 24


def test_every_option_of_every_command_has_help() -> None:
    missing = {name: undocumented(parser) for name, parser in [*TREE, *AGENT_TREE]}
    assert {name: m for name, m in missing.items() if m} == {}


def test_every_command_has_a_description_and_its_exit_codes() -> None:
    for name, parser in TREE:
        assert parser.description, f"{name} has no description"
        epilog = parser.epilog or ""
        assert epilog.startswith("exit codes:"), f"{name} does not list its exit codes"
        codes = [line.split()[0] for line in epilog.splitlines()[1:] if line.strip()]
        assert "0" in codes and "2" in codes and "130" in codes, (name, codes)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("run",), ["  1   the run failed", "  130 interrupted (Ctrl-C or SIGTERM)"]),
        (("compare",), ["  1   a flow past a threshold"]),
        (("runs", "show"), ["--json      print the run's result document"]),
        (("runs", "export"), ["--format {json,csv}"]),
        (("lab", "down"), ["--name NAME  lab name (default default)"]),
        (("regress", "run"), ["  1   at least one case regressed", "  3   no case regressed"]),
        (("check",), ["  2   invalid, or preflight would refuse it"]),
    ],
)
def test_help_through_the_real_cli(command: tuple[str, ...], expected: list[str]) -> None:
    shown = ringlab(*command, "--help", env={"COLUMNS": "80"})
    assert shown.returncode == 0, shown.stderr
    assert "exit codes:" in shown.stdout
    for text in expected:
        assert text in shown.stdout, shown.stdout
    assert all(len(line) <= 80 for line in shown.stdout.splitlines()), shown.stdout
