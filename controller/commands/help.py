"""What a command's --help says besides its options: a description and its exit codes.

Every command is made with ``add_command``, so `ringlab X --help` always ends with
the exit codes (a test walks the whole parser tree for them and for options
without help text).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from typing import Any

ExitCode = tuple[int, str]

BAD_INPUT: ExitCode = (2, "bad input or usage; stderr says what and how to fix it")
INTERRUPTED: ExitCode = (130, "interrupted (Ctrl-C or SIGTERM)")


class HelpFormatter(argparse.HelpFormatter):
    """Wraps each line of a description or epilog on its own, so exit codes stay a list."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            stripped = line.lstrip()
            inner = indent + line[: len(line) - len(stripped)]
            # A code's meaning that wraps lines up under the meaning, not the code.
            hanging = inner + " " * 4 if stripped[:1].isdigit() else inner
            lines.append(
                textwrap.fill(stripped, width, initial_indent=inner, subsequent_indent=hanging)
                if stripped
                else ""
            )
        return "\n".join(lines)


def exit_codes(codes: Sequence[ExitCode]) -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<4}{meaning}" for code, meaning in codes)


def add_command(
    sub: Any,
    name: str,
    *,
    help: str,
    description: str,
    exits: Sequence[ExitCode],
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """A subcommand parser with a description and its exit codes as the epilog (130 added)."""
    if all(code != INTERRUPTED[0] for code, _ in exits):
        exits = [*exits, INTERRUPTED]
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=exit_codes(exits),
        formatter_class=HelpFormatter,
        **kwargs,
    )
    return parser
