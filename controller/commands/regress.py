"""`ringlab regress SUITE.yaml --baseline TAG`: run a suite, judge each case against its baseline.

Each case (scenario × host set) runs through the same `execute` as `ringlab run`,
is stored tagged with the suite's name, and is compared with the newest
completed run of the same scenario on the same hosts that carries the baseline
tag. Cases that share no host run at the same time; the others wait for the
hosts they need (``HostLocks``), so two tests never contend by accident.

Exit status: 0 when every case passed, 1 when any regressed or could not be
judged, 2 for bad input (suite, inventory, flags).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ringlab.controller.commands.help import BAD_INPUT, add_command
from ringlab.controller.remote.clients import AgentError
from ringlab.controller.remote.connect import lab_inventory
from ringlab.controller.remote.inventory import Inventory, load_inventory
from ringlab.controller.remote.lab import LabError, load_lab
from ringlab.controller.report.html import render_regress_html
from ringlab.controller.report.junit import render_junit
from ringlab.controller.report.verdict import CaseOutcome, failed_to_run, judge
from ringlab.controller.run.execute import execute
from ringlab.controller.run.plan import build_plan
from ringlab.controller.scenario.suite import HostLocks, SuiteCase, expand, load_suite
from ringlab.controller.store.database import Store, default_db_path
from ringlab.controller.store.results import RunResult
from ringlab.controller.views.run_table import wide_console
from ringlab.errors import RinglabInputError


def register(sub: Any) -> None:
    regress = add_command(
        sub,
        "regress",
        help="run a regression suite and compare every case with its baseline",
        description="Run every case of a suite (a scenario on a host set), store each run,"
        " compare it with the latest run tagged --baseline for the same scenario and hosts,"
        " and write JUnit XML and an HTML summary. Host sets that share no host run in"
        " parallel.",
        exits=[
            (0, "every case passed"),
            (1, "a case regressed or could not be judged"),
            BAD_INPUT,
        ],
    )
    regress.add_argument("suite", type=Path, help="suite YAML file")
    regress.add_argument(
        "--baseline", required=True, metavar="TAG", help="tag that marks baseline runs"
    )
    regress.add_argument("--inventory", type=Path, help="inventory YAML (needed for select:)")
    regress.add_argument("--lab", help="use the running built-in lab of this name")
    regress.add_argument("--junit", type=Path, help="write JUnit XML here")
    regress.add_argument("--html", type=Path, help="write an HTML summary here")
    regress.add_argument(
        "--update-baseline",
        action="store_true",
        help="tag this suite's completed runs with the baseline tag (after comparing them)",
    )
    regress.add_argument("--tag", action="append", default=[], help="extra tag for every run")
    regress.add_argument("--db", type=Path, help="run store (default $RINGLAB_DB or XDG data dir)")
    regress.set_defaults(handler=regress_command)


def _inventory(args: argparse.Namespace) -> Inventory | None:
    if args.inventory is not None and args.lab is not None:
        raise RinglabInputError("give --inventory or --lab, not both")
    if args.inventory is not None:
        return load_inventory(args.inventory)
    if args.lab is not None:
        return lab_inventory(load_lab(args.lab))
    return None


async def _run_case(
    case: SuiteCase,
    args: argparse.Namespace,
    suite: str,
    store: Store,
    locks: HostLocks,
    baseline: RunResult | None,
    console: Console,
) -> CaseOutcome:
    tags = list(dict.fromkeys([suite, *args.tag]))
    async with locks.hold(case.hosts):
        console.print(f"[cyan]start[/] {case.name}")
        started = time.monotonic()
        try:
            result = await execute(
                case.scenario,
                build_plan(case.scenario),
                case.scenario_text,
                store,
                inventory=args.inventory,
                lab=args.lab,
                tags=tags,
                live=False,
            )
        except (RinglabInputError, LabError, AgentError) as exc:
            reason = exc.message if isinstance(exc, RinglabInputError) else str(exc)
            return failed_to_run(
                case.name,
                case.scenario.name,
                case.hosts,
                case.thresholds,
                f"the run did not start: {reason}",
                time.monotonic() - started,
            )
    outcome = judge(
        case.name,
        case.scenario.name,
        case.hosts,
        case.thresholds,
        result,
        baseline,
        baseline_tag=args.baseline,
        becomes_baseline=args.update_baseline,
        duration_s=time.monotonic() - started,
    )
    if args.update_baseline and result.status == "completed":
        store.add_tag(result.run_id, args.baseline)
    style = "green" if outcome.ok else "red"
    console.print(f"[{style}]{outcome.verdict}[/] {case.name} (run {result.run_id})")
    return outcome


async def run_cases(
    cases: Sequence[SuiteCase],
    args: argparse.Namespace,
    suite: str,
    store: Store,
    baselines: Sequence[RunResult | None],
    console: Console,
) -> list[CaseOutcome]:
    locks = HostLocks()
    return list(
        await asyncio.gather(
            *(
                _run_case(case, args, suite, store, locks, baseline, console)
                for case, baseline in zip(cases, baselines, strict=True)
            )
        )
    )


def summary_table(outcomes: Sequence[CaseOutcome]) -> Table:
    table = Table(title="regression suite", title_justify="left")
    for column in ("case", "verdict", "run", "baseline", "why"):
        table.add_column(column)
    for outcome in outcomes:
        style = "green" if outcome.ok else "red"
        table.add_row(
            outcome.name,
            f"[{style}]{outcome.verdict}[/]",
            outcome.candidate.run_id if outcome.candidate else "-",
            outcome.baseline.run_id if outcome.baseline else "-",
            outcome.message,
        )
    return table


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
    cases = expand(suite, _inventory(args))
    console = Console(stderr=True)
    with Store(args.db or default_db_path()) as store:
        # Baselines are chosen before anything runs, so a run tagged during this suite
        # (--update-baseline) is never its own baseline.
        baselines: list[RunResult | None] = []
        for case in cases:
            found = store.latest_tagged(args.baseline, case.scenario.name, frozenset(case.hosts))
            baselines.append(store.get(found) if found else None)
        outcomes = asyncio.run(run_cases(cases, args, suite.name, store, baselines, console))
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    if args.junit:
        _write(args.junit, render_junit(suite.name, outcomes), "JUnit XML")
    if args.html:
        _write(
            args.html,
            render_regress_html(suite.name, args.baseline, outcomes, generated),
            "HTML summary",
        )
    wide_console().print(summary_table(outcomes))
    bad = [o for o in outcomes if not o.ok]
    if bad:
        print(f"ringlab: {len(bad)} of {len(outcomes)} case(s) failed", file=sys.stderr)
        return 1
    return 0
