"""The steps of a deploy on one host, over its SSH session: what the host's Python is,
the agent's status, copying files, the isolated venv, starting and stopping the agent,
and the checks that run on the host (readiness, who can reach the agent).

Each step's failure is an error naming the host and what to change; hosts.py strings
them together per host and for all hosts at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
from collections.abc import Sequence
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
from ringlab.controller.deploy.wheelhouse import Wheelhouse
from ringlab.controller.remote.clients import AgentError, GrpcAgent
from ringlab.controller.remote.inventory import InventoryHost
from ringlab.controller.remote.tunnel import SshSession
from ringlab.errors import DeployError

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10
INSTALL_TIMEOUT_S = 300.0


def quote(value: str) -> str:
    return shlex.quote(value)


@dataclass(frozen=True)
class RemoteLayout:
    dir: str

    @property
    def venv_python(self) -> str:
        return f"{self.dir}/venv/bin/python"

    def path(self, name: str) -> str:
        return f"{self.dir}/{name}"


def tls_digest(entry: InventoryHost) -> str:
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


def agent_tls(entry: InventoryHost) -> bool:
    return entry.tls is not None and entry.tls.agent_cert is not None


async def remote_dir(session: SshSession) -> RemoteLayout:
    return RemoteLayout((await session.expand(session.spec.dir)).rstrip("/"))


async def host_python(session: SshSession, python: str) -> HostPython:
    """What the host's `ssh.python` is; a HostPythonError says what is missing."""
    done = await session.run(f"{quote(python)} -c {quote(FACTS_SCRIPT)}")
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


async def agent_status(session: SshSession, layout: RemoteLayout) -> tuple[int | None, str]:
    """(pid of the running agent or None, the fingerprint it was deployed with)."""
    done = await session.run(
        STATUS_SCRIPT.format(
            pid=quote(layout.path("agent.pid")), deployed=quote(layout.path("deployed"))
        )
    )
    lines = str(done.stdout).splitlines()
    pid = int(lines[0].split()[1]) if lines and lines[0].startswith("alive ") else None
    return pid, (lines[1].strip() if len(lines) > 1 else "")


async def check(session: SshSession, command: str, what: str, timeout_s: float = 120.0) -> str:
    done = await session.run(command, timeout_s)
    if done.exit_status != 0:
        output = (str(done.stderr or "") + str(done.stdout or "")).strip()[-1200:]
        raise session.error(f"{what} failed (exit {done.exit_status}): {output}")
    return str(done.stdout or "")


async def stop_agent(session: SshSession, layout: RemoteLayout, pid: int) -> None:
    # tail --pid returns when the process is gone: a wait, not a polling loop of ours.
    await check(
        session,
        f"kill -TERM {pid} 2>/dev/null; "
        f"timeout {STOP_TIMEOUT_S} tail -s 0.1 --pid={pid} -f /dev/null "
        f"|| kill -KILL {pid} 2>/dev/null; "
        f"rm -f {quote(layout.path('deployed'))}; true",
        "stopping the agent",
    )


async def upload(session: SshSession, files: dict[str, Path], private: Sequence[str] = ()) -> None:
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


async def install(
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
    await check(
        session,
        f"mkdir -p {quote(house)} {quote(build)} {quote(d)}/tls && chmod 700 {quote(d)}",
        f"making {d}",
    )
    files = {f"{house}/{f.name}": f for f in wheelhouse.files}
    files[f"{build}/{artifact.wheel.name}"] = artifact.wheel
    private: list[str] = []
    if agent_tls(entry):
        assert entry.tls is not None and entry.tls.agent_cert and entry.tls.agent_key
        files |= {
            f"{d}/tls/ca.crt": Path(entry.tls.ca),
            f"{d}/tls/agent.crt": Path(entry.tls.agent_cert),
            f"{d}/tls/agent.key": Path(entry.tls.agent_key),
        }
        private.append(f"{d}/tls/agent.key")
    await upload(session, files, private)
    python, venv = entry.ssh.python, f"{d}/venv"
    marker = f"{venv}/ringlab-deps"
    # --no-compile: bytecode is written when the agent first imports a module, and only for
    # what it imports (compiling every wheel's files took ~2.5 s of CPU per host).
    options = "-q --disable-pip-version-check --no-index --no-compile"
    # The dependencies change only with the lock or the host's Python: keep a venv that has them.
    ready = await session.run(f"cat {quote(marker)} 2>/dev/null")
    if str(ready.stdout or "").strip() != wheelhouse.key:
        # --without-pip, then pip run from its wheel: ensurepip cost ~4.5 s of CPU per host.
        await check(
            session,
            f"rm -rf {quote(venv)} && {quote(python)} -m venv --without-pip {quote(venv)}",
            f"creating the virtualenv with {python} (on Debian/Ubuntu the venv module is the "
            f"python3-venv package: apt install python3-venv; or set hosts.{session.host}"
            ".ssh.python)",
            INSTALL_TIMEOUT_S,
        )
        pip_wheel = f"{house}/{wheelhouse.pip_wheel.name}"
        await check(
            session,
            f"{quote(venv)}/bin/python {quote(pip_wheel)}/pip install {options} "
            f"--find-links {quote(house)} -r {quote(house)}/requirements.txt "
            f"&& echo {quote(wheelhouse.key)} > {quote(marker)}",
            "installing the agent's dependencies from the shipped wheels",
            INSTALL_TIMEOUT_S,
        )
    # --force-reinstall: the same version may be installed already (another build of it).
    await check(
        session,
        f"{quote(venv)}/bin/python -m pip install {options} --no-deps --force-reinstall "
        f"{quote(build)}/{quote(artifact.wheel.name)}",
        "installing the ringlab wheel",
        INSTALL_TIMEOUT_S,
    )


async def start_agent(
    session: SshSession, layout: RemoteLayout, entry: InventoryHost, stamp: str
) -> int | None:
    """Start the agent detached; returns its pid (setsid execs it: $! is the agent)."""
    d = layout.dir
    args = [
        layout.venv_python, "-P", "-m", "ringlab", "agent", "serve",
        "--listen", await listen_address(session, entry),
        "--pid-file", layout.path("agent.pid"),
    ]  # fmt: skip
    if agent_tls(entry):
        args += [
            "--tls-cert", f"{d}/tls/agent.crt",
            "--tls-key", f"{d}/tls/agent.key",
            "--tls-ca", f"{d}/tls/ca.crt",
        ]  # fmt: skip
    command = " ".join(quote(a) for a in args)
    # setsid: the agent outlives this SSH session; all its fds leave the channel.
    out = await check(
        session,
        f"cd {quote(d)} || exit 1; printf '%s\\n' {quote(stamp)} > deployed || exit 1; "
        f'echo "--- $(date -Is) {quote(stamp)}" >> agent.log; '
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


async def ready_or_exited(
    session: SshSession, layout: RemoteLayout, agent: GrpcAgent, pid: int | None
) -> None:
    """Wait for the agent's health check, failing at once if its process exits first."""
    if pid is None:
        await agent.wait_ready(READY_TIMEOUT_S)
        return
    script = WATCH_EXIT.format(pid=pid, timeout=READY_TIMEOUT_S)
    watcher = await session.connection.create_process(
        f"{quote(layout.venv_python)} -c {quote(script)}"
    )
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


async def log_tail(session: SshSession, layout: RemoteLayout) -> str:
    done = await session.run(f"tail -c 1200 {quote(layout.path('agent.log'))} 2>/dev/null")
    return str(done.stdout or "").strip()


async def listen_address(session: SshSession, entry: InventoryHost) -> str:
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


async def check_private(
    session: SshSession, layout: RemoteLayout, pid: int, listen: str, label: str
) -> None:
    """Only the SSH user (and root) can reach an agent on the ssh transport: its socket and
    directory are theirs alone, and it holds no TCP listener."""
    sock = listen.removeprefix("unix:") if listen.startswith("unix:") else ""
    out = await check(
        session,
        f"{quote(layout.venv_python)} -c {quote(PRIVACY_CHECK)} {pid} {quote(sock)}",
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
