"""`ringlab agent serve` refuses what it cannot or must not do, with exit 2 and no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from helpers import ringlab

from ringlab.agent.cli import listen_refusal
from ringlab.agent.server import (
    DEFAULT_LISTEN,
    LISTEN_FORMS,
    ListenAddress,
    ListenError,
    parse_listen,
)


def test_busy_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = ringlab(
            "agent", "serve", "--listen", f"127.0.0.1:{port}", "--insecure-loopback", timeout=30
        )
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("address", ["127.0.0.1:0", "[::1]:0", "localhost:0"])
def test_loopback_tcp_without_tls_is_refused_unless_insecure_loopback(address: str) -> None:
    # Any local user can reach a loopback port: root's raw frames for everyone.
    proc = ringlab("agent", "serve", "--listen", address, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "every local user" in proc.stderr and "--insecure-loopback" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("address", "tls", "insecure", "loopback", "refused"),
    [
        ("unix:/tmp/x.sock", False, False, False, False),
        ("127.0.0.1:1", False, False, False, True),
        ("127.0.0.1:1", False, False, True, False),
        ("127.0.0.1:1", True, False, False, False),
        ("0.0.0.0:1", False, False, True, True),
        ("0.0.0.0:1", False, True, False, False),
        ("192.0.2.1:1", True, False, False, False),
    ],
)
def test_listen_policy(
    address: str, tls: bool, insecure: bool, loopback: bool, refused: bool
) -> None:
    assert (listen_refusal(parse_listen(address), tls, insecure, loopback) is not None) == refused


def test_default_listen_is_a_private_unix_socket_under_home() -> None:
    address = parse_listen(DEFAULT_LISTEN)
    assert address.unix_path == str(Path("~/.ringlab/agent.sock").expanduser())


def test_routable_address_without_tls_is_refused() -> None:
    proc = ringlab("agent", "serve", "--listen", "0.0.0.0:0", timeout=30)
    assert proc.returncode == 2
    assert "without TLS" in proc.stderr and "--insecure" in proc.stderr


@pytest.mark.parametrize("address", ["garbage", "[zz]:50051", "::1:50051", "unix:"])
def test_malformed_listen_address_says_so_and_shows_the_accepted_forms(address: str) -> None:
    proc = ringlab("agent", "serve", "--listen", address, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert f"malformed listen address {address!r}" in proc.stderr
    assert LISTEN_FORMS in proc.stderr
    # The old refusal blamed the missing TLS, which sent users after certificates.
    assert "TLS" not in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("port", ["65536", "99999"])
def test_port_above_65535_is_refused(port: str) -> None:
    # gRPC wraps such ports to some other port and serves there.
    proc = ringlab("agent", "serve", "--listen", f"127.0.0.1:{port}", timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert f"port {port} is out of range" in proc.stderr
    assert "1-65535" in proc.stderr


def test_address_without_port_is_refused() -> None:
    # gRPC would quietly bind 443.
    with pytest.raises(ListenError, match="no port"):
        parse_listen("127.0.0.1")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:0", ListenAddress(host="127.0.0.1", port=0)),
        ("127.0.0.1:1", ListenAddress(host="127.0.0.1", port=1)),
        ("localhost:65535", ListenAddress(host="localhost", port=65535)),
        ("[::1]:50051", ListenAddress(host="::1", port=50051)),
        ("unix:/run/x.sock", ListenAddress(unix_path="/run/x.sock")),
        ("unix:///run/x.sock", ListenAddress(unix_path="/run/x.sock")),
    ],
)
def test_accepted_listen_addresses(address: str, expected: ListenAddress) -> None:
    assert parse_listen(address) == expected


def test_listen_display_shows_the_unix_path_and_the_bound_port() -> None:
    assert parse_listen("unix:///run/x.sock").display(port=1) == "unix:/run/x.sock"
    assert parse_listen("[::1]:0").display(port=4242) == "[::1]:4242"


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        (["--tls-cert"], "--tls-key and --tls-ca"),
        (["--tls-key", "--tls-ca"], "--tls-cert"),
        (["--tls-cert", "--tls-ca"], "--tls-key"),
    ],
)
def test_incomplete_tls_options_are_a_usage_error(
    tmp_path: Path, given: list[str], missing: str
) -> None:
    pem = tmp_path / "any.pem"
    pem.write_text("not read: the options are checked first\n")
    options = [part for option in given for part in (option, str(pem))]
    proc = ringlab("agent", "serve", *options, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert f"missing {missing}:" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("unix:/run/a.sock", True),
        ("127.0.0.1:50051", True),
        ("[::1]:50051", True),
        ("localhost:50051", True),
        ("0.0.0.0:50051", False),
        ("192.0.2.10:50051", False),
        ("lab-host-1:50051", False),
    ],
)
def test_only_unix_and_loopback_addresses_count_as_local(address: str, local: bool) -> None:
    assert parse_listen(address).is_local is local
