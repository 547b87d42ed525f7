"""`ringlab check`: the plan of every example, preflight on a real lab, and nothing sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import needs_root, ringlab

from ringlab.controller.run.plan import build_plan, planned_frames
from ringlab.controller.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_check_lists_every_flow_of_every_phase(path: Path) -> None:
    proc = ringlab("check", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    plan = build_plan(load_scenario(path))
    expected = [
        (phase.name, flow.name, planned_frames(flow, phase.duration_ns))
        for phase in plan.phases
        for flow in phase.flows
    ]
    assert [(r["phase"], r["flow"], r["frames"]) for r in document["flows"]] == expected
    assert document["preflight"] is None
    # Phases follow one another: each starts after the previous one's traffic and gap.
    starts = [r["start_ns"] for r in document["flows"]]
    assert starts == sorted(starts)
    assert document["total_ns"] == plan.total_ns


def test_check_shows_paced_frame_counts_and_says_preflight_did_not_run() -> None:
    path = Path(__file__).parents[2] / "scenarios" / "rate-limited.yaml"
    proc = ringlab("check", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "rate-limited.yaml: valid" in proc.stdout
    assert "1,000,000" in proc.stdout  # 100kpps for 10 s
    assert "preflight: not run" in proc.stdout


def test_check_rejects_a_bad_scenario_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nname: bad\nmode: unidirectional\nduration: 1s\nhosts: {a: {}, b: {}}\n"
        "flows:\n  - {from: a, to: b, frame_size: 64, rate: fast}\n"
    )
    proc = ringlab("check", str(bad))
    assert proc.returncode == 2
    assert "bad.yaml line 7" in proc.stderr
    assert "rate" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_refuses_both_an_inventory_and_a_lab(tmp_path: Path) -> None:
    path = Path(__file__).parents[2] / "scenarios" / "unidirectional.yaml"
    proc = ringlab("check", str(path), "--lab", "x", "--inventory", str(tmp_path / "i.yaml"))
    assert proc.returncode == 2
    assert "give one of them" in proc.stderr


def tx_counters(lab_name: str) -> dict[tuple[str, str], int]:
    proc = ringlab("probe", "--lab", lab_name, "--json")
    assert proc.returncode == 0, proc.stderr
    return {
        (host, i["name"]): i["counters"]["tx_packets"]
        for host, report in json.loads(proc.stdout).items()
        for i in report["interfaces"]
        if i["name"].startswith("to-")
    }


@needs_root
def test_check_on_a_lab_resolves_interfaces_and_sends_nothing(lab: object, run_db: Path) -> None:
    path = Path(__file__).parents[2] / "scenarios" / "bidirectional.yaml"
    name = lab.name  # type: ignore[attr-defined]
    before = tx_counters(name)
    proc = ringlab("check", str(path), "--lab", name, "--json")
    assert proc.returncode == 0, proc.stderr
    preflight = json.loads(proc.stdout)["preflight"]
    assert preflight["refused"] is False
    ends = {
        e["flow"]: (
            (e["from"]["host"], e["from"]["interface"]),
            (e["to"]["host"], e["to"]["interface"]),
        )
        for e in preflight["endpoints"]
    }
    assert ends == {"a->b": (("a", "to-b"), ("b", "to-a")), "b->a": (("b", "to-a"), ("a", "to-b"))}
    assert {e["from"]["driver"] for e in preflight["endpoints"]} == {"veth"}
    # A check is not a run: no frame left either end, and nothing is stored.
    assert tx_counters(name) == before
    assert not run_db.exists()


@needs_root
def test_check_on_a_lab_refuses_frames_larger_than_the_mtu(lab: object, tmp_path: Path) -> None:
    jumbo = tmp_path / "jumbo.yaml"
    jumbo.write_text(
        "version: 1\nname: jumbo\nmode: unidirectional\nduration: 1s\nhosts: {a: {}, b: {}}\n"
        "flows:\n  - {from: a, to: b, frame_size: 9018, rate: 1kpps}\n"
    )
    proc = ringlab("check", str(jumbo), "--lab", lab.name)  # type: ignore[attr-defined]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "frame_exceeds_mtu" in proc.stdout
    assert f"`ip -n rl-{lab.name}-a link set to-b mtu 9000`" in proc.stdout  # type: ignore[attr-defined]
    assert "would refuse" in proc.stdout
    assert "Traceback" not in proc.stderr


@needs_root
def test_paced_frames_that_check_announces_are_what_run_sends(
    lab: object, tmp_path: Path, run_db: Path
) -> None:
    paced = tmp_path / "paced.yaml"
    paced.write_text(
        "version: 1\nname: paced\nmode: unidirectional\nduration: 1s\nhosts: {a: {}, b: {}}\n"
        "flows:\n  - {from: a, to: b, frame_size: 64, rate: 20kpps, workers: 3}\n"
    )
    name = lab.name  # type: ignore[attr-defined]
    announced = json.loads(ringlab("check", str(paced), "--json").stdout)["flows"][0]["frames"]
    assert announced == 3 * 6666  # each worker paces 6666.67 pps
    proc = ringlab("run", str(paced), "--lab", name, "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    flow = json.loads(proc.stdout)["phases"][0]["flows"][0]
    assert flow["tx_packets"] == announced


TOO_MANY_WORKERS = """\
version: 1
name: too-many-workers
mode: time-sliced
time_slice: {slice: 500ms, gap: 100ms, rounds: 2}
hosts: {a: {}, b: {}}
flows:
  - {from: b, to: a, frame_size: 64, rate: 1kpps}
""" + "".join("  - {from: a, to: b, frame_size: 64, rate: 1kpps, workers: 16}\n" for _ in range(5))


@needs_root
def test_what_an_agent_would_refuse_in_a_later_phase_stops_the_run_before_any_traffic(
    lab: object, tmp_path: Path, run_db: Path
) -> None:
    # Each flow is valid on its own; the a->b phase asks one agent for 80 workers (max 64).
    scenario = tmp_path / "workers.yaml"
    scenario.write_text(TOO_MANY_WORKERS)
    name = lab.name  # type: ignore[attr-defined]
    checked = ringlab("check", str(scenario), "--lab", name)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "agent_refuses_prepare" in checked.stdout
    assert "80 workers" in checked.stdout
    # One finding per agent, not one per round.
    assert checked.stdout.count("80 workers") == 2
    before = tx_counters(name)
    run = ringlab("run", str(scenario), "--lab", name)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "before any traffic" in run.stderr and "80 workers" in run.stderr
    # The b->a phase that comes first did not run: nothing sent, nothing stored.
    assert tx_counters(name) == before
    assert not run_db.exists() or "too-many-workers" not in ringlab("runs", "list").stdout
