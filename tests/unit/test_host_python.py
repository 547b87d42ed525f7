"""A lab host's Python, judged from what it reports: what deploy ships for it, or why not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ringlab.controller.deploy.host_python import FACTS_SCRIPT, HostPythonError, parse_facts
from ringlab.controller.deploy.wheelhouse import agent_lock, download_command, host_pins


def facts(
    version: tuple[int, int, int] = (3, 11, 2),
    libc: tuple[str, str] = ("glibc", "2.36"),
    implementation: str = "cpython",
    machine: str = "x86_64",
) -> str:
    return json.dumps(
        {
            "version": list(version),
            "implementation": implementation,
            "machine": machine,
            "libc": list(libc),
            "executable": "/usr/bin/python3",
        }
    )


def test_this_interpreter_answers_the_facts_script() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FACTS_SCRIPT], capture_output=True, text=True, check=True
    ).stdout
    host = parse_facts("a", "python3", out)
    assert host.version == tuple(sys.version_info[:3])
    assert host.tag == f"cp{sys.version_info[0]}{sys.version_info[1]}"


def test_debian_12_python_takes_manylinux_wheels_down_to_glibc_2_17() -> None:
    host = parse_facts("a", "python3", facts())
    assert host.short == "3.11.2 x86_64 glibc 2.36"
    platforms = host.platforms()
    assert platforms[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_17_x86_64" in platforms and "manylinux2014_x86_64" in platforms
    assert "manylinux_2_37_x86_64" not in platforms


@pytest.mark.parametrize(
    ("output", "says"),
    [
        (facts(version=(3, 9, 2)), "is Python 3.9.2; the agent needs Python 3.11 or newer"),
        (facts(libc=("", "")), "not glibc (musl, as on Alpine?)"),
        (facts(libc=("glibc", "2.12")), "glibc 2.12 is older than 2.17"),
        (facts(implementation="pypy"), "is pypy"),
        ("Python 2.7: SyntaxError", "did not answer as a Python interpreter"),
    ],
)
def test_hosts_that_cannot_run_the_agent_are_told_why_and_what_to_set(
    output: str, says: str
) -> None:
    with pytest.raises(HostPythonError) as caught:
        parse_facts("lab7", "/usr/bin/python3", output)
    message = str(caught.value)
    assert says in message
    assert "lab7" in message


def test_lock_lines_are_picked_by_the_hosts_python() -> None:
    lock = (
        "grpcio==1.85.3            # via x\n"
        "numpy==2.4.6 ; python_full_version < '3.12'  # via y\n"
        "numpy==2.5.5 ; python_full_version >= '3.12'\n"
        "win-inet-pton==1.1.0 ; sys_platform == 'win32'\n"
    )
    debian12 = parse_facts("a", "python3", facts())
    debian13 = parse_facts("a", "python3", facts(version=(3, 13, 5), libc=("glibc", "2.41")))
    assert host_pins(lock, debian12) == ["grpcio==1.85.3", "numpy==2.4.6"]
    assert host_pins(lock, debian13) == ["grpcio==1.85.3", "numpy==2.5.5"]


def test_the_shipped_agent_lock_pins_what_the_agent_imports() -> None:
    pins = host_pins(agent_lock(), parse_facts("a", "python3", facts()))
    names = {pin.split("==")[0] for pin in pins}
    assert {"grpcio", "grpcio-health-checking", "protobuf", "numpy", "pyroute2"} <= names
    # The controller's parts never reach a lab host.
    assert not names & {"matplotlib", "jinja2", "rich", "asyncssh", "pydantic", "pyyaml"}
    assert all("==" in pin for pin in pins)


def test_download_asks_for_binary_wheels_for_the_host_not_this_machine(tmp_path: Path) -> None:
    host = parse_facts("a", "python3", facts(version=(3, 13, 5), machine="aarch64"))
    command = download_command(host, tmp_path / "r.txt", tmp_path, source=None)
    joined = " ".join(command)
    assert "--only-binary :all:" in joined and "--no-deps" in joined
    assert "--python-version 3.13" in joined and "--abi cp313" in joined
    assert "--platform manylinux_2_36_aarch64" in joined
    assert "--no-index" not in command
    offline = download_command(host, tmp_path / "r.txt", tmp_path, source=tmp_path / "wh")
    assert offline[-3:] == ["--no-index", "--find-links", str(tmp_path / "wh")]
