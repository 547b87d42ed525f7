"""The agent's dependencies as wheels for one kind of lab host, fetched once and cached.

Lab hosts often have no network and a Python with only its standard library (Debian's
python3-grpcio and python3-protobuf are far too old for our generated code). So the
controller ships every wheel the agent imports: the pins of `ringlab/agent-requirements.txt`
(the lock, see scripts/lock) whose markers hold on that host, downloaded with `pip download
--only-binary :all:` for the host's interpreter and glibc, and installed there offline into
an isolated virtualenv. `--wheelhouse DIR` takes them from a directory instead of an index.

The cache key is the host's interpreter tag, machine and glibc, and a digest of the pins:
hosts of one kind share one download, and a new lock makes a new one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from packaging.markers import Marker

from ringlab.controller.deploy.host_python import HostPython
from ringlab.errors import WheelhouseError

AGENT_LOCK = "agent-requirements.txt"
REQUIREMENTS = "requirements.txt"


@dataclass(frozen=True)
class Wheelhouse:
    directory: Path
    key: str

    @property
    def pip_wheel(self) -> Path:
        """pip itself (in the lock): a host runs it from this wheel to install the rest."""
        return next(self.directory.glob("pip-*.whl"))

    @property
    def files(self) -> list[Path]:
        """The wheels and the requirements file they satisfy, in a stable order."""
        return [*sorted(self.directory.glob("*.whl")), self.directory / REQUIREMENTS]


def agent_lock() -> str:
    return resources.files("ringlab").joinpath(AGENT_LOCK).read_text()


def host_pins(lock: str, host: HostPython) -> list[str]:
    """`name==version` for every lock line whose marker holds on `host`."""
    environment = host.marker_environment()
    pins = []
    for raw in lock.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        pins.append(requirement.strip())
    return pins


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "ringlab" / "wheelhouse"


def download_command(
    host: HostPython, requirements: Path, into: Path, source: Path | None
) -> list[str]:
    major, minor = host.version[:2]
    command = [
        sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
        "--only-binary", ":all:", "--no-deps",
        "--implementation", "cp", "--python-version", f"{major}.{minor}",
        "--abi", host.tag, "--abi", "abi3", "--abi", "none",
        *(arg for platform in host.platforms() for arg in ("--platform", platform)),
        "-r", str(requirements), "-d", str(into),
    ]  # fmt: skip
    if source is not None:
        command += ["--no-index", "--find-links", str(source)]
    return command


def wheelhouse_for(
    host: HostPython, source: Path | None = None, cache: Path | None = None
) -> Wheelhouse:
    """The agent's wheels for `host`: from the cache, else downloaded (or taken from `source`)."""
    pins = host_pins(agent_lock(), host)
    digest = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]
    assert host.libc_version is not None
    glibc = "_".join(map(str, host.libc_version))
    key = f"{host.tag}-{host.machine}-glibc{glibc}-{digest}"
    cache = cache or cache_root()
    target = cache / key
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # hosts of one kind deploy at once: one download
        if (target / REQUIREMENTS).is_file():
            return Wheelhouse(target, key)
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            work = Path(scratch)
            requirements = work / REQUIREMENTS
            requirements.write_text("".join(f"{pin}\n" for pin in pins))
            done = subprocess.run(
                download_command(host, requirements, work, source), capture_output=True, text=True
            )
            if done.returncode != 0:
                raise WheelhouseError(_download_failure(host, pins, source, done.stderr))
            shutil.rmtree(target, ignore_errors=True)
            work.rename(target)
            # The directory was renamed away; TemporaryDirectory must not fail on it.
            work.mkdir()
    return Wheelhouse(target, key)


def _download_failure(host: HostPython, pins: list[str], source: Path | None, stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if "WARNING" not in line]
    told = "\n".join(lines[-6:])
    wanted = f"wheels for CPython {host.version[0]}.{host.version[1]} on {host.machine} glibc " + (
        ".".join(map(str, host.libc_version or ()))
    )
    if source is not None:
        return (
            f"--wheelhouse {source} lacks the agent's {wanted} ({', '.join(pins)}):\n{told}\n"
            f"Fill it on a machine with an index: pip download --only-binary :all: --no-deps "
            f"--python-version {host.version[0]}.{host.version[1]} --platform "
            f"{host.platforms()[0]} -d {source} {' '.join(pins)}"
        )
    return (
        f"downloading the agent's {wanted} failed ({', '.join(pins)}):\n{told}\n"
        "Without a package index, pass --wheelhouse DIR holding those wheels"
    )
