"""Network faults during a run on the built-in lab: a cut link, an agent that hangs.

Like test_faults.py: the real controller in a subprocess, readiness from the
kernel's interface counters, assertions on counters and stored results.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_agents import (
    needs_root,
    paced_scenario,
    running_lab,
    show_run,
    start_controller,
    stays_still,
    stored_run_id,
    tx_packets,
    wait_for_traffic,
    wait_until,
)
from pyroute2 import NetNS

from ringlab.controller.remote.lab import Lab

pytestmark = needs_root

LEASE_S = 1.0
RATE_PPS = 20_000


@pytest.fixture
def fault_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("labs")) as lab:
        yield lab


def test_cut_link_is_attributed_in_the_counters(fault_lab: Lab, tmp_path: Path) -> None:
    controller = start_controller(fault_lab, paced_scenario("4s", LEASE_S, RATE_PPS), tmp_path)
    try:
        wait_for_traffic(fault_lab, controller)
        with NetNS(fault_lab.hosts["a"].netns) as ns:
            ns.link("set", index=ns.link_lookup(ifname="to-b")[0], state="down")
        code = controller.wait(60)
    finally:
        controller.stop()
    # Frames of the schedule never sent: a failed run (exit 1), not "completed".
    assert code == 1, controller.errors()
    assert "Traceback" not in controller.errors()
    result = controller.output()
    flow = result["phases"][0]["flows"][0]
    # The sender fell far short of its target and says why: the kernel refused its frames
    # for the rest of the run, and what its schedule released meanwhile was not sent.
    assert 2000 < flow["tx_packets"] < RATE_PPS * 4 * 0.9
    not_sent = flow["sender_extra"]["not_sent"]
    assert flow["tx_packets"] + not_sent == RATE_PPS * 4
    assert flow["send_errors"] == 0  # an outage, not one error per retry
    assert any("frames of the schedule were not sent" in e and "to-b" in e for e in flow["errors"])
    outage = next(d for d in result["diagnosis"] if d["code"] == "link_outage")
    assert "a:to-b" in outage["message"] and f"{not_sent:,}" in outage["message"]
    assert [f["criterion"] for f in result["expect_failures"]] == ["all_sent"]
    # Nothing it handed over went missing: every accepted frame arrived, and the
    # interfaces agree with the agents.
    assert flow["lost"] == 0
    assert flow["rx_packets"] == flow["tx_packets"]
    assert flow["sender_interface"]["tx_packets"] == flow["tx_packets"]
    assert flow["receiver_interface"]["rx_packets"] == flow["rx_packets"]
    stored = show_run(controller.db, result["run_id"])
    assert stored["phases"][0]["flows"][0]["tx_packets"] == flow["tx_packets"]


def test_hung_agent_is_noticed_within_the_lease_and_the_others_stop(
    fault_lab: Lab, tmp_path: Path
) -> None:
    controller = start_controller(fault_lab, paced_scenario("60s", LEASE_S, RATE_PPS), tmp_path)
    receiver = fault_lab.hosts["b"].pid
    try:
        wait_for_traffic(fault_lab, controller)
        run_id = stored_run_id(controller.db)
        os.kill(receiver, signal.SIGSTOP)  # alive but silent, like a host behind a dead link
        hung = time.monotonic()

        def sender_quiet() -> bool:
            before, after = stays_still(lambda: tx_packets(fault_lab), 0.3)
            return before == after

        wait_until(sender_quiet, 10, "the controller to stop the sender")
        stopped = time.monotonic()
        # The controller does not wait on the hung agent: it exits while it is still frozen.
        code = controller.wait(10)
        exited = time.monotonic()
    finally:
        os.kill(receiver, signal.SIGCONT)
    controller.stop()
    # Noticed when its lease would run out after the last renewal; the stillness check
    # adds 0.3 s, collecting and storing the survivor a little more.
    assert stopped - hung <= LEASE_S + 1.0
    assert exited - hung <= LEASE_S + 1.5
    assert code == 1, controller.errors()
    assert "Traceback" not in controller.errors()
    result = controller.output()
    assert result["run_id"] == run_id and result["status"] == "failed"
    assert "agent b" in result["error"] and "lease renewal" in result["error"]
    # The survivor was stopped and collected: its count is exact against its interface.
    flow = result["phases"][0]["flows"][0]
    assert flow["tx_packets"] > 2000
    assert flow["tx_packets"] == flow["sender_interface"]["tx_packets"]
