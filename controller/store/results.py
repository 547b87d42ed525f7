"""The result of a run: what `--json` prints, what the store keeps, what reports read.

The document carries `schema_version`; loading another version fails with a
message that says which versions this ringlab reads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ringlab.severity import Severity

RESULT_SCHEMA_VERSION = 1

RunStatus = Literal["running", "completed", "failed", "aborted"]


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class _Measurements(_Model):
    """A model whose documents may hold null for what was not measured (read as the default)."""

    @model_validator(mode="before")
    @classmethod
    def _null_is_not_measured(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class Latency(_Measurements):
    samples: int = 0
    min: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    mean: float = 0.0


class InterfaceDelta(_Measurements):
    """An interface's kernel counters over the phase (after - before)."""

    host: str = ""
    interface: str = ""
    rx_packets: int = 0
    tx_packets: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0
    rx_errors: int = 0
    tx_errors: int = 0


class XdpQueueBusy(_Model):
    """An AF_XDP bind the kernel refused (EBUSY): another socket owns the interface queue."""

    host: str = ""
    interface: str = ""
    queue: int = 0
    role: str = ""  # which socket of ours could not bind, like "xdp sender (flow 2, worker 0)"
    owners: str = ""  # who holds the queue, as the agent's host could tell
    holders: list[str] = Field(default_factory=list)  # the run's flows with a socket there
    # Who was refused: "" for ringlab's own AF_XDP socket, else the external tool
    # (dpdk-testpmd, zsend), and the refusal in its own words.
    tool: str = ""
    message: str = ""


class FlowResult(_Measurements):
    name: str
    from_host: str = Field(alias="from")
    to_host: str = Field(alias="to")
    frame_size: int = 0
    engine: str = "ring"
    target_pps: float = 0.0
    tx_packets: int = 0
    tx_bytes: int = 0
    # Distinct frames of this flow received (duplicates excluded): rx_packets + lost == tx_packets.
    rx_packets: int = 0
    rx_bytes: int = 0
    lost: int = 0
    reordered: int = 0
    duplicates: int = 0
    tx_pps: float = 0.0
    rx_pps: float = 0.0
    tx_bps: float = 0.0
    rx_bps: float = 0.0
    kernel_packets: int = 0
    kernel_drops: int = 0
    kernel_freezes: int = 0
    foreign_frames: int = 0
    suspect_frames: int = 0
    send_errors: int = 0
    sender_user_cpu_s: float = 0.0
    sender_system_cpu_s: float = 0.0
    latency_us: Latency = Field(default_factory=Latency)
    sender_interface: InterfaceDelta = Field(default_factory=InterfaceDelta)
    receiver_interface: InterfaceDelta = Field(default_factory=InterfaceDelta)
    tx_start_wall_ns: int = 0
    errors: list[str] = Field(default_factory=list)
    # The receiving side's engine when the scenario overrode it (rx_engine), else "".
    rx_engine: str = ""
    # Engine facts and counters each side reported (xdp: xdp_mode, xdp_attach, xdp_notes;
    # XDP_STATISTICS as xdp_rx_dropped, ...; docs/afxdp.md); empty for the other engines.
    sender_info: dict[str, str] = Field(default_factory=dict)
    receiver_info: dict[str, str] = Field(default_factory=dict)
    sender_extra: dict[str, int] = Field(default_factory=dict)
    receiver_extra: dict[str, int] = Field(default_factory=dict)
    # Binds refused because another AF_XDP socket owned the queue (the collision).
    xdp_queue_busy: list[XdpQueueBusy] = Field(default_factory=list)
    # Fields of this run that were never collected (an agent died or froze before its
    # results came back), each with the reason: unknown, not 0.
    uncollected: dict[str, str] = Field(default_factory=dict)
    # External engines (docs/external-engines.md): how tx and rx were counted ("sequence":
    # ringlab's header, exact; "testpmd"/"pfring": the tool's own counters; "interface":
    # the receiving interface's counter), what that left unmeasured (with the reason), and
    # each side's tool run (command, exit, output: the tail of what it printed).
    counted_by: dict[str, str] = Field(default_factory=dict)
    not_counted: dict[str, str] = Field(default_factory=dict)
    sender_tool: dict[str, str] = Field(default_factory=dict)
    receiver_tool: dict[str, str] = Field(default_factory=dict)

    @property
    def loss_ratio(self) -> float:
        return self.lost / self.tx_packets if self.tx_packets else 0.0

    @property
    def not_measured(self) -> dict[str, str]:
        """Fields never measured (by this flow's tool) or never collected (from a dead or
        frozen agent), each with the reason: unknown, not 0."""
        return {**NOT_MEASURED.get(self.engine, {}), **self.not_counted, **self.uncollected}

    def measured(self, field: str) -> bool:
        return field not in self.not_measured


# What the peer tools that `ringlab runs import` reads never collect (by engine, as the
# importers set it): these fields stay 0 in the model and must read "not measured", which
# is null with the reason in JSON (``RunResult.to_json_dict``, ``not_measured``).
_RECEIVER = (
    "rx_packets",
    "rx_bytes",
    "lost",
    "reordered",
    "duplicates",
    "rx_pps",
    "rx_bps",
    "kernel_packets",
    "kernel_drops",
    "kernel_freezes",
    "foreign_frames",
    "suspect_frames",
    "latency_us",
)
_SENDER_DETAIL = ("send_errors", "sender_user_cpu_s", "sender_system_cpu_s")
_INTERFACES = ("sender_interface", "receiver_interface")
# What a flow's sending and receiving agents report: unknown when that agent never did.
SENDER_FIELDS = ("tx_packets", "tx_bytes", "tx_pps", "tx_bps", *_SENDER_DETAIL, "sender_interface")
RECEIVER_FIELDS = (*_RECEIVER, "receiver_interface")
_NO_RING = "counted on ringlab's own receive ring, which iperf3 does not use"
_NO_INTERFACES = "an import has no interface counters"
_IPERF3 = {
    "duplicates": "iperf3 does not count duplicates apart from reordered datagrams",
    **{f: _NO_RING for f in ("kernel_packets", "kernel_drops", "kernel_freezes")},
    **{f: _NO_RING for f in ("foreign_frames", "suspect_frames")},
    "latency_us": "iperf3 measures jitter, not one-way latency",
    "send_errors": "iperf3's summary has no send errors",
    **{f: "the import keeps no CPU times" for f in _SENDER_DETAIL[1:]},
    **{f: _NO_INTERFACES for f in _INTERFACES},
}
_PACKETS = ("tx_packets", "rx_packets", "lost", "reordered", "duplicates", "tx_pps", "rx_pps")
NOT_MEASURED: dict[str, dict[str, str]] = {
    "trafgen": {
        **{f: "trafgen only sends: nothing counted what arrived" for f in _RECEIVER},
        "send_errors": "trafgen's summary has no send errors",
        **{f: "trafgen's summary has no user/system CPU times" for f in _SENDER_DETAIL[1:]},
        **{f: _NO_INTERFACES for f in _INTERFACES},
    },
    "iperf3": _IPERF3,
    "iperf3-tcp": {
        **_IPERF3,
        **{f: "iperf3 over TCP counts bytes, not packets" for f in _PACKETS},
    },
}


class SeriesPoint(_Model):
    """Per-flow rates over one stats interval, `t_s` seconds after the phase start."""

    t_s: float
    tx_pps: dict[str, float] = Field(default_factory=dict)
    rx_pps: dict[str, float] = Field(default_factory=dict)


class PhaseResult(_Model):
    name: str
    group: str
    status: RunStatus = "completed"
    duration_s: float = 0.0
    # Spread of the senders' actual start times across agents (controller clock).
    start_skew_us: float = 0.0
    flows: list[FlowResult] = Field(default_factory=list)
    series: list[SeriesPoint] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class Diagnosis(_Model):
    code: str
    severity: Severity
    message: str
    phase: str = ""
    flow: str = ""


class ExpectFailure(_Model):
    flow: str
    phase: str
    criterion: str
    expected: str
    measured: str


class HostInfo(_Model):
    agent_version: str = ""
    api_version: int = 0
    hostname: str = ""
    kernel: str = ""
    address: str = ""
    clock_offset_ns: int = 0
    clock_rtt_ns: int = 0


class RunResult(_Model):
    schema_version: int = RESULT_SCHEMA_VERSION
    run_id: str
    scenario: str
    mode: str
    status: RunStatus = "running"
    error: str = ""
    started_at: str = ""
    finished_at: str = ""
    tags: list[str] = Field(default_factory=list)
    hosts: dict[str, HostInfo] = Field(default_factory=dict)
    phases: list[PhaseResult] = Field(default_factory=list)
    diagnosis: list[Diagnosis] = Field(default_factory=list)
    expect_failures: list[ExpectFailure] = Field(default_factory=list)
    probes: dict[str, Any] = Field(default_factory=dict)
    # Where the run came from: "" when ringlab measured and stored it itself, else the
    # import it came in by (IMPORT_SOURCES): trends and reports mark those runs.
    source: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        """The result document; what a flow's tool never collected is null, with the reason
        in the flow's ``not_measured`` (peer tools' imports, and flows whose agent died or
        froze before its results were collected)."""
        document = self.model_dump(mode="json", by_alias=True)
        for phase, phase_doc in zip(self.phases, document["phases"], strict=True):
            for flow, flow_doc in zip(phase.flows, phase_doc["flows"], strict=True):
                reasons = flow.not_measured
                for field in reasons:
                    if field in _INTERFACES:
                        counters = flow_doc[field]
                        for name in counters:
                            if name not in ("host", "interface"):
                                counters[name] = None
                    else:
                        flow_doc[field] = None
                if reasons:
                    flow_doc["not_measured"] = reasons
                for key in (*_ENGINE_FIELDS, "uncollected"):  # only where they say something
                    if not flow_doc.get(key):
                        flow_doc.pop(key, None)
        if not document.get("source"):
            document.pop("source", None)
        return document


# FlowResult fields that only some engines fill: left out of the document when empty.
_ENGINE_FIELDS = (
    "rx_engine",
    "sender_info",
    "receiver_info",
    "sender_extra",
    "receiver_extra",
    "xdp_queue_busy",
    "counted_by",
    "not_counted",
    "sender_tool",
    "receiver_tool",
)


class ResultVersionError(ValueError):
    pass


def load_result(data: dict[str, Any]) -> RunResult:
    version = data.get("schema_version")
    if version != RESULT_SCHEMA_VERSION:
        raise ResultVersionError(
            f"result schema_version {version!r} is not one this ringlab reads "
            f"({RESULT_SCHEMA_VERSION}); upgrade ringlab or export the run with a matching version"
        )
    return RunResult.model_validate(data)


# Engines that measure only one side, for readers that must not show a 0 as a measurement.
SEND_ONLY_ENGINES = frozenset({"trafgen"})
BYTES_ONLY_ENGINES = frozenset({"iperf3-tcp"})


def measures_rx(flow: FlowResult) -> bool:
    """Whether the flow's source counted received frames (an imported trafgen run did not)."""
    return flow.engine not in SEND_ONLY_ENGINES


def measures_packets(flow: FlowResult) -> bool:
    """Whether the flow's source counted packets (iperf3 over TCP counts bytes only)."""
    return flow.engine not in BYTES_ONLY_ENGINES


# RunResult.source of imports: a peer tool's output, or a ringlab export read back.
IMPORT_SOURCES = ("iperf3", "trafgen", "ringlab-export")
# What a run measured with, by source: a ringlab export was measured by ringlab.
_PEER_ENGINES = {"iperf3": "iperf3", "iperf3-tcp": "iperf3", "trafgen": "trafgen"}


def run_source(document: dict[str, Any]) -> str:
    """A stored result document's source: "ringlab" for a run ringlab measured and
    stored, else the import it came by. Documents stored before ``source`` existed are
    told by their flows' engines (iperf3, trafgen) or by an import's run id."""
    source = document.get("source")
    if isinstance(source, str) and source:
        return source
    for phase in document.get("phases") or ():
        for flow in phase.get("flows") or ():
            tool = _PEER_ENGINES.get(str(flow.get("engine", "")))
            if tool is not None:
                return tool
    return "ringlab-export" if "-import-" in str(document.get("run_id", "")) else "ringlab"


def source_tool(source: str) -> str:
    """The tool that measured a run of ``source`` (an export was measured by ringlab)."""
    return "ringlab" if source in ("ringlab", "ringlab-export") else source
