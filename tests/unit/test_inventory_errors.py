"""Inventory mistakes are all reported at once, each with file, line and field (#17 item 8),
and a missing SSH key file is found when the inventory is loaded, not at connect time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ringlab.controller.remote.inventory import load_inventory
from ringlab.errors import InventoryError

SEVERAL = """\
version: 1
hosts:
  a:
    ssh: {address: 192.0.2.10, key: keys/missing_key}
    links: {b: ens1f0, z: ens1f1}
  b:
    ssh: {address: 192.0.2.11, port: 70000}
  c:
    ssh: {address: 192.0.2.12}
    listen: 0.0.0.0:50051
"""


def test_every_mistake_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(SEVERAL)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    lines = str(caught.value).splitlines()
    # Four mistakes in three hosts: a schema error in b does not hide the rules that span
    # fields (a's links, c's listen) or the missing key file.
    assert {line.split(":", 1)[0] for line in lines} == {
        f"{path} line 4, field hosts.a.ssh.key",
        f"{path} line 5, field hosts.a.links.z",
        f"{path} line 7, field hosts.b.ssh.port",
        f"{path} line 10, field hosts.c.listen",
    }, lines
    [key] = [line for line in lines if "hosts.a.ssh.key" in line]
    assert f"SSH key {tmp_path / 'keys' / 'missing_key'} does not exist" in key
    assert "leave key: out" in key


def test_a_key_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    path = tmp_path / "lab.yaml"
    path.write_text("version: 1\nhosts:\n  a:\n    ssh: {address: 192.0.2.10, key: keys}\n")
    with pytest.raises(InventoryError, match=r"line 4, field hosts.a.ssh.key: .* is not a file"):
        load_inventory(path)


def test_the_command_line_says_all_of_them_and_exits_2(tmp_path: Path) -> None:
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(SEVERAL)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "version: 1\nname: s\nmode: unidirectional\nduration: 1s\nhosts: {a: {}, b: {}}\n"
        "flows:\n  - {from: a, to: b, frame_size: 64, rate: 1kpps}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "ringlab", "run", str(scenario), "--inventory", str(inventory)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"RINGLAB_DB": str(tmp_path / "r.db"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for where in ("line 4, field hosts.a.ssh.key", "line 5", "line 7", "line 10"):
        assert where in proc.stderr, proc.stderr
