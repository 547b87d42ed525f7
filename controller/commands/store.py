"""`ringlab store migrate`: copy a run store's history into another (SQLite into PostgreSQL)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ringlab.controller.commands.help import add_command
from ringlab.controller.store.database import open_store
from ringlab.controller.store.location import PostgresUrl, parse_location
from ringlab.controller.store.transfer import TransferCounts, copy_history
from ringlab.errors import StoreLocationError

MIGRATE_EXITS = [
    (0, "copied (or everything was there already)"),
    (1, "some runs or suite runs have the same id in both stores with other contents: left as"
     " the target has them, listed on stderr"),
    (2, "bad input: no such --from store, a malformed URL, a server that cannot be reached"),
]  # fmt: skip


def register(sub: Any) -> None:
    store = add_command(
        sub,
        "store",
        help="the run store itself: copy a history into a shared PostgreSQL store",
        description="The run store itself. Runs live in a SQLite file (the default) or in a"
        " PostgreSQL database shared by a lab (--db postgresql://... or RINGLAB_DB); see"
        " docs/shared-store.md.",
        exits=MIGRATE_EXITS,
    )
    store_sub = store.add_subparsers(dest="store_command", required=True)
    migrate = add_command(
        store_sub,
        "migrate",
        help="copy every run, tag and suite run of one store into another",
        description="Copy every run (with its flows and tags) and every regress suite run of"
        " --from into --to, in one transaction. Running it again copies only what is new, so"
        " it never duplicates; a run already in --to is counted as there.",
        exits=MIGRATE_EXITS,
    )
    migrate.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="STORE",
        help="the store to copy from: a SQLite file (it must exist), or a URL",
    )
    migrate.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="STORE",
        help="the store to copy into: postgresql://USER@HOST/DATABASE (or a SQLite file)",
    )
    migrate.add_argument("--json", action="store_true", help="print the counts as JSON")
    migrate.set_defaults(handler=migrate_command)


def migrate_command(args: argparse.Namespace) -> int:
    source = parse_location(args.source, "--from")
    target = parse_location(args.target, "--to")
    if _same(source, target):
        raise StoreLocationError(f"--from and --to are the same store ({source}); nothing to do")
    if isinstance(source, Path) and not source.is_file():
        raise StoreLocationError(f"--from {source}: no such run store; give the SQLite file")
    with open_store(source, reading=True) as src, open_store(target) as dst:
        counts = copy_history(src, dst)
    if args.json:
        document = {"from": str(source), "to": str(target), **counts.to_json_dict()}
        print(json.dumps(document, indent=2))
    else:
        print(_summary(counts, source, target))
    for conflict in counts.conflicts:
        print(
            f"ringlab: {conflict} is in both stores with other contents; kept {target}'s."
            " To keep both, `ringlab runs export` it from the one and `ringlab runs import`"
            " it into the other (it gets a new id)",
            file=sys.stderr,
        )
    return 1 if counts.conflicts else 0


def _same(source: Path | PostgresUrl, target: Path | PostgresUrl) -> bool:
    if isinstance(source, Path) and isinstance(target, Path):
        return source.resolve() == target.resolve()
    return source == target


def _summary(counts: TransferCounts, source: object, target: object) -> str:
    return (
        f"copied {counts.runs_copied} run(s) ({counts.flows_copied} flow row(s)),"
        f" {counts.tags_copied} tag(s), {counts.suite_runs_copied} suite run(s) and"
        f" {counts.cases_copied} case(s) from {source} to {target};"
        f" already there: {counts.runs_present} run(s), {counts.suite_runs_present} suite"
        f" run(s); conflicts: {len(counts.conflicts)}"
    )
