"""Scenario modes end to end on one built-in lab: real agents, namespaces, gRPC, `ringlab run`.

Every flow must be counted exactly (rx + lost == tx, nothing lost at these low
rates, nothing counted in another slice), live stats must keep at least 5
points per second per flow, and start skew must be measured for each of 20
phases (the sub-millisecond figure is bench/start_skew.py's). The lab is shared by the tests of this module (creating one takes
seconds); each run gets its own store. The example scenarios run in
test_examples.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CliLab as Lab
from helpers import cli_lab, needs_root

pytestmark = needs_root


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with cli_lab(tmp_path_factory.mktemp("modes")) as lab:
        yield lab


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


TWO_WAYS = """version: 1
name: {name}
mode: {mode}
{extra}
hosts: {{a: {{}}, b: {{}}}}
flows:
  - {{from: a, to: b, frame_size: 64, rate: {rate}}}
  - {{from: b, to: a, frame_size: 64, rate: {rate}}}
"""


def assert_exact(phase: dict[str, Any]) -> None:
    """Every frame of every flow of the phase accounted for, none lost, none foreign."""
    for flow in phase["flows"]:
        where = f"{phase['name']} {flow['name']}"
        assert flow["tx_packets"] > 0, where
        assert flow["rx_packets"] + flow["lost"] == flow["tx_packets"], where
        assert flow["lost"] == 0, where
        assert flow["duplicates"] == 0 and flow["foreign_frames"] == 0, where
        assert flow["errors"] == [], where


def series_points(phase: dict[str, Any], flow: str, way: str) -> int:
    return sum(
        1
        for point in phase["series"]
        if flow in point[way] and 0 <= point["t_s"] <= phase["duration_s"] + 0.05
    )


def test_bidirectional_counts_every_frame_and_streams_stats(
    shared_lab: Lab, tmp_path: Path
) -> None:
    text = TWO_WAYS.format(name="bi", mode="bidirectional", extra="duration: 1s", rate="50kpps")
    result = shared_lab.run(write(tmp_path, text))
    assert result["status"] == "completed"
    (phase,) = result["phases"]
    assert phase["name"] == "bidirectional"
    assert {f["name"] for f in phase["flows"]} == {"a->b", "b->a"}
    assert_exact(phase)
    for flow in phase["flows"]:
        assert abs(flow["tx_packets"] - 50_000) <= 500  # paced: 50 kpps for 1 s
        tx_points = series_points(phase, flow["name"], "tx_pps")
        rx_points = series_points(phase, flow["name"], "rx_pps")
        print(f"{flow['name']}: {tx_points} tx and {rx_points} rx stats points in 1 s")
        assert tx_points >= 5 and rx_points >= 5
    print(f"bidirectional start skew {phase['start_skew_us']} µs")
    assert [d for d in result["diagnosis"] if d["severity"] != "info"] == []


def test_time_sliced_keeps_every_frame_in_its_slice(shared_lab: Lab, tmp_path: Path) -> None:
    extra = "time_slice: {slice: 300ms, gap: 100ms, rounds: 2}"
    text = TWO_WAYS.format(name="sliced", mode="time-sliced", extra=extra, rate="20kpps")
    result = shared_lab.run(write(tmp_path, text))
    assert result["status"] == "completed"
    names = [p["name"] for p in result["phases"]]
    assert names == [
        "time-sliced/r1/a->b",
        "time-sliced/r1/b->a",
        "time-sliced/r2/a->b",
        "time-sliced/r2/b->a",
    ]
    for phase in result["phases"]:
        direction = phase["name"].rsplit("/", 1)[1]
        # Only the slice's own direction runs; the other flow does not appear at all.
        assert [f["name"] for f in phase["flows"]] == [direction]
        assert_exact(phase)
        (flow,) = phase["flows"]
        # The receiving interface saw this slice's frames (plus at most a little background).
        assert 0 <= flow["receiver_interface"]["rx_packets"] - flow["tx_packets"] <= 10
        assert {name for p in phase["series"] for name in p["tx_pps"]} <= {direction}
        assert {name for p in phase["series"] for name in p["rx_pps"]} <= {direction}


def test_compare_runs_both_modes_side_by_side(shared_lab: Lab, tmp_path: Path) -> None:
    extra = (
        "duration: 1s\ntime_slice: {slice: 300ms, gap: 100ms, rounds: 1}\n"
        "compare: [bidirectional, time-sliced]"
    )
    text = TWO_WAYS.format(name="cmp", mode="bidirectional", extra=extra, rate="20kpps")
    result = shared_lab.run(write(tmp_path, text))
    assert result["status"] == "completed"
    groups = [(p["group"], p["name"]) for p in result["phases"]]
    assert groups == [
        ("bidirectional", "bidirectional"),
        ("time-sliced", "time-sliced/r1/a->b"),
        ("time-sliced", "time-sliced/r1/b->a"),
    ]
    for phase in result["phases"]:
        assert_exact(phase)
    assert [d for d in result["diagnosis"] if d["severity"] == "error"] == []


@pytest.mark.drill
def test_start_skew_is_measured_in_each_of_20_phases(shared_lab: Lab, tmp_path: Path) -> None:
    # The < 1 ms p99 figure is a performance claim, measured by bench/start_skew.py on a
    # quiet machine; here a broken schedule (agents ignoring start_at, or a wrong clock
    # offset) must fail: either puts starts hundreds of milliseconds apart.
    extra = "time_slice: {slice: 200ms, gap: 50ms, rounds: 10}"
    text = TWO_WAYS.format(name="skew20", mode="time-sliced", extra=extra, rate="10kpps")
    result = shared_lab.run(write(tmp_path, text))
    assert result["status"] == "completed"
    phases = result["phases"]
    assert len(phases) == 20
    for phase in phases:
        assert_exact(phase)
        assert abs(phase["flows"][0]["tx_packets"] - 2_000) <= 50
    skews = sorted(p["start_skew_us"] for p in phases)
    p99 = percentile(skews, 99)
    print(
        f"start skew over {len(skews)} phases (µs): min {skews[0]:.0f} "
        f"p50 {percentile(skews, 50):.0f} p99 {p99:.0f} max {skews[-1]:.0f}; all: {skews}"
    )
    assert all(s > 0 for s in skews)  # measured, not a placeholder
    # A broken schedule is hundreds of ms; one sender descheduled on a busy 2-CPU host
    # has been seen at 26 ms (p50 0.3 ms), which is not what this test is about.
    assert skews[-1] < 100_000


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
