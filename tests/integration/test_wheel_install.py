"""ringlab as a user gets it: a wheel built from the checkout, installed into a fresh
virtualenv made from Debian's /usr/bin/python3 (which has neither grpcio nor numpy),
run from outside the checkout. An editable install hides a package missing from the
wheel; this does not."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import needs_root

from ringlab.controller.cli import build_parser

CHECKOUT = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = "/usr/bin/python3"
PIP = ("-m", "pip", "install", "-q", "--disable-pip-version-check")

pytestmark = [
    pytest.mark.drill,
    pytest.mark.skipif(
        not Path(DEBIAN_PYTHON).exists(), reason=f"needs Debian's {DEBIAN_PYTHON} (python3-venv)"
    ),
]


def _run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # Nothing of this test's own environment leaks in: no PYTHONPATH, no checkout on sys.path.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _ok(
        _run(
            sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
            "-w", out, CHECKOUT, cwd=out,
        )
    )  # fmt: skip
    (built,) = out.glob("ringlab-*.whl")
    return built


def _venv(base: Path, name: str, lock: Path, wheel: Path) -> Path:
    venv = base / name
    _ok(_run(DEBIAN_PYTHON, "-m", "venv", venv, cwd=base))
    _ok(_run(venv / "bin" / "python", *PIP, "-r", lock, cwd=base))
    _ok(_run(venv / "bin" / "python", *PIP, "--no-deps", wheel, cwd=base))
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[Path]:
    """The controller, as scripts/install makes it (the lock, then the wheel)."""
    base = tmp_path_factory.mktemp("user")
    yield _venv(base, "venv", CHECKOUT / "requirements" / "controller.txt", wheel)


def _package_dirs() -> set[str]:
    roots = {"ringlab": "ringlab", "agent": "ringlab/agent", "controller": "ringlab/controller"}
    roots["proto/ringlab/v1"] = "ringlab/v1"
    found = set()
    for source, installed in roots.items():
        for init in (CHECKOUT / source).rglob("__init__.py"):
            found.add(f"{installed}/{init.parent.relative_to(CHECKOUT / source)}".rstrip("/."))
    return found


def test_the_wheel_carries_every_package_and_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    assert _package_dirs() <= packages, _package_dirs() - packages
    assert "ringlab/controller/commands" in packages  # the one a hand-made list once missed
    for data in ("ringlab/agent-requirements.txt", "ringlab/v1/agent.proto", "ringlab/py.typed"):
        assert data in names
    assert any(n.startswith("ringlab/controller/report/templates/") for n in names)


def _commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))


def test_every_command_runs_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    ringlab = installed / "bin" / "ringlab"
    where = _ok(
        _run(
            installed / "bin" / "python",
            "-c",
            "import ringlab; print(ringlab.__file__)",
            cwd=tmp_path,
        )
    )
    assert where.startswith(str(installed)), where  # the install, not the checkout
    assert _ok(_run(ringlab, "--version", cwd=tmp_path)).startswith("ringlab 0.")
    commands = list(_commands(build_parser()))
    assert ("runs", "list") in commands and ("agent",) in commands
    for command in commands:
        if command == ("agent",):
            command = ("agent", "serve")
        out = _ok(_run(ringlab, *command, "--help", cwd=tmp_path, timeout=60))
        assert out.startswith("usage: "), (command, out[:200])


@needs_root
def test_a_real_run_on_a_temporary_lab_from_the_installed_wheel(
    installed: Path, tmp_path: Path
) -> None:
    # From inside the checkout, as the README's quick start runs it: the checkout's own
    # ringlab/ directory must not shadow the installed package (it holds no agent/).
    done = _run(
        installed / "bin" / "ringlab", "run", "scenarios/unidirectional.yaml",
        "--json", "--db", tmp_path / "runs.db", cwd=CHECKOUT, timeout=300,
    )  # fmt: skip
    result = json.loads(_ok(done))
    assert result["status"] == "completed"
    (flow,) = result["phases"][0]["flows"]
    assert flow["tx_packets"] > 1000
    assert flow["rx_packets"] + flow["lost"] == flow["tx_packets"]


def test_an_agent_only_install_serves_and_says_what_the_rest_needs(
    tmp_path: Path, wheel: Path
) -> None:
    # What `ringlab deploy` puts on a lab host: the core dependencies only.
    venv = _venv(tmp_path, "agent", CHECKOUT / "ringlab" / "agent-requirements.txt", wheel)
    ringlab = venv / "bin" / "ringlab"
    for absent in ("matplotlib", "rich", "asyncssh", "pydantic", "yaml"):
        probe = _run(venv / "bin" / "python", "-c", f"import {absent}", cwd=tmp_path)
        assert probe.returncode != 0, f"{absent} reached an agent-only install"
    assert _ok(_run(ringlab, "--version", cwd=tmp_path)).startswith("ringlab ")
    assert "serve" in _ok(_run(ringlab, "agent", "--help", cwd=tmp_path))
    refused = _run(ringlab, "runs", "list", cwd=tmp_path)
    assert refused.returncode == 2
    assert "this install has the agent only" in refused.stderr
    assert "ringlab[controller]" in refused.stderr and "Traceback" not in refused.stderr
