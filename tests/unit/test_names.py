"""One name, one thing: no two modules define a public class or type alias of the same
name (three `Severity`, two `FlowEndpoints` and two `Expect` once meant different things)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).parents[2]
# Names both sides need (engine names, Clock) live in ringlab/, which the agent and the
# controller import; neither side may define one again.
PACKAGES = ("agent", "controller", "ringlab")

# Known, to be renamed by whoever reworks that part; a new clash fails the test.
KNOWN = {
    "Plan": "report/baselines.py's report plan vs run/plan.py's run plan",
}


def _defined(tree: ast.Module) -> list[str]:
    names = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Subscript):
            # Type aliases such as ``Severity = Literal[...]``
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return [name for name in names if not name.startswith("_")]


def _clashes() -> dict[str, list[str]]:
    where: dict[str, list[str]] = defaultdict(list)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                continue
            for name in _defined(ast.parse(path.read_text(), str(path))):
                where[name].append(str(path.relative_to(ROOT)))
    return {name: paths for name, paths in where.items() if len(paths) > 1}


def test_no_two_modules_define_the_same_public_type_name() -> None:
    assert {n: p for n, p in _clashes().items() if n not in KNOWN} == {}


def test_the_known_clashes_are_still_there() -> None:
    """When one is renamed, take it off KNOWN so it cannot come back."""
    assert set(KNOWN) <= set(_clashes())
