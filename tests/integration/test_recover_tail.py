"""`runs recover` after a controller kill -9 (#17 item 7): frames the receiver's interface
counted after the receiver stopped (the batch in flight when the lease ran out) are an
unknown tail, not lost. A real controller on a real lab, killed mid-run."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_agents import (
    agent_stub,
    needs_root,
    paced_scenario,
    running_lab,
    show_run,
    start_controller,
    stored_run_id,
    wait_for_traffic,
)

from ringlab.controller import cli
from ringlab.controller.remote.lab import Lab
from ringlab.v1 import agent_pb2 as pb

pytestmark = needs_root


@pytest.fixture
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("labs")) as made:
        yield made


def test_recover_does_not_call_the_counted_tail_lost(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller = start_controller(lab, paced_scenario("60s", 1.0, 50_000), tmp_path)
    try:
        wait_for_traffic(lab, controller)
        run_id = stored_run_id(controller.db)
        controller.process.send_signal(signal.SIGKILL)
        controller.wait(10)
    finally:
        controller.stop()
    session = f"{run_id}-p0"
    with agent_stub(lab, "a") as a, agent_stub(lab, "b") as b:
        sent = a.GetResults(pb.GetResultsRequest(session_id=session, wait=True), timeout=10)
        got = b.GetResults(pb.GetResultsRequest(session_id=session, wait=True), timeout=10)
    tx, rx, drops = sent.flows[0].packets, got.flows[0].unique_packets, got.flows[0].kernel_drops
    counted = got.flows[0].interface_after.rx_packets - got.flows[0].interface_before.rx_packets

    monkeypatch.setenv("RINGLAB_LAB_DIR", str(Path(lab.directory).parent))
    code = cli.main(["runs", "--db", str(controller.db), "recover", run_id, "--lab", lab.name])
    assert code == 0
    stored = show_run(controller.db, run_id)
    [flow] = stored["phases"][0]["flows"]
    assert (flow["tx_packets"], flow["rx_packets"]) == (tx, rx)
    assert flow["receiver_interface"]["rx_packets"] == counted
    # Lost: only what b's interface never counted; what it counted past our ring is the tail.
    tail = min(tx - rx, counted - rx - drops)
    assert flow["lost"] == tx - rx - max(0, tail)
    if tail > 0:
        [said] = [d for d in stored["diagnosis"] if d["code"] == "recovered_tail_unknown"]
        assert f"{tail:,} frames of {flow['name']} reached b:to-a" in said["message"]
        assert said["message"] in [e + "." for e in flow["errors"]]
