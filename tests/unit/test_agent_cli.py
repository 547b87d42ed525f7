"""`ringlab agent serve` refuses what it cannot or must not do, with exit 2 and no traceback."""

from __future__ import annotations

import socket

from helpers import ringlab


def test_busy_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = ringlab("agent", "serve", "--listen", f"127.0.0.1:{port}", timeout=30)
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_routable_address_without_tls_is_refused() -> None:
    proc = ringlab("agent", "serve", "--listen", "0.0.0.0:0", timeout=30)
    assert proc.returncode == 2
    assert "without TLS" in proc.stderr and "--insecure" in proc.stderr
