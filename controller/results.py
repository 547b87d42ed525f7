"""The result of a run: what `--json` prints, what the store keeps, what reports read.

The document carries `schema_version`; loading another version fails with a
message that says which versions this ringlab reads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RESULT_SCHEMA_VERSION = 1

RunStatus = Literal["running", "completed", "failed", "aborted"]
Severity = Literal["info", "warning", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class Latency(_Model):
    samples: int = 0
    min: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    mean: float = 0.0


class InterfaceDelta(_Model):
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


class FlowResult(_Model):
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

    @property
    def loss_ratio(self) -> float:
        return self.lost / self.tx_packets if self.tx_packets else 0.0


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

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


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
