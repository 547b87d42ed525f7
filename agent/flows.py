"""What one flow of a session is on this agent (the plan a Prepare carries) and what
became of it; the states of a session; the one error type of the session layer."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ringlab.agent.rings.api import RxResult, TxResult
from ringlab.engines import EXTERNAL_ENGINES, Engine, RxEngine, XdpAttach, XdpMode


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
    engine: Engine
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
    # The receiving side's engine (ring or xdp); the sending side uses `engine`.
    rx_engine: RxEngine = "ring"
    # Engine xdp (docs/afxdp.md): worker w binds queue xdp_queue + w.
    xdp_queue: int = 0
    xdp_mode: XdpMode = "auto"
    xdp_attach: XdpAttach = "native"
    # One socket for this host's sender and receiver on the interface queue.
    xdp_share: bool = False
    xdp_frames: int = 0  # receive UMEM chunks; 0: the engine's default
    # External engines: how the tool opens the interface (testpmd: af_packet | af_xdp),
    # its CPUs ("" = the agent picks), PF_RING ZC's cluster id (0: plain PF_RING).
    tool_device: str = ""
    cores: str = ""
    pfring_cluster_id: int = 0
    # tool_device "pci": the PCI port testpmd drives (interface is then ""): bound to a
    # DPDK driver, the kernel neither sees nor counts its traffic.
    pci_address: str = ""
    # The other side's engine when it is an external tool (its frames carry no ringlab
    # header); "" when the peer is one of ringlab's own engines.
    peer_engine: str = ""

    @property
    def side_engine(self) -> str:
        """The engine this side of the flow runs."""
        return self.engine if self.role == "send" else self.rx_engine

    @property
    def external(self) -> bool:
        """This side of the flow is a tool the agent runs as a process."""
        return self.side_engine in EXTERNAL_ENGINES

    @property
    def xdp(self) -> bool:
        """This side of the flow opens AF_XDP sockets."""
        side = self.engine if self.role == "send" else self.rx_engine
        return side == "xdp"

    def xdp_queues(self) -> range:
        return range(self.xdp_queue, self.xdp_queue + self.workers)


@dataclass(frozen=True)
class QueueBusyInfo:
    """An AF_XDP bind refused with EBUSY: who could not bind, where, and who holds it."""

    interface: str
    queue: int
    role: str  # "sender" | "receiver"
    owners: str
    # This session's flows with sockets on that interface queue, like "a->b receive".
    holders: tuple[str, ...] = ()
    # Who was refused: "" for ringlab's own socket, else the external tool, and its words.
    tool: str = ""
    message: str = ""


@dataclass(frozen=True)
class ToolRun:
    """An external tool's run for one flow: what was run, how it ended, what it said."""

    command: str
    output: str
    exit: str


@dataclass
class FlowOutcome:
    """What one flow measured on this agent (senders fill tx, receivers rx)."""

    plan: FlowPlan
    tx: list[TxResult] = field(default_factory=list)
    rx: RxResult | None = None
    interface_before: dict[str, int] = field(default_factory=dict)
    interface_after: dict[str, int] = field(default_factory=dict)
    error: str = ""
    queue_busy: QueueBusyInfo | None = None
    tool: ToolRun | None = None
