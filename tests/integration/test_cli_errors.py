"""Bad input at the command line: exit 2, a message that names what is wrong, no traceback.

Covers the whole scenario corpus (tests/fixtures/bad_scenarios/, also tested at the
loader level) through `ringlab run`, and the inputs in tests/fixtures/bad_inputs/:
inventories, unreachable agents (the address tried is in the message), unknown
hosts and interfaces, frames above the MTU and requests an agent refuses in
Prepare (INVALID_ARGUMENT becomes exit 2, not a failed run).

Most cases call the real command line in this process (`ringlab.cli.main`; an
escaping exception fails the test just as a traceback would); a few run it as a
subprocess to check stderr of the real process.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_agents import needs_root, running_lab

from ringlab import cli
from ringlab.controller.remote.lab import Lab
from ringlab.controller.store.database import Store

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((ROOT / "tests" / "fixtures" / "bad_scenarios").glob("*.yaml"))
INPUTS = ROOT / "tests" / "fixtures" / "bad_inputs"
OK_SCENARIO = INPUTS / "scenario_ok.yaml"


def expected(path: Path) -> tuple[list[str], int | None]:
    """The `# expect:` texts of a fixture and its `# line:`, if any."""
    tokens: list[str] = []
    line: int | None = None
    for text in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        if text.startswith("# expect:"):
            tokens.append(text.removeprefix("# expect:").strip())
        elif text.startswith("# line:"):
            line = int(text.removeprefix("# line:"))
    return tokens, line


def ringlab(*argv: str) -> tuple[int, str, str]:
    """The real command line in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_refused(code: int, err: str, tokens: list[str]) -> None:
    assert code == 2, err
    assert err.startswith("ringlab") or err.startswith("usage:"), err
    assert "Traceback" not in err
    for token in tokens:
        assert token in err, f"{token!r} not in: {err}"


# --- scenario corpus ---------------------------------------------------------------


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_bad_scenario_exits_2_naming_the_field(path: Path, tmp_path: Path) -> None:
    tokens, line = expected(path)
    assert tokens, f"{path.name} has no '# expect:' line"
    db = tmp_path / "runs.db"
    code, out, err = ringlab("run", str(path), "--lab", "no-such-lab", "--db", str(db))
    assert_refused(code, err, tokens)
    assert "no lab" not in err  # refused while loading, before looking for agents
    if line is not None:
        assert f"line {line}" in err
    assert out == ""
    assert not db.exists()  # nothing was stored for a scenario that never ran


# --- files, flags, inventories and unreachable agents (no lab needed) ---------------

INVENTORIES = sorted(INPUTS.glob("inventory_*.yaml"))


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.stem)
def test_bad_inventory_exits_2_naming_the_problem(inventory: Path, tmp_path: Path) -> None:
    tokens, _ = expected(inventory)
    assert tokens, f"{inventory.name} has no '# expect:' line"
    db = tmp_path / "runs.db"
    code, out, err = ringlab(
        "run", str(OK_SCENARIO), "--inventory", str(inventory), "--db", str(db)
    )
    assert_refused(code, err, tokens)
    assert out == ""
    if db.exists():
        with Store(db) as store:
            assert store.list_runs() == []  # refused before a run existed


@pytest.mark.parametrize(
    ("argv", "tokens"),
    [
        (["run", "/nonexistent/scenario.yaml"], ["/nonexistent/scenario.yaml", "no such file"]),
        (["run", str(INPUTS)], ["directory"]),
        (["run", str(INPUTS / "scenario_not_utf8.yaml")], ["not UTF-8", "line 3"]),
        (
            ["run", str(OK_SCENARIO), "--inventory", "/nonexistent/inventory.yaml"],
            ["/nonexistent/inventory.yaml", "cannot read"],
        ),
        (["run", str(OK_SCENARIO), "--lab", "no-such-lab"], ["no lab 'no-such-lab'"]),
        (["run", str(OK_SCENARIO), "--db", "/proc/no/runs.db"], ["/proc/no/runs.db"]),
        (["runs", "show", "no-such-run"], ["no run or tag 'no-such-run'"]),
        (["run", str(OK_SCENARIO), "--bogus"], ["unrecognized arguments: --bogus"]),
        (["run"], ["scenario"]),
    ],
    ids=[
        "missing-scenario",
        "scenario-is-directory",
        "scenario-not-utf8",
        "missing-inventory",
        "lab-not-up",
        "db-unwritable",
        "unknown-run",
        "unknown-flag",
        "missing-argument",
    ],
)
def test_bad_command_line_exits_2(
    argv: list[str], tokens: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RINGLAB_DB", str(tmp_path / "runs.db"))
    monkeypatch.setenv("RINGLAB_LAB_DIR", str(tmp_path / "labs"))
    code, _, err = ringlab(*argv)
    assert_refused(code, err, tokens)


def test_real_process_unreachable_agent_names_the_address(tmp_path: Path) -> None:
    inventory = INPUTS / "inventory_unreachable_unix.yaml"
    argv = ["run", str(OK_SCENARIO), "--inventory", str(inventory), "--db", str(tmp_path / "x.db")]
    done = subprocess.run(
        [sys.executable, "-m", "ringlab", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert_refused(done.returncode, done.stderr, expected(inventory)[0])
    assert done.stdout == ""


# --- refused by the agents of a running lab ----------------------------------------


@pytest.fixture(scope="module")
def cli_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("labs")) as lab:
        yield lab


@needs_root
@pytest.mark.parametrize(
    "name",
    [
        "scenario_frame_over_mtu",
        "scenario_unknown_interface",
        "scenario_unknown_host",
        "scenario_ring_too_big",
    ],
)
def test_refused_on_a_lab_exits_2_and_sends_nothing(
    cli_lab: Lab, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = INPUTS / f"{name}.yaml"
    monkeypatch.setenv("RINGLAB_LAB_DIR", str(Path(cli_lab.directory).parent))
    db = tmp_path / "runs.db"
    code, out, err = ringlab("run", str(path), "--lab", cli_lab.name, "--db", str(db), "--json")
    assert_refused(code, err, expected(path)[0])
    assert out == ""  # no "failed run" printed as if it had run
    if db.exists():
        # Refused before any traffic (preflight and every agent's CheckPrepare): no run.
        with Store(db) as store:
            assert store.list_runs() == []
