"""`ringlab check` on real agents refuses a pfring flow whose tools are missing on its
hosts, naming them and the package, and lets a testpmd flow through where testpmd is."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import needs_root, ringlab
from test_tool_probes_live import needs_testpmd, testpmd_only_lab

from ringlab.controller.remote.lab import Lab

__all__ = ["testpmd_only_lab"]  # the fixture, used by name


def check_findings(lab: Lab, directory: Path, flow_options: str) -> list[dict[str, str]]:
    """`ringlab check --lab --json` of a one-flow scenario a -> b; its findings (exit 2)."""
    scenario = directory / "external.yaml"
    scenario.write_text(
        "version: 1\nname: external-tools\nmode: unidirectional\nduration: 1s\n"
        "hosts: {a: {}, b: {}}\n"
        f"flows:\n  - {{from: a, to: b, frame_size: 64, rate: max, {flow_options}}}\n"
    )
    env = {"RINGLAB_LAB_DIR": str(directory / "labs")}
    proc = ringlab("check", str(scenario), "--lab", lab.name, "--json", env=env)
    assert proc.stdout, proc.stderr
    findings: list[dict[str, str]] = json.loads(proc.stdout)["preflight"]["findings"]
    errors = [f for f in findings if f["severity"] == "error"]
    assert proc.returncode == (2 if errors else 0), findings
    return findings


def missing(findings: list[dict[str, str]]) -> list[str]:
    return [f["message"] for f in findings if f["code"] == "tool_missing"]


@needs_root
@needs_testpmd
def test_check_refuses_a_pfring_flow_naming_the_missing_tools_and_package(
    testpmd_only_lab: Lab, tmp_path: Path
) -> None:
    refused = missing(
        check_findings(testpmd_only_lab, tmp_path, "engine: pfring, rx_engine: pfring")
    )
    assert len(refused) == 2, refused
    assert "sends with pfsend on host 'a'" in refused[0]
    assert "receives with pfcount on host 'b'" in refused[1]
    assert all("packages.ntop.org" in m for m in refused)


@needs_root
@needs_testpmd
def test_check_names_the_zc_tools_for_a_flow_with_a_cluster_id(
    testpmd_only_lab: Lab, tmp_path: Path
) -> None:
    options = "engine: pfring, rx_engine: pfring, pfring_cluster_id: 9"
    refused = " ".join(missing(check_findings(testpmd_only_lab, tmp_path, options)))
    assert "sends with zsend on host 'a'" in refused
    assert "receives with zcount on host 'b'" in refused


@needs_root
@needs_testpmd
def test_check_lets_a_testpmd_flow_through_where_testpmd_is(
    testpmd_only_lab: Lab, tmp_path: Path
) -> None:
    findings = check_findings(testpmd_only_lab, tmp_path, "engine: testpmd, rx_engine: testpmd")
    codes = [f["code"] for f in findings]
    assert "tool_missing" not in codes and "tools_not_probed" not in codes
