"""External engines' tools: the agent's probe, the report document, the view, the preflight."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ringlab.agent.probes.dpdk import parse_testpmd_version
from ringlab.agent.probes.pfring import parse_zc_tool_version
from ringlab.agent.probes.tools import probe_tools
from ringlab.controller.checks.preflight import PreflightFlow
from ringlab.controller.checks.tools import tool_findings, tool_for
from ringlab.controller.views.probe import render_probe, tools_summary
from ringlab.probe_model import EXTERNAL_TOOLS, ProbeReport, ToolProbe

PFRING_FIXTURES = Path(__file__).parents[1] / "fixtures" / "pfring"

# `dpdk-testpmd -v -h` of Debian 12's dpdk 22.11.11-0+deb12u1, captured on this machine.
TESTPMD_BANNER = """EAL: Detected CPU lcores: 2
EAL: Detected NUMA nodes: 1
EAL: RTE Version: 'DPDK 22.11.11'

Usage: dpdk-testpmd [options]
"""


# ---- version parsers -----------------------------------------------------------------


def test_testpmd_version_from_the_eal_banner() -> None:
    assert parse_testpmd_version(TESTPMD_BANNER) == "22.11.11"
    assert parse_testpmd_version("EAL: Detected CPU lcores: 2\n") is None


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("zsend-help-format.txt", "8.9.0.241112"),
        ("zcount-help-issue-973.txt", "8.9.0.241112"),
        ("zcount-help-ndpi-issue-140.txt", "6.0.3.150330"),
    ],
)
def test_zc_tools_version_from_their_help(name: str, version: str) -> None:
    assert parse_zc_tool_version((PFRING_FIXTURES / name).read_text()) == version


def test_zc_tool_version_absent() -> None:
    assert parse_zc_tool_version("zsend - (C) 2014-24 ntop\nUsage: zsend -i <device>\n") is None


# ---- the agent's probe, with fake PATH lookups and runs ------------------------------


class FakeTools:
    def __init__(self, installed: dict[str, str]) -> None:
        self.installed = installed  # name -> what it prints
        self.ran: list[list[str]] = []

    def which(self, name: str) -> str | None:
        return f"/opt/bin/{name}" if name in self.installed else None

    def run(self, command: list[str], timeout_s: float) -> str:
        assert timeout_s > 0
        self.ran.append(command)
        name = Path(command[0]).name
        output = self.installed[name]
        if output == "hang":
            raise subprocess.TimeoutExpired(command, timeout_s)
        return output


def by_name(probes: list[ToolProbe]) -> dict[str, ToolProbe]:
    return {p.name: p for p in probes}


def test_probe_lists_every_tool_found_or_not_with_versions() -> None:
    fake = FakeTools(
        {
            "dpdk-testpmd": TESTPMD_BANNER,
            "pfsend": "",
            "zcount": (PFRING_FIXTURES / "zcount-help-issue-973.txt").read_text(),
        }
    )
    probes = by_name(probe_tools(fake.which, fake.run))
    assert list(probes) == list(EXTERNAL_TOOLS)
    assert probes["dpdk-testpmd"] == ToolProbe(
        "dpdk-testpmd", "/opt/bin/dpdk-testpmd", "22.11.11", "from `dpdk-testpmd -v -h`"
    )
    assert probes["zcount"].version == "8.9.0.241112"
    # pfsend is there but has no version option: unknown, and said why; never run.
    assert probes["pfsend"].installed and probes["pfsend"].version is None
    assert "no version option" in probes["pfsend"].version_note
    assert not probes["pfcount"].installed and not probes["zsend"].installed
    # testpmd is asked with -h after -v: EAL exits after its options, creating nothing.
    assert fake.ran == [["/opt/bin/dpdk-testpmd", "-v", "-h"], ["/opt/bin/zcount", "-h"]]


def test_a_tool_that_hangs_or_prints_no_version_has_none_and_a_reason() -> None:
    fake = FakeTools({"dpdk-testpmd": "hang", "zsend": "Segmentation fault\n"})
    probes = by_name(probe_tools(fake.which, fake.run, timeout_s=2.0))
    assert probes["dpdk-testpmd"].installed and probes["dpdk-testpmd"].version is None
    assert "did not exit within 2 s" in probes["dpdk-testpmd"].version_note
    assert probes["zsend"].version is None
    assert "printed no version (first line: Segmentation fault)" in probes["zsend"].version_note


def test_a_tool_that_cannot_start_is_installed_without_a_version() -> None:
    def run(command: list[str], timeout_s: float) -> str:
        raise PermissionError(13, "Permission denied")

    probes = by_name(probe_tools(lambda n: f"/x/{n}", run))
    assert probes["dpdk-testpmd"].installed
    assert probes["dpdk-testpmd"].version_note.endswith("could not run: Permission denied")


# ---- the report document -------------------------------------------------------------


def document(tools: list[dict[str, Any]] | None, pf_ring: bool = False) -> dict[str, Any]:
    """A probe report as an agent sends it (ProbeResponse.report_json, decoded)."""
    doc: dict[str, Any] = {
        "schema_version": 1,
        "hostname": "h",
        "kernel": "6.1.0",
        "interfaces": [{"name": "eth1", "oper_state": "up", "mtu": 1500}],
    }
    if tools is not None:
        doc["tools"] = tools
    if pf_ring:
        doc["pf_ring"] = {"version": "8.9.0", "total_rings": 0}
    return doc


def installed(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": n, "path": f"/usr/bin/{n}" if n in names else None, "version": None}
        for n in EXTERNAL_TOOLS
    ]


def test_tools_round_trip_and_an_older_agent_reports_none() -> None:
    report = ProbeReport.from_dict(document(installed("dpdk-testpmd")))
    assert report.tools is not None
    tool = report.tool("dpdk-testpmd")
    assert tool is not None and tool.installed
    assert ProbeReport.from_dict(report.to_dict()) == report
    older = ProbeReport.from_dict(document(None))
    assert older.tools is None and older.tool("pfsend") is None


# ---- the view ------------------------------------------------------------------------


def test_view_shows_versions_and_missing_tools() -> None:
    report = ProbeReport(
        "h",
        "6.1.0",
        tools=[
            ToolProbe("dpdk-testpmd", "/usr/bin/dpdk-testpmd", "22.11.11"),
            ToolProbe("pfsend", "/usr/bin/pfsend", None, "pfsend has no version option"),
            ToolProbe("zsend"),
        ],
    )
    assert tools_summary(report) == (
        "dpdk-testpmd 22.11.11; pfsend (version unknown: pfsend has no version option);"
        " missing zsend"
    )
    console = Console(record=True, width=200)
    render_probe({"lab-a": report}, console)
    assert "tools: dpdk-testpmd 22.11.11" in console.export_text()
    older = ProbeReport("h", "6.1.0")
    assert "not reported" in tools_summary(older)


# ---- preflight -----------------------------------------------------------------------


def flow(
    engine: str, rx_engine: str = "ring", src: str = "eth1", dst: str = "eth1"
) -> PreflightFlow:
    return PreflightFlow("f1", "a", src, "b", dst, 64, engine=engine, rx_engine=rx_engine)


def test_engine_to_tool() -> None:
    assert tool_for("testpmd", "send") == "dpdk-testpmd"
    assert tool_for("testpmd", "receive") == "dpdk-testpmd"
    assert tool_for("pfring", "send") == "pfsend"
    assert tool_for("pfring", "receive") == "pfcount"
    assert tool_for("pfring", "send", zc=True) == "zsend"
    assert tool_for("pfring", "receive", zc=True) == "zcount"
    assert tool_for("ring", "send") is None
    assert tool_for("xdp", "receive", zc=True) is None


def test_a_pfring_cluster_id_means_the_zc_tools() -> None:
    reports = {
        h: ProbeReport.from_dict(document(installed("pfsend", "pfcount"), True)) for h in "ab"
    }
    zc_flow = PreflightFlow(
        "f1", "a", "eth1", "b", "eth1", 64, engine="pfring", rx_engine="pfring", pfring_cluster_id=9
    )
    messages = [f.message for f in tool_findings([zc_flow], reports)]
    assert len(messages) == 2
    assert "sends with zsend" in messages[0] and "receives with zcount" in messages[1]
    assert tool_findings([flow("pfring", "pfring")], reports) == []


def test_missing_testpmd_is_refused_naming_the_debian_package() -> None:
    reports = {
        "a": ProbeReport.from_dict(document(installed())),
        "b": ProbeReport.from_dict(document(installed("dpdk-testpmd"))),
    }
    (finding,) = tool_findings([flow("testpmd", "testpmd")], reports)
    assert (finding.code, finding.severity) == ("tool_missing", "error")
    assert "engine testpmd sends with dpdk-testpmd on host 'a'" in finding.message
    assert "`apt install dpdk-dev`" in finding.message


def test_missing_pfring_tools_are_refused_naming_ntops_package() -> None:
    reports = {
        "a": ProbeReport.from_dict(document(installed("dpdk-testpmd"), pf_ring=True)),
        "b": ProbeReport.from_dict(document(installed("pfsend"), pf_ring=True)),
    }
    findings = tool_findings([flow("pfring", "pfring", dst="zc:eth1")], reports)
    assert [f.code for f in findings] == ["tool_missing", "tool_missing"]
    send, receive = (f.message for f in findings)
    assert "sends with pfsend on host 'a'" in send
    assert "receives with zcount on host 'b'" in receive
    assert "packages.ntop.org" in send and "`apt install pfring pfring-dkms`" in send


def test_installed_tools_pass_and_ringlab_engines_need_none() -> None:
    everything = installed(*EXTERNAL_TOOLS)
    reports = {h: ProbeReport.from_dict(document(everything, pf_ring=True)) for h in "ab"}
    assert tool_findings([flow("testpmd", "testpmd"), flow("pfring", "pfring")], reports) == []
    # ringlab's own engines are not checked, even on hosts that have no tools at all.
    bare = {h: ProbeReport.from_dict(document(installed())) for h in "ab"}
    assert tool_findings([flow("ring"), flow("xdp", "xdp"), flow("sendto")], bare) == []


def test_mixed_flow_checks_only_the_external_side() -> None:
    reports = {h: ProbeReport.from_dict(document(installed())) for h in "ab"}
    (finding,) = tool_findings([flow("ring", rx_engine="testpmd")], reports)
    assert "receives with dpdk-testpmd on host 'b'" in finding.message


def test_pfring_tools_without_the_kernel_module_are_refused() -> None:
    everything = installed(*EXTERNAL_TOOLS)
    reports = {h: ProbeReport.from_dict(document(everything, pf_ring=h == "b")) for h in "ab"}
    (finding,) = tool_findings([flow("pfring", "pfring")], reports)
    assert (finding.code, finding.severity) == ("pfring_not_loaded", "error")
    assert "host 'a'" in finding.message and "modprobe pf_ring" in finding.message


def test_an_agent_that_does_not_report_tools_is_a_warning_not_a_refusal() -> None:
    reports = {h: ProbeReport.from_dict(document(None)) for h in "ab"}
    findings = tool_findings([flow("testpmd", "testpmd")], reports)
    assert [(f.code, f.severity) for f in findings] == [("tools_not_probed", "warning")] * 2


def test_a_tool_needed_by_several_flows_is_reported_once() -> None:
    reports = {h: ProbeReport.from_dict(document(installed())) for h in "ab"}
    two = [flow("testpmd"), PreflightFlow("f2", "a", "eth1", "b", "eth1", 64, engine="testpmd")]
    messages = [f.message for f in tool_findings(two, reports)]
    assert len(messages) == 2 and "'f1'" in messages[0] and "'f2'" in messages[1]
    assert len(tool_findings([flow("testpmd"), flow("testpmd")], reports)) == 1
