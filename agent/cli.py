"""`ringlab agent serve`: the agent daemon's command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import signal
import sys
import threading
from pathlib import Path

from ringlab.agent.server import (
    DEFAULT_LISTEN,
    LISTEN_FORMS,
    ListenAddress,
    ListenError,
    TlsFiles,
    load_data_plane,
    parse_listen,
    serve,
)

_TLS_OPTIONS = ("--tls-cert", "--tls-key", "--tls-ca")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ringlab agent", description="Run the ringlab agent.")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the agent's gRPC API")
    s.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        help=f"{LISTEN_FORMS}; PORT 1-65535, or 0 for a free one (default %(default)s: a "
        "socket only this user and root can open; a missing directory is made with mode 0700). "
        "TCP needs mutual TLS, or --insecure-loopback / --insecure",
    )
    s.add_argument("--netns", help="enter this named network namespace before serving")
    s.add_argument("--tls-cert", type=Path, help="server certificate (PEM) for mutual TLS")
    s.add_argument("--tls-key", type=Path, help="server key (PEM)")
    s.add_argument("--tls-ca", type=Path, help="CA whose client certificates are accepted")
    s.add_argument(
        "--insecure",
        action="store_true",
        help="allow any TCP listen address without TLS (anyone who reaches it can make this "
        "host send traffic)",
    )
    s.add_argument(
        "--insecure-loopback",
        action="store_true",
        help="allow 127.0.0.1/[::1] without TLS: every local user, not only this one, can then "
        "make this host send raw frames on any test interface",
    )
    s.add_argument(
        "--pid-file",
        type=Path,
        help="write the agent's pid here while it runs (used by `ringlab deploy --stop`)",
    )
    s.add_argument(
        "--die-with-parent",
        action="store_true",
        help="exit when the process that started the agent exits (built-in lab)",
    )
    return parser


def listen_refusal(
    listen: ListenAddress, tls: bool, insecure: bool, insecure_loopback: bool
) -> str | None:
    """Why the agent must not listen there, or None. An agent runs as root and sends raw
    frames for whoever talks to it: only its own controller may reach it."""
    if tls or listen.unix_path is not None or insecure:
        return None
    where = listen.display()
    if listen.is_local:
        if insecure_loopback:
            return None
        return (
            f"refusing to listen on {where} without TLS: every local user of this host, not "
            "only you, could connect and make it send raw frames. Listen on a Unix socket "
            f"(the default, {DEFAULT_LISTEN}; `ringlab deploy` forwards SSH to it), use "
            "--tls-cert/--tls-key/--tls-ca (see `ringlab certs init`), or pass "
            "--insecure-loopback if every local user is trusted."
        )
    return (
        f"refusing to listen on {where} without TLS: anyone who reaches it could make this "
        "host send traffic. Use --tls-cert/--tls-key/--tls-ca (see `ringlab certs init`), "
        "listen on a Unix socket and reach it over SSH, or pass --insecure."
    )


def watch_parent() -> None:
    """SIGTERM ourselves when the parent process exits (a pidfd, no polling).

    PR_SET_PDEATHSIG would fire when the parent *thread* exits, and the
    controller starts agents from worker threads.
    """
    parent = os.getppid()
    try:
        fd = os.pidfd_open(parent)
    except ProcessLookupError:
        os.kill(os.getpid(), signal.SIGTERM)
        return

    def wait() -> None:
        select.select([fd], [], [])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="parent-watch", daemon=True).start()


def _missing_tls_options(args: argparse.Namespace) -> list[str]:
    """The TLS options still needed: none, or all three, is a complete set."""
    given = [args.tls_cert, args.tls_key, args.tls_ca]
    if not any(given):
        return []
    return [option for option, value in zip(_TLS_OPTIONS, given, strict=True) if value is None]


def _tls(args: argparse.Namespace) -> TlsFiles | None:
    if args.tls_cert is None:
        return None
    return TlsFiles(args.tls_cert.read_bytes(), args.tls_key.read_bytes(), args.tls_ca.read_bytes())


def _enter_netns(name: str) -> str | None:
    """Move this thread into namespace `name`; the reason when it cannot."""
    from pyroute2 import netns

    if "/" not in name and name not in netns.listnetns():
        known = ", ".join(sorted(netns.listnetns())) or "none"
        return (
            f"no network namespace {name!r} (ip netns list shows: {known}); "
            f"create it with `ip netns add {name}` or fix the name"
        )
    try:
        # flags=0: pyroute2 creates a missing namespace by default (O_CREAT), and one
        # removed since the check above must be refused, not recreated empty.
        netns.setns(name, flags=0)
    except OSError as exc:
        return f"cannot enter network namespace {name!r}: {exc}"
    return None


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    # A sender waiting for its scheduled start competes for the GIL with receivers and
    # the gRPC loop; the default 5 ms switch interval alone would skew starts by
    # milliseconds. 200 µs keeps hand-offs quick at a small cost in switches.
    sys.setswitchinterval(2e-4)
    if args.die_with_parent:
        watch_parent()
    # Usage mistakes first: they must not leave a namespace entered or a pid file behind.
    try:
        listen = parse_listen(args.listen)
    except ListenError as exc:
        print(f"ringlab agent: {exc}", file=sys.stderr)
        return 2
    missing = _missing_tls_options(args)
    if missing:
        print(
            f"ringlab agent: missing {' and '.join(missing)}: --tls-cert, --tls-key and "
            "--tls-ca go together for mutual TLS (see `ringlab certs init`)",
            file=sys.stderr,
        )
        return 2
    try:
        tls = _tls(args)
    except OSError as exc:
        print(f"ringlab agent: cannot read TLS files: {exc}", file=sys.stderr)
        return 2
    refusal = listen_refusal(listen, tls is not None, args.insecure, args.insecure_loopback)
    if refusal is not None:
        print(f"ringlab agent: {refusal}", file=sys.stderr)
        return 2
    if args.netns:
        problem = _enter_netns(args.netns)
        if problem is not None:
            print(f"ringlab agent: {problem}", file=sys.stderr)
            return 2
        os.environ["RINGLAB_NETNS"] = args.netns
    mine = f"{os.getpid()}\n"
    if args.pid_file is not None:
        try:
            args.pid_file.write_text(mine)
        except OSError as exc:
            print(f"ringlab agent: cannot write pid file {args.pid_file}: {exc}", file=sys.stderr)
            return 2
    load_data_plane()
    try:
        asyncio.run(serve(args.listen, tls=tls))
    except ListenError as exc:
        print(f"ringlab agent: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.pid_file is not None:
            _remove_pid_file(args.pid_file, mine)
    return 0


def _remove_pid_file(path: Path, mine: str) -> None:
    # A newer agent may have taken the file over; leave its pid alone.
    with contextlib.suppress(OSError):
        if path.read_text() == mine:
            path.unlink()
