"""What one flow of a session is on this agent (the plan a Prepare carries) and what
became of it; the states of a session; the one error type of the session layer."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ringlab.agent.rings.api import (
    EngineName,
    RxResult,
    TxResult,
)


class State(enum.Enum):
    PREPARED = "prepared"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def done(self) -> bool:
        return self in (State.FINISHED, State.STOPPED, State.FAILED, State.EXPIRED)


class SessionError(Exception):
    """A request this agent cannot honour; `kind` maps to a gRPC status code."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "invalid", "precondition", "not_found", "unavailable"
        self.message = message


@dataclass(frozen=True)
class FlowPlan:
    flow_id: int
    name: str
    role: str  # "send" | "receive"
    interface: str
    src_mac: bytes
    dst_mac: bytes
    frame_size: int
    rate_pps: float
    engine: EngineName
    workers: int
    stamping: bool
    qdisc_bypass: bool
    paged_skb: bool
    ring_frames: int
    batch: int
    rx_block_size: int = 0  # 0: the receiver's default
    rx_blocks: int = 0
    # Skip the refusal of a management interface (the scenario's allow_management_interface).
    allow_management_interface: bool = False


@dataclass
class FlowOutcome:
    """What one flow measured on this agent (senders fill tx, receivers rx)."""

    plan: FlowPlan
    tx: list[TxResult] = field(default_factory=list)
    rx: RxResult | None = None
    interface_before: dict[str, int] = field(default_factory=dict)
    interface_after: dict[str, int] = field(default_factory=dict)
    error: str = ""
