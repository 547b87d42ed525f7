"""Ctrl-C from a terminal and SIGTERM on a run with a temporary lab.

The controller makes the lab itself here (no --lab), so its agents are its own
children. Ctrl-C at a terminal makes the kernel signal the terminal's whole foreground
process group, not just the controller; the test does the same (SIGINT to the
controller's process group). Either way the agents must keep counting until the
controller has stopped and collected them, the run is stored `aborted` with
consistent counts, and nothing of the lab is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_agents import RINGLAB, needs_root, paced_scenario, rx_packets, show_run, wait_until
from pyroute2 import netns
from pyroute2.netlink.exceptions import NetlinkError

from ringlab.controller.remote.lab import Lab, destroy_lab, load_lab
from ringlab.controller.store.database import Store

pytestmark = needs_root

LONG = paced_scenario("60s", 1.0, 20_000)


class TemporaryLabRun:
    def __init__(self, process: subprocess.Popen[bytes], lab_dir: Path, db: Path) -> None:
        self.process = process
        self.lab_dir = lab_dir
        self.db = db
        self.lab: Lab | None = None

    def wait_for_traffic(self, frames: int = 2000) -> Lab:
        """Until the lab the controller made exists and b's interface counted `frames`."""

        def made() -> Lab | None:
            self._still_running()
            names = [p.parent.name for p in self.lab_dir.glob("*/lab.json")]
            return load_lab(names[0]) if names else None

        lab = self.lab = wait_until(made, 60, f"the controller to make a lab in {self.lab_dir}")

        def moving() -> bool:
            self._still_running()
            # The lab is written down before its links exist; never open a namespace that
            # does not exist yet (pyroute2 would create it).
            if lab.hosts["b"].netns not in netns.listnetns():
                return False
            try:
                return rx_packets(lab) > frames
            except NetlinkError:
                return False  # the link is not there yet

        wait_until(moving, 60, "the receiver's interface to count the run's frames")
        # A temporary lab is on record before its agents start (so an orphan can be
        # reaped); read it again now that traffic flows, with the agents' pids.
        lab = self.lab = load_lab(lab.name)
        assert all(host.pid > 0 for host in lab.hosts.values()), lab.hosts
        return lab

    def _still_running(self) -> None:
        if self.process.poll() is not None:
            said = self.process.stderr.read().decode() if self.process.stderr else ""
            raise AssertionError(
                f"the controller exited early with {self.process.returncode}: {said}"
            )

    def stored(self) -> dict[str, object]:
        with Store(self.db) as store:
            runs = store.list_runs()
        assert len(runs) == 1, runs
        return show_run(self.db, runs[0].run_id)


@contextlib.contextmanager
def started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **popen: object
) -> Iterator[TemporaryLabRun]:
    lab_dir = tmp_path / "labs"
    monkeypatch.setenv("RINGLAB_LAB_DIR", str(lab_dir))
    scenario, db = tmp_path / "long.yaml", tmp_path / "runs.db"
    scenario.write_text(LONG)
    process = subprocess.Popen(  # type: ignore[call-overload]
        [*RINGLAB, "run", str(scenario), "--db", str(db)],
        env={**os.environ, "RINGLAB_LAB_DIR": str(lab_dir)},
        **popen,
    )
    run = TemporaryLabRun(process, lab_dir, db)
    try:
        yield run
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)  # reaps it and closes its pipes
        if run.lab is not None and (lab_dir / run.lab.name / "lab.json").exists():
            destroy_lab(run.lab)


def assert_aborted_with_consistent_counts(run: TemporaryLabRun, code: int) -> None:
    assert code == 130
    stored = run.stored()
    assert stored["status"] == "aborted"
    flow = stored["phases"][0]["flows"][0]  # type: ignore[index]
    # The agents kept counting until they were collected: both sides measured.
    assert flow["tx_packets"] > 2000
    assert 0 < flow["rx_packets"] <= flow["tx_packets"]
    assert flow["rx_packets"] + flow["lost"] == flow["tx_packets"]


def assert_lab_gone(lab: Lab) -> None:
    left = {h.netns for h in lab.hosts.values()} & set(netns.listnetns())
    assert not left, f"namespaces left behind: {left}"

    def exited(pid: int) -> Callable[[], bool]:
        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        return gone

    for host in lab.hosts.values():
        wait_until(exited(host.pid), 15, f"agent {host.name} (pid {host.pid}) to exit")


def test_ctrl_c_at_a_terminal_stops_the_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with started(
        tmp_path,
        monkeypatch,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as a shell's foreground job
    ) as run:
        lab = run.wait_for_traffic()
        os.killpg(run.process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        code = run.process.wait(60)
        assert_aborted_with_consistent_counts(run, code)
        assert_lab_gone(lab)


def test_sigterm_stops_the_run_like_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with started(
        tmp_path,
        monkeypatch,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as run:
        lab = run.wait_for_traffic()
        run.process.send_signal(signal.SIGTERM)
        out, err = run.process.communicate(timeout=60)
        assert_aborted_with_consistent_counts(run, run.process.returncode)
        assert b"Traceback" not in err
        stored_id = str(run.stored()["run_id"]).encode()
        assert b"interrupted; run " + stored_id in err  # says where the partial run is
        assert stored_id in out  # and shows its table
        assert_lab_gone(lab)
