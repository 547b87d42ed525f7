"""`ringlab deploy`: put the agent on inventory hosts over SSH, in parallel.

Per host, in its own directory (``ssh.dir``, default ~/.ringlab, mode 0700):

    venv/            python3 -m venv, isolated (no system site-packages)
    wheelhouse/KEY/  the agent's dependency wheels for this host's Python and platform
    wheels/BUILD/    the ringlab wheel
    tls/             ca.crt, agent.crt, agent.key (direct transport only)
    agent.sock       where the agent listens (ssh transport): only the SSH user and root
    deployed         what runs: build id, wheelhouse, listen address, TLS files' digest
    agent.pid        written by the agent (--pid-file), removed when it exits
    agent.log        the agent's output

The host needs a python3 (3.11+, with its venv module) and nothing else: no network, no
package index, no compiler. The controller asks the host's Python what it is, fetches
the agent's locked dependencies as wheels for it once (wheelhouse.py, cached per host
kind), copies what the host lacks over SFTP and installs offline. Every step's failure
becomes that host's error, saying what to change; other hosts go on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from ringlab.controller.deploy.artifact import Artifact
from ringlab.controller.deploy.host_python import (
    FACTS_SCRIPT,
    HostPython,
    HostPythonError,
    parse_facts,
)
from ringlab.controller.deploy.wheelhouse import Wheelhouse, wheelhouse_for
from ringlab.controller.remote.clients import AgentError, GrpcAgent
from ringlab.controller.remote.connect import agent_channel
from ringlab.controller.remote.inventory import Inventory, InventoryHost
from ringlab.controller.remote.tunnel import SshSession, ssh_connect
from ringlab.errors import RinglabInputError

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10
INSTALL_TIMEOUT_S = 300.0


class DeployError(RinglabInputError):
    pass


@dataclass
class HostOutcome:
    host: str
    target: str
    action: str  # installed, verified, stopped, not running, failed
    ok: bool
    detail: str = ""
    agent_version: str = ""
    python: str = ""  # the host's Python: 3.11.2 x86_64 glibc 2.36
    seconds: float = 0.0


# --- one host ------------------------------------------------------------------


def _q(value: str) -> str:
    return shlex.quote(value)


@dataclass(frozen=True)
class RemoteLayout:
    dir: str

    @property
    def venv_python(self) -> str:
        return f"{self.dir}/venv/bin/python"

    def path(self, name: str) -> str:
        return f"{self.dir}/{name}"


def _tls_digest(entry: InventoryHost) -> str:
    tls = entry.tls
    if tls is None or tls.agent_cert is None or tls.agent_key is None:
        return "none"
    digest = hashlib.sha256()
    for path in (tls.ca, tls.agent_cert, tls.agent_key):
        try:
            digest.update(Path(path).read_bytes())
        except OSError as exc:
            raise DeployError(f"cannot read TLS file {path}: {exc.strerror}") from None
    return digest.hexdigest()[:16]


def _agent_tls(entry: InventoryHost) -> bool:
    return entry.tls is not None and entry.tls.agent_cert is not None


def fingerprint(artifact: Artifact, wheelhouse: Wheelhouse, entry: InventoryHost) -> str:
    """What a running agent must match to be left alone: build, dependencies, listen
    address, TLS files."""
    return (
        f"build={artifact.build_id} deps={wheelhouse.key} listen={entry.listen_address} "
        f"tls={_tls_digest(entry)}"
    )


def check_deployable(host: str, entry: InventoryHost) -> None:
    if entry.ssh is None:
        raise DeployError(f"inventory host {host} has no ssh: block; deploy reaches hosts over SSH")
    if entry.effective_transport == "direct" and not _agent_tls(entry):
        raise DeployError(
            f"inventory host {host} uses transport: direct without tls.agent_cert/agent_key; "
            "an agent on a routable address needs mutual TLS (`ringlab certs init`), "
            "or use transport: ssh"
        )


async def _remote_dir(session: SshSession) -> RemoteLayout:
    return RemoteLayout((await session.expand(session.spec.dir)).rstrip("/"))


async def _host_python(session: SshSession, python: str) -> HostPython:
    """What the host's `ssh.python` is; a HostPythonError says what is missing."""
    done = await session.run(f"{_q(python)} -c {_q(FACTS_SCRIPT)}")
    if done.exit_status != 0:
        output = (str(done.stderr or "") + str(done.stdout or "")).strip()[-400:]
        missing = done.exit_status == 127
        raise session.error(
            f"{'there is no ' + python if missing else python + ' failed'} on the host "
            f"(exit {done.exit_status}: {output}); the agent needs Python 3.11+ with its venv "
            f"module (Debian: apt install python3 python3-venv). Set hosts.{session.host}"
            ".ssh.python to one"
        )
    try:
        return parse_facts(session.host, python, str(done.stdout or ""))
    except HostPythonError as exc:
        raise session.error(str(exc)) from None


STATUS_SCRIPT = """
p=$(cat {pid} 2>/dev/null)
if [ -n "$p" ] && tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q 'ringlab agent serve'; then
  echo "alive $p"
else
  echo dead
fi
cat {deployed} 2>/dev/null
"""


async def _status(session: SshSession, layout: RemoteLayout) -> tuple[int | None, str]:
    """(pid of the running agent or None, the fingerprint it was deployed with)."""
    done = await session.run(
        STATUS_SCRIPT.format(pid=_q(layout.path("agent.pid")), deployed=_q(layout.path("deployed")))
    )
    lines = str(done.stdout).splitlines()
    pid = int(lines[0].split()[1]) if lines and lines[0].startswith("alive ") else None
    return pid, (lines[1].strip() if len(lines) > 1 else "")


async def _check(session: SshSession, command: str, what: str, timeout_s: float = 120.0) -> str:
    done = await session.run(command, timeout_s)
    if done.exit_status != 0:
        output = (str(done.stderr or "") + str(done.stdout or "")).strip()[-1200:]
        raise session.error(f"{what} failed (exit {done.exit_status}): {output}")
    return str(done.stdout or "")


async def _stop(session: SshSession, layout: RemoteLayout, pid: int) -> None:
    # tail --pid returns when the process is gone: a wait, not a polling loop of ours.
    await _check(
        session,
        f"kill -TERM {pid} 2>/dev/null; "
        f"timeout {STOP_TIMEOUT_S} tail -s 0.1 --pid={pid} -f /dev/null "
        f"|| kill -KILL {pid} 2>/dev/null; "
        f"rm -f {_q(layout.path('deployed'))}; true",
        "stopping the agent",
    )


async def _upload(session: SshSession, files: dict[str, Path], private: Sequence[str] = ()) -> None:
    """Copy `files` {remote path: local path} over SFTP, skipping those already there with
    the same size (a wheelhouse is shipped once per host, not per deploy)."""
    try:
        async with session.connection.start_sftp_client() as sftp:
            for remote, local in files.items():
                try:
                    if (await sftp.stat(remote)).size == local.stat().st_size:
                        continue
                except asyncssh.SFTPNoSuchFile:
                    pass
                await sftp.put(str(local), remote)
            for remote in private:
                await sftp.chmod(remote, 0o600)
    except (OSError, asyncssh.Error) as exc:
        raise session.error(
            f"copying files over SFTP failed: {exc} (is the sftp subsystem enabled in the "
            "host's sshd_config?)"
        ) from None


async def _install(
    session: SshSession,
    layout: RemoteLayout,
    artifact: Artifact,
    wheelhouse: Wheelhouse,
    entry: InventoryHost,
) -> None:
    assert entry.ssh is not None
    d = layout.dir
    house = f"{d}/wheelhouse/{wheelhouse.key}"
    build = f"{d}/wheels/{artifact.build_id}"
    await _check(
        session,
        f"mkdir -p {_q(house)} {_q(build)} {_q(d)}/tls && chmod 700 {_q(d)}",
        f"making {d}",
    )
    files = {f"{house}/{f.name}": f for f in wheelhouse.files}
    files[f"{build}/{artifact.wheel.name}"] = artifact.wheel
    private: list[str] = []
    if _agent_tls(entry):
        assert entry.tls is not None and entry.tls.agent_cert and entry.tls.agent_key
        files |= {
            f"{d}/tls/ca.crt": Path(entry.tls.ca),
            f"{d}/tls/agent.crt": Path(entry.tls.agent_cert),
            f"{d}/tls/agent.key": Path(entry.tls.agent_key),
        }
        private.append(f"{d}/tls/agent.key")
    await _upload(session, files, private)
    python, venv = entry.ssh.python, f"{d}/venv"
    marker = f"{venv}/ringlab-deps"
    # --no-compile: bytecode is written when the agent first imports a module, and only for
    # what it imports (compiling every wheel's files took ~2.5 s of CPU per host).
    options = "-q --disable-pip-version-check --no-index --no-compile"
    # The dependencies change only with the lock or the host's Python: keep a venv that has them.
    ready = await session.run(f"cat {_q(marker)} 2>/dev/null")
    if str(ready.stdout or "").strip() != wheelhouse.key:
        # --without-pip, then pip run from its wheel: ensurepip cost ~4.5 s of CPU per host.
        await _check(
            session,
            f"rm -rf {_q(venv)} && {_q(python)} -m venv --without-pip {_q(venv)}",
            f"creating the virtualenv with {python} (on Debian/Ubuntu the venv module is the "
            f"python3-venv package: apt install python3-venv; or set hosts.{session.host}"
            ".ssh.python)",
            INSTALL_TIMEOUT_S,
        )
        pip_wheel = f"{house}/{wheelhouse.pip_wheel.name}"
        await _check(
            session,
            f"{_q(venv)}/bin/python {_q(pip_wheel)}/pip install {options} "
            f"--find-links {_q(house)} -r {_q(house)}/requirements.txt "
            f"&& echo {_q(wheelhouse.key)} > {_q(marker)}",
            "installing the agent's dependencies from the shipped wheels",
            INSTALL_TIMEOUT_S,
        )
    # --force-reinstall: the same version may be installed already (another build of it).
    await _check(
        session,
        f"{_q(venv)}/bin/python -m pip install {options} --no-deps --force-reinstall "
        f"{_q(build)}/{_q(artifact.wheel.name)}",
        "installing the ringlab wheel",
        INSTALL_TIMEOUT_S,
    )


async def _start(
    session: SshSession, layout: RemoteLayout, entry: InventoryHost, stamp: str
) -> int | None:
    """Start the agent detached; returns its pid (setsid execs it: $! is the agent)."""
    d = layout.dir
    args = [
        layout.venv_python, "-m", "ringlab", "agent", "serve",
        "--listen", await _listen(session, entry),
        "--pid-file", layout.path("agent.pid"),
    ]  # fmt: skip
    if _agent_tls(entry):
        args += [
            "--tls-cert", f"{d}/tls/agent.crt",
            "--tls-key", f"{d}/tls/agent.key",
            "--tls-ca", f"{d}/tls/ca.crt",
        ]  # fmt: skip
    command = " ".join(_q(a) for a in args)
    # setsid: the agent outlives this SSH session; all its fds leave the channel.
    out = await _check(
        session,
        f"cd {_q(d)} || exit 1; printf '%s\\n' {_q(stamp)} > deployed || exit 1; "
        f'echo "--- $(date -Is) {_q(stamp)}" >> agent.log; '
        # Only the agent goes to the background: a backgrounded list would keep the channel open.
        f"setsid {command} < /dev/null >> agent.log 2>&1 & echo $!",
        "starting the agent",
    )
    last = out.split()[-1:] or [""]
    return int(last[0]) if last[0].isdigit() else None


# Runs on the host: prints "exited" when the agent's process ends, or returns when its
# stdin closes (the controller closes it once the agent answered). pidfd: no polling.
WATCH_EXIT = """
import os, select, sys
try:
    fd = os.pidfd_open({pid})
except ProcessLookupError:
    print("exited", flush=True)
    raise SystemExit
except (OSError, AttributeError):
    print("unknown", flush=True)
    raise SystemExit
ready, _, _ = select.select([fd, sys.stdin], [], [], {timeout})
print("exited" if fd in ready else "alive", flush=True)
"""


async def _ready_or_exited(
    session: SshSession, layout: RemoteLayout, agent: GrpcAgent, pid: int | None
) -> None:
    """Wait for the agent's health check, failing at once if its process exits first."""
    if pid is None:
        await agent.wait_ready(READY_TIMEOUT_S)
        return
    script = WATCH_EXIT.format(pid=pid, timeout=READY_TIMEOUT_S)
    watcher = await session.connection.create_process(f"{_q(layout.venv_python)} -c {_q(script)}")
    ready = asyncio.ensure_future(agent.wait_ready(READY_TIMEOUT_S))
    exited = asyncio.ensure_future(watcher.stdout.readline())
    try:
        done, _ = await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done and str(exited.result()).strip() == "exited":
            raise AgentError(agent.host, agent.address, f"the agent (pid {pid}) exited at start")
        await ready
    finally:
        for task in (ready, exited):
            task.cancel()
        await asyncio.gather(ready, exited, return_exceptions=True)
        watcher.stdin.write_eof()
        watcher.close()


async def _log_tail(session: SshSession, layout: RemoteLayout) -> str:
    done = await session.run(f"tail -c 1200 {_q(layout.path('agent.log'))} 2>/dev/null")
    return str(done.stdout or "").strip()


async def _listen(session: SshSession, entry: InventoryHost) -> str:
    listen = entry.listen_address
    if listen.startswith("unix:"):
        return "unix:" + await session.expand(listen.removeprefix("unix:"))
    return listen


# Runs on the host with the agent's Python: what makes the agent reachable by others.
PRIVACY_CHECK = """
import json, os, stat, sys
pid, sock = int(sys.argv[1]), sys.argv[2]
me = os.getuid()
problems = []
for path in ([os.path.dirname(sock), sock] if sock else []):
    st = os.stat(path)
    if st.st_uid != me:
        problems.append(f"{path} is owned by uid {st.st_uid}, not the SSH user (uid {me})")
    if stat.S_IMODE(st.st_mode) & 0o077:
        problems.append(f"{path} has mode {stat.S_IMODE(st.st_mode):04o}: others can open it")
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    target = os.readlink(f"/proc/{pid}/fd/{fd}")
    if target.startswith("socket:["):
        inodes.add(target[8:-1])
for table in ("tcp", "tcp6"):
    with open(f"/proc/{pid}/net/{table}") as rows:
        for row in list(rows)[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:
                problems.append(f"the agent listens on TCP ({table} {cols[1]})")
print(json.dumps(problems))
"""


async def _check_private(
    session: SshSession, layout: RemoteLayout, pid: int, listen: str, label: str
) -> None:
    """Only the SSH user (and root) can reach an agent on the ssh transport: its socket and
    directory are theirs alone, and it holds no TCP listener."""
    sock = listen.removeprefix("unix:") if listen.startswith("unix:") else ""
    out = await _check(
        session,
        f"{_q(layout.venv_python)} -c {_q(PRIVACY_CHECK)} {pid} {_q(sock)}",
        "checking that only the SSH user can reach the agent",
    )
    problems = json.loads(out.strip().splitlines()[-1])
    if problems:
        raise AgentError(
            session.host,
            label,
            "the agent is reachable by other users of the host: "
            + "; ".join(problems)
            + ". Stop it (ringlab deploy --stop) and fix the directory's owner and mode",
        )


async def _verify(
    session: SshSession,
    host: str,
    entry: InventoryHost,
    layout: RemoteLayout,
    version: str,
    pid: int | None = None,
) -> str:
    """GetInfo through the tunnel (or directly with TLS); returns the agent's version."""
    if entry.effective_transport == "ssh":
        listen = await _listen(session, entry)
        target = await session.forward(listen)
        label = f"{listen} via {session.target}"
    else:
        target = entry.direct_target or ""
        label = target
    agent = GrpcAgent(host, label, agent_channel(host, target, entry.tls))
    try:
        await _ready_or_exited(session, layout, agent, pid)
        info = await agent.info()
    except AgentError as exc:
        tail = await _log_tail(session, layout)
        reason = str(exc).removeprefix(f"agent {exc.host} ({exc.address}): ")
        raise AgentError(
            host, label, f"{reason}\nagent.log on the host ends with:\n{tail}"
        ) from None
    finally:
        await agent.close()
    if info.agent_version != version:
        raise AgentError(
            host,
            label,
            f"answers as ringlab {info.agent_version}, but {version} was deployed; "
            "another agent may hold the port",
        )
    if entry.effective_transport == "ssh" and pid is not None:
        await _check_private(session, layout, pid, await _listen(session, entry), label)
    return str(info.agent_version)


HostWork = Callable[[SshSession, RemoteLayout, HostOutcome], Awaitable[None]]


async def _on_host(
    host: str, entry: InventoryHost, accept_new: bool, work: HostWork
) -> HostOutcome:
    """Log in, run `work`, log out; every failure becomes a failed row, never an exception."""
    started = time.monotonic()
    assert entry.ssh is not None
    outcome = HostOutcome(host, f"{entry.ssh.user}@{entry.ssh.address}", "failed", False)
    session: SshSession | None = None
    try:
        session = await ssh_connect(host, entry.ssh, accept_new)
        await work(session, await _remote_dir(session), outcome)
        outcome.ok = True
    except (AgentError, RinglabInputError) as exc:
        outcome.action, outcome.ok, outcome.detail = "failed", False, str(exc)
    finally:
        if session is not None:
            await session.close()
        outcome.seconds = time.monotonic() - started
    return outcome


async def deploy_host(
    host: str,
    entry: InventoryHost,
    artifact: Artifact,
    accept_new: bool,
    wheelhouse_source: Path | None = None,
) -> HostOutcome:
    async def deploy(session: SshSession, layout: RemoteLayout, outcome: HostOutcome) -> None:
        assert entry.ssh is not None
        python = await _host_python(session, entry.ssh.python)
        outcome.python = python.short
        # A download (once per kind of host, cached) must not stall the other hosts' SSH.
        wheelhouse = await asyncio.to_thread(wheelhouse_for, python, wheelhouse_source)
        stamp = fingerprint(artifact, wheelhouse, entry)
        pid, running = await _status(session, layout)
        if pid is not None and running == stamp:
            outcome.action = "verified"
            outcome.detail = f"already running (pid {pid})"
        else:
            if pid is not None:
                await _stop(session, layout, pid)
            await _install(session, layout, artifact, wheelhouse, entry)
            pid = await _start(session, layout, entry, stamp)
            outcome.action = "installed"
            outcome.detail = f"started, listening on {await _listen(session, entry)}"
        outcome.agent_version = await _verify(session, host, entry, layout, artifact.version, pid)

    return await _on_host(host, entry, accept_new, deploy)


async def stop_host(host: str, entry: InventoryHost, accept_new: bool) -> HostOutcome:
    async def stop(session: SshSession, layout: RemoteLayout, outcome: HostOutcome) -> None:
        pid, _ = await _status(session, layout)
        if pid is None:
            outcome.action, outcome.detail = "not running", "no agent was running"
        else:
            await _stop(session, layout, pid)
            outcome.action, outcome.detail = "stopped", f"pid {pid} stopped"

    return await _on_host(host, entry, accept_new, stop)


def choose_hosts(inventory: Inventory, names: Sequence[str] | None) -> list[str]:
    if not names:
        return list(inventory.hosts)
    unknown = [n for n in names if n not in inventory.hosts]
    if unknown:
        raise DeployError(
            f"the inventory has no host {', '.join(unknown)} (it has {', '.join(inventory.hosts)})"
        )
    return list(names)


async def deploy_all(
    inventory: Inventory,
    artifact: Artifact | None,
    hosts: Sequence[str],
    accept_new: bool = False,
    stop: bool = False,
    wheelhouse_source: Path | None = None,
) -> list[HostOutcome]:
    """Deploy (or stop, with `stop`) on every host at once; one outcome per host, in order.
    `wheelhouse_source`: a directory holding the agent's dependency wheels (no index)."""
    for host in hosts:
        check_deployable(host, inventory.hosts[host])
    if stop:
        jobs = [stop_host(h, inventory.hosts[h], accept_new) for h in hosts]
    else:
        assert artifact is not None
        jobs = [
            deploy_host(h, inventory.hosts[h], artifact, accept_new, wheelhouse_source)
            for h in hosts
        ]
    return list(await asyncio.gather(*jobs))
