"""The scenario schema: pydantic models, strict, each field checked where it is declared.

Values keep their parsed form: durations are integer nanoseconds, rates are
``units.Rate``, percentages are fractions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ringlab.controller.scenario.fields import (
    Batch,
    Bool,
    ClusterId,
    CoreList,
    Count,
    DurationNs,
    DurationOrZeroNs,
    EngineName,
    FlowName,
    Fraction,
    FrameSize,
    HostName,
    InterfaceName,
    Mode,
    ModeName,
    Name,
    PciAddress,
    RateValue,
    RingFrames,
    Rounds,
    RxBlocks,
    RxBlockSize,
    RxEngineName,
    SkbLayoutName,
    TestpmdVdevName,
    Version,
    Workers,
    XdpAttachName,
    XdpModeName,
    XdpQueue,
)
from ringlab.controller.scenario.rules import rule_problems
from ringlab.engines import EXTERNAL_ENGINES, default_rx_engine
from ringlab.errors import ScenarioError


class StrictModel(BaseModel):
    """Unknown keys are errors; values are frozen; a bare `key:` (null) means `{}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        # `b:` with nothing after it is YAML null; it means "no options", like `b: {}`.
        return {} if data is None else data


class Expect(StrictModel):
    """Pass criteria; None means not checked."""

    max_loss: Fraction | None = None
    min_rx_pps: Count | None = None


class Host(StrictModel):
    interface: InterfaceName | None = None  # the test NIC; None: the agent decides


class Flow(StrictModel):
    src: HostName = Field(alias="from")
    dst: HostName = Field(alias="to")
    name: FlowName | None = None
    frame_size: FrameSize
    rate: RateValue
    engine: EngineName = "ring"
    workers: Workers = 1
    stamping: Bool = True
    qdisc_bypass: Bool = True
    tx_skb: SkbLayoutName = "linear"
    batch: Batch = 0
    ring_frames: RingFrames = 0
    rx_block_size: RxBlockSize = 0
    rx_blocks: RxBlocks = 0
    from_interface: InterfaceName | None = None
    to_interface: InterfaceName | None = None
    # AF_XDP (docs/afxdp.md): the receiving side's engine (default: xdp when engine is
    # xdp, else ring), the first queue, bind mode, program attach, one socket both ways.
    rx_engine: RxEngineName | None = None
    xdp_queue: XdpQueue = 0
    xdp_mode: XdpModeName = "auto"
    xdp_attach: XdpAttachName = "native"
    xdp_share: Bool = False
    # External engines (docs/external-engines.md): testpmd's virtual device on the
    # interface, the tool's CPUs, PF_RING ZC's cluster (zsend/zcount on zc:IF).
    testpmd_vdev: TestpmdVdevName | None = None
    # testpmd_vdev: pci — the PCI port (bound to vfio-pci, igb_uio or uio_pci_generic)
    # testpmd drives on each testpmd end, instead of an interface.
    from_pci: PciAddress | None = None
    to_pci: PciAddress | None = None
    cores: CoreList | None = None
    pfring_cluster_id: ClusterId | None = None
    expect: Expect = Expect()

    @property
    def direction(self) -> tuple[str, str]:
        return (self.src, self.dst)

    @property
    def receive_engine(self) -> str:
        """The receiving side's engine: rx_engine, else xdp for xdp flows, else ring."""
        return self.rx_engine if self.rx_engine is not None else default_rx_engine(self.engine)

    @property
    def uses_xdp(self) -> bool:
        return self.engine == "xdp" or self.receive_engine == "xdp"

    @property
    def uses_testpmd(self) -> bool:
        return "testpmd" in (self.engine, self.receive_engine)

    @property
    def external(self) -> bool:
        """Either side is a tool the agent runs as a process."""
        return self.engine in EXTERNAL_ENGINES or self.receive_engine in EXTERNAL_ENGINES


class TimeSlice(StrictModel):
    slice: DurationNs
    gap: DurationOrZeroNs = 0
    rounds: Rounds = 1


class Scenario(StrictModel):
    """A whole scenario file. ``duration``, ``lease`` and ``drain`` are in nanoseconds."""

    version: Version
    name: Name
    mode: ModeName | None = None  # may be left out when `compare` lists the modes
    duration: DurationNs | None = None
    hosts: dict[HostName, Host]
    flows: list[Flow]
    time_slice: TimeSlice | None = None
    compare: list[ModeName] | None = None
    expect: Expect = Expect()
    lease: DurationNs = 3 * 10**9
    drain: DurationOrZeroNs = 200 * 10**6
    allow_zc_bidirectional: Bool = False
    allow_management_interface: Bool = False

    @property
    def modes(self) -> tuple[Mode, ...]:
        """The modes to run, in order: the compare list, or just ``mode``."""
        if self.compare:
            return tuple(self.compare)
        return (self.mode,) if self.mode is not None else ()

    @property
    def primary_mode(self) -> Mode:
        """``mode``, or the first compared mode when ``mode`` is left out."""
        return self.mode if self.mode is not None else self.modes[0]

    @model_validator(mode="after")
    def _rules(self) -> Scenario:
        problems = rule_problems(self)
        if problems:
            raise ScenarioError("scenario", problems)
        return self


def flow_names(flows: Sequence[Flow]) -> list[str]:
    """Each flow's name: its own, or ``a->b``, ``a->b#2``, ... by order within a direction."""
    taken = {flow.name for flow in flows if flow.name is not None}
    counts: dict[tuple[str, str], int] = {}
    names: list[str] = []
    for flow in flows:
        if flow.name is not None:
            names.append(flow.name)
            continue
        base = f"{flow.src}->{flow.dst}"
        while True:
            counts[flow.direction] = counts.get(flow.direction, 0) + 1
            count = counts[flow.direction]
            candidate = base if count == 1 else f"{base}#{count}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names
