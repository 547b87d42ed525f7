"""`ringlab runs list|show|tag|trend|export|import|abort|recover|diagnose`: the stored runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ringlab.controller.analysis.trend import DEFAULT_ALPHA
from ringlab.controller.analysis.trend_series import TREND_METRICS, build_trends
from ringlab.controller.commands.help import add_command
from ringlab.controller.report.tabular import render_csv
from ringlab.controller.store.database import Store, open_store
from ringlab.controller.store.importers import fresh_run_id, load_reference
from ringlab.controller.store.location import DB_HELP, db_argument
from ringlab.controller.store.results import RunResult
from ringlab.controller.views.run_table import (
    print_run,
    print_run_list,
    run_summary_json,
    wide_console,
)
from ringlab.controller.views.trend import print_trends, trends_json
from ringlab.errors import RinglabInputError

# Tag prefix of a copy imported into the store that holds the original: where it came from.
IMPORTED_FROM = "imported-from-"


RUN_HELP = "run id, id prefix, tag or 'latest'"
READ_EXITS = [
    (0, "done"),
    (2, "bad input: no such run, scenario or store (a --db that does not exist is not created)"),
]


def register(sub: Any) -> None:
    runs = add_command(
        sub,
        "runs",
        help="stored runs",
        description="The run store: list, show, tag, trend, export and import runs, diagnose"
        " one again, recover one whose controller went away.",
        exits=READ_EXITS,
    )
    runs.add_argument("--db", type=db_argument, help=DB_HELP)
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    # --db is accepted after the subcommand too, where `run`, `report` and `compare` take
    # it; SUPPRESS keeps one given before the subcommand.
    db_option = argparse.ArgumentParser(add_help=False)
    db_option.add_argument("--db", type=db_argument, default=argparse.SUPPRESS, help=DB_HELP)
    listing = add_command(
        runs_sub,
        "list",
        parents=[db_option],
        help="list stored runs, newest first",
        description="Stored runs, newest first: id, start, scenario, mode, status, tags.",
        exits=READ_EXITS,
    )
    listing.add_argument("--scenario", help="only runs of this scenario")
    listing.add_argument(
        "--limit", type=int, default=50, help="newest runs to list (default %(default)s)"
    )
    listing.add_argument(
        "--json",
        action="store_true",
        help="print a JSON array: run_id, started_at, scenario, mode, status, tags per run",
    )
    listing.set_defaults(handler=runs_list)
    show = add_command(
        runs_sub,
        "show",
        parents=[db_option],
        help="show one run (id, id prefix, tag or 'latest')",
        description="One stored run: a table per phase, then diagnoses, missed expectations"
        " and errors; or its JSON document.",
        exits=READ_EXITS,
    )
    show.add_argument("run", help=RUN_HELP)
    show.add_argument(
        "--json",
        action="store_true",
        help="print the run's result document (as `ringlab run --json` does)",
    )
    show.set_defaults(handler=runs_show)
    tag = add_command(
        runs_sub,
        "tag",
        parents=[db_option],
        help="tag a run, e.g. as a baseline",
        description="Tag a run, e.g. as the baseline `ringlab regress --baseline` and"
        " `ringlab compare` look for. A run may carry several tags.",
        exits=READ_EXITS,
    )
    tag.add_argument("run", help=RUN_HELP)
    tag.add_argument("tag", help="the tag, e.g. baseline or nightly-2026-12-03")
    tag.set_defaults(handler=runs_tag)
    trend = add_command(
        runs_sub,
        "trend",
        parents=[db_option],
        help="a metric across a scenario's stored history, with change points marked",
        description="A metric of each flow of a scenario across its stored runs, oldest"
        " first, with the runs where it stepped up or down marked (binary segmentation, a"
        " permutation test at --alpha). A history too short to show any change at --alpha"
        " is said to be, with the number of runs it takes.",
        exits=READ_EXITS,
    )
    trend.add_argument("scenario", help="scenario name (as in `ringlab runs list`)")
    trend.add_argument(
        "--metric",
        choices=tuple(TREND_METRICS),
        default="rx_pps",
        help="what to follow (default %(default)s)",
    )
    trend.add_argument("--flow", help="only this flow (default: every flow)")
    trend.add_argument("--limit", type=int, default=200, help="newest runs to read (default 200)")
    trend.add_argument(
        "--alpha",
        type=_alpha,
        default=DEFAULT_ALPHA,
        help="significance level a change point must reach, 0.001..0.5 (default %(default)s);"
        " a history shorter than it allows is reported as too short",
    )
    trend.add_argument(
        "--json",
        action="store_true",
        help="print a JSON array, one series per host set, phase and flow, with its points,"
        " change points, alpha, min_p_value, too_short and runs_needed",
    )
    trend.set_defaults(handler=runs_trend)
    export = add_command(
        runs_sub,
        "export",
        parents=[db_option],
        help="one run as JSON (re-importable) or CSV",
        description="Write one run as its JSON result document (`ringlab runs import` reads"
        " it back) or as CSV, a row per phase and flow.",
        exits=[(0, "written"), (2, "bad input: no such run, or the file cannot be written")],
    )
    export.add_argument("run", help=RUN_HELP)
    export.add_argument(
        "--format",
        choices=("json", "csv"),
        default="json",
        help="json: the result document; csv: a row per phase and flow (default %(default)s)",
    )
    export.add_argument("-o", "--output", type=Path, help="write here (default: standard output)")
    export.set_defaults(handler=runs_export)
    imp = add_command(
        runs_sub,
        "import",
        parents=[db_option],
        help="store a reference run from iperf3 --json, trafgen output or a ringlab export",
        description="Store a reference run from `iperf3 --json` (client side), trafgen's"
        " summary (stopped with SIGINT) or a ringlab export, so reports and trends put it"
        " beside ringlab's runs. An import never replaces a stored run: an export read into"
        " the store it came from becomes a copy tagged imported-from-ID.",
        exits=[(0, "stored"), (2, "bad input: a file that cannot be read or imported")],
    )
    imp.add_argument("file", type=Path, help="iperf3 JSON, trafgen output or a ringlab export")
    imp.add_argument(
        "--as", dest="name", help="scenario name to file it under (required except for exports)"
    )
    imp.add_argument(
        "--hosts",
        help="SENDER,RECEIVER names for the flow (default: iperf3's addresses; trafgen,peer)",
    )
    imp.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    imp.set_defaults(handler=runs_import)
    abort = add_command(
        runs_sub,
        "abort",
        parents=[db_option],
        help="mark a run whose controller went away as aborted",
        description="Mark a run that is still `running` as aborted: for a run whose"
        " controller was killed and whose temporary lab was removed by a command that could"
        " not open its store (a PostgreSQL URL whose password the lab did not record).",
        exits=[
            (0, "marked aborted, or nothing to do (the run had ended)"),
            (2, "bad input: no such run or store"),
        ],
    )
    abort.add_argument("run", help=RUN_HELP)
    abort.add_argument(
        "--reason",
        default="its controller went away",
        help="why, kept as the run's error (default: its controller went away)",
    )
    abort.set_defaults(handler=runs_abort)
    recover = add_command(
        runs_sub,
        "recover",
        parents=[db_option],
        help="collect what the agents kept of a run whose controller went away",
        description="Collect what the agents kept of a run whose controller was killed (an"
        " agent keeps its results when its lease expires) and store the run.",
        exits=[
            (0, "recovered, or nothing to recover (the run is not running)"),
            (2, "bad input: no such run, no --lab/--inventory, agents unreachable"),
        ],
    )
    recover.add_argument("run", help=RUN_HELP)
    recover.add_argument("--lab", help="the built-in lab the run used")
    recover.add_argument("--inventory", type=Path, help="the inventory the run used")
    recover.set_defaults(handler=runs_recover)
    diagnose = add_command(
        runs_sub,
        "diagnose",
        parents=[db_option],
        help="diagnose a run again, with other runs as evidence (e.g. bidirectional vs time-sliced)",
        description="Run the diagnosis rules on a stored run again, with other runs as"
        " evidence: a bidirectional run held against a time-sliced one tells contention"
        " from a link that loses frames either way.",
        exits=READ_EXITS,
    )
    diagnose.add_argument("run", help=RUN_HELP)
    diagnose.add_argument(
        "--with", dest="related", action="append", default=[], help="a related run (repeatable)"
    )
    diagnose.add_argument("--json", action="store_true", help="print the findings as a JSON array")
    diagnose.set_defaults(handler=runs_diagnose)


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.001 <= value <= 0.5:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a significance level from 0.001 to 0.5, like 0.05 or 0.01"
        )
    return value


def _store(args: argparse.Namespace) -> Store:
    return open_store(args.db, reading=args.runs_command != "import")


def runs_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        runs = store.list_runs(args.limit, args.scenario)
    if args.json:
        json.dump([run_summary_json(run) for run in runs], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_run_list(runs, wide_console())
    return 0


def runs_show(args: argparse.Namespace) -> int:
    with _store(args) as store:
        result = store.get(args.run)
    if args.json:
        json.dump(result.to_json_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_run(result, wide_console())
    return 0


def runs_tag(args: argparse.Namespace) -> int:
    with _store(args) as store:
        run_id = store.add_tag(args.run, args.tag)
    print(f"run {run_id} tagged {args.tag}")
    return 0


def runs_trend(args: argparse.Namespace) -> int:
    with _store(args) as store:
        history = store.flow_history(args.scenario, args.flow, args.limit)
    if not history:
        what = f"flow {args.flow!r} of " if args.flow else ""
        raise RinglabInputError(
            f"no completed runs of {what}scenario {args.scenario!r} in the store;"
            " `ringlab runs list` shows the scenario names"
        )
    series = build_trends(args.scenario, history, args.metric, min_runs=1, alpha=args.alpha)
    if args.json:
        json.dump(trends_json(series), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_trends(series, wide_console())
    return 0


def runs_export(args: argparse.Namespace) -> int:
    with _store(args) as store:
        result = store.get(args.run)
    if args.format == "json":
        text = json.dumps(result.to_json_dict(), indent=2) + "\n"
    else:
        text = render_csv([result])
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text)
    except OSError as exc:
        raise RinglabInputError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"run {result.run_id} written to {args.output}", file=sys.stderr)
    return 0


def _host_pair(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    names = [part.strip() for part in text.split(",")]
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise RinglabInputError(
            f"--hosts {text!r}: give two different names, SENDER,RECEIVER, like --hosts a,b"
        )
    return names[0], names[1]


def runs_import(args: argparse.Namespace) -> int:
    result = load_reference(args.file, args.name or "", _host_pair(args.hosts))
    if not result.scenario:
        raise RinglabInputError(
            f"{args.file}: give --as NAME, the scenario name to file this reference run under"
            " (use the ringlab scenario's name to see both in one trend or report)"
        )
    if args.name:
        result.scenario = args.name
    result.tags = list(dict.fromkeys([*result.tags, *args.tag]))
    copy_note = ""
    with _store(args) as store:
        original = result.run_id
        if store.has(original):
            # An export read back into the store it came from: a copy under a new id, so
            # the stored run keeps its scenario and tags. Its tags stay on it alone, or a
            # baseline tag would name two runs at once.
            while store.has(result.run_id):
                result.run_id = fresh_run_id(result.started_at)
            left = [t for t in result.tags if t not in args.tag]
            origin = f"{IMPORTED_FROM}{original}"
            result.tags = list(dict.fromkeys([origin, *args.tag]))
            copy_note = f"; run {original} is already stored, so this is a copy tagged {origin}"
            if left:
                copy_note += f" (its tags {', '.join(left)} stay on {original})"
        store.save(result, new=True)
    engines = sorted({f.engine for p in result.phases for f in p.flows})
    print(
        f"imported {args.file} as run {result.run_id} ({', '.join(engines)}, scenario"
        f" {result.scenario}){copy_note}"
    )
    return 0


def runs_diagnose(args: argparse.Namespace) -> int:
    from ringlab.controller.analysis.diagnose import diagnose

    with _store(args) as store:
        result = store.get(args.run)
        related = [store.get(ref) for ref in args.related]
    findings = diagnose(result, related)
    if args.json:
        json.dump([f.model_dump(mode="json") for f in findings], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    result.diagnosis = findings
    result.phases = []
    result.expect_failures = []
    print_run(result, wide_console())
    if not findings:
        print("no findings")
    return 0


def runs_abort(args: argparse.Namespace) -> int:
    with _store(args) as store:
        run_id = store.resolve(args.run)
        if store.mark_aborted(run_id, args.reason):
            print(f"run {run_id} marked aborted: {args.reason}")
        else:
            print(f"run {run_id} is {store.get(run_id).status}: nothing to mark")
    return 0


def runs_recover(args: argparse.Namespace) -> int:
    if args.lab is None and args.inventory is None:
        raise RinglabInputError(
            "say where the run's agents are: --lab NAME or --inventory FILE "
            "(a temporary lab is gone with its controller)"
        )
    with _store(args) as store:
        result = store.get(args.run)
        if result.status != "running":
            print(f"run {result.run_id} is {result.status}: nothing to recover")
            return 0
        recovered = asyncio.run(_recover(args, store, result))
    print(f"run {result.run_id}: recovered {recovered} phase(s); status {result.status}")
    return 0


async def _recover(args: argparse.Namespace, store: Store, result: RunResult) -> int:
    from ringlab.controller.analysis.recovered import unknown_tail
    from ringlab.controller.remote.connect import connect
    from ringlab.controller.run.execute import make_resolver
    from ringlab.controller.run.orchestrator import Orchestrator
    from ringlab.controller.run.plan import build_plan
    from ringlab.controller.scenario import load_scenario_text

    text = store.scenario_text(result.run_id)
    scenario = load_scenario_text(text, f"the stored scenario of run {result.run_id}")
    plan = build_plan(scenario)
    async with connect(plan.hosts, args.inventory, args.lab) as connection:
        orchestrator = Orchestrator(
            connection.agents,
            make_resolver(connection, scenario),
            save=lambda current: store.save(current),
        )
        recovered = await orchestrator.recover(plan, result)
    if recovered:
        result.diagnosis.extend(unknown_tail(result.phases[-recovered:]))
        store.save(result)
    return recovered
