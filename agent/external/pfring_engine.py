"""engine: pfring through the process engine: pfring.py's command lines and parsers as a
ToolSpec and an output parser (the protocol engine.py drives).

PF_RING's tools run by themselves (not interactive): a sender starts at the scheduled
instant, a receiver at Prepare; both stop on SIGINT, after which they print their last
report ("Leaving..."). They report once a second; the first report says the tool is
running. An open error is fatal, and EBUSY on a ZC device is the busy finding.
PF_RING cannot load on this project's test kernel: this adapter is exercised with a
stand-in `pfsend` printing the tool's own format (tests/unit/test_external_pfring.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ringlab.agent.external import pfring
from ringlab.agent.external.process import ToolSpec
from ringlab.agent.external.testpmd import parse_cores
from ringlab.agent.flows import FlowPlan

PACKAGE = "ntop's pfring package (packages.ntop.org), with its kernel module"
# Each of the tools counts 24 bytes (preamble, FCS, gap) on top of a packet (pfring.py).
_LINE_OVERHEAD = 24


@dataclass
class PfringCounters:
    """The OutputParser of one PF_RING tool (its reports, open errors)."""

    tool: pfring.Tool
    ready: bool = False
    started: bool = False
    fatal: str = ""
    busy: str = ""
    readings: int = 0
    last: pfring.ToolCounters | None = None
    final: pfring.ToolCounters | None = None
    _reader: pfring.StatsReader = field(init=False)

    def __post_init__(self) -> None:
        self._reader = pfring.StatsReader(self.tool)

    def feed(self, raw: str) -> None:
        error = pfring.find_open_error(raw)
        if error is not None:
            if error.busy:
                self.busy = self.busy or error.message
            else:
                self.fatal = self.fatal or error.message
            return
        report = self._reader.feed(raw)
        if report is None:
            return
        self.readings += 1
        self.ready = self.started = True
        self.last = report
        if report.final:
            self.final = report

    @property
    def live_packets(self) -> int:
        return (self.last.packets if self.last else None) or 0

    @property
    def live_bytes(self) -> int:
        return self._bytes(self.last, self.live_packets) or 0

    def final_packets(self) -> int | None:
        """The report after "Leaving..." (or pfsend's "Sent N packets"); None without."""
        return self.final.packets if self.final is not None else None

    def final_bytes(self, packets: int, frame_size: int) -> int:
        counted = self._bytes(self.final or self.last, packets)
        return counted if counted is not None else packets * (frame_size - pfring.FCS_BYTES)

    @staticmethod
    def _bytes(report: pfring.ToolCounters | None, packets: int) -> int | None:
        if report is None or report.line_bytes is None:
            return None
        return max(0, report.line_bytes - _LINE_OVERHEAD * packets)

    def extra(self) -> dict[str, int]:
        report = self.final or self.last
        if report is None or report.drops is None:
            return {}
        return {"pfring_drops": report.drops}


def tool_for(plan: FlowPlan) -> tuple[ToolSpec, PfringCounters]:
    """ValueError (with the reason) where the flow's options make no command line."""
    zc = plan.pfring_cluster_id > 0
    device = f"{pfring.ZC_PREFIX}{plan.interface}" if zc else plan.interface
    cluster = plan.pfring_cluster_id if zc else None
    cores = parse_cores(plan.cores) if plan.cores else []
    core = cores[0] if cores else None
    if plan.role == "send":
        argv = pfring.send_command(
            device,
            plan.frame_size,
            rate_pps=plan.rate_pps or None,
            core=core,
            cluster_id=cluster,
        )
    else:
        argv = pfring.receive_command(device, core=core, cluster_id=cluster)
    tool = pfring.tool_for("send" if plan.role == "send" else "receive", device)
    return ToolSpec(tool=tool, package=PACKAGE, argv=argv), PfringCounters(tool)
