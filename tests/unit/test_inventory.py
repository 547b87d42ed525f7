"""Inventory loading: ssh/tls/jump/labels, derived transport and addresses, errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringlab.controller.remote.inventory import load_inventory
from ringlab.errors import InventoryError

REMOTE = """\
version: 1
hosts:
  a:
    ssh: {address: 192.0.2.10, user: lab, key: keys/id_lab, known_hosts: known}
    links: {b: ens1f0}
    labels: {nic: i40e, rack: r1}
  b:
    ssh:
      address: 192.0.2.11
      port: 2222
      jump: admin@bastion.example:2200
      python: /opt/py/bin/python3
      dir: /srv/ringlab
    agent_port: 50100
    links: {a: ens1f1}
    labels: {nic: ice}
  c:
    transport: direct
    ssh: {address: "2001:db8::5"}
    tls: {ca: pki/ca.crt, cert: pki/client.crt, key: pki/client.key,
          agent_cert: pki/hosts/c.crt, agent_key: pki/hosts/c.key}
    labels: {nic: i40e}
"""


def write(tmp_path: Path, text: str) -> Path:
    # REMOTE's key file: the loader checks that it exists (its content is asyncssh's concern).
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "id_lab").touch()
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    return path


def fails(tmp_path: Path, text: str) -> str:
    with pytest.raises(InventoryError) as caught:
        load_inventory(write(tmp_path, text))
    return str(caught.value)


def test_remote_inventory_loads_with_defaults_and_derived_addresses(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, REMOTE))
    a, b, c = (inventory.hosts[h] for h in "abc")
    assert a.ssh is not None and b.ssh is not None and c.ssh is not None
    assert (a.ssh.port, a.ssh.python, a.ssh.dir) == (22, "python3", "~/.ringlab")
    # Relative files are relative to the inventory's directory.
    assert a.ssh.key == str(tmp_path / "keys" / "id_lab")
    assert a.ssh.known_hosts == str(tmp_path / "known")
    assert b.ssh.known_hosts is None
    # ssh transport: a Unix socket in the deploy directory, no TCP port.
    assert a.effective_transport == "ssh" and a.listen_address == "unix:~/.ringlab/agent.sock"
    assert b.listen_address == "unix:/srv/ringlab/agent.sock"
    jump = b.ssh.jump_host
    assert jump is not None and (jump.user, jump.host, jump.port) == (
        "admin",
        "bastion.example",
        2200,
    )
    assert c.effective_transport == "direct"
    assert c.listen_address == "0.0.0.0:50051"
    assert c.direct_target == "[2001:db8::5]:50051"
    assert c.tls is not None and c.tls.agent_cert == str(tmp_path / "pki" / "hosts" / "c.crt")
    assert inventory.hosts["a"].links == {"b": "ens1f0"}


def test_tcp_listen_without_agent_tls_is_refused_with_its_line(tmp_path: Path) -> None:
    text = "version: 1\nhosts:\n  a:\n    ssh: {address: 192.0.2.10}\n    listen: 127.0.0.1:50051\n"
    message = fails(tmp_path, text)
    assert "line 5" in message and "hosts.a.listen" in message
    assert "without tls.agent_cert/agent_key" in message and "private Unix socket" in message


def test_labels_select_hosts_for_suites(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, REMOTE))
    assert inventory.select({"nic": "i40e"}) == ["a", "c"]
    assert inventory.select({"nic": "i40e", "rack": "r1"}) == ["a"]
    assert inventory.select({}) == ["a", "b", "c"]
    assert inventory.select({"nic": "mlx5"}) == []


def test_lab_style_inventory_is_direct_over_unix_sockets(tmp_path: Path) -> None:
    inventory = load_inventory(
        write(tmp_path, "version: 1\nhosts:\n  a: {agent: 'unix:/run/a.sock', links: {}}\n")
    )
    assert inventory.hosts["a"].effective_transport == "direct"
    assert inventory.hosts["a"].direct_target == "unix:/run/a.sock"


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        (
            "version: 1\nhosts:\n  a:\n    ssh: {address: h, prot: 22}\n",
            "line 4, field hosts.a.ssh.prot",
            "prot",
        ),
        (
            "version: 1\nhosts:\n  a:\n    ssh: {address: h, port: 70000}\n",
            "line 4, field hosts.a.ssh.port",
            "70000",
        ),
        (
            "version: 1\nhosts:\n  a:\n    ssh: {address: h, jump: 'a@b@c'}\n",
            "line 4, field hosts.a.ssh.jump",
            "[user@]host[:port]",
        ),
        (
            "version: 1\nhosts:\n  a:\n    links: {}\n    transport: ssh\n",
            "line 5, field hosts.a.transport",
            "needs an ssh block",
        ),
        (
            "version: 1\nhosts:\n  a:\n    links: {}\n",
            "line 3, field hosts.a",
            "neither agent:",
        ),
        (
            "version: 1\nhosts:\n  a:\n    ssh: {address: h}\n    agent: h:1\n",
            "line 5, field hosts.a.agent",
            "not used with the ssh transport",
        ),
        (
            "version: 1\nhosts:\n  a:\n    ssh: {address: h}\n    links: {z: eth0}\n",
            "line 5, field hosts.a.links.z",
            "not in hosts",
        ),
        (
            "version: 1\nhosts:\n  a:\n    ssh: {address: h}\n"
            "    tls: {ca: c, cert: c, key: k, agent_cert: x}\n",
            "line 5, field hosts.a.tls",
            "go together",
        ),
        (
            "version: 1\nhosts:\n  a:\n    ssh: {address: h}\n    transport: tunnel\n",
            "line 5, field hosts.a.transport",
            "tunnel",
        ),
    ],
)
def test_bad_inventories_name_file_line_and_field(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    message = fails(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'lab.yaml'} {where}"), message
    assert says in message


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read the inventory"):
        load_inventory(tmp_path / "nope.yaml")
