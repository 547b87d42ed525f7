"""What a lab host's Python is, and whether an agent can be installed for it (pure).

Deploy runs FACTS_SCRIPT with the host's `ssh.python` and reads one JSON line back. The
script uses only what every Python 3 (and 2.7, to be able to say it is too old) has.
From the facts come the wheel tags the host accepts, which choose the prebuilt wheels
(grpcio, numpy, ...) the controller ships: lab hosts need no network and no compiler.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MIN_PYTHON = (3, 11)
# The oldest glibc that manylinux wheels target (manylinux2014 = glibc 2.17).
MIN_GLIBC = (2, 17)

FACTS_SCRIPT = """
import json, platform, sys
libc = platform.libc_ver()
impl = getattr(sys, "implementation", None)
print(json.dumps({
    "version": list(sys.version_info[:3]),
    "implementation": impl.name if impl else platform.python_implementation().lower(),
    "machine": platform.machine(),
    "libc": [libc[0], libc[1]],
    "executable": sys.executable,
}))
"""


class HostPythonError(ValueError):
    """The host's Python cannot run the agent; the message says what to do."""


@dataclass(frozen=True)
class HostPython:
    version: tuple[int, int, int]
    implementation: str
    machine: str
    libc: str
    libc_version: tuple[int, int] | None
    executable: str

    @property
    def short(self) -> str:
        """For deploy's table: `3.11.2 x86_64 glibc 2.36`."""
        libc = f"{self.libc} {'.'.join(map(str, self.libc_version))}" if self.libc_version else ""
        return " ".join(p for p in (".".join(map(str, self.version)), self.machine, libc) if p)

    @property
    def tag(self) -> str:
        """The interpreter tag of the wheels it takes: cp311."""
        return f"cp{self.version[0]}{self.version[1]}"

    def platforms(self) -> list[str]:
        """Every manylinux platform tag this host accepts, newest first."""
        assert self.libc_version is not None
        major, minor = self.libc_version
        arch = self.machine
        tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, MIN_GLIBC[1] - 1, -1)]
        # The legacy aliases some projects still publish under.
        return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values, to pick the host's lines out of a universal lock."""
        version = ".".join(map(str, self.version))
        return {
            "python_version": f"{self.version[0]}.{self.version[1]}",
            "python_full_version": version,
            "implementation_name": self.implementation,
            "implementation_version": version,
            "platform_python_implementation": "CPython",
            "platform_machine": self.machine,
            "platform_system": "Linux",
            "sys_platform": "linux",
            "os_name": "posix",
        }


def _libc_version(text: str) -> tuple[int, int] | None:
    parts = text.split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1])


def parse_facts(host: str, python: str, output: str) -> HostPython:
    """The facts FACTS_SCRIPT printed, checked: raises HostPythonError naming the host,
    what it has, what is needed and how to fix it."""
    where = f"hosts.{host}.ssh.python"
    try:
        raw = json.loads(output.strip().splitlines()[-1])
        version = tuple(int(v) for v in raw["version"])
        facts = HostPython(
            version=(version[0], version[1], version[2]),
            implementation=str(raw["implementation"]),
            machine=str(raw["machine"]),
            libc=str(raw["libc"][0]),
            libc_version=_libc_version(str(raw["libc"][1])),
            executable=str(raw["executable"]),
        )
    except (ValueError, KeyError, IndexError, TypeError):
        raise HostPythonError(
            f"{python} on host {host} did not answer as a Python interpreter "
            f"(it printed {output.strip()[-200:]!r}); set {where} to a python3"
        ) from None
    need = ".".join(map(str, MIN_PYTHON))
    if facts.version[:2] < MIN_PYTHON:
        raise HostPythonError(
            f"host {host}: {python} is Python {'.'.join(map(str, facts.version))}; the agent "
            f"needs Python {need} or newer. Install one (Debian 12: apt install python3 "
            f"python3-venv gives 3.11) and set {where} to it"
        )
    if facts.implementation != "cpython":
        raise HostPythonError(
            f"host {host}: {python} is {facts.implementation}; the agent's prebuilt wheels "
            f"(grpcio, numpy) are for CPython. Set {where} to a CPython {need}+"
        )
    if facts.libc != "glibc" or facts.libc_version is None:
        raise HostPythonError(
            f"host {host}: {python} runs on {facts.libc or 'an unknown C library'}, not glibc "
            "(musl, as on Alpine?); the agent ships manylinux wheels, which need glibc "
            f"{'.'.join(map(str, MIN_GLIBC))} or newer. Use a glibc distribution for the lab host"
        )
    if facts.libc_version < MIN_GLIBC:
        raise HostPythonError(
            f"host {host}: glibc {'.'.join(map(str, facts.libc_version))} is older than "
            f"{'.'.join(map(str, MIN_GLIBC))}, the oldest the agent's prebuilt wheels support"
        )
    return facts
