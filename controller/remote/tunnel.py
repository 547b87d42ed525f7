"""SSH to inventory hosts (asyncssh): host-key policy, jump hosts, forwards to agents.

Host keys are checked against known_hosts (the inventory's, else
~/.ssh/known_hosts). A host with no entry is refused unless the caller accepts
new keys, in which case the key is recorded in that file (OpenSSH format, like
`StrictHostKeyChecking=accept-new`). A host whose key differs from its entry is
always refused. Failures are `SshError`s (an `AgentError`): they name the host,
the SSH address and what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from ringlab.controller.remote.clients import AgentError
from ringlab.controller.remote.inventory import SshSpec

CONNECT_TIMEOUT_S = 15.0


class SshError(AgentError):
    pass


def default_known_hosts() -> Path:
    return Path("~/.ssh/known_hosts").expanduser()


def known_hosts_pattern(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


@dataclass
class HostKeyCheck:
    """The verdict of one connection's host-key check, for the error message."""

    known_hosts: Path
    accept_new: bool
    verdict: str = ""  # "", "unknown", "changed" or "recorded"
    fingerprint: str = ""


class _Client(asyncssh.SSHClient):
    """Consulted by asyncssh only for a key that known_hosts does not trust."""

    def __init__(self, check: HostKeyCheck, address: str, port: int) -> None:
        self._check = check
        self._address = address
        self._port = port

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        check = self._check
        check.fingerprint = f"{key.get_algorithm()} {key.get_fingerprint()}"
        known = _read_known_hosts(check.known_hosts)
        if any(known.match(self._address, addr, self._port)[:3]):
            check.verdict = "changed"
            return False
        if not check.accept_new:
            check.verdict = "unknown"
            return False
        algorithm_and_key = " ".join(key.export_public_key("openssh").decode().split()[:2])
        line = f"{known_hosts_pattern(self._address, self._port)} {algorithm_and_key}\n"
        check.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        # One event loop writes: appends from parallel connections cannot interleave.
        with check.known_hosts.open("a") as out:
            out.write(line)
        check.verdict = "recorded"
        return True


def _read_known_hosts(path: Path) -> asyncssh.SSHKnownHosts:
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = ""
    return asyncssh.import_known_hosts(text)


def describe_target(spec: SshSpec) -> str:
    via = f" via {spec.jump}" if spec.jump else ""
    return f"ssh {spec.user}@{spec.address}:{spec.port}{via}"


@dataclass
class SshSession:
    """An SSH connection (and its jump connection) to one inventory host."""

    host: str
    spec: SshSpec
    connection: asyncssh.SSHClientConnection
    jump: asyncssh.SSHClientConnection | None = None
    listeners: list[asyncssh.SSHListener] = field(default_factory=list)
    _home: str | None = None
    _private_dir: str | None = None

    @property
    def target(self) -> str:
        return describe_target(self.spec)

    def error(self, message: str) -> SshError:
        return SshError(self.host, self.target, message)

    async def expand(self, path: str) -> str:
        """`path` with a leading ~ replaced by the remote user's home."""
        if path != "~" and not path.startswith("~/"):
            return path
        if self._home is None:
            done = await self.run('printf %s "$HOME"')
            self._home = str(done.stdout).strip()
        return self._home + path[1:]

    async def forward(self, remote: str) -> str:
        """A gRPC target on this machine forwarded to `remote` (unix:/path or HOST:PORT) on
        the host: a Unix socket in a private (0700) directory, so no other local user can
        use the forward (a 127.0.0.1 port would let any of them reach the agent)."""
        if self._private_dir is None:
            self._private_dir = tempfile.mkdtemp(prefix="ringlab-ssh-")
        local = os.path.join(self._private_dir, f"{len(self.listeners)}.sock")
        try:
            if remote.startswith("unix:"):
                path = await self.expand(remote.removeprefix("unix:"))
                listener = await self.connection.forward_local_path(local, path)
            else:
                address, _, port = remote.rpartition(":")
                address = address.strip("[]")
                if address in ("0.0.0.0", "::", ""):
                    address = "127.0.0.1"
                listener = await self.connection.forward_local_path_to_port(
                    local, address, int(port)
                )
        except (OSError, asyncssh.Error) as exc:
            raise self.error(f"cannot open a forward to {remote}: {exc}") from None
        self.listeners.append(listener)
        return f"unix:{local}"

    async def run(self, command: str, timeout_s: float = 120.0) -> asyncssh.SSHCompletedProcess:
        try:
            return await asyncio.wait_for(self.connection.run(command, check=False), timeout_s)
        except TimeoutError:
            raise self.error(
                f"command did not finish within {timeout_s:.0f}s: {command[:80]}"
            ) from None
        except (OSError, asyncssh.Error) as exc:
            raise self.error(f"lost the SSH connection: {exc}") from None

    async def close(self) -> None:
        for listener in self.listeners:
            listener.close()
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)
        self.connection.close()
        with contextlib.suppress(Exception):
            await self.connection.wait_closed()
        if self.jump is not None:
            self.jump.close()
            with contextlib.suppress(Exception):
                await self.jump.wait_closed()


async def _connect_one(
    host: str,
    spec: SshSpec,
    address: str,
    port: int,
    user: str,
    check: HostKeyCheck,
    tunnel: asyncssh.SSHClientConnection | None,
) -> asyncssh.SSHClientConnection:
    target = f"ssh {user}@{address}:{port}"
    options: dict[str, object] = {}
    if spec.key is not None:
        if not Path(spec.key).is_file():
            raise SshError(
                host, target, f"SSH key {spec.key} does not exist; fix hosts.{host}.ssh.key"
            )
        options["client_keys"] = [spec.key]
        options["agent_path"] = None
    try:
        return await asyncio.wait_for(
            asyncssh.connect(
                address,
                port,
                username=user,
                known_hosts=_read_known_hosts(check.known_hosts),
                client_factory=lambda: _Client(check, address, port),
                tunnel=tunnel,
                config=None,
                **options,
            ),
            CONNECT_TIMEOUT_S,
        )
    except asyncssh.HostKeyNotVerifiable:
        raise SshError(host, target, _host_key_advice(check, address, port)) from None
    except asyncssh.PermissionDenied:
        key = spec.key or "ssh-agent / ~/.ssh/id_*"
        raise SshError(
            host,
            target,
            f"login as {user} refused with key {key}; add its public key to "
            f"~{user}/.ssh/authorized_keys on the host, or fix hosts.{host}.ssh.user/key",
        ) from None
    except TimeoutError:
        raise SshError(
            host, target, f"no SSH answer within {CONNECT_TIMEOUT_S:.0f}s; is the address right?"
        ) from None
    except OSError as exc:
        raise SshError(
            host, target, f"cannot reach the SSH server: {exc.strerror or exc}; is sshd running?"
        ) from None
    except asyncssh.Error as exc:
        raise SshError(host, target, f"SSH failed: {exc.reason}") from None


def _host_key_advice(check: HostKeyCheck, address: str, port: int) -> str:
    pattern = known_hosts_pattern(address, port)
    if check.verdict == "changed":
        return (
            f"HOST KEY MISMATCH: the host presented {check.fingerprint}, but {check.known_hosts} "
            f"holds a different key for {pattern}. Someone may be intercepting the connection, "
            "or the host was reinstalled. Verify the new key out of band, then remove the old "
            f"entry (ssh-keygen -R '{pattern}' -f {check.known_hosts})"
        )
    return (
        f"unknown host key {check.fingerprint}: {pattern} is not in {check.known_hosts}. "
        "Check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), "
        "then run `ringlab deploy --accept-new-host-keys` to record it"
    )


async def ssh_connect(host: str, spec: SshSpec, accept_new: bool = False) -> SshSession:
    """Log in to inventory host `host` (through its jump host, if any)."""
    known_hosts = Path(spec.known_hosts) if spec.known_hosts else default_known_hosts()
    jump_spec = spec.jump_host
    jump = None
    if jump_spec is not None:
        jump = await _connect_one(
            host,
            spec,
            jump_spec.host,
            jump_spec.port,
            jump_spec.user or spec.user,
            HostKeyCheck(known_hosts, accept_new),
            None,
        )
    try:
        connection = await _connect_one(
            host,
            spec,
            spec.address,
            spec.port,
            spec.user,
            HostKeyCheck(known_hosts, accept_new),
            jump,
        )
    except BaseException:
        if jump is not None:
            jump.close()
        raise
    return SshSession(host, spec, connection, jump)
