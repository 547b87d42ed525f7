"""`ringlab deploy`: install and start agents on inventory hosts over SSH (or stop them)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from ringlab.controller.commands.help import BAD_INPUT, add_command
from ringlab.controller.deploy.artifact import prepare_artifact
from ringlab.controller.deploy.hosts import check_deployable, choose_hosts, deploy_all
from ringlab.controller.remote.inventory import load_inventory
from ringlab.controller.views.deploy import deploy_json, print_outcomes
from ringlab.controller.views.run_table import wide_console


def register(sub: Any) -> None:
    deploy = add_command(
        sub,
        "deploy",
        help="install and start agents on inventory hosts over SSH, in parallel",
        description="Install ringlab on every inventory host over SSH, start its agent and"
        " check that it answers through an SSH tunnel, all hosts at once; --stop stops the"
        " agents instead.",
        exits=[
            (0, "every host deployed (or stopped)"),
            (1, "a host failed (the table says which and why; the others are done)"),
            BAD_INPUT,
        ],
    )
    deploy.add_argument("--inventory", type=Path, required=True, help="inventory YAML")
    deploy.add_argument("--hosts", help="comma-separated subset of the inventory's hosts")
    deploy.add_argument("--stop", action="store_true", help="stop the agents instead")
    deploy.add_argument(
        "--accept-new-host-keys",
        action="store_true",
        help="trust and record the SSH host key of hosts not yet in known_hosts "
        "(a changed key is still refused)",
    )
    deploy.add_argument(
        "--wheel",
        type=Path,
        help="deploy this ringlab wheel (default: built from the checkout this ringlab runs "
        "from, or repacked from the installed ringlab)",
    )
    deploy.add_argument(
        "--wheelhouse",
        type=Path,
        help="take the agent's dependency wheels (grpcio, protobuf, numpy, pyroute2, ...) from "
        "this directory instead of the package index, for controllers without one",
    )
    deploy.add_argument(
        "--json",
        action="store_true",
        help="print the wheel and every host's outcome as JSON (progress goes to stderr)",
    )
    deploy.set_defaults(handler=deploy_command)


def deploy_command(args: argparse.Namespace) -> int:
    inventory = load_inventory(args.inventory)
    names = [h.strip() for h in args.hosts.split(",") if h.strip()] if args.hosts else None
    hosts = choose_hosts(inventory, names)
    for host in hosts:
        # Before the wheel is built: a wrong inventory should not cost a build.
        check_deployable(host, inventory.hosts[host])
    # With --json standard output holds the document alone; the progress goes to stderr.
    console = wide_console(stderr=args.json)
    artifact = None
    if not args.stop:
        started = time.monotonic()
        artifact = prepare_artifact(args.wheel)
        console.print(
            f"wheel {artifact.wheel.name} (build {artifact.build_id}) "
            f"ready in {time.monotonic() - started:.1f}s"
        )
    outcomes = asyncio.run(
        deploy_all(
            inventory,
            artifact,
            hosts,
            args.accept_new_host_keys,
            stop=args.stop,
            wheelhouse_source=args.wheelhouse,
        )
    )
    if args.json:
        wheel = artifact.wheel.name if artifact else None
        build = artifact.build_id if artifact else None
        json.dump(deploy_json(outcomes, wheel, build), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_outcomes(outcomes, console)
    return 0 if all(o.ok for o in outcomes) else 1
