"""Real agents for the reliability tests: a built-in lab, gRPC stubs, link counters.

Everything here is the real thing: namespaces, veth links and agent processes made
by `ringlab.controller.remote.lab`, synchronous gRPC channels to the agents' Unix sockets,
and interface counters read through netlink inside the namespaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from pyroute2 import NetNS

from ringlab import cli
from ringlab.controller.remote.lab import Lab, create_lab, destroy_lab, wait_ready
from ringlab.controller.store.database import Store
from ringlab.v1 import agent_pb2 as pb
from ringlab.v1 import agent_pb2_grpc as pb_grpc

T = TypeVar("T")

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: network namespaces, veth and AF_PACKET sockets"
)


def lab_name() -> str:
    # Short (namespace and interface names derive from it) and unique per test process.
    return f"g{os.getpid() % 10000}{secrets.token_hex(2)}"


def session_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def running_lab(directory: Path, hosts: tuple[str, ...] = ("a", "b")) -> Iterator[Lab]:
    """A built-in lab whose state lives under `directory`; removed on exit."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RINGLAB_LAB_DIR", str(directory))
        lab = create_lab(lab_name(), list(hosts))
        try:
            asyncio.run(wait_ready(lab))
            yield lab
        finally:
            destroy_lab(lab)


@contextlib.contextmanager
def agent_stub(lab: Lab, host: str) -> Iterator[pb_grpc.AgentStub]:
    channel = grpc.insecure_channel(lab.hosts[host].agent)
    try:
        yield pb_grpc.AgentStub(channel)
    finally:
        channel.close()


def mac_of(stub: pb_grpc.AgentStub, interface: str) -> str:
    info: pb.GetInfoResponse = stub.GetInfo(pb.GetInfoRequest(), timeout=10)
    for candidate in info.interfaces:
        if candidate.name == interface:
            return str(candidate.mac)
    raise AssertionError(f"agent has no interface {interface}: {info.interfaces}")


def link_counters(netns: str, interface: str) -> dict[str, int]:
    """The interface's 64-bit kernel counters, read through netlink inside `netns`."""
    with NetNS(netns) as ns:
        link = ns.link("get", ifname=interface)[0]
    stats = link.get_attr("IFLA_STATS64") or {}
    return {str(k): int(v) for k, v in dict(stats).items()}


def wait_until(
    probe: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.05
) -> T:
    """Poll a real condition until it holds (bounded); fail naming what never happened."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s:g}s waiting for {what}")
        time.sleep(every_s)


def code_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    """Run an RPC that must fail; its status code and details."""
    try:
        call()
    except grpc.RpcError as error:
        return error.code(), error.details() or ""  # type: ignore[attr-defined]
    raise AssertionError("the RPC succeeded; it should have been refused")


def finish_session(stub: pb_grpc.AgentStub, sid: str) -> pb.GetResultsResponse:
    """Stop a session, wait for its results and release it (whatever state it is in)."""
    with contextlib.suppress(grpc.RpcError):
        stub.Stop(pb.StopRequest(session_id=sid), timeout=10)
    reply: pb.GetResultsResponse = stub.GetResults(
        pb.GetResultsRequest(session_id=sid, wait=True), timeout=30
    )
    stub.Release(pb.ReleaseRequest(session_id=sid), timeout=10)
    return reply


def flow_pair(
    flow_id: int,
    src_interface: str,
    dst_interface: str,
    src_mac: str,
    dst_mac: str,
    rate_pps: float,
    frame_size: int = 64,
) -> tuple[pb.FlowSpec, pb.FlowSpec]:
    """The sending and receiving halves of one flow."""
    common = {"flow_id": flow_id, "name": f"flow-{flow_id}", "frame_size": frame_size}
    send = pb.FlowSpec(
        role=pb.ROLE_SEND,
        interface=src_interface,
        src_mac=src_mac,
        dst_mac=dst_mac,
        rate_pps=rate_pps,
        engine=pb.ENGINE_RING,
        workers=1,
        **common,  # type: ignore[arg-type]
    )
    receive = pb.FlowSpec(role=pb.ROLE_RECEIVE, interface=dst_interface, workers=1, **common)  # type: ignore[arg-type]
    return send, receive


# --- the real controller as a subprocess -------------------------------------------

RINGLAB = (sys.executable, "-m", "ringlab")


def paced_scenario(duration: str, lease_s: float, rate_pps: int) -> str:
    return (
        "version: 1\n"
        "name: fault-run\n"
        "mode: unidirectional\n"
        f"duration: {duration}\n"
        f"lease: {lease_s:g}s\n"
        "hosts: {a: {}, b: {}}\n"
        f"flows:\n  - {{from: a, to: b, frame_size: 64, rate: {rate_pps}pps}}\n"
    )


@dataclass
class Controller:
    """`ringlab run --lab NAME --json` running in a subprocess."""

    process: subprocess.Popen[bytes]
    db: Path
    stdout: Path
    stderr: Path

    def wait(self, timeout_s: float) -> int:
        return self.process.wait(timeout=timeout_s)

    def output(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.stdout.read_text())
        return loaded

    def errors(self) -> str:
        return self.stderr.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def start_controller(lab: Lab, scenario_text: str, directory: Path) -> Controller:
    path = directory / "scenario.yaml"
    path.write_text(scenario_text)
    db, out, err = directory / "runs.db", directory / "out.json", directory / "err.txt"
    env = {**os.environ, "RINGLAB_LAB_DIR": str(Path(lab.directory).parent)}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*RINGLAB, "run", str(path), "--lab", lab.name, "--db", str(db), "--json"],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=env,
        )
    return Controller(process, db, out, err)


def rx_packets(lab: Lab) -> int:
    return link_counters(lab.hosts["b"].netns, "to-a")["rx_packets"]


def tx_packets(lab: Lab) -> int:
    return link_counters(lab.hosts["a"].netns, "to-b")["tx_packets"]


def wait_for_traffic(lab: Lab, controller: Controller, frames: int = 2000) -> None:
    """Until b's interface has counted `frames` frames of the run (a -> b)."""
    base = rx_packets(lab)

    def moving() -> bool:
        if controller.process.poll() is not None:
            raise AssertionError(f"the controller exited early: {controller.errors()}")
        return rx_packets(lab) - base > frames

    wait_until(moving, 60, "the receiver's interface to count the run's frames")


def stays_still(read: Callable[[], int], seconds: float) -> tuple[int, int]:
    """A counter at the start and at the end of an observation window (a measurement)."""
    first = last = read()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and last == first:
        time.sleep(0.05)
        last = read()
    return first, last


def stored_run_id(db: Path) -> str:
    """The id of the run the controller has stored (it saves the run when it starts)."""

    def one() -> str | None:
        if not db.exists():
            return None
        with Store(db) as store:
            runs = store.list_runs()
        return runs[0].run_id if runs else None

    return wait_until(one, 30, f"the controller to store the run in {db}")


def show_run(db: Path, run_id: str) -> dict[str, Any]:
    """`ringlab runs show ID --json` through the real command line, in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["runs", "--db", str(db), "show", run_id, "--json"])
    assert code == 0, err.getvalue()
    loaded: dict[str, Any] = json.loads(out.getvalue())
    return loaded
