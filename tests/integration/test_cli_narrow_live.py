"""`ringlab run`, `lab status`, `regress` and `probe` at 80 columns and as JSON, on a real
lab (root); `deploy` is held to the same in test_ssh_deploy.py (it needs sshd)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cli_lab, needs_root, ringlab, ringlab_in_terminal
from rich.cells import cell_len

SCENARIO = """\
version: 1
name: narrow-terminal
mode: unidirectional
duration: 2s
hosts: {a: {}, b: {}}
flows:
  - {name: a-to-b-64-byte-frames, from: a, to: b, frame_size: 64, rate: max, engine: ring}
"""


@needs_root
def test_run_at_80_columns_shows_the_run_id_and_every_count_whole(tmp_path: Path) -> None:
    scenario = tmp_path / "narrow.yaml"
    scenario.write_text(SCENARIO)
    with cli_lab(tmp_path) as lab:
        db = tmp_path / "runs.db"
        shown = ringlab_in_terminal(
            "run", str(scenario), "--lab", lab.name, "--db", str(db), env=lab.env, timeout=180
        )
        assert shown.returncode == 0, shown.stderr + shown.screen
        status = ringlab("lab", "status", "--name", lab.name, "--json", env=lab.env)
    lines = shown.lines()
    assert all(cell_len(line) <= 80 for line in lines), shown.screen
    assert "…" not in shown.screen, shown.screen
    stored = json.loads(ringlab("runs", "--db", str(db), "show", "latest", "--json").stdout)
    assert lines[0].startswith(f"run {stored['run_id']} ")
    (flow,) = stored["phases"][0]["flows"]
    assert flow["tx_packets"] > 100_000  # a count of six digits or more, with separators
    latency = flow["latency_us"]
    for text in (
        f"{flow['tx_packets']:,}",
        f"{flow['rx_packets']:,}",
        f"{latency['p50']:.0f}/{latency['p99']:.0f}/{latency['max']:.0f}",
        "a-to-b-64-byte-frames",
    ):
        assert text in shown.screen, (text, shown.screen)
    # The lab was up then, and its JSON says so.
    assert status.returncode == 0, status.stderr
    (listed,) = json.loads(status.stdout)
    assert listed["name"] == lab.name
    assert [h["name"] for h in listed["hosts"]] == ["a", "b"]
    assert {h["agent_state"] for h in listed["hosts"]} == {"up"}
    assert listed["hosts"][0]["links"] == {"b": "to-b"}
    assert listed["hosts"][0]["netns"] == f"rl-{lab.name}-a"


@needs_root
def test_lab_status_at_80_columns_and_as_json(tmp_path: Path) -> None:
    with cli_lab(tmp_path) as lab:
        shown = ringlab_in_terminal("lab", "status", "--name", lab.name, env=lab.env)
        listed = ringlab("lab", "status", "--json", env=lab.env)
        missing = ringlab("lab", "status", "--name", f"{lab.name}x", "--json", env=lab.env)
    assert shown.returncode == 0, shown.stderr
    assert all(cell_len(line) <= 80 for line in shown.lines()), shown.screen
    assert "…" not in shown.screen
    for host in ("a", "b"):
        assert f"rl-{lab.name}-{host}" in shown.screen
    assert listed.returncode == 0, listed.stderr
    labs = json.loads(listed.stdout)
    (mine,) = [item for item in labs if item["name"] == lab.name]
    assert mine["mtu"] == 1500 and mine["temporary"] is False
    assert mine["inventory"].endswith(f"{lab.name}/inventory.yaml")
    assert all(isinstance(h["pid"], int) and h["agent"].startswith("unix:") for h in mine["hosts"])
    # No such lab: exit 2, the reason on stderr, nothing half-written on stdout.
    assert missing.returncode == 2 and missing.stdout == ""
    assert f"no lab '{lab.name}x' is up" in missing.stderr
    # Down: the lab is gone from the JSON.
    gone = ringlab("lab", "status", "--json", env=lab.env)
    assert lab.name not in [item["name"] for item in json.loads(gone.stdout)]


SUITE = """\
version: 1
name: narrow-suite
thresholds: {max_rx_pps_drop: 50%, max_loss: 1%}
tests:
  - scenario: paced.yaml
    hosts: [[a, b]]
"""

PACED = SCENARIO.replace("rate: max", "rate: 10kpps").replace("duration: 2s", "duration: 1s")


@needs_root
@pytest.mark.drill
def test_regress_at_80_columns_and_as_json(tmp_path: Path) -> None:
    (tmp_path / "paced.yaml").write_text(PACED)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    with cli_lab(tmp_path) as lab:
        db = str(tmp_path / "runs.db")
        common = ("regress", "run", str(suite), "--baseline", "gold", "--lab", lab.name, "--db", db)
        first = ringlab_in_terminal(*common, "--update-baseline", env=lab.env, timeout=180)
        second = ringlab(*common, "--json", env=lab.env, timeout=180)
    assert first.returncode == 0, first.stderr + first.screen
    assert all(cell_len(line) <= 80 for line in first.lines()), first.screen
    assert "…" not in first.screen, first.screen
    listed = json.loads(ringlab("runs", "--db", db, "list", "--json").stdout)
    assert len(listed) == 2
    assert listed[-1]["run_id"] in first.screen or listed[0]["run_id"] in first.screen
    # --json: the document alone on stdout, the per-case lines on stderr.
    assert second.returncode == 0, second.stderr
    document = json.loads(second.stdout)
    assert document["suite"] == "narrow-suite" and document["suite_run_id"]
    (case,) = document["cases"]
    assert case["name"] == "narrow-terminal on a,b" and case["hosts"] == ["a", "b"]
    assert case["verdict"] == "passed" and case["violations"] == []
    assert case["run_id"] in {item["run_id"] for item in listed}
    assert case["baseline_run_id"] in {item["run_id"] for item in listed}
    assert case["run_id"] != case["baseline_run_id"]
    assert document["left_out"] == []


@needs_root
def test_probe_at_80_columns_and_as_json(tmp_path: Path) -> None:
    with cli_lab(tmp_path) as lab:
        shown = ringlab_in_terminal("probe", "--lab", lab.name, env=lab.env)
        as_json = ringlab("probe", "--lab", lab.name, "--json", env=lab.env)
    assert shown.returncode == 0, shown.stderr + shown.screen
    assert all(cell_len(line) <= 80 for line in shown.lines()), shown.screen
    assert "…" not in shown.screen, shown.screen
    assert as_json.returncode == 0, as_json.stderr
    reports = json.loads(as_json.stdout)
    assert set(reports) >= {"a", "b"}
    for report in reports.values():
        for interface in report["interfaces"]:
            # Every interface name and MAC is printed whole.
            assert interface["name"] in shown.screen
            if interface["mac"]:
                assert interface["mac"] in shown.screen, (interface["mac"], shown.screen)
