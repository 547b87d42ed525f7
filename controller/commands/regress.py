"""`ringlab regress [run] SUITE.yaml --baseline TAG` and `ringlab regress history SUITE`.

Parsing and printing only: running the cases is controller/run/regress.py, the
suite file controller/scenario/suite.py, the history controller/analysis/history.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from ringlab.controller.analysis.history import CaseHistory, read_history
from ringlab.controller.analysis.trend import DEFAULT_ALPHA
from ringlab.controller.commands.help import BAD_INPUT, add_command
from ringlab.controller.remote.connect import lab_inventory
from ringlab.controller.remote.inventory import Inventory, load_inventory
from ringlab.controller.remote.lab import load_lab
from ringlab.controller.report.html import render_regress_html
from ringlab.controller.report.junit import render_junit
from ringlab.controller.run.regress import (
    EXIT_NOT_JUDGED,
    EXIT_REGRESSED,
    HISTORY_RUNS,
    RegressOptions,
    executor,
    exit_status,
    run_suite_recorded,
)
from ringlab.controller.run.turns import wait_seconds
from ringlab.controller.scenario import units
from ringlab.controller.scenario.suite import load_suite
from ringlab.controller.scenario.suite_cases import expand
from ringlab.controller.store.database import open_store
from ringlab.controller.store.location import DB_HELP, db_argument
from ringlab.controller.store.results import RunResult
from ringlab.controller.store.suites import SuiteRuns
from ringlab.controller.views.regress import (
    CaseLines,
    counts,
    print_case_runs,
    print_history,
    print_summary,
    regress_json,
)
from ringlab.controller.views.run_table import wide_console
from ringlab.errors import RinglabInputError

RUN_EXITS = [
    (0, "every case passed (or became the first baseline)"),
    (EXIT_REGRESSED, "at least one case regressed: a threshold was crossed"),
    BAD_INPUT,
    (
        EXIT_NOT_JUDGED,
        "no case regressed, but at least one could not be judged: an infrastructure error"
        " (agent unreachable, link down, busy host, refused, failed or over its time limit)"
        " or no baseline to compare with",
    ),
]


class _AnyWord(Mapping[str, argparse.ArgumentParser]):
    """The subcommands of `regress` as argparse checks a first word against them: any word
    passes (one that names no subcommand is the suite of `run`)."""

    def __init__(self, parsers: dict[str, argparse.ArgumentParser]) -> None:
        self._parsers = parsers

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        return self._parsers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsers)

    def __len__(self) -> int:
        return len(self._parsers)

    def __contains__(self, word: object) -> bool:
        return True


class _RunByDefault(argparse._SubParsersAction):  # type: ignore[type-arg]
    """`regress SUITE.yaml ...` is `regress run SUITE.yaml ...`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse checks the first word against ``choices`` before calling the action;
        # typeshed says dict, argparse needs only ``in`` and the mapping methods.
        self.choices = _AnyWord(self._name_parser_map)  # type: ignore[assignment]

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if values and values[0] not in self._name_parser_map:
            values = ["run", *values]
        super().__call__(parser, namespace, values, option_string)


def register(sub: Any) -> None:
    regress = add_command(
        sub,
        "regress",
        help="run a regression suite and compare every case with its baseline; its history",
        description="`ringlab regress SUITE.yaml --baseline TAG` (short for `regress run`)"
        " runs every case of a suite and judges each against its baseline;"
        " `ringlab regress history SUITE` shows each case's verdicts and received rate over"
        " the last suite runs. `ringlab regress run --help` describes the options.",
        exits=RUN_EXITS,
    )
    commands = regress.add_subparsers(
        dest="regress_command", required=True, action=_RunByDefault, metavar="{run,history}"
    )
    _register_run(commands)
    _register_history(commands)


def _register_run(commands: Any) -> None:
    run = add_command(
        commands,
        "run",
        help="run a suite (the default: `regress SUITE.yaml` is `regress run SUITE.yaml`)",
        description="Run every case of a suite (a scenario on a host set), store each run,"
        " compare it with the latest run tagged --baseline for the same scenario and hosts,"
        " and write JUnit XML and an HTML summary. A `select` makes one case per set of"
        " inventory hosts with the labels whose flows all have an interface at both ends;"
        " the sets it leaves out are listed once, not run. Cases start in file order as soon"
        " as their hosts are free (cases sharing no host run at once, up to --max-parallel);"
        " a line is printed as each starts and ends. A case that cannot run (agent"
        " unreachable, link down, busy host) or runs over its time limit is an error, apart"
        " from regressions, and never holds the others.",
        exits=RUN_EXITS,
    )
    run.add_argument("suite", type=Path, help="suite YAML file")
    run.add_argument(
        "--baseline", required=True, metavar="TAG", help="tag that marks baseline runs"
    )
    run.add_argument(
        "--inventory", type=Path, help="inventory YAML (select: picks its hosts by label)"
    )
    run.add_argument("--lab", help="use the running built-in lab of this name")
    run.add_argument("--junit", type=Path, help="write JUnit XML here")
    run.add_argument("--html", type=Path, help="write an HTML summary here")
    run.add_argument(
        "--update-baseline",
        action="store_true",
        help="tag this suite's completed runs with the baseline tag (after comparing them)",
    )
    run.add_argument("--tag", action="append", default=[], help="extra tag for every run")
    run.add_argument(
        "--max-parallel",
        type=int,
        metavar="N",
        help="run at most N cases at once (default: every case whose hosts are free)",
    )
    run.add_argument(
        "--case-timeout",
        metavar="DURATION",
        help="time limit of a case whose suite gives no timeout, like 90s or 5m"
        " (default: twice its traffic time plus 2m)",
    )
    run.add_argument(
        "--wait",
        metavar="DURATION",
        help="a case whose hosts another controller holds waits up to DURATION (like 10m)"
        " for them, first come first served, saying whom it waits for (the wait is added"
        " to its time limit); without it such a case is an error at once, nothing stored",
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print the verdicts as JSON instead of the summary table (case lines go to stderr)",
    )
    run.add_argument("--db", type=db_argument, help=DB_HELP)
    run.set_defaults(handler=regress_command)


def _register_history(commands: Any) -> None:
    history = add_command(
        commands,
        "history",
        help="each case's verdicts and received rate over the last suite runs",
        description="Per case (scenario × host set) of a suite: its verdict in each of the"
        " last suite runs, its received packet rate (rx_pps of its flows added up, averaged"
        " over phases) and the change points `runs trend` finds in it. --case lists one"
        " case's runs.",
        exits=[(0, "shown"), (2, "bad input: no such store, suite or case")],
    )
    history.add_argument("suite", help="suite YAML file, or the suite's name")
    history.add_argument(
        "--last",
        type=int,
        default=HISTORY_RUNS,
        metavar="N",
        help="the last N suite runs (default %(default)s)",
    )
    history.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help="significance of a change point (default %(default)s)",
    )
    history.add_argument("--case", help="list this case's runs (its name, like 'pair on a,b')")
    history.add_argument(
        "--json",
        action="store_true",
        help="print suite runs and, per case, every run's verdict, run ids, rx_pps and the"
        " change points",
    )
    history.add_argument("--db", type=db_argument, help=DB_HELP)
    history.set_defaults(handler=history_command)


def _inventory(args: argparse.Namespace) -> Inventory | None:
    if args.inventory is not None and args.lab is not None:
        raise RinglabInputError("give --inventory or --lab, not both")
    if args.inventory is not None:
        return load_inventory(args.inventory)
    if args.lab is not None:
        return lab_inventory(load_lab(args.lab))
    return None


def _write(path: Path, text: str, what: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise RinglabInputError(
            f"cannot write the {what} {path}: {exc.strerror or exc}; check the directory"
        ) from None


def regress_command(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    if args.baseline in (suite.name, *args.tag):
        raise RinglabInputError(
            f"--baseline {args.baseline} is also a tag every run of this suite gets"
            f" (suite name {suite.name!r}, or --tag): every run, regressed or not, would"
            " become the next baseline. Use another --baseline tag, or rename the suite;"
            " --update-baseline makes the completed runs the new baseline when you mean it to."
        )
    if args.max_parallel is not None and args.max_parallel < 1:
        raise RinglabInputError(f"--max-parallel {args.max_parallel}: give 1 or more")
    options = RegressOptions(
        baseline_tag=args.baseline,
        tags=tuple(dict.fromkeys([suite.name, *args.tag])),
        update_baseline=args.update_baseline,
        max_parallel=args.max_parallel,
        default_timeout_s=units.duration_option_s("--case-timeout", args.case_timeout),
        wait_s=wait_seconds(args.wait),
    )
    expansion = expand(suite, _inventory(args))
    console = Console(stderr=True)
    with open_store(args.db) as store:
        # Baselines are chosen before anything runs, so a run tagged during this suite
        # (--update-baseline) is never its own baseline.
        baselines: list[RunResult | None] = []
        for case in expansion.cases:
            found = store.latest_tagged(args.baseline, case.scenario.name, frozenset(case.hosts))
            baselines.append(store.get(found) if found else None)
        done = asyncio.run(
            run_suite_recorded(
                suite.name,
                expansion.cases,
                baselines,
                options,
                store,
                executor(store, args.inventory, args.lab, options.wait_s),
                CaseLines(console),
            )
        )
    outcomes = done.outcomes
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    if args.junit:
        _write(args.junit, render_junit(suite.name, outcomes, expansion.unlinked), "JUnit XML")
    if args.html:
        html = render_regress_html(
            suite.name, args.baseline, outcomes, generated, expansion.unlinked, done.history
        )
        _write(args.html, html, "HTML summary")
    if args.json:
        document = regress_json(suite.name, done.suite_run_id, outcomes, expansion.unlinked)
        print(json.dumps(document, indent=2))
    else:
        print_summary(suite.name, outcomes, expansion.unlinked, wide_console())
    status = exit_status(outcomes)
    if status:
        print(
            f"ringlab: suite run {done.suite_run_id}: {counts(outcomes)}"
            f" of {len(outcomes)} case(s)",
            file=sys.stderr,
        )
    return status


def _suite_name(text: str) -> str:
    path = Path(text)
    return load_suite(path).name if path.is_file() else text


def history_command(args: argparse.Namespace) -> int:
    if args.last < 1:
        raise RinglabInputError(f"--last {args.last}: give 1 or more")
    if not 0 < args.alpha < 1:
        raise RinglabInputError(f"--alpha {args.alpha}: give a number between 0 and 1")
    name = _suite_name(args.suite)
    with open_store(args.db, reading=True) as store, SuiteRuns(store.path) as suites:
        history = read_history(suites, name, args.last, args.alpha)
        known = suites.suites()
    if not history.suite_runs:
        stored = ", ".join(known) if known else "none yet"
        raise RinglabInputError(
            f"no suite runs of {name!r} in {store.path} (suites with runs: {stored});"
            " `ringlab regress SUITE.yaml --baseline TAG` makes one"
        )
    chosen = _chosen(history.cases, args.case)
    if args.json:
        document = history.to_json()
        if args.case is not None:
            document["cases"] = [c for c in document["cases"] if c["case"] == args.case]
        print(json.dumps(document, indent=2))
        return 0
    console = wide_console()
    if chosen is not None:
        print_case_runs(history, chosen, console)
    else:
        print_history(history, console)
    return 0


def _chosen(cases: Sequence[CaseHistory], name: str | None) -> CaseHistory | None:
    if name is None:
        return None
    for case in cases:
        if name in (case.name, case.key):
            return case
    names = ", ".join(repr(c.name) for c in cases)
    raise RinglabInputError(f"no case {name!r} in this history; its cases are {names}")
