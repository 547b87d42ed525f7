"""`ringlab runs list|show|tag`: the stored runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ringlab.controller.render import print_run, print_run_list, wide_console
from ringlab.controller.store import Store, default_db_path


def register(sub: Any) -> None:
    runs = sub.add_parser("runs", help="stored runs")
    runs.add_argument("--db", type=Path, help="run store (default $RINGLAB_DB or XDG data dir)")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    listing = runs_sub.add_parser("list", help="list stored runs, newest first")
    listing.add_argument("--scenario", help="only runs of this scenario")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=runs_list)
    show = runs_sub.add_parser("show", help="show one run (id, id prefix, tag or 'latest')")
    show.add_argument("run")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=runs_show)
    tag = runs_sub.add_parser("tag", help="tag a run, e.g. as a baseline")
    tag.add_argument("run")
    tag.add_argument("tag")
    tag.set_defaults(handler=runs_tag)


def _store(args: argparse.Namespace) -> Store:
    return Store(args.db or default_db_path())


def runs_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        print_run_list(store.list_runs(args.limit, args.scenario), wide_console())
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
