"""`ringlab report RUN... -o FILE` and `ringlab compare BASELINE CANDIDATE`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ringlab.controller.analysis.run_deltas import (
    NotComparable,
    Thresholds,
    compare_runs,
    not_comparable,
    violations,
)
from ringlab.controller.analysis.trend_series import TREND_METRICS, report_trends
from ringlab.controller.commands.help import add_command
from ringlab.controller.report.baselines import run_tool
from ringlab.controller.report.formats import FORMATS, output_format, render_report
from ringlab.controller.scenario import units
from ringlab.controller.store.database import Store, open_store
from ringlab.controller.store.location import DB_HELP, db_argument
from ringlab.controller.views.comparison import compare_json, comparison_tables
from ringlab.controller.views.run_table import wide_console
from ringlab.errors import RinglabInputError


def register(sub: Any) -> None:
    report = add_command(
        sub,
        "report",
        help="a comparative report of stored runs (HTML, Markdown, JSON or CSV)",
        description="Runs side by side, per-flow tables, charts, differences of each run"
        " against the baseline of its scenario and tool (flows matched by name and frame"
        " size; runs of different scenarios or tools side by side with a warning, never as"
        " a % change), bidirectional vs time-sliced, diagnoses and trends.",
        exits=[(0, "written"), (2, "bad input: no such run, or the file cannot be written")],
    )
    report.add_argument("runs", nargs="+", metavar="RUN", help="run id, id prefix, tag or latest")
    report.add_argument(
        "--baseline",
        metavar="RUN",
        help="run the other runs of its scenario and tool are compared with (default: the"
        " first run of each scenario and tool); added to the report if not listed",
    )
    report.add_argument("-o", "--output", type=Path, help="write here (default: standard output)")
    report.add_argument("--format", choices=FORMATS, help="default: from the -o suffix, else html")
    report.add_argument(
        "--trend-metric",
        choices=tuple(TREND_METRICS),
        default="rx_pps",
        help="metric of the trend section (default %(default)s)",
    )
    report.add_argument("--no-trends", action="store_true", help="leave the trend section out")
    report.add_argument("--db", type=db_argument, help=DB_HELP)
    report.set_defaults(handler=report_command)

    compare = add_command(
        sub,
        "compare",
        help="per-flow deltas of a candidate run against a baseline; exit 1 past a threshold",
        description="Per-flow deltas of a candidate run against a baseline run, matched by"
        " phase and flow, checked against --max-rx-pps-drop and --max-loss.",
        exits=[
            (0, "every flow within the thresholds"),
            (
                1,
                "a flow past a threshold, a threshold only one run can measure (not"
                " comparable), or a candidate that did not complete",
            ),
            (2, "bad input: no such run, a run against itself, a malformed threshold"),
        ],
    )
    compare.add_argument("baseline", help="baseline run: id, prefix, tag (e.g. a baseline tag)")
    compare.add_argument("candidate", help="candidate run: id, prefix, tag or latest")
    compare.add_argument(
        "--max-rx-pps-drop",
        default="5%",
        help="largest allowed rx_pps drop per flow (default %(default)s; 'none' to skip)",
    )
    compare.add_argument(
        "--max-loss",
        default="0.1%",
        help="largest allowed loss per flow in the candidate (default %(default)s; 'none')",
    )
    compare.add_argument("--json", action="store_true", help="print the deltas as JSON")
    compare.add_argument("--db", type=db_argument, help=DB_HELP)
    compare.set_defaults(handler=compare_command)


def resolve_noting_tags(store: Store, ref: str) -> str:
    """``store.resolve``, saying on stderr which run a tag on several runs stands for."""
    run_id = store.resolve(ref)
    tagged = store.tagged(ref) if ref != "latest" else []
    if len(tagged) > 1 and tagged[0] == run_id:
        print(
            f"ringlab: tag {ref!r} is on {len(tagged)} runs; using the newest, {run_id}"
            " (give a run id to use another)",
            file=sys.stderr,
        )
    return run_id


def report_command(args: argparse.Namespace) -> int:
    kind = output_format(args.format, args.output)
    with open_store(args.db, reading=True) as store:
        run_ids = list(dict.fromkeys(resolve_noting_tags(store, ref) for ref in args.runs))
        baseline = resolve_noting_tags(store, args.baseline) if args.baseline else None
        if baseline is not None and baseline not in run_ids:
            run_ids.insert(0, baseline)
        runs = [store.get(run_id) for run_id in run_ids]
        trends = [] if args.no_trends else report_trends(store, runs, args.trend_metric)
    text = render_report(kind, runs, trends, baseline)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text)
    except OSError as exc:
        raise RinglabInputError(
            f"cannot write {args.output}: {exc.strerror or exc}; check the directory exists"
            " and is writable"
        ) from None
    print(f"report of {len(runs)} run(s) written to {args.output} ({kind})", file=sys.stderr)
    return 0


def parse_threshold(flag: str, value: str) -> float | None:
    if value.strip().lower() in ("none", "off", ""):
        return None
    try:
        return units.parse_fraction(value)
    except units.UnitError as exc:
        raise RinglabInputError(f"{flag}: {exc}") from None


def _limit_flags(unchecked: list[NotComparable]) -> str:
    flags = {"rx_pps": "--max-rx-pps-drop none", "loss": "--max-loss none"}
    return " or ".join(dict.fromkeys(flags[n.metric] for n in unchecked))


def compare_command(args: argparse.Namespace) -> int:
    thresholds = Thresholds(
        max_rx_pps_drop=parse_threshold("--max-rx-pps-drop", args.max_rx_pps_drop),
        max_loss=parse_threshold("--max-loss", args.max_loss),
    )
    with open_store(args.db, reading=True) as store:
        baseline_id = resolve_noting_tags(store, args.baseline)
        candidate_id = resolve_noting_tags(store, args.candidate)
        if baseline_id == candidate_id:
            # A run compared with itself has no deltas and always passes: never a verdict.
            raise RinglabInputError(
                f"both arguments name run {baseline_id} (baseline {args.baseline!r},"
                f" candidate {args.candidate!r}), and a run compared with itself always"
                " passes; give another run for one of them: a run id from `ringlab runs"
                " list`, or a tag on another run (`ringlab runs tag RUN TAG`)"
            )
        baseline = store.get(baseline_id)
        candidate = store.get(candidate_id)
    if baseline.scenario != candidate.scenario:
        print(
            f"ringlab: warning: baseline {baseline.run_id} is scenario {baseline.scenario!r}"
            f" but candidate {candidate.run_id} is scenario {candidate.scenario!r}; flows are"
            " matched by name, then by position, so check they measure the same thing",
            file=sys.stderr,
        )
    if run_tool(baseline) != run_tool(candidate):
        print(
            f"ringlab: warning: baseline {baseline.run_id} was measured by"
            f" {run_tool(baseline)} and candidate {candidate.run_id} by {run_tool(candidate)};"
            " each tool counts differently, so a change between them is not a regression"
            " (`ringlab report` puts them side by side)",
            file=sys.stderr,
        )
    comparison = compare_runs(baseline, candidate)
    for delta in comparison.flows:
        if delta.baseline and delta.candidate:
            sizes = (delta.baseline.frame_size, delta.candidate.frame_size)
            if sizes[0] != sizes[1]:
                print(
                    f"ringlab: warning: flow {delta.flow} ({delta.phase}) is {sizes[0]}-byte"
                    f" frames in the baseline and {sizes[1]}-byte in the candidate; its"
                    " change compares different frames",
                    file=sys.stderr,
                )
    found = violations(comparison, thresholds)
    unchecked = not_comparable(comparison, thresholds)
    failed_run = candidate.status != "completed"
    if args.json:
        json.dump(compare_json(comparison, found, unchecked), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        console = wide_console()
        metrics = ("tx_pps", "rx_pps", "loss", "kernel_drops")
        for table in comparison_tables(comparison, metrics, console.width):
            console.print(table)
        for violation in found:
            console.print(f"[red]regression[/] {violation.message}")
        for item in unchecked:
            console.print(f"[yellow]not comparable[/] {item.message}")
        if failed_run:
            console.print(f"[red]the candidate run {candidate.status}[/]: {candidate.error}")
        if unchecked and not found and not failed_run:
            # Exit 1 like `regress` for a case it could not judge: silence is not a pass.
            console.print(
                f"[yellow]not comparable[/], so not a pass: {len(unchecked)} limit check(s)"
                " could not be made because one run does not measure the metric; compare runs"
                f" that both measure it, or turn that limit off ({_limit_flags(unchecked)})"
            )
        if not found and not unchecked and not failed_run:
            console.print(f"[green]no regression[/] ({thresholds.describe()})")
    return 1 if found or unchecked or failed_run else 0
