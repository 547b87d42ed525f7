"""Host-key policy, jump hosts and port forwards against real OpenSSH servers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
from helpers import needs_root
from sshd import SshLab, make_ssh_lab, remove_ssh_lab

from ringlab.controller.remote.inventory import SshSpec
from ringlab.controller.remote.tunnel import SshError, ssh_connect


@pytest.fixture
def ssh_one(tmp_path: Path) -> Iterator[SshLab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, veth and sshd")
    lab = make_ssh_lab(tmp_path / "lab", ["a"])
    try:
        yield lab
    finally:
        remove_ssh_lab(lab)


def spec(lab: SshLab, host: str, **changes: object) -> SshSpec:
    fields: dict[str, object] = {
        "address": lab.hosts[host].address,
        "key": str(lab.user_key),
        "known_hosts": str(lab.known_hosts),
    }
    fields.update(changes)
    return SshSpec.model_validate(fields)


async def hostname_over(target: SshSpec, accept_new: bool = False) -> str:
    session = await ssh_connect("a", target, accept_new)
    try:
        done = await session.run("cat /proc/sys/kernel/hostname; readlink /proc/self/ns/net")
        return str(done.stdout)
    finally:
        await session.close()


@needs_root
def test_unknown_host_key_is_refused_until_accepted_and_then_recorded(ssh_one: SshLab) -> None:
    host = ssh_one.hosts["a"]
    target = spec(ssh_one, "a")
    with pytest.raises(SshError) as refused:
        asyncio.run(hostname_over(target))
    fingerprint = asyncssh.import_public_key(host.host_public).get_fingerprint()
    assert "unknown host key" in str(refused.value)
    assert fingerprint in str(refused.value)
    assert "--accept-new-host-keys" in str(refused.value)
    assert not ssh_one.known_hosts.exists()

    asyncio.run(hostname_over(target, accept_new=True))
    assert ssh_one.known_hosts.read_text() == f"{host.address} {host.host_public}\n"
    # Now known: accepted without the flag, and nothing more is written.
    asyncio.run(hostname_over(target))
    assert ssh_one.known_hosts.read_text().count("\n") == 1


@needs_root
def test_a_changed_host_key_is_refused_even_when_accepting_new_keys(
    ssh_one: SshLab, tmp_path: Path
) -> None:
    host = ssh_one.hosts["a"]
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    stale = f"{host.address} {' '.join(impostor.split()[:2])}\n"
    ssh_one.known_hosts.write_text(stale)
    for accept_new in (False, True):
        with pytest.raises(SshError) as refused:
            asyncio.run(hostname_over(spec(ssh_one, "a"), accept_new=accept_new))
        message = str(refused.value)
        assert "HOST KEY MISMATCH" in message
        assert asyncssh.import_public_key(host.host_public).get_fingerprint() in message
        assert f"ssh-keygen -R '{host.address}'" in message
    assert ssh_one.known_hosts.read_text() == stale


@needs_root
def test_a_refused_login_names_the_user_and_key(ssh_one: SshLab, tmp_path: Path) -> None:
    ssh_one.write_known_hosts()
    stranger = tmp_path / "stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    with pytest.raises(SshError) as refused:
        asyncio.run(hostname_over(spec(ssh_one, "a", key=str(stranger))))
    assert "login as root refused" in str(refused.value)
    assert str(stranger) in str(refused.value)


@needs_root
def test_a_host_behind_a_bastion_is_reached_through_the_jump(tmp_path: Path) -> None:
    lab = make_ssh_lab(tmp_path / "lab", ["bastion", "inner"], behind={"inner": "bastion"})
    try:
        lab.write_known_hosts()
        inner = lab.hosts["inner"]
        # inner's management link ends in bastion's namespace: the root namespace has no
        # link to it (dialling it directly would go out the default route, so we don't).
        jumped = spec(lab, "inner", jump=f"root@{lab.hosts['bastion'].address}")
        out = asyncio.run(hostname_over(jumped))
        inode = os.stat(f"/run/netns/{inner.netns}").st_ino
        assert f"net:[{inode}]" in out
    finally:
        remove_ssh_lab(lab)
