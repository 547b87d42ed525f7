"""A shared PostgreSQL run store (#20), end to end with real parts.

Two controllers "on different machines" are two real `ringlab run` processes, each in
a network namespace of its own (`ip netns exec`) with its own temporary lab, both
writing to one real PostgreSQL server (tests/integration/postgres.py) through its unix
socket path, which every namespace reaches. Then what one controller stored is what
the other lists, trends and takes as its baseline (`ringlab regress`), and
`ringlab store migrate` copies a SQLite history made by real runs, once.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import needs_root

pytestmark = [needs_root, pytest.mark.drill]

RINGLAB = [sys.executable, "-P", "-m", "ringlab"]
SCENARIO = """\
version: 1
name: shared-pair
mode: unidirectional
duration: 1s
hosts: {a: {}, b: {}}
flows:
  - {from: a, to: b, frame_size: 64, rate: 5kpps}
"""
SUITE = """\
version: 1
name: shared-suite
thresholds: {max_rx_pps_drop: 50%, max_loss: 5%}
tests:
  - scenario: pair.yaml
    hosts: [[a, b]]
"""


@pytest.fixture
def controller_namespaces() -> Iterator[tuple[str, str]]:
    """Two network namespaces standing in for two controller machines."""
    token = secrets.token_hex(3)
    names = (f"rlctl{token}a", f"rlctl{token}b")
    made: list[str] = []
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
            made.append(name)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=30)
        yield names
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


def in_namespace(namespace: str | None, *args: str) -> list[str]:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    return [*prefix, *RINGLAB, *args]


def ringlab_in(namespace: str | None, *args: str, timeout: float = 180) -> tuple[int, str, str]:
    done = subprocess.run(
        in_namespace(namespace, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def json_of(namespace: str | None, *args: str) -> Any:
    code, out, err = ringlab_in(namespace, *args)
    assert code == 0, err
    return json.loads(out)


def run_at_once(runs: list[tuple[str | None, list[str]]]) -> list[dict[str, Any]]:
    """Start every `ringlab run` before waiting for any; their JSON results."""
    processes = [
        subprocess.Popen(
            in_namespace(namespace, "run", *args, "--json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for namespace, args in runs
    ]
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=240)
            assert process.returncode == 0, err
            results.append(json.loads(out))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    return results


def test_two_controllers_in_their_own_namespaces_share_one_postgresql_store(
    postgres_url: str, controller_namespaces: tuple[str, str], lab_dir: Path, tmp_path: Path
) -> None:
    one, two = controller_namespaces
    scenario = tmp_path / "pair.yaml"
    scenario.write_text(SCENARIO)
    db = ["--db", postgres_url]

    # Started together, so both run ids carry the same second: neither may lose its run.
    first, second = run_at_once(
        [(one, [str(scenario), *db, "--tag", "gold"]), (two, [str(scenario), *db])]
    )
    assert first["run_id"] != second["run_id"]
    listed = json_of(two, "runs", "list", "--json", *db)
    assert sorted(r["run_id"] for r in listed) == sorted([first["run_id"], second["run_id"]])
    assert {r["run_id"]: r["tags"] for r in listed}[first["run_id"]] == ["gold"]
    for result in (first, second):  # each run whole, as its controller measured it
        shown = json_of(one, "runs", "show", result["run_id"], "--json", *db)
        assert shown["status"] == "completed"
        assert (
            shown["phases"][0]["flows"][0]["rx_packets"]
            == (result["phases"][0]["flows"][0]["rx_packets"])
        )

    # The trend, read from either machine, has both controllers' runs.
    trend = json_of(one, "runs", "trend", "shared-pair", "--json", *db)
    assert len(trend) == 1  # one host set (a, b), one phase, one flow
    points = [p["run_id"] for p in trend[0]["points"]]
    assert sorted(points) == sorted([first["run_id"], second["run_id"]])
    assert json_of(two, "runs", "trend", "shared-pair", "--json", *db) == trend

    # Reports and comparisons across the two controllers' runs, by tag and by id.
    report = json_of(two, "report", "gold", second["run_id"], "--format", "json", *db)
    assert {first["run_id"], second["run_id"]} <= set(json.dumps(report).split('"'))
    compared = json_of(one, "compare", "gold", second["run_id"], "--json", *db)
    assert json.dumps(compared).count(second["run_id"]) >= 1

    # Controller two's regression suite takes controller one's run as its baseline.
    (tmp_path / "suite.yaml").write_text(SUITE)
    junit = tmp_path / "junit.xml"
    code, _, err = ringlab_in(
        two, "regress", str(tmp_path / "suite.yaml"), "--baseline", "gold",
        "--junit", str(junit), *db,
    )  # fmt: skip
    assert code == 0, err
    history = json_of(one, "regress", "history", "shared-suite", "--json", *db)
    (case,) = history["cases"]
    (judged,) = [run for run in case["runs"] if run]
    assert judged["verdict"] == "passed"
    assert judged["baseline_run_id"] == first["run_id"]
    assert len(json_of(one, "runs", "list", "--json", *db)) == 3


def test_store_migrate_copies_a_real_sqlite_history_into_postgresql_once(
    postgres_url: str, postgres_server: Any, lab_dir: Path, tmp_path: Path
) -> None:
    sqlite = tmp_path / "runs.db"
    scenario = tmp_path / "pair.yaml"
    scenario.write_text(SCENARIO)
    for extra in (["--tag", "gold"], []):
        code, _, err = ringlab_in(None, "run", str(scenario), "--db", str(sqlite), *extra)
        assert code == 0, err
    # The password is ignored by the test server (trust) and must never be printed.
    database = postgres_url.split("/")[3].split("?")[0]
    url = postgres_server.url(database, password="hunter2-secret")

    code, out, err = ringlab_in(None, "store", "migrate", "--from", str(sqlite), "--to", url)
    assert code == 0, err
    assert out.startswith("copied 2 run(s) (2 flow row(s)), 1 tag(s), 0 suite run(s)")
    assert "postgresql://ringlab:***@/" in out and "hunter2" not in out + err
    again = json_of(None, "store", "migrate", "--from", str(sqlite), "--to", url, "--json")
    assert again["runs"] == {"copied": 0, "already_there": 2}
    assert (again["tags_copied"], again["flows_copied"], again["conflicts"]) == (0, 0, [])

    listed = json_of(None, "runs", "list", "--json", "--db", url)
    assert listed == json_of(None, "runs", "list", "--json", "--db", str(sqlite))
    for run in listed:
        copied = json_of(None, "runs", "show", run["run_id"], "--json", "--db", url)
        assert copied == json_of(None, "runs", "show", run["run_id"], "--json", "--db", str(sqlite))
    trend = ["runs", "trend", "shared-pair", "--json", "--db"]
    assert json_of(None, *trend, url) == json_of(None, *trend, str(sqlite))


def test_a_database_that_does_not_exist_says_how_to_create_it(postgres_server: Any) -> None:
    url = postgres_server.url("no_such_db", password="hunter2-secret")
    code, out, err = ringlab_in(None, "runs", "list", "--db", url)
    assert code == 2
    assert err.startswith("ringlab: cannot connect to the run store postgresql://ringlab:***@/")
    assert 'database "no_such_db" does not exist' in err and "createdb" in err
    assert "hunter2" not in out + err


def test_ringlab_db_names_the_shared_store(postgres_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "RINGLAB_DB": postgres_url}
    done = subprocess.run(
        [*RINGLAB, "runs", "list", "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
