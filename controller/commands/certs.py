"""`ringlab certs init`: a lab CA and certificates for agents in direct (mutual TLS) mode."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from ringlab.controller.commands.help import BAD_INPUT, add_command
from ringlab.controller.remote.certs import inventory_snippet, parse_hosts_option, write_lab_pki
from ringlab.controller.remote.inventory import load_inventory
from ringlab.errors import CertsError


def register(sub: Any) -> None:
    certs = add_command(
        sub,
        "certs",
        help="certificates for agents reached directly over mutual TLS",
        description="Certificates for agents reached directly over mutual TLS (not through"
        " SSH tunnels).",
        exits=[(0, "written"), BAD_INPUT],
    )
    certs_sub = certs.add_subparsers(dest="certs_command", required=True)
    init = add_command(
        certs_sub,
        "init",
        help="make a lab CA, a server certificate per host and a controller certificate",
        description="Make a lab CA, a server certificate per host (with its names and"
        " addresses) and a controller certificate in --dir; the agents and the inventory"
        " then point at them.",
        exits=[(0, "written"), (2, "bad input, or a CA already in --dir (without --force)")],
    )
    init.add_argument("--dir", type=Path, required=True, help="directory to write into")
    init.add_argument(
        "--hosts",
        default="",
        help="NAME[=ADDRESS[+ADDRESS...]],... ; each ADDRESS (IP or DNS name) goes in the "
        "host's certificate, e.g. a=192.0.2.10,b=192.0.2.11",
    )
    init.add_argument(
        "--inventory",
        type=Path,
        help="take host names and SSH addresses from this inventory (added to --hosts)",
    )
    init.add_argument("--force", action="store_true", help="replace an existing CA in --dir")
    init.set_defaults(handler=certs_init)


def certs_init(args: argparse.Namespace) -> int:
    hosts = parse_hosts_option(args.hosts)
    if args.inventory is not None:
        inventory = load_inventory(args.inventory)
        for name, entry in inventory.hosts.items():
            addresses = hosts.setdefault(name, [])
            if entry.ssh is not None:
                addresses.append(entry.ssh.address)
    if not hosts:
        raise CertsError(
            "name the hosts: --hosts a=192.0.2.10,b=192.0.2.11 or --inventory lab.yaml"
        )
    pki = write_lab_pki(args.dir.resolve(), hosts, force=args.force)
    console = Console()
    console.print(f"CA: {pki.ca.cert} (its key {pki.ca.key} stays here; keep it private)")
    console.print(f"controller certificate: {pki.client.cert}")
    for name, issued in pki.hosts.items():
        console.print(f"host {name}: {issued.cert}")
    console.print("\ninventory entries (merge into your hosts: block):")
    console.print(inventory_snippet(pki), markup=False, highlight=False)
    return 0
