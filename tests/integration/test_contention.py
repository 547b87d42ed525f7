"""Reproduce the zero-copy contention signature on the built-in lab and diagnose it.

The signature: both receivers stay at 0 while both peers' TX climbs, but only
when both directions send; one direction at a time works. We have no ZC NIC, so
the starvation is staged with tc: an ingress filter on each lab link redirects
ringlab's frames (ethertype 0x88B5) to lo before they reach the packet socket
(this kernel has no gact/matchall "drop", mirred does the same job here). The
interface counters still count the frames, as they would on a kernel driver.

Why two runs and not one `compare` run: the filter has to be on for exactly the
bidirectional phase. Removing it between phases of one run would mean watching
the run from outside and racing the next phase's start (300 ms ahead); two runs
are deterministic. `diagnose(bidirectional_run, [sliced_run])` then holds the
runs side by side, the way `compare` holds two groups of one run.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from helpers import needs_root, ringlab, unique_lab_name

from ringlab.controller.analysis.diagnose import diagnose
from ringlab.controller.analysis.loss import attribute_loss
from ringlab.controller.store.results import RunResult, load_result

SCENARIO = """version: 1
name: {name}
mode: {mode}
{extra}
hosts: {{a: {{}}, b: {{}}}}
flows:
  - {{from: a, to: b, frame_size: 64, rate: 20kpps}}
  - {{from: b, to: a, frame_size: 64, rate: 20kpps}}
"""
LINKS = {"a": "to-b", "b": "to-a"}


def in_netns(namespace: str, *command: str) -> None:
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, *command], capture_output=True, text=True
    )
    assert proc.returncode == 0, f"{' '.join(command)}: {proc.stderr}"


def starve(lab: str, host: str) -> None:
    namespace, device = f"rl-{lab}-{host}", LINKS[host]
    in_netns(namespace, "tc", "qdisc", "add", "dev", device, "ingress")
    in_netns(
        namespace,
        *("tc", "filter", "add", "dev", device, "parent", "ffff:", "protocol", "0x88b5"),
        *("u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", "lo"),
    )


def release(lab: str, host: str) -> None:
    in_netns(f"rl-{lab}-{host}", "tc", "qdisc", "del", "dev", LINKS[host], "ingress")


def run(lab: str, env: dict[str, str], path: Path) -> dict[str, Any]:
    proc = ringlab("run", str(path), "--lab", lab, "--json", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@needs_root
def test_bidirectional_starvation_is_named_and_time_sliced_recommended(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RINGLAB_LAB_DIR": str(tmp_path / "labs"),
        "RINGLAB_DB": str(tmp_path / "runs.db"),
    }
    bidirectional = tmp_path / "bidirectional.yaml"
    bidirectional.write_text(
        SCENARIO.format(name="zc-bi", mode="bidirectional", extra="duration: 1s")
    )
    sliced = tmp_path / "sliced.yaml"
    sliced.write_text(
        SCENARIO.format(
            name="zc-sliced",
            mode="time-sliced",
            extra="time_slice: {slice: 500ms, gap: 100ms, rounds: 1}",
        )
    )
    lab = unique_lab_name()
    up = ringlab("lab", "up", "--name", lab, env=env)
    assert up.returncode == 0, up.stderr
    try:
        for host in LINKS:
            starve(lab, host)
        both = run(lab, env, bidirectional)
        for host in LINKS:
            release(lab, host)
        alone = run(lab, env, sliced)
    finally:
        down = ringlab("lab", "down", "--name", lab, env=env)
        assert down.returncode == 0, down.stderr

    # The staged signature: TX climbs on both sides, RX stays at 0 on both.
    (phase,) = both["phases"]
    for flow in phase["flows"]:
        assert flow["tx_packets"] >= 19_000 and flow["rx_packets"] == 0
        assert flow["receiver_interface"]["rx_packets"] >= flow["tx_packets"]
    # One direction at a time, every frame arrives.
    for slice_phase in alone["phases"]:
        (flow,) = slice_phase["flows"]
        assert flow["rx_packets"] == flow["tx_packets"] > 0

    # `ringlab run` already diagnosed the bidirectional run on its own.
    own = [d for d in both["diagnosis"] if d["code"] == "rx_starved_bidirectional"]
    assert sorted(d["flow"] for d in own) == ["a->b", "b->a"]
    assert all("PF_RING ZC bidirectional signature" in d["message"] for d in own)
    assert all("compare: [bidirectional, time-sliced]" in d["message"] for d in own)

    # Held against the time-sliced run, the diagnosis is sure and says what to do.
    both_run, alone_run = load(both), load(alone)
    findings = diagnose(both_run, [alone_run])
    starved = [d for d in findings if d.code == "rx_starved_bidirectional"]
    assert [(d.severity, d.flow) for d in starved] == [("error", "a->b"), ("error", "b->a")]
    for finding in starved:
        print(f"[{finding.severity}] {finding.code} {finding.flow}: {finding.message}")
        assert f"run {alone_run.run_id} time-sliced/r1/{finding.flow}" in finding.message
        assert "the directions contend, the path itself works" in finding.message
        assert "mode: time-sliced" in finding.message
    assert findings[0].code == "rx_starved_bidirectional"

    # Every lost frame is placed: they reached the receiver's interface, not our ring.
    for flow in both_run.phases[0].flows:
        part = attribute_loss([flow])
        assert part.receiver == part.lost == flow.tx_packets
        assert part.sender == part.link == part.kernel_ring == part.unknown == 0


def load(document: dict[str, Any]) -> RunResult:
    return load_result(document)
