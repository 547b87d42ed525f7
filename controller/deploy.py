"""`ringlab deploy`: put this checkout's agent on inventory hosts over SSH, in parallel.

Per host, in its own directory (``ssh.dir``, default ~/.ringlab):

    venv/            python3 -m venv --system-site-packages (see below)
    wheels/          the wheel copied over SFTP
    tls/             ca.crt, agent.crt, agent.key (direct transport only)
    deployed         what runs: build id, listen address, TLS files' digest
    agent.pid        written by the agent (--pid-file), removed when it exits
    agent.log        the agent's output

The wheel is built once from the checkout (`pip wheel --no-deps
--no-build-isolation`, no network) and cached by a digest of the sources, which
is also the build id: the same sources give the same id, so a second deploy of
an unchanged checkout finds the agent running that build and only verifies it.

The venv sees the host's system site-packages and the wheel is installed with
--no-deps: the host needs ringlab's dependencies (grpcio, protobuf, numpy,
pyroute2, pydantic, ...) installed for that interpreter, but needs no network
and no package index. The trade-off: the agent runs with whatever versions the
host has. Every step's failure becomes that host's error; other hosts go on.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from ringlab import __version__
from ringlab.controller.clients import AgentError, GrpcAgent
from ringlab.controller.connect import agent_channel
from ringlab.controller.inventory import Inventory, InventoryHost
from ringlab.controller.tunnel import SshSession, ssh_connect
from ringlab.errors import RinglabInputError

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10
# What goes into the wheel (pyproject's package-dir mapping), hashed for the build id.
SOURCE_DIRS = ("ringlab", "agent", "controller", "proto")


class DeployError(RinglabInputError):
    pass


@dataclass(frozen=True)
class Artifact:
    wheel: Path
    build_id: str
    version: str = __version__


@dataclass
class HostOutcome:
    host: str
    target: str
    action: str  # installed, verified, stopped, not running, failed
    ok: bool
    detail: str = ""
    agent_version: str = ""
    seconds: float = 0.0


def find_checkout() -> Path | None:
    """The source tree this ringlab runs from, when it is an (editable) checkout."""
    import ringlab

    root = Path(ringlab.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "agent").is_dir() else None


def _source_files(root: Path) -> Iterable[Path]:
    yield root / "pyproject.toml"
    for name in SOURCE_DIRS:
        for path in sorted((root / name).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


def source_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in _source_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "ringlab" / "wheels"


def build_wheel(root: Path, cache: Path | None = None) -> Artifact:
    """This checkout as a wheel, built once per source digest (cached)."""
    build_id = source_digest(root)
    cache = cache or cache_dir()
    target = cache / build_id
    cache.mkdir(parents=True, exist_ok=True)
    # Builds write build/ and *.egg-info into the checkout: one at a time.
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wheels = sorted(target.glob("ringlab-*.whl"))
        if wheels:
            return Artifact(wheels[0], build_id)
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--no-deps",
                    "--no-build-isolation",
                    "--disable-pip-version-check",
                    "-q",
                    "-w",
                    scratch,
                    str(root),
                ],
                capture_output=True,
                text=True,
            )
            built = sorted(Path(scratch).glob("ringlab-*.whl"))
            if done.returncode != 0 or not built:
                raise DeployError(
                    f"building the wheel from {root} failed (pip wheel exit {done.returncode}):\n"
                    f"{done.stderr.strip()[-1500:]}"
                )
            target.mkdir(exist_ok=True)
            final = target / built[0].name
            shutil.move(built[0], final)
    return Artifact(final, build_id)


def wheel_artifact(path: Path) -> Artifact:
    """A prebuilt wheel; its content digest is the build id."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DeployError(f"cannot read wheel {path}: {exc.strerror}") from None
    if not path.name.startswith("ringlab-") or path.suffix != ".whl":
        raise DeployError(f"{path} is not a ringlab wheel (ringlab-VERSION-py3-none-any.whl)")
    return Artifact(path.resolve(), hashlib.sha256(data).hexdigest()[:20], path.name.split("-")[1])


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


def fingerprint(artifact: Artifact, entry: InventoryHost) -> str:
    """What a running agent must match to be left alone: build, listen address, TLS files."""
    return f"build={artifact.build_id} listen={entry.listen_address} tls={_tls_digest(entry)}"


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
    wanted = session.spec.dir
    if wanted == "~" or wanted.startswith("~/"):
        home = await session.run('printf %s "$HOME"')
        wanted = str(home.stdout).strip() + wanted[1:]
    return RemoteLayout(wanted.rstrip("/"))


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


async def _check(session: SshSession, command: str, what: str) -> str:
    done = await session.run(command)
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


async def _install(
    session: SshSession, layout: RemoteLayout, artifact: Artifact, entry: InventoryHost
) -> None:
    assert entry.ssh is not None
    d = layout.dir
    await _check(session, f"mkdir -p {_q(d)}/wheels {_q(d)}/tls && chmod 700 {_q(d)}", "mkdir")
    remote_wheel = f"{d}/wheels/{artifact.wheel.name}"
    try:
        async with session.connection.start_sftp_client() as sftp:
            await sftp.put(str(artifact.wheel), remote_wheel)
            if _agent_tls(entry):
                assert entry.tls is not None and entry.tls.agent_cert and entry.tls.agent_key
                await sftp.put(entry.tls.ca, f"{d}/tls/ca.crt")
                await sftp.put(entry.tls.agent_cert, f"{d}/tls/agent.crt")
                await sftp.put(entry.tls.agent_key, f"{d}/tls/agent.key")
                await sftp.chmod(f"{d}/tls/agent.key", 0o600)
    except (OSError, asyncssh.Error) as exc:
        raise session.error(
            f"copying files over SFTP failed: {exc} (is the sftp subsystem enabled in the "
            "host's sshd_config?)"
        ) from None
    python = entry.ssh.python
    venv = f"{d}/venv"
    # --without-pip saves ensurepip's seconds when the system pip is visible; else bootstrap.
    await _check(
        session,
        f"[ -x {_q(venv)}/bin/python ] || {_q(python)} -m venv --system-site-packages "
        f"--without-pip {_q(venv)}",
        f"creating the virtualenv with {python} (set hosts.{session.host}.ssh.python)",
    )
    await _check(
        session,
        f"{_q(venv)}/bin/python -c 'import pip' >/dev/null 2>&1 "
        f"|| {_q(venv)}/bin/python -m ensurepip --default-pip -q",
        "bootstrapping pip in the virtualenv",
    )
    # --force-reinstall: the same version may be installed already (another build of it).
    await _check(
        session,
        f"{_q(venv)}/bin/python -m pip install -q --no-deps --no-index --force-reinstall "
        f"--disable-pip-version-check {_q(remote_wheel)}",
        "installing the wheel",
    )


async def _start(
    session: SshSession, layout: RemoteLayout, entry: InventoryHost, stamp: str
) -> int | None:
    """Start the agent detached; returns its pid (setsid execs it: $! is the agent)."""
    d = layout.dir
    args = [
        layout.venv_python, "-m", "ringlab", "agent", "serve",
        "--listen", entry.listen_address,
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
        target = await session.forward(entry.listen_address)
        label = f"{entry.listen_address} via {session.target}"
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
    host: str, entry: InventoryHost, artifact: Artifact, accept_new: bool
) -> HostOutcome:
    async def deploy(session: SshSession, layout: RemoteLayout, outcome: HostOutcome) -> None:
        stamp = fingerprint(artifact, entry)
        pid, running = await _status(session, layout)
        started_pid: int | None = None
        if pid is not None and running == stamp:
            outcome.action = "verified"
            outcome.detail = f"already running (pid {pid})"
        else:
            if pid is not None:
                await _stop(session, layout, pid)
            await _install(session, layout, artifact, entry)
            started_pid = await _start(session, layout, entry, stamp)
            outcome.action = "installed"
            outcome.detail = f"started, listening on {entry.listen_address}"
        outcome.agent_version = await _verify(
            session, host, entry, layout, artifact.version, started_pid
        )

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
) -> list[HostOutcome]:
    """Deploy (or stop, with `stop`) on every host at once; one outcome per host, in order."""
    for host in hosts:
        check_deployable(host, inventory.hosts[host])
    if stop:
        jobs = [stop_host(h, inventory.hosts[h], accept_new) for h in hosts]
    else:
        assert artifact is not None
        jobs = [deploy_host(h, inventory.hosts[h], artifact, accept_new) for h in hosts]
    return list(await asyncio.gather(*jobs))


def prepare_artifact(wheel: Path | None) -> Artifact:
    if wheel is not None:
        return wheel_artifact(wheel)
    root = find_checkout()
    if root is None:
        raise DeployError(
            "ringlab is not running from a source checkout, so there is nothing to build; "
            "pass --wheel PATH to a ringlab wheel"
        )
    return build_wheel(root)
