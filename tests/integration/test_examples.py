"""Every example in scenarios/ loads and runs on the built-in lab, with test-sized durations.

The flows, modes and rates stay as written; durations shrink so the file runs
in about a minute. Examples at `rate: max` may miss their own `expect` on two
shared cores (exit 1) but must complete with every frame accounted for. A host
`interface:` is dropped: the lab names its links to-<peer> (rate-limited.yaml
asks for veth-b, which only exists on hosts set up that way).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers import CliLab as Lab
from helpers import cli_lab, needs_root

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "scenarios").glob("*.yaml"))
pytestmark = needs_root


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with cli_lab(tmp_path_factory.mktemp("modes")) as lab:
        yield lab


def shortened(example: Path, tmp_path: Path) -> Path:
    """The example with test-sized durations (same flows, modes and rates)."""
    document = yaml.safe_load(example.read_text())
    if "duration" in document:
        document["duration"] = "500ms"
    if "time_slice" in document:
        document["time_slice"].update({"slice": "250ms", "gap": "50ms"})
    if "lease" in document:
        document["lease"] = "3s"
    for host in document.get("hosts", {}).values():
        # The lab names its links to-<peer>; the links map picks them when none is forced.
        if isinstance(host, dict):
            host.pop("interface", None)
    path = tmp_path / example.name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_every_example_scenario_runs(example: Path, shared_lab: Lab, tmp_path: Path) -> None:
    result = shared_lab.run(shortened(example, tmp_path), ok_codes=(0, 1))
    assert result["status"] == "completed", result["error"]
    assert result["phases"]
    for phase in result["phases"]:
        for flow in phase["flows"]:
            assert flow["tx_packets"] > 0, (phase["name"], flow["name"])
            assert flow["rx_packets"] + flow["lost"] == flow["tx_packets"]
    print(
        example.stem,
        [
            (p["name"], f["name"], f["tx_packets"], f["lost"])
            for p in result["phases"]
            for f in p["flows"]
        ],
    )
