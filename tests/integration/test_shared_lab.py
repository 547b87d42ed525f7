"""A lab shared by several controllers: busy agents name their holder, `--wait` queues
first come first served, a refused or given-up run stores nothing (#20, #17 item 7).

Real `ringlab lab up` agents, real `ringlab run` processes. The test itself holds the
agents first (AcquireHold, as any controller does), so which run waits for which is set
by the test, never by how fast a process starts.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from helpers import CliLab, cli_lab, needs_root, ringlab

from ringlab.v1 import agent_pb2 as pb
from ringlab.v1 import agent_pb2_grpc as pb_grpc

pytestmark = [needs_root, pytest.mark.drill]

RATE_PPS = 10_000
SCENARIO = """\
version: 1
name: {name}
mode: unidirectional
duration: 1s
hosts: {{a: {{}}, b: {{}}}}
flows:
  - {{from: a, to: b, frame_size: 128, rate: 10kpps, engine: sendto}}
"""
EXPECTED_TX = RATE_PPS * 1
RINGLAB_RUN = (sys.executable, "-m", "ringlab", "run")
GATE = pb.SessionHolder(
    run_id="gate-run-1", scenario="nightly", controller_host="ci-7", controller_user="alice"
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliLab]:
    with cli_lab(tmp_path_factory.mktemp("shared")) as made:
        yield made


@dataclass
class Agents:
    stubs: dict[str, pb_grpc.AgentStub]

    def info(self, host: str) -> pb.GetInfoResponse:
        reply: pb.GetInfoResponse = self.stubs[host].GetInfo(pb.GetInfoRequest(), timeout=10)
        return reply

    @property
    def first(self) -> str:
        """The host every controller takes first (the lowest agent_id): where runs queue."""
        return min(self.stubs, key=lambda h: (self.info(h).agent_id, h))


@pytest.fixture(scope="module")
def agents(lab: CliLab) -> Iterator[Agents]:
    status = ringlab("lab", "status", "--name", lab.name, "--json", env=lab.env)
    assert status.returncode == 0, status.stderr
    (shown,) = json.loads(status.stdout)
    channels = {h["name"]: grpc.insecure_channel(h["agent"]) for h in shown["hosts"]}
    try:
        yield Agents({h: pb_grpc.AgentStub(c) for h, c in channels.items()})
    finally:
        for channel in channels.values():
            channel.close()


@contextlib.contextmanager
def gate(agents: Agents) -> Iterator[Callable[[], None]]:
    """Hold every agent as a controller would (60 s, the longest hold); yields `open`."""
    for stub in agents.stubs.values():
        reply = stub.AcquireHold(pb.AcquireHoldRequest(holder=GATE, hold_ms=60_000), timeout=10)
        assert reply.granted

    def open_gate() -> None:
        for stub in agents.stubs.values():
            stub.ReleaseHold(pb.ReleaseHoldRequest(run_id=GATE.run_id), timeout=10)

    try:
        yield open_gate
    finally:
        open_gate()


def until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll the agents' state (GetInfo) every 50 ms, up to timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.05)


@dataclass
class Controller:
    """One `ringlab run` process with its own run store, as on another CI runner."""

    proc: subprocess.Popen[str]
    db: Path
    out: Path
    err: Path

    def finish(self, timeout_s: float = 120) -> tuple[int, dict[str, Any] | None, str]:
        code = self.proc.wait(timeout=timeout_s)
        text = self.out.read_text()
        return code, json.loads(text) if text.strip() else None, self.err.read_text()


def start_run(lab: CliLab, tmp_path: Path, name: str, *options: str) -> Controller:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(SCENARIO.format(name=name))
    db, out, err = (tmp_path / f"{name}{suffix}" for suffix in (".db", ".out", ".err"))
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [*RINGLAB_RUN, str(scenario), "--lab", lab.name, "--json", "--db", str(db), *options],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            env=lab.env,
        )
    return Controller(proc, db, out, err)


def stored_run_ids(db: Path) -> list[str]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return [str(row[0]) for row in connection.execute("SELECT run_id FROM runs")]


def waiting_on(agents: Agents, host: str | None = None) -> list[str]:
    return [w.scenario for w in agents.info(host or agents.first).waiting]


def assert_exact(result: dict[str, Any], db: Path) -> None:
    assert result["status"] == "completed", result.get("error")
    ((flow,),) = [phase["flows"] for phase in result["phases"]]
    assert flow["tx_packets"] == EXPECTED_TX
    assert flow["rx_packets"] == flow["tx_packets"] and flow["lost"] == 0
    assert stored_run_ids(db) == [result["run_id"]]
    shown = ringlab("runs", "show", result["run_id"], "--json", "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    stored = json.loads(shown.stdout)["phases"][0]["flows"][0]
    assert (stored["tx_packets"], stored["rx_packets"]) == (EXPECTED_TX, EXPECTED_TX)


def test_a_busy_lab_refuses_a_run_up_front_naming_the_holder_and_stores_nothing(
    lab: CliLab, agents: Agents, tmp_path: Path
) -> None:
    with gate(agents):
        refused = start_run(lab, tmp_path, "refused")
        code, result, stderr = refused.finish()
        # `probe` says who holds each host too.
        probed = ringlab("probe", "--lab", lab.name, "--json", env=lab.env)
        assert probed.returncode == 0, probed.stderr
        for host, report in json.loads(probed.stdout).items():
            assert report["holder"]["run_id"] == "gate-run-1", host
            assert report["holder"]["controller_host"] == "ci-7" and report["waiting"] == []
    assert code == 1, stderr
    assert result is None
    # Whom to ask, and what to do.
    assert "busy: held by run gate-run-1 (scenario 'nightly') from alice@ci-7 since" in stderr
    assert "--wait" in stderr and "nothing was run or stored" in stderr
    assert "Traceback" not in stderr
    assert stored_run_ids(refused.db) == []
    # The refused controller kept no hold and no place in line.
    for host in agents.stubs:
        info = agents.info(host)
        assert not info.HasField("holder") and list(info.waiting) == []


def test_waiting_runs_start_in_arrival_order_each_when_the_one_before_ends(
    lab: CliLab, agents: Agents, tmp_path: Path
) -> None:
    with gate(agents) as open_gate:
        first = start_run(lab, tmp_path, "first", "--wait", "60s")
        until(lambda: waiting_on(agents) == ["first"], "the first run queues")
        second = start_run(lab, tmp_path, "second", "--wait", "60s")
        until(lambda: waiting_on(agents) == ["first", "second"], "the second queues")
        # `lab status --json` says who holds each agent and who waits, in order.
        status = ringlab("lab", "status", "--name", lab.name, "--json", env=lab.env)
        assert status.returncode == 0, status.stderr
        (shown,) = json.loads(status.stdout)
        host_a = next(h for h in shown["hosts"] if h["name"] == agents.first)
        assert host_a["holder"]["run_id"] == "gate-run-1"
        assert host_a["holder"]["controller_user"] == "alice"
        assert host_a["holder"]["since"].endswith("Z")
        assert [w["scenario"] for w in host_a["waiting"]] == ["first", "second"]
        open_gate()
        # The first run holds both agents while it runs; the second still waits.
        until(lambda: agents.info("b").holder.scenario == "first", "the first run starts")
        holder = agents.info("a").holder  # the first run holds both
        assert (holder.scenario, holder.controller_user) == ("first", "root")
        code1, result1, err1 = first.finish()
        code2, result2, err2 = second.finish()
    assert (code1, code2) == (0, 0), err1 + err2
    assert result1 is not None and result2 is not None
    assert_exact(result1, first.db)
    assert_exact(result2, second.db)
    # Each said whom it waited for: the first the gate, the second the first run.
    queue = agents.first
    assert (
        f"waiting for {queue}: held by run gate-run-1 (scenario 'nightly') from alice@ci-7" in err1
    )
    # The second waited for the first run itself, after the gate opened.
    assert f"waiting for {queue}: held by run {result1['run_id']} (scenario 'first')" in err2


def test_a_waiter_killed_with_sigkill_does_not_block_the_next(
    lab: CliLab, agents: Agents, tmp_path: Path
) -> None:
    with gate(agents) as open_gate:
        doomed = start_run(lab, tmp_path, "doomed", "--wait", "60s")
        until(lambda: waiting_on(agents) == ["doomed"], "the doomed run queues")
        patient = start_run(lab, tmp_path, "patient", "--wait", "60s")
        until(lambda: waiting_on(agents) == ["doomed", "patient"], "the next queues")
        doomed.proc.send_signal(signal.SIGKILL)
        assert doomed.proc.wait(timeout=10) == -signal.SIGKILL
        # Its place lapses once it stops asking (the hold time, 6 s).
        until(lambda: waiting_on(agents) == ["patient"], "the dead waiter's place lapses")
        open_gate()
        code, result, stderr = patient.finish()
    assert code == 0, stderr
    assert result is not None
    assert_exact(result, patient.db)
    assert stored_run_ids(doomed.db) == []


def test_a_wait_that_runs_out_gives_up_with_exit_1_and_stores_nothing(
    lab: CliLab, agents: Agents, tmp_path: Path
) -> None:
    with gate(agents):
        late = start_run(lab, tmp_path, "late", "--wait", "2s")
        code, result, stderr = late.finish()
    assert code == 1, stderr
    assert result is None
    assert f"waiting for {agents.first}: held by run gate-run-1" in stderr
    assert "still busy after waiting 2 s: held by run gate-run-1" in stderr
    assert "gave up, nothing was run or stored" in stderr
    assert stored_run_ids(late.db) == []
    assert waiting_on(agents) == []


def test_regress_without_wait_makes_a_busy_case_an_error_and_stores_no_run(
    lab: CliLab, agents: Agents, tmp_path: Path
) -> None:
    (tmp_path / "pair.yaml").write_text(SCENARIO.format(name="suite-pair"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "version: 1\nname: shared-suite\ntests:\n  - scenario: pair.yaml\n    hosts: [[a, b]]\n"
    )
    db = tmp_path / "regress.db"
    with gate(agents):
        done = ringlab(
            "regress", str(suite), "--baseline", "gold", "--lab", lab.name, "--db", str(db),
            env=lab.env,
        )  # fmt: skip
    assert done.returncode == 3, done.stderr + done.stdout
    shown = done.stdout + done.stderr
    assert "busy: held by run gate-run-1 (scenario 'nightly') from alice@ci-7" in shown
    assert "Traceback" not in shown
    assert stored_run_ids(db) == []


def test_regress_with_wait_waits_for_a_busy_lab_then_runs_its_case_exactly(
    lab: CliLab, agents: Agents, tmp_path: Path
) -> None:
    (tmp_path / "pair.yaml").write_text(SCENARIO.format(name="waiting-suite-pair"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "version: 1\nname: waiting-suite\ntests:\n  - scenario: pair.yaml\n    hosts: [[a, b]]\n"
    )
    db, out, err = (tmp_path / name for name in ("regress.db", "regress.out", "regress.err"))
    with gate(agents) as open_gate:
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "ringlab", "regress", str(suite), "--baseline", "gold",
                    "--update-baseline", "--lab", lab.name, "--db", str(db), "--wait", "60s",
                ],
                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, text=True, env=lab.env,
            )  # fmt: skip
        try:
            until(lambda: waiting_on(agents) == ["waiting-suite-pair"], "the case queues")
            # Still waiting, nothing stored while the gate holds the lab.
            assert proc.poll() is None and stored_run_ids(db) == []
            open_gate()
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    shown = out.read_text() + err.read_text()
    assert code == 0, shown
    assert f"waiting for {agents.first}: held by run gate-run-1" in shown
    assert "Traceback" not in shown
    (run_id,) = stored_run_ids(db)
    stored = ringlab("runs", "show", run_id, "--json", "--db", str(db))
    assert stored.returncode == 0, stored.stderr
    result = json.loads(stored.stdout)
    assert result["scenario"] == "waiting-suite-pair" and "gold" in result["tags"]
    assert_exact(result, db)
    assert waiting_on(agents) == []
