"""What the README says about the architecture, checked on the source tree itself."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 500
# `ringlab probe --local` runs the agent's own probes in-process: the one place the
# controller uses agent code (the same code an agent runs for the Probe RPC).
CONTROLLER_USES_AGENT = {"controller/commands/probe.py"}


def sources(directory: str) -> Iterator[Path]:
    for path in sorted((ROOT / directory).rglob("*.py")):
        if not path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
            yield path


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("directory", ["agent", "ringlab"])
def test_the_agent_and_the_shared_modules_never_import_the_controller(directory: str) -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sources(directory)
        if path.name != "cli.py" or directory != "ringlab"  # the console script dispatches
        if any(name.startswith("ringlab.controller") for name in imported(path))
    ]
    assert offenders == []


def test_the_controller_imports_agent_code_only_where_the_readme_says() -> None:
    users = {
        str(path.relative_to(ROOT))
        for path in sources("controller")
        if any(name.startswith("ringlab.agent") for name in imported(path))
    }
    assert users == CONTROLLER_USES_AGENT


def test_the_controller_top_level_names_its_parts() -> None:
    modules = [p.name for p in (ROOT / "controller").glob("*.py")]
    assert len(modules) <= 8, modules
    for package in ("scenario", "run", "remote", "deploy", "checks", "analysis", "store"):
        assert (ROOT / "controller" / package / "__init__.py").is_file()


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for directory in ("agent", "controller", "ringlab")
        for path in sources(directory)
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_commands_only_parse_and_print() -> None:
    # Run logic other commands need lives under run/, not in a command module.
    for path in sources("controller/commands"):
        for name in imported(path):
            assert not name.startswith("ringlab.controller.commands.") or name.endswith(".help"), (
                f"{path.name} imports {name}"
            )


def test_the_readme_is_a_guide_and_its_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 20_000, "reference material belongs in docs/"
    for page in re.findall(r"\]\((docs/[\w.-]+\.md)\)", readme):
        assert (ROOT / page).is_file(), page
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([\w./-]+\.md)\)", page.read_text()):
            assert (page.parent / target).resolve().is_file(), f"{page.name} -> {target}"
