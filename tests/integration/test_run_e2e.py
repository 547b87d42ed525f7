"""The README's first command, end to end: real agents, real namespaces, real gRPC."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import needs_root, ringlab

ROOT = Path(__file__).resolve().parents[2]


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def agent_processes(lab_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "agent serve" in line and str(lab_dir) in line]


@needs_root
def test_unidirectional_example_counts_every_frame(lab_dir: Path, run_db: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ringlab",
            "run",
            str(ROOT / "scenarios" / "unidirectional.yaml"),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    # The temporary lab is named after the controller's pid (see new_temporary_name).
    temporary_lab_prefix = f"rl-t{proc.pid % 100000}-"
    result = json.loads(stdout)
    assert result["status"] == "completed"
    assert result["mode"] == "unidirectional"
    (phase,) = result["phases"]
    (flow,) = phase["flows"]
    assert flow["from"] == "a" and flow["to"] == "b"
    assert flow["tx_packets"] > 0
    assert flow["rx_packets"] == flow["tx_packets"]
    assert flow["lost"] == 0 and flow["duplicates"] == 0
    for key in ("reordered", "tx_pps", "rx_pps", "kernel_drops"):
        assert key in flow
    assert set(flow["latency_us"]) >= {"p50", "p99", "max"}
    # The kernel saw exactly our frames on both ends of the veth.
    assert flow["sender_interface"]["tx_packets"] == flow["tx_packets"]
    assert flow["receiver_interface"]["rx_packets"] == flow["rx_packets"]
    # Nothing is left behind by the temporary lab.
    assert not [n for n in namespaces() if n.startswith(temporary_lab_prefix)]
    assert agent_processes(lab_dir) == []
    assert not any(lab_dir.glob("*/lab.json"))

    # The run was stored and reads back the same.
    shown = ringlab("runs", "show", result["run_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["phases"][0]["flows"][0]["rx_packets"] == flow["rx_packets"]
    listing = ringlab("runs", "list")
    assert result["run_id"] in listing.stdout


@needs_root
def test_run_on_a_named_lab_with_human_output(lab: object, run_db: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        "version: 1\nname: short\nmode: unidirectional\nduration: 1s\n"
        "hosts: {a: {}, b: {}}\n"
        "flows:\n  - {from: b, to: a, frame_size: 128, rate: 20kpps, engine: sendto}\n"
    )
    proc = ringlab("run", str(scenario), "--lab", lab.name, "--tag", "smoke")  # type: ignore[attr-defined]
    assert proc.returncode == 0, proc.stderr
    assert "completed" in proc.stdout and "b->a" in proc.stdout
    shown = json.loads(ringlab("runs", "show", "smoke", "--json").stdout)
    flow = shown["phases"][0]["flows"][0]
    # 20 kpps for 1 s, paced: within 1 %.
    assert abs(flow["tx_packets"] - 20_000) <= 200
    assert flow["rx_packets"] == flow["tx_packets"]
    assert shown["tags"] == ["smoke"]
