"""The ringlab wheel that `ringlab deploy` ships: built from a checkout, or repacked from
the installed distribution (pipx, scripts/install), or given with --wheel.

Its build id is a digest of what goes in, so an unchanged tree gives the same id and a
second deploy finds the agent already running that build.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ringlab import __version__
from ringlab.errors import ArtifactError

# What goes into the wheel (setup.py maps these directories), hashed for the build id.
SOURCE_DIRS = ("ringlab", "agent", "controller", "proto")
# Files pip writes at install time; a wheel must not carry them.
_INSTALL_RECORDS = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


@dataclass(frozen=True)
class Artifact:
    wheel: Path
    build_id: str
    version: str = __version__


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


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def repack_installed(cache: Path | None = None) -> Artifact:
    """The installed ringlab (not a checkout) as a wheel again, from its RECORD: what runs
    here is what the hosts get, with no source tree and no build tools."""
    dist = importlib.metadata.distribution("ringlab")
    members: list[tuple[str, bytes]] = []
    for entry in dist.files or ():
        parts = entry.parts
        if parts[0] == ".." or "__pycache__" in parts or entry.suffix == ".pyc":
            continue  # console scripts outside site-packages; bytecode
        if parts[0].endswith(".dist-info") and parts[-1] in _INSTALL_RECORDS:
            continue
        members.append((entry.as_posix(), Path(str(dist.locate_file(entry))).read_bytes()))
    members.sort()
    if not any(name.endswith(".dist-info/WHEEL") for name, _ in members):
        raise ArtifactError(
            "the installed ringlab has no wheel metadata to repack (an editable install "
            "outside its checkout?); pass --wheel PATH to a ringlab wheel"
        )
    digest = hashlib.sha256()
    for name, data in members:
        digest.update(name.encode() + b"\0" + data + b"\0")
    build_id = digest.hexdigest()[:20]
    target = (cache or cache_dir()) / build_id
    wheel = target / f"ringlab-{dist.version}-py3-none-any.whl"
    if wheel.is_file():
        return Artifact(wheel, build_id, dist.version)
    target.mkdir(parents=True, exist_ok=True)
    dist_info = next(n for n, _ in members if n.endswith(".dist-info/WHEEL")).split("/")[0]
    record = [f"{name},{_record_hash(data)},{len(data)}" for name, data in members]
    record.append(f"{dist_info}/RECORD,,")
    with (
        tempfile.NamedTemporaryFile(dir=target, suffix=".part", delete=False) as part,
        zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for name, data in members:
            archive.writestr(name, data)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    os.replace(part.name, wheel)
    return Artifact(wheel, build_id, dist.version)


def prepare_artifact(wheel: Path | None) -> Artifact:
    """--wheel PATH, else the checkout this ringlab runs from, else the installed ringlab."""
    if wheel is not None:
        return wheel_artifact(wheel)
    root = find_checkout()
    return build_wheel(root) if root is not None else repack_installed()


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
            # Without setuptools here, pip fetches it into an isolated build environment.
            isolation = (
                [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
            )
            done = subprocess.run(
                [
                    sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation,
                    "--disable-pip-version-check", "-q", "-w", scratch, str(root),
                ],
                capture_output=True,
                text=True,
            )  # fmt: skip
            built = sorted(Path(scratch).glob("ringlab-*.whl"))
            if done.returncode != 0 or not built:
                raise ArtifactError(
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
        raise ArtifactError(f"cannot read wheel {path}: {exc.strerror}") from None
    if not path.name.startswith("ringlab-") or path.suffix != ".whl":
        raise ArtifactError(f"{path} is not a ringlab wheel (ringlab-VERSION-py3-none-any.whl)")
    return Artifact(path.resolve(), hashlib.sha256(data).hexdigest()[:20], path.name.split("-")[1])
