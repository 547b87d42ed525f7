"""Labs left behind or broken (#17 items 5, 6): orphaned temporary labs, dead lab agents.

A real `ringlab run` makes a temporary lab and is killed with SIGKILL once its lab
exists and carries the run: the namespaces and lab directory it leaves must not break
the next `ringlab probe` or `ringlab run`, which remove them and mark the run aborted.
A `lab up` lab whose agent was killed makes `lab status` exit 1 and say what to do;
`lab up --repair` starts the agent again (and makes a removed link again).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_lab, needs_root, ringlab
from integration.postgres import PostgresServer
from live_agents import paced_scenario, show_run, wait_until

from ringlab.controller.store.database import Store
from ringlab.controller.store.location import parse_location

pytestmark = [needs_root, pytest.mark.drill]

SHORT = (
    "version: 1\nname: after-orphan\nmode: unidirectional\nduration: 1s\n"
    "hosts: {a: {}, b: {}}\nflows:\n  - {from: a, to: b, frame_size: 64, rate: 5kpps}\n"
)


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def lab_namespaces(name: str) -> set[str]:
    return {n for n in namespaces() if n.startswith(f"rl-{name}-")}


class KilledController:
    """`ringlab run` (temporary lab) killed with SIGKILL once its lab carries the run."""

    def __init__(self, base: Path, db: str | None = None) -> None:
        # The run store as given (a PostgreSQL URL with its password, if it has one).
        self.db_text = db or str(base / "runs.db")
        self.env = {
            **os.environ,
            "RINGLAB_LAB_DIR": str(base / "labs"),
            "RINGLAB_DB": self.db_text,
        }
        scenario = base / "long.yaml"
        scenario.write_text(paced_scenario("60s", 1.0, 20_000))
        self.log = base / "controller.err"
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ringlab", "run", str(scenario), "--json"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=self.env,
            )
        self.state = wait_until(lambda: self._carrying(base / "labs"), 60, "the run's lab")
        self.name: str = self.state["name"]
        self.run_id: str = self.state["runs"][0]["run_id"]
        self.db = parse_location(self.db_text)
        wait_until(lambda: self._stored(), 60, "the run to be stored")
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def _stored(self) -> bool:
        with Store(self.db) as store:
            return store.has(self.run_id)

    def _carrying(self, labs: Path) -> dict[str, Any] | None:
        if self.process.poll() is not None:
            raise AssertionError(f"the controller exited early: {self.log.read_text()}")
        for path in labs.glob("*/lab.json"):
            state: dict[str, Any] = json.loads(path.read_text())
            if state.get("runs"):
                return state
        return None

    def cleanup(self) -> None:
        for name in lab_namespaces(self.name):
            subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def killed(tmp_path: Path) -> Iterator[KilledController]:
    controller = KilledController(tmp_path)
    try:
        yield controller
    finally:
        controller.cleanup()


def assert_orphan_left(killed: KilledController) -> None:
    """What the kill left behind: today's fault (namespaces, state, a run `running`)."""
    assert lab_namespaces(killed.name), "the killed run's namespaces are already gone"
    assert show_run(killed.db, killed.run_id)["status"] == "running"


def assert_reaped(killed: KilledController, stderr: str) -> None:
    assert f"removed orphaned temporary lab {killed.name}" in stderr, stderr
    assert f"pid {killed.state['owner']['pid']}" in stderr
    assert lab_namespaces(killed.name) == set()
    assert not Path(killed.state["directory"]).exists()
    stored = show_run(killed.db, killed.run_id)
    assert stored["status"] == "aborted"
    assert "controller went away" in stored["error"]


def test_probe_and_run_after_a_killed_controller_remove_its_orphaned_lab(
    killed: KilledController,
) -> None:
    assert_orphan_left(killed)

    probe = ringlab("probe", env=killed.env)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert_reaped(killed, probe.stderr)

    scenario = Path(killed.env["RINGLAB_LAB_DIR"]).parent / "short.yaml"
    scenario.write_text(SHORT)
    run = ringlab("run", str(scenario), "--json", env=killed.env, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    flow = json.loads(run.stdout)["phases"][0]["flows"][0]
    assert flow["tx_packets"] == flow["rx_packets"] == 5000
    status = ringlab("lab", "status", env=killed.env)
    assert status.returncode == 0 and "no lab is up" in status.stdout, status.stdout


def test_lab_down_stale_removes_an_orphaned_lab(killed: KilledController) -> None:
    assert_orphan_left(killed)
    down = ringlab("lab", "down", "--stale", env=killed.env)
    assert down.returncode == 0, down.stderr
    assert_reaped(killed, down.stderr)
    again = ringlab("lab", "down", "--stale", env=killed.env)
    assert again.returncode == 0 and "no orphaned temporary lab" in again.stdout


def test_a_dead_agent_fails_lab_status_and_repair_brings_it_back(tmp_path: Path) -> None:
    scenario = tmp_path / "short.yaml"
    scenario.write_text(SHORT)
    with cli_lab(tmp_path) as lab:
        env = lab.env
        state = load_state(tmp_path, lab.name)
        victim = state["hosts"]["b"]["pid"]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{victim}/cmdline").exists(), 30, "agent b to die")
        # A link that went away too: repair makes it again.
        subprocess.run(["ip", "-n", f"rl-{lab.name}-a", "link", "del", "to-b"], check=True)

        status = ringlab("lab", "status", "--name", lab.name, env=env)
        assert status.returncode == 1, status.stdout + status.stderr
        assert "agent(s) b down" in status.stderr
        assert f"ringlab lab up --repair --name {lab.name}" in status.stderr
        assert ringlab("lab", "status", "--json", env=env).returncode == 1

        repair = ringlab("lab", "up", "--repair", "--name", lab.name, env=env)
        assert repair.returncode == 0, repair.stderr
        assert "agent b started again" in repair.stdout
        assert "link a:to-b <-> b:to-a made again" in repair.stdout
        assert ringlab("lab", "status", "--name", lab.name, env=env).returncode == 0
        assert load_state(tmp_path, lab.name)["hosts"]["b"]["pid"] != victim

        result = lab.run(scenario)
        flow = result["phases"][0]["flows"][0]
        assert flow["tx_packets"] == flow["rx_packets"] == 5000


def load_state(base: Path, name: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((base / "labs" / name / "lab.json").read_text())
    return state


# A temporary lab's run in a PostgreSQL store (#20): lab.json keeps the store's URL with its
# password hidden, so who can mark the run aborted depends on the URL.


def stored_status(url: str, run_id: str) -> tuple[str, str]:
    with Store(parse_location(url)) as store:
        run = store.get(run_id)
    return run.status, run.error


def test_a_postgres_run_without_a_password_in_its_url_is_aborted_by_any_reaper(
    tmp_path: Path, postgres_url: str
) -> None:
    killed = KilledController(tmp_path, postgres_url)
    try:
        # Nothing to hide: recorded as given, so any reaper can reopen it.
        assert killed.state["runs"][0]["store"] == postgres_url
        assert stored_status(postgres_url, killed.run_id)[0] == "running"
        # The reaping command's own store is another one.
        env = {**killed.env, "RINGLAB_DB": str(tmp_path / "other.db")}
        down = ringlab("lab", "down", "--stale", env=env)
        assert down.returncode == 0, down.stderr
        assert f"run(s) {killed.run_id} marked aborted" in down.stderr, down.stderr
        status, error = stored_status(postgres_url, killed.run_id)
        assert status == "aborted" and "controller went away" in error
    finally:
        killed.cleanup()


def password_url(server: PostgresServer) -> str:
    # The test server trusts every local connection; the password only has to be there.
    return server.url(server.create_database(), password="s3cret-pw")


def test_a_postgres_run_with_a_password_is_aborted_by_a_run_on_the_same_store(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = password_url(postgres_server)
    killed = KilledController(tmp_path, url)
    try:
        recorded = killed.state["runs"][0]["store"]
        assert "s3cret-pw" not in recorded and ":***@" in recorded
        scenario = tmp_path / "short.yaml"
        scenario.write_text(SHORT)
        # The next run names the same store with --db (RINGLAB_DB names another): the
        # lab's record matches it, password hidden, so the orphan's run is marked.
        env = {**killed.env, "RINGLAB_DB": str(tmp_path / "other.db")}
        run = ringlab("run", str(scenario), "--json", "--db", url, env=env, timeout=180)
        assert run.returncode == 0, run.stderr[-2000:]
        assert f"run(s) {killed.run_id} marked aborted" in run.stderr, run.stderr
        assert "s3cret-pw" not in run.stderr
        assert stored_status(url, killed.run_id)[0] == "aborted"
        assert stored_status(url, json.loads(run.stdout)["run_id"])[0] == "completed"
        assert lab_namespaces(killed.name) == set()
    finally:
        killed.cleanup()


def test_a_reaper_on_another_store_says_how_to_abort_a_postgres_run_with_a_password(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = password_url(postgres_server)
    killed = KilledController(tmp_path, url)
    try:
        recorded = killed.state["runs"][0]["store"]
        env = {**killed.env, "RINGLAB_DB": str(tmp_path / "other.db")}
        down = ringlab("lab", "down", "--stale", env=env)
        assert down.returncode == 0, down.stderr
        assert f"removed orphaned temporary lab {killed.name}" in down.stderr
        # The run stays `running`, and the message says which run, where, and how.
        assert f"run {killed.run_id} in {recorded} is still `running`" in down.stderr
        assert f"`ringlab runs abort {killed.run_id} --db URL`" in down.stderr
        assert "s3cret-pw" not in down.stderr
        assert stored_status(url, killed.run_id)[0] == "running"
        aborted = ringlab("runs", "abort", killed.run_id, "--db", url, env=env)
        assert aborted.returncode == 0, aborted.stderr
        assert f"run {killed.run_id} marked aborted" in aborted.stdout
        status, error = stored_status(url, killed.run_id)
        assert status == "aborted" and "controller went away" in error
        again = ringlab("runs", "abort", killed.run_id, "--db", url, env=env)
        assert again.returncode == 0 and "is aborted: nothing to mark" in again.stdout
    finally:
        killed.cleanup()
