"""Smaller honesty gaps under faults (#17 item 7), on real agents in a `lab up` lab.

- Duplicates: every frame a -> b is copied once on its way (tc mirred through a second
  veth pair into b's receiving interface); rx_pps must be the rate of distinct frames,
  like rx_packets, not of every copy.
- Time slices: the quiet between two slices is measured from the senders' own start
  times and said in the result, with a warning when it exceeds the configured gap.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CliLab, cli_lab, needs_root

pytestmark = needs_root


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[CliLab]:
    with cli_lab(tmp_path) as made:
        yield made


def tc(namespace: str, *args: str) -> None:
    subprocess.run(["tc", "-n", namespace, *args], check=True, capture_output=True, text=True)


def duplicate_every_frame(lab: CliLab) -> None:
    """a's frames to b are mirrored over a second link (dup-a <-> dup-b) and put into b's
    to-a as if received there: b's receiver sees each frame twice."""
    ns_a, ns_b = f"rl-{lab.name}-a", f"rl-{lab.name}-b"
    subprocess.run(
        ["ip", "-n", ns_a, "link", "add", "dup-a", "type", "veth", "peer", "dup-b", "netns", ns_b],
        check=True,
    )
    subprocess.run(["ip", "-n", ns_a, "link", "set", "dup-a", "up"], check=True)
    subprocess.run(["ip", "-n", ns_b, "link", "set", "dup-b", "up"], check=True)
    tc(ns_a, "qdisc", "add", "dev", "to-b", "clsact")
    tc(ns_a, "filter", "add", "dev", "to-b", "egress", "u32", "match", "u32", "0", "0",
       "action", "mirred", "egress", "mirror", "dev", "dup-a")  # fmt: skip
    tc(ns_b, "qdisc", "add", "dev", "dup-b", "clsact")
    tc(ns_b, "filter", "add", "dev", "dup-b", "ingress", "u32", "match", "u32", "0", "0",
       "action", "mirred", "ingress", "redirect", "dev", "to-a")  # fmt: skip


def scenario(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text("version: 1\nname: numbers\nhosts: {a: {}, b: {}}\n" + body)
    return path


def only_flow(result: dict[str, Any]) -> dict[str, Any]:
    [phase] = result["phases"]
    [flow] = phase["flows"]
    return dict(flow)


def test_rx_pps_counts_distinct_frames_like_rx_packets(lab: CliLab, tmp_path: Path) -> None:
    duplicate_every_frame(lab)
    path = scenario(
        tmp_path,
        "mode: unidirectional\nduration: 2s\nflows:\n"
        # Through the qdisc layer: the egress filter sees only frames that go through it.
        "  - {from: a, to: b, frame_size: 64, rate: 10kpps, qdisc_bypass: false}\n",
    )
    flow = only_flow(lab.run(path))
    assert flow["tx_packets"] == flow["rx_packets"] == 20_000
    assert flow["duplicates"] > 15_000, flow  # the copies arrived and were told apart
    # Distinct frames over the receive span: about the sender's rate, not twice it (every
    # frame arrived twice over the same span).
    assert 0.5 * flow["tx_pps"] < flow["rx_pps"] < 1.5 * flow["tx_pps"], flow
    assert flow["rx_bps"] == pytest.approx(flow["rx_pps"] * 64 * 8)


def test_the_quiet_between_time_slices_is_measured_and_said(lab: CliLab, tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        "mode: time-sliced\nflows:\n"
        "  - {from: a, to: b, frame_size: 64, rate: 5kpps}\n"
        "  - {from: b, to: a, frame_size: 64, rate: 5kpps}\n"
        "time_slice: {slice: 500ms, gap: 100ms, rounds: 1}\n",
    )
    result = lab.run(path)
    first, second = result["phases"]
    # The quiet from the senders' own start times (controller clock), computed here too.
    end_of_first = min(f["tx_start_wall_ns"] for f in first["flows"]) + first["duration_s"] * 1e9
    quiet_ms = (min(f["tx_start_wall_ns"] for f in second["flows"]) - end_of_first) / 1e6
    assert quiet_ms > 0
    [said] = [d for d in result["diagnosis"] if d["code"].startswith("slice_gap")]
    assert said["phase"] == second["name"]
    assert f"was {quiet_ms:.0f} ms" in said["message"], (quiet_ms, said)
    assert "configured gap is 100 ms" in said["message"]
    longer = quiet_ms > 100 + 50
    assert (said["code"], said["severity"]) == (
        ("slice_gap_longer", "warning") if longer else ("slice_gap", "info")
    )
