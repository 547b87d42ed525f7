"""engine: testpmd for real: DPDK's dpdk-testpmd run by real agents on the built-in lab.

Runs through the real `ringlab run` (a subprocess) or real gRPC; counts are checked
against the veth's kernel counters; processes are looked up in /proc (a testpmd of an
agent carries --file-prefix ringlab-<agent pid>-N on its command line).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_agents import (
    agent_stub,
    finish_session,
    flow_pair,
    mac_of,
    needs_root,
    running_lab,
    session_id,
    start_controller,
    stored_run_id,
    wait_until,
)

from ringlab.controller.remote.lab import Lab
from ringlab.v1 import agent_pb2 as pb

pytestmark = [
    needs_root,
    pytest.mark.skipif(
        shutil.which("dpdk-testpmd") is None,
        reason="needs dpdk-testpmd (Debian's dpdk-dev package; scripts/install --dev)",
    ),
]
LEASE_S = 1.0
# A tool told to stop has STOP_GRACE_S for stop/quit and as much after SIGINT.
GONE_WITHIN_S = 12.0


def pids_of_testpmd(agent_pid: int) -> list[int]:
    """dpdk-testpmd processes started by the agent with this pid."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and argv[0].endswith(b"dpdk-testpmd")
            and f"ringlab-{agent_pid}-".encode() in (b" ".join(argv))
        ):
            found.append(int(entry.name))
    return found


def runtime_dirs(agent_pid: int) -> list[Path]:
    """DPDK runtime directories of the agent's testpmds (--file-prefix ringlab-PID-N)."""
    return list(Path("/var/run/dpdk").glob(f"ringlab-{agent_pid}-*"))


def scenario(flows: str, mode: str = "unidirectional", duration: str = "2s") -> str:
    return (
        "version: 1\nname: testpmd-test\n"
        f"mode: {mode}\nduration: {duration}\nlease: {LEASE_S:g}s\n"
        f"hosts: {{a: {{}}, b: {{}}}}\nflows:\n{flows}"
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("testpmd-lab")) as made:
        yield made


def run(lab: Lab, text: str, directory: Path, codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
    controller = start_controller(lab, text, directory)
    try:
        code = controller.wait(120)
    finally:
        controller.stop()
    assert code in codes, controller.errors()[-3000:]
    return controller.output()


def the_flow(result: dict[str, Any]) -> dict[str, Any]:
    [phase] = result["phases"]
    [flow] = phase["flows"]
    return flow


def test_a_64_byte_testpmd_flow_is_counted_by_testpmd_and_agrees_with_the_veth(
    lab: Lab, tmp_path: Path
) -> None:
    flows = "  - {from: a, to: b, frame_size: 64, rate: max, engine: testpmd}\n"
    result = run(lab, scenario(flows), tmp_path)
    assert result["status"] == "completed", result["error"]
    flow = the_flow(result)
    assert flow["counted_by"] == {"tx": "testpmd", "rx": "testpmd"}
    assert flow["tx_packets"] > 1000
    # testpmd's own counters against the kernel's: the veth carried nothing else here.
    assert flow["tx_packets"] == flow["sender_interface"]["tx_packets"]
    assert flow["rx_packets"] == flow["receiver_interface"]["rx_packets"]
    assert flow["rx_packets"] + flow["lost"] == flow["tx_packets"]
    # No sequence: what only a sequence tells is null with the reason, never 0.
    for field in ("reordered", "duplicates", "latency_us"):
        assert flow[field] is None and "testpmd" in flow["not_measured"][field]
    # Live stats (Stats RPC) came from testpmd's counters while it ran.
    series = result["phases"][0]["series"]
    assert any(point["tx_pps"].get("a->b") for point in series)
    assert any(point["rx_pps"].get("a->b") for point in series)
    assert "--txpkts=60" in flow["sender_tool"]["command"]
    assert flow["sender_tool"]["exit"] == "exit 0"
    assert "Accumulated forward statistics" in flow["receiver_tool"]["output"]
    assert not list(Path("/var/run/dpdk").glob("ringlab-*")), "a DPDK runtime dir was left"


@pytest.mark.parametrize(
    ("keys", "counted_by"),
    [
        ("engine: testpmd, rx_engine: ring", {"tx": "testpmd", "rx": "interface"}),
        ("engine: ring, rx_engine: testpmd", {"tx": "sequence", "rx": "testpmd"}),
    ],
    ids=["testpmd-to-ring", "ring-to-testpmd"],
)
def test_mixed_flows_say_how_each_side_was_counted(
    lab: Lab, tmp_path: Path, keys: str, counted_by: dict[str, str]
) -> None:
    flows = f"  - {{from: a, to: b, frame_size: 64, rate: max, {keys}}}\n"
    result = run(lab, scenario(flows), tmp_path, codes=(0, 1))
    assert result["status"] == "completed", result["error"]
    flow = the_flow(result)
    assert flow["counted_by"] == counted_by
    assert flow["tx_packets"] > 1000
    assert flow["rx_packets"] == flow["receiver_interface"]["rx_packets"]
    if counted_by["rx"] == "interface":
        # ringlab's ring takes only its own ethertype: testpmd's frames are the interface's.
        assert "receiving interface" in flow["not_measured"]["reordered"]
    else:
        assert flow["tx_packets"] == flow["sender_interface"]["tx_packets"]


@pytest.mark.parametrize(
    ("flows", "tool", "words"),
    [
        (
            # b's AF_XDP receiver takes to-a queue 0 at Prepare; b's testpmd then cannot.
            "  - {from: a, to: b, frame_size: 64, rate: 20kpps, engine: xdp}\n"
            "  - {from: b, to: a, frame_size: 64, rate: max, engine: testpmd,"
            " testpmd_vdev: af_xdp, rx_engine: ring}\n",
            "dpdk-testpmd",
            "xsk_configure(): Failed to create xsk socket",
        ),
        (
            # b's testpmd receives through af_xdp on to-a queue 0; b's xdp sender is refused.
            "  - {from: a, to: b, frame_size: 64, rate: max, engine: ring, rx_engine: testpmd,"
            " testpmd_vdev: af_xdp}\n"
            "  - {from: b, to: a, frame_size: 64, rate: 20kpps, engine: xdp, rx_engine: ring}\n",
            "",
            "EBUSY",
        ),
    ],
    ids=["xdp-holds-testpmd-refused", "testpmd-holds-xdp-refused"],
)
def test_testpmd_and_xdp_on_one_queue_end_as_the_busy_finding(
    lab: Lab, tmp_path: Path, flows: str, tool: str, words: str
) -> None:
    result = run(lab, scenario(flows, mode="bidirectional"), tmp_path, codes=(1,))
    [busy] = [d for d in result["diagnosis"] if d["code"] == "xdp_queue_busy"]
    assert words in busy["message"]
    assert "b" in busy["message"] and "to-a queue 0" in busy["message"]
    refused = [entry for f in result["phases"][0]["flows"] for entry in f.get("xdp_queue_busy", [])]
    assert [entry["tool"] for entry in refused] == [tool]
    if tool:
        assert tool in busy["message"]
        assert words in refused[0]["message"]


def long_run(lab: Lab, directory: Path) -> Any:
    flows = "  - {from: a, to: b, frame_size: 64, rate: max, engine: testpmd}\n"
    controller = start_controller(lab, scenario(flows, duration="60s"), directory)
    for host in ("a", "b"):
        pid = lab.hosts[host].pid
        wait_until(lambda pid=pid: pids_of_testpmd(pid), 60, f"agent {host}'s testpmd")  # type: ignore[misc]
    return controller


def test_a_killed_agents_testpmd_does_not_outlive_it(tmp_path: Path) -> None:
    with running_lab(tmp_path / "lab") as own:
        controller = long_run(own, tmp_path)
        try:
            agent = own.hosts["a"].pid
            assert pids_of_testpmd(agent)
            os.kill(agent, signal.SIGKILL)
            wait_until(lambda: not pids_of_testpmd(agent), GONE_WITHIN_S, "a's testpmd to end")
            wait_until(lambda: not runtime_dirs(agent), GONE_WITHIN_S, "its runtime dir to go")
            assert controller.wait(60) == 1
        finally:
            controller.stop()


def flow_of_testpmd(stub: Any, peer: Any, **fields: Any) -> tuple[pb.FlowSpec, pb.FlowSpec]:
    send, receive = flow_pair(7, "to-b", "to-a", mac_of(stub, "to-b"), mac_of(peer, "to-a"), 0)
    send.engine = receive.engine = receive.rx_engine = pb.ENGINE_TESTPMD
    for name, value in fields.items():
        setattr(send, name, value)
    return send, receive


def test_testpmd_refusing_its_arguments_is_the_flows_error_in_its_own_words(lab: Lab) -> None:
    cpus = os.cpu_count() or 1
    with agent_stub(lab, "a") as a, agent_stub(lab, "b") as b:
        send, _ = flow_of_testpmd(a, b, cores=f"{cpus + 1},{cpus + 2}")
        sid = session_id()
        a.Prepare(pb.PrepareRequest(session_id=sid, flows=[send], lease_ms=3000), timeout=60)
        reply = finish_session(a, sid)
    [flow] = reply.flows
    assert "dpdk-testpmd failed: EAL: invalid core list" in flow.error
    assert flow.tool_exit == "exit 1" and "Cannot init EAL" in flow.tool_output
    assert not pids_of_testpmd(lab.hosts["a"].pid)


def test_a_missing_testpmd_is_the_flows_error_naming_the_package(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PATH", str(empty))  # the lab's agents inherit it
        with running_lab(tmp_path / "lab") as own:
            env.undo()
            with agent_stub(own, "a") as a, agent_stub(own, "b") as b:
                send, _ = flow_of_testpmd(a, b)
                sid = session_id()
                a.Prepare(pb.PrepareRequest(session_id=sid, flows=[send], lease_ms=3000), 60)
                start = pb.StartRequest(
                    session_id=sid, start_at_wall_ns=time.time_ns(), duration_ns=10**8
                )
                a.Start(start, timeout=10)
                reply = finish_session(a, sid)
    [flow] = reply.flows
    assert "dpdk-testpmd is not installed" in flow.error and "dpdk-dev" in flow.error


@pytest.mark.drill
def test_a_frozen_agents_testpmd_stops_on_its_heartbeat(tmp_path: Path) -> None:
    with running_lab(tmp_path / "lab") as own:
        controller = long_run(own, tmp_path)
        agent = own.hosts["a"].pid
        os.kill(agent, signal.SIGSTOP)
        try:
            # The watchdog beside the tool hears no heartbeat for 2 s, then SIGTERM.
            wait_until(lambda: not pids_of_testpmd(agent), GONE_WITHIN_S, "a's testpmd to end")
            wait_until(lambda: not runtime_dirs(agent), GONE_WITHIN_S, "its runtime dir to go")
        finally:
            os.kill(agent, signal.SIGCONT)
            controller.stop()


# Last: the killed controller's hold on the module's lab agents lapses only after hold_ms.
def test_a_killed_controller_stops_testpmd_within_the_lease(lab: Lab, tmp_path: Path) -> None:
    controller = long_run(lab, tmp_path)
    try:
        run_id = stored_run_id(controller.db)
        controller.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        for host in ("a", "b"):
            pid = lab.hosts[host].pid
            wait_until(
                lambda pid=pid: not pids_of_testpmd(pid),  # type: ignore[misc]
                LEASE_S + GONE_WITHIN_S,
                f"{host}'s testpmd to end after the lease",
            )
        # stop/quit is answered at once: well within the lease plus one poll.
        assert time.monotonic() - killed < LEASE_S + GONE_WITHIN_S
        with agent_stub(lab, "a") as a:
            sent = a.GetResults(pb.GetResultsRequest(session_id=f"{run_id}-p0", wait=True))
        assert sent.state == pb.SESSION_STATE_EXPIRED
        assert sent.flows[0].packets > 1000 and sent.flows[0].count_source == "tool"
    finally:
        controller.stop()
