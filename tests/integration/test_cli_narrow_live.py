"""`ringlab run` and `lab status` at 80 columns and as JSON, on a real lab (root)."""

from __future__ import annotations

import json
from pathlib import Path

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
