"""engine: xdp through the product: `ringlab run` on a built-in lab (real agents in real
namespaces, real gRPC, AF_XDP sockets on veth).

- a paced xdp flow counts exactly (100 kpps for 3 s: 300,000 sent and received);
- xdp flows both ways on queue 0 collide as two zero-copy applications would: the
  second bind on each host gets EBUSY, the run stores it (host, interface, queue, and
  which of our flows holds it), the diagnosis names it, exit 1; also with
  allow_zc_bidirectional: true, which lets the collision be attempted;
- the three remedies run clean and exact: time-sliced, xdp_share, separate queues
  (the lab's links have 2 queues: `lab up --queues 2`);
- after every run, and after kill -9 of an agent mid-run, no XDP program is left on a
  lab link (`ip -n NS link show` has no `xdp`).

The data plane's own tests (xdp_lab.py, test_xdp.py) cover the engine below the
session layer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CliLab as Lab
from helpers import cli_lab, needs_root, ringlab

pytestmark = needs_root

LINKS = {"a": "to-b", "b": "to-a"}
SCENARIO = """version: 1
name: {name}
mode: {mode}
{extra}
hosts: {{a: {{}}, b: {{}}}}
flows:
{flows}
"""
BOTH_WAYS = (
    "  - {{from: a, to: b, frame_size: 64, rate: {rate}, engine: xdp{a}}}\n"
    "  - {{from: b, to: a, frame_size: 64, rate: {rate}, engine: xdp{b}}}"
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with cli_lab(tmp_path_factory.mktemp("xdp"), "--queues", "2") as made:
        yield made


def xdp_links(lab: Lab) -> list[str]:
    """The lab links that carry an XDP program (`ip link` prints `xdp`/`xdpgeneric`)."""
    found = []
    for host, link in LINKS.items():
        shown = subprocess.run(
            ["ip", "-n", f"rl-{lab.name}-{host}", "link", "show", link],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if " xdp" in shown or "prog/xdp" in shown:
            found.append(f"{host}:{link}: {shown.strip()}")
    return found


def run(lab: Lab, tmp_path: Path, ok: int, mode: str, flows: str, extra: str = "") -> Any:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.format(name=tmp_path.name[:60], mode=mode, extra=extra, flows=flows))
    result = lab.run(path, ok_codes=(ok,))
    assert xdp_links(lab) == []  # the sockets' bpf links went with them
    return result


def assert_exact(result: Any, frames: int) -> None:
    assert result["status"] == "completed", result["error"]
    for phase in result["phases"]:
        for flow in phase["flows"]:
            where = (phase["name"], flow["name"])
            assert (flow["tx_packets"], flow["rx_packets"], flow["lost"]) == (frames, frames, 0)
            assert flow["errors"] == [] and "xdp_queue_busy" not in flow, where
            assert flow["sender_info"]["engine"] == "xdp", where
            assert flow["receiver_info"]["xdp_mode"] == "copy", where  # veth: no zero-copy
            assert flow["receiver_extra"]["xdp_rx_dropped"] == 0, where


def test_paced_xdp_flow_counts_exactly(lab: Lab, tmp_path: Path) -> None:
    flows = "  - {from: a, to: b, frame_size: 64, rate: 100kpps, engine: xdp}"
    result = run(lab, tmp_path, 0, "unidirectional", flows, "duration: 3s")
    assert_exact(result, 300_000)
    flow = result["phases"][0]["flows"][0]
    assert flow["receiver_info"]["xdp_attach"] in ("native", "generic")
    assert flow["receiver_info"]["xdp_attach_via"] == "link"
    assert flow["receiver_extra"]["xdp_kernel_stamped"] == 300_000
    assert flow["kernel_drops"] == 0 and flow["latency_us"]["samples"] > 0


@pytest.mark.parametrize("allow", [False, True], ids=["default", "allow_zc_bidirectional"])
def test_both_ways_on_one_queue_collide_and_are_diagnosed(
    lab: Lab, tmp_path: Path, allow: bool
) -> None:
    extra = "duration: 1s" + ("\nallow_zc_bidirectional: true" if allow else "")
    flows = BOTH_WAYS.format(rate="10kpps", a="", b="")
    result = run(lab, tmp_path, 1, "bidirectional", flows, extra)
    assert result["status"] == "failed"
    flows_by_name = {f["name"]: f for f in result["phases"][0]["flows"]}
    for name, host, other in (("a->b", "a", "b->a"), ("b->a", "b", "a->b")):
        flow = flows_by_name[name]
        # Receivers open first, so each host's sender is the second owner of its queue.
        assert flow["tx_packets"] == 0 and flow["rx_packets"] == 0
        [busy] = flow["xdp_queue_busy"]
        assert (busy["host"], busy["interface"], busy["queue"]) == (host, LINKS[host], 0)
        assert busy["role"].startswith("xdp sender")
        assert busy["holders"] == [f"{other} (receiver)"]
        assert any("EBUSY" in e for e in flow["errors"])
    diagnosed = [d for d in result["diagnosis"] if d["code"] == "xdp_queue_busy"]
    assert sorted(d["flow"] for d in diagnosed) == ["a->b", "b->a"]
    for words in ("time-sliced", "xdp_share: true", "xdp_queue: 1", "EBUSY"):
        assert all(words in d["message"] for d in diagnosed), words
    assert not [d for d in result["diagnosis"] if d["code"] == "zc_device_busy"]


def test_compare_holds_the_collision_beside_the_time_sliced_remedy(
    lab: Lab, tmp_path: Path
) -> None:
    extra = "compare: [bidirectional, time-sliced]\nduration: 1s\n" + (
        "time_slice: {slice: 1s, gap: 100ms, rounds: 1}"
    )
    flows = BOTH_WAYS.format(rate="20kpps", a="", b="")
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.format(name="xdp-compare", mode="bidirectional", extra=extra,
                                    flows=flows))  # fmt: skip
    result = lab.run(path, ok_codes=(1,))
    assert xdp_links(lab) == []
    assert result["status"] == "failed"  # the collision stays the run's verdict
    collided, *sliced = result["phases"]
    assert (collided["group"], collided["status"]) == ("bidirectional", "failed")
    assert all(f["xdp_queue_busy"] for f in collided["flows"])
    assert [p["group"] for p in sliced] == ["time-sliced", "time-sliced"]
    assert_exact({**result, "status": "completed", "phases": sliced}, 20_000)


def test_max_rate_losses_are_all_in_the_receivers_statistics(lab: Lab, tmp_path: Path) -> None:
    flows = "  - {from: a, to: b, frame_size: 64, rate: max, engine: xdp}"
    result = run(lab, tmp_path, 0, "unidirectional", flows, "duration: 2s")
    flow = result["phases"][0]["flows"][0]
    stats = flow["receiver_extra"]
    dropped = stats["xdp_rx_dropped"] + stats["xdp_rx_ring_full"] + stats["xdp_rx_invalid_descs"]
    assert flow["tx_packets"] > 100_000
    # Frames the device refused were never sent (send_errors); every sent frame was
    # counted or dropped by the receiving socket.
    assert flow["kernel_drops"] == dropped
    assert flow["rx_packets"] + dropped == flow["tx_packets"]
    assert flow["send_errors"] == flow["sender_extra"].get("xdp_device_drops", 0)


def test_time_sliced_remedy_is_exact(lab: Lab, tmp_path: Path) -> None:
    extra = "time_slice: {slice: 1s, gap: 100ms, rounds: 2}"
    flows = BOTH_WAYS.format(rate="20kpps", a="", b="")
    result = run(lab, tmp_path, 0, "time-sliced", flows, extra)
    assert len(result["phases"]) == 4  # each phase closes and rebinds the same queues
    assert_exact(result, 20_000)


def test_shared_socket_remedy_is_exact(lab: Lab, tmp_path: Path) -> None:
    share = ", xdp_share: true"
    flows = BOTH_WAYS.format(rate="50kpps", a=share, b=share)
    result = run(lab, tmp_path, 0, "bidirectional", flows, "duration: 2s")
    assert_exact(result, 100_000)
    for flow in result["phases"][0]["flows"]:
        assert flow["sender_extra"]["xdp_shared"] == 1
        assert flow["receiver_extra"]["xdp_shared"] == 1


def test_separate_queues_remedy_is_exact(lab: Lab, tmp_path: Path) -> None:
    flows = BOTH_WAYS.format(rate="50kpps", a="", b=", xdp_queue: 1")
    result = run(lab, tmp_path, 0, "bidirectional", flows, "duration: 2s")
    assert_exact(result, 100_000)
    queues = {f["name"]: f["receiver_extra"]["xdp_queue"] for f in result["phases"][0]["flows"]}
    assert queues == {"a->b": 0, "b->a": 1}
    status = ringlab("lab", "status", "--name", lab.name, "--json", env=lab.env)
    assert json.loads(status.stdout)[0]["queues"] == 2  # `lab up --queues 2`


def test_a_temporary_lab_gets_the_queues_the_flows_bind(tmp_path: Path) -> None:
    path = tmp_path / "queues.yaml"
    flows = BOTH_WAYS.format(rate="20kpps", a="", b=", xdp_queue: 2")  # queues 0 and 2
    path.write_text(SCENARIO.format(name="xdp-temp", mode="bidirectional",
                                    extra="duration: 1s", flows=flows))  # fmt: skip
    env = {"RINGLAB_LAB_DIR": str(tmp_path / "labs"), "RINGLAB_DB": str(tmp_path / "runs.db")}
    proc = ringlab("run", str(path), "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_exact(json.loads(proc.stdout), 20_000)


@pytest.mark.parametrize(
    "engines", ["engine: ring, rx_engine: xdp", "engine: xdp, rx_engine: ring"]
)
def test_rx_engine_overrides_the_receiving_side(tmp_path: Path, engines: str) -> None:
    # A temporary lab: one queue per link, so a ring sender's frames reach the xdp queue.
    path = tmp_path / "mixed.yaml"
    flows = f"  - {{from: a, to: b, frame_size: 64, rate: 20kpps, {engines}}}"
    path.write_text(SCENARIO.format(name="xdp-mixed", mode="unidirectional",
                                    extra="duration: 1s", flows=flows))  # fmt: skip
    env = {"RINGLAB_LAB_DIR": str(tmp_path / "labs"), "RINGLAB_DB": str(tmp_path / "runs.db")}
    proc = ringlab("run", str(path), "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [flow] = json.loads(proc.stdout)["phases"][0]["flows"]
    assert (flow["tx_packets"], flow["rx_packets"]) == (20_000, 20_000)
    receiving = "xdp" if "rx_engine: xdp" in engines else "ring"
    assert flow["rx_engine"] == receiving
    assert (flow.get("receiver_info", {}).get("engine") == "xdp") == (receiving == "xdp")
    assert (flow.get("sender_info", {}).get("engine") == "xdp") == (receiving == "ring")


def test_zerocopy_on_veth_is_refused_before_traffic(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "zc.yaml"
    flows = "  - {from: a, to: b, frame_size: 64, rate: 1kpps, engine: xdp, xdp_mode: zerocopy}"
    path.write_text(SCENARIO.format(name="zc", mode="unidirectional", extra="duration: 1s",
                                    flows=flows))  # fmt: skip
    env = {**lab.env, "RINGLAB_DB": str(tmp_path / "runs.db")}
    proc = ringlab("run", str(path), "--lab", lab.name, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "xdp_zerocopy_unsupported" in proc.stderr and "driver veth" in proc.stderr
    assert "xdp_mode: auto" in proc.stderr


def test_killed_agent_leaves_no_xdp_program(tmp_path: Path) -> None:
    # A lab of its own: the agent killed here does not come back.
    with cli_lab(tmp_path) as own:
        path = tmp_path / "long.yaml"
        flows = "  - {from: a, to: b, frame_size: 64, rate: 10kpps, engine: xdp}"
        path.write_text(
            SCENARIO.format(name="xdp-kill", mode="unidirectional", extra="duration: 30s",
                            flows=flows)
        )  # fmt: skip
        env = {**own.env, "RINGLAB_DB": str(tmp_path / "runs.db")}
        controller = subprocess.Popen(
            [sys.executable, "-m", "ringlab", "run", str(path), "--lab", own.name, "--json"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Bounded poll: the receiver's program is on b's link once Prepare is done.
            deadline = time.monotonic() + 30
            while not xdp_links(own):
                assert controller.poll() is None, "the run ended before its receiver attached"
                assert time.monotonic() < deadline, "no XDP program appeared on the link"
                time.sleep(0.05)
            # The probe names the program the receiver attached.
            probe = ringlab("probe", "b", "--lab", own.name, "--json", env=own.env)
            [link] = [i for i in json.loads(probe.stdout)["b"]["interfaces"] if i["name"] == "to-a"]
            assert (link["xdp_attached"], link["xdp_prog_name"]) == ("native", "ringlab_xsk")
            assert link["xdp_prog_id"] > 0 and link["xdp_queues"] == 1
            status = ringlab("lab", "status", "--name", own.name, "--json", env=own.env)
            [lab_doc] = json.loads(status.stdout)
            pids = {h["name"]: h["pid"] for h in lab_doc["hosts"]}
            os.kill(pids["b"], signal.SIGKILL)
            assert controller.wait(timeout=60) == 1  # the run fails within the lease
        finally:
            if controller.poll() is None:
                controller.kill()
                controller.wait()
        assert xdp_links(own) == []
