"""The controller's command line: `ringlab run|lab|runs|probe|report|...`.

Each command lives in its own module under ringlab.controller.commands and
registers its parser; this module only dispatches and turns known errors into
messages and exit codes (2: bad input or usage, 1: the run failed or missed its
criteria). A traceback is never the answer to bad input.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable

from ringlab import __version__
from ringlab.controller.commands.help import (
    BAD_INPUT,
    INTERRUPTED,
    HelpFormatter,
    add_command,
    exit_codes,
)
from ringlab.controller.remote.clients import AgentError
from ringlab.controller.remote.lab import LabError
from ringlab.controller.store.database import StoreError
from ringlab.errors import RinglabInputError

COMMAND_MODULES = (
    "run",
    "check",
    "lab",
    "runs",
    "probe",
    "report",
    "regress",
    "deploy",
    "certs",
    "store",
    "completion",
)

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ringlab",
        description="Distributed traffic tests for AF_PACKET and zero-copy labs."
        " `ringlab COMMAND --help` describes each command and its exit codes.",
        epilog=exit_codes(
            [
                (0, "done, passed"),
                (1, "a run failed or missed its criteria, a comparison regressed"),
                BAD_INPUT,
                INTERRUPTED,
                (141, "the reader of the output went away (`ringlab runs list | head`)"),
            ]
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ringlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_command(
        sub,
        "agent",
        help="run the agent daemon (`ringlab agent serve --help`)",
        description="The agent daemon every host runs; `ringlab agent serve --help` describes"
        " it (it never loads controller code).",
        exits=[(0, "stopped"), BAD_INPUT],
    )
    for name in COMMAND_MODULES:
        importlib.import_module(f"ringlab.controller.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except RinglabInputError as exc:
        print(f"ringlab: {exc.message}", file=sys.stderr)
        return 2
    except (LabError, StoreError, AgentError) as exc:
        print(f"ringlab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ringlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`ringlab runs list | head`): stop quietly, like other tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
