"""Scenario files: the schema (pydantic, strict) and ``load_scenario``.

A scenario says which hosts send which flows to whom, in which mode, for how long and
what counts as a pass. Values keep their parsed form: durations are integer
nanoseconds, rates are ``units.Rate``, percentages are fractions.

Checks that involve several fields (a flow's host must be in ``hosts``, a unidirectional
scenario has one direction, ...) live in ``rule_problems`` and run after the per-field
checks, so a file with type errors is reported in full before the rules are applied.

Every problem the user can cause surfaces as ``ScenarioError`` (one line per problem:
file, line, field, what is wrong, how to fix it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ringlab.controller.scenario import units
from ringlab.controller.scenario.fields import (
    MODES,
    Batch,
    Bool,
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
    RateValue,
    RingFrames,
    Rounds,
    RxBlocks,
    RxBlockSize,
    SkbLayoutName,
    Version,
    Workers,
    closest,
)
from ringlab.controller.scenario.messages import describe
from ringlab.controller.scenario.problems import Problem, ScenarioError
from ringlab.controller.scenario.yaml_lines import YamlDocument, YamlProblem, parse_yaml
from ringlab.ring_limits import (
    DEFAULT_RX_BLOCK_SIZE,
    DEFAULT_RX_BLOCKS,
    MAX_SESSION_RING_BYTES,
)
from ringlab.session_limits import MAX_DRAIN_NS, MAX_LEASE_MS, MIN_LEASE_MS

__all__ = [
    "Expect",
    "Flow",
    "Host",
    "Problem",
    "Scenario",
    "ScenarioError",
    "StrictModel",
    "TimeSlice",
    "flow_names",
    "load_scenario",
    "load_scenario_text",
    "rule_problems",
]


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
    expect: Expect = Expect()

    @property
    def direction(self) -> tuple[str, str]:
        return (self.src, self.dst)


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


def rule_problems(scenario: Scenario) -> list[Problem]:
    """Problems that involve more than one field; empty when the scenario is usable."""
    return [
        *_mode_problems(scenario),
        *_timing_problems(scenario),
        *_host_problems(scenario),
        *_flow_problems(scenario),
    ]


def _mode_problems(s: Scenario) -> Iterable[Problem]:
    if s.compare is not None:
        seen: set[str] = set()
        for index, mode in enumerate(s.compare):
            if mode in seen:
                yield Problem(("compare", index), f"{mode} is listed twice. List each mode once.")
            seen.add(mode)
        if len(s.compare) < 2:
            yield Problem(
                ("compare",),
                "compare needs at least two modes to compare, like"
                " [bidirectional, time-sliced]. Add a mode or remove compare.",
            )
        if s.mode is not None and s.mode not in s.compare:
            yield Problem(
                ("mode",),
                f"mode is {s.mode} but compare lists only {', '.join(s.compare)}."
                f" Add {s.mode} to compare, or remove mode.",
            )
    elif s.mode is None:
        yield Problem(
            ("mode",),
            f"mode is missing. Add mode: with one of {', '.join(MODES)}"
            " (or compare: with a list of them).",
            at_key=True,
        )
    modes = s.modes
    sliced = "time-sliced" in modes
    timed = [mode for mode in modes if mode != "time-sliced"]
    if sliced and s.time_slice is None:
        yield Problem(
            ("mode",) if s.compare is None else ("compare",),
            "time-sliced runs need time_slice. Add time_slice: {slice: 2s, gap: 100ms, rounds: 2}.",
        )
    if not sliced and s.time_slice is not None and modes:
        yield Problem(
            ("time_slice",),
            f"time_slice is only used in mode time-sliced, and this scenario runs"
            f" {', '.join(modes)}. Remove time_slice, or set mode: time-sliced.",
            at_key=True,
        )
    if timed and s.duration is None:
        yield Problem(
            ("duration",),
            f"duration is missing; {' and '.join(timed)} runs need it. Add duration: 5s.",
            at_key=True,
        )
    if not timed and modes and s.duration is not None:
        yield Problem(
            ("duration",),
            "duration is not used in time-sliced mode: each phase lasts time_slice.slice."
            " Remove duration, or set the length with time_slice: {slice: ...}.",
            at_key=True,
        )


def _timing_problems(s: Scenario) -> Iterable[Problem]:
    lease_ms = s.lease / 1e6
    if not MIN_LEASE_MS <= lease_ms <= MAX_LEASE_MS:
        yield Problem(
            ("lease",),
            f"lease {units.format_duration_ns(s.lease)} is out of range: agents stop traffic"
            f" this long after the controller goes silent, and accept"
            f" {units.format_duration_ns(MIN_LEASE_MS * 10**6)} to"
            f" {units.format_duration_ns(MAX_LEASE_MS * 10**6)}. Use a lease in that range,"
            " like 3s (the default).",
        )
    if s.drain > MAX_DRAIN_NS:
        yield Problem(
            ("drain",),
            f"drain {units.format_duration_ns(s.drain)} is longer than"
            f" {units.format_duration_ns(MAX_DRAIN_NS)}: receivers would wait that long after"
            " every phase for late frames. Use a shorter drain, like 200ms (the default).",
        )


def _host_problems(s: Scenario) -> Iterable[Problem]:
    if len(s.hosts) < 2:
        yield Problem(
            ("hosts",),
            f"hosts names {len(s.hosts)} host(s); a flow needs a sender and a receiver on"
            " different hosts. List at least two, like hosts: {a: {}, b: {}}.",
        )


def _flow_problems(s: Scenario) -> Iterable[Problem]:
    if not s.flows:
        yield Problem(
            ("flows",),
            "flows is empty. Add at least one flow, like"
            " flows: [{from: a, to: b, frame_size: 64, rate: max}].",
        )
        return
    known = sorted(s.hosts)
    for index, flow in enumerate(s.flows):
        for key, host in (("from", flow.src), ("to", flow.dst)):
            if host not in s.hosts:
                yield Problem(
                    ("flows", index, key),
                    f"host {host!r} is not in hosts.{closest(host, known)}"
                    f" Known hosts: {', '.join(known)}; use one of them or add {host} to hosts.",
                )
        if flow.src == flow.dst:
            yield Problem(
                ("flows", index, "to"),
                f"the flow goes from {flow.src} to itself. A flow needs two different hosts;"
                " change from or to.",
            )
        yield from _rate_problems(index, flow)
        yield from _rx_ring_problems(index, flow)
        if flow.engine == "sendto":
            for key in ("ring_frames", "batch"):
                if getattr(flow, key):
                    yield Problem(
                        ("flows", index, key),
                        f"{key} only applies to engine: ring (sendto has no ring)."
                        f" Remove {key}, or use engine: ring.",
                    )
            if "tx_skb" in flow.model_fields_set:
                yield Problem(
                    ("flows", index, "tx_skb"),
                    "tx_skb only applies to engine: ring (sendto builds its own skbs)."
                    " Remove tx_skb, or use engine: ring.",
                )
    yield from _name_problems(s.flows)
    if "unidirectional" in s.modes:
        yield from _direction_problems(s)


def _rx_ring_problems(index: int, flow: Flow) -> Iterable[Problem]:
    # Frames reach the ring cut to their first 64 bytes, so any block holds a frame.
    block = flow.rx_block_size or DEFAULT_RX_BLOCK_SIZE
    total = block * (flow.rx_blocks or DEFAULT_RX_BLOCKS) * flow.workers
    if total > MAX_SESSION_RING_BYTES:
        yield Problem(
            ("flows", index, "rx_blocks"),
            f"the receive rings would take {units.format_size(total)}"
            f" (rx_block_size x rx_blocks x {flow.workers} worker(s)); the agent allows"
            f" {units.format_size(MAX_SESSION_RING_BYTES)}. Use fewer or smaller blocks.",
        )


def _rate_problems(index: int, flow: Flow) -> Iterable[Problem]:
    pps = flow.rate.pps(flow.frame_size)
    if flow.rate.kind == "max":
        return
    if pps < 1:
        yield Problem(
            ("flows", index, "rate"),
            f"{flow.rate} is less than one {flow.frame_size}-byte frame per second"
            f" ({flow.frame_size * 8}bps). Use a higher rate.",
        )
    elif pps > units.MAX_PPS:
        yield Problem(
            ("flows", index, "rate"),
            f"{flow.rate} with {flow.frame_size}-byte frames is {units.format_pps(pps)},"
            f" above the {units.format_pps(units.MAX_PPS)} one flow can carry."
            " Use a lower rate or larger frames.",
        )


def _name_problems(flows: Sequence[Flow]) -> Iterable[Problem]:
    first: dict[str, int] = {}
    for index, flow in enumerate(flows):
        if flow.name is None:
            continue
        if flow.name in first:
            yield Problem(
                ("flows", index, "name"),
                f"name {flow.name!r} is already used by flows[{first[flow.name]}]."
                " Give each flow its own name.",
            )
        first.setdefault(flow.name, index)


def _direction_problems(s: Scenario) -> Iterable[Problem]:
    src, dst = s.flows[0].direction
    for index, flow in enumerate(s.flows):
        if flow.direction != (src, dst):
            fix = (
                "Remove unidirectional from compare, or make every flow go the same way."
                if s.compare
                else "Use mode: bidirectional (or time-sliced) to test both directions."
            )
            yield Problem(
                ("flows", index, "from"),
                f"this flow goes {flow.src}->{flow.dst} but flows[0] goes {src}->{dst};"
                f" unidirectional needs every flow in one direction. {fix}",
            )
            return


EXAMPLE_HINT = "see scenarios/unidirectional.yaml for a complete example"


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; every failure is a ScenarioError."""
    return load_scenario_text(_read_text(path), str(path))


def load_scenario_text(text: str, source_name: str) -> Scenario:
    """Validate scenario YAML ``text``; ``source_name`` names it in error messages."""
    try:
        document = parse_yaml(text)
    except YamlProblem as problem:
        raise ScenarioError(
            source_name, [Problem((), problem.text, problem.line, problem.column)]
        ) from None
    _check_document(document, source_name)
    try:
        return Scenario.model_validate(document.data)
    except ValidationError as error:
        found = [describe(detail, Scenario) for detail in error.errors()]
    except ScenarioError as error:
        found = list(error.problems)
    located = [
        Problem(p.loc, p.text, document.line_for(p.loc, key=p.at_key), None, p.at_key)
        for p in found
    ]
    located.sort(key=lambda p: p.line or 0)
    raise ScenarioError(source_name, located) from None


def _check_document(document: YamlDocument, source: str) -> None:
    if document.data is None:
        raise ScenarioError(
            source,
            [
                Problem(
                    (),
                    "the file is empty (or holds only comments). A scenario needs version,"
                    f" name, mode, duration, hosts and flows; {EXAMPLE_HINT}.",
                    line=1,
                )
            ],
        )
    if not isinstance(document.data, dict):
        kind = "a list" if isinstance(document.data, list) else f"the value {document.data!r:.40}"
        raise ScenarioError(
            source,
            [
                Problem(
                    (),
                    f"the top level is {kind}, but a scenario is a mapping of keys like"
                    f" `version: 1` and `name: a-to-b`, one per line; {EXAMPLE_HINT}.",
                    line=document.line_for(()),
                )
            ],
        )


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        reason = "no such file. Check the path (scenarios live in scenarios/*.yaml)."
    except IsADirectoryError:
        reason = "this is a directory. Give the path of one scenario .yaml file."
    except PermissionError:
        reason = "permission denied. Make the file readable, or run as a user who can read it."
    except OSError as error:
        reason = f"cannot be read ({error.strerror or error}). Check the path and the disk."
    else:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise ScenarioError(
                str(path),
                [
                    Problem(
                        (),
                        f"byte 0x{raw[error.start]:02x} is not UTF-8 text. Save the file as"
                        " UTF-8 (is it a binary file, or in another encoding?).",
                        line=line,
                    )
                ],
            ) from None
    raise ScenarioError(str(path), [Problem((), reason)])
