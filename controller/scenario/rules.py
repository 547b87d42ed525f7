"""Checks that involve several fields of a scenario (a flow's host must be in ``hosts``,
a unidirectional scenario has one direction, receive rings fit the agent's limits...).

They run after the per-field checks, so a file with type errors is reported in full
before the rules are applied."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ringlab.controller.scenario import units
from ringlab.controller.scenario.fields import (
    MAX_XDP_QUEUE,
    MODES,
    closest,
)
from ringlab.engines import EXTERNAL_ENGINES
from ringlab.errors import Problem
from ringlab.ring_limits import (
    DEFAULT_RX_BLOCK_SIZE,
    DEFAULT_RX_BLOCKS,
    MAX_SESSION_RING_BYTES,
)
from ringlab.session_limits import MAX_DRAIN_NS, MAX_LEASE_MS, MIN_LEASE_MS

if TYPE_CHECKING:  # the model's validator calls rule_problems: no import cycle at run time
    from ringlab.controller.scenario.model import Flow, Scenario


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
        yield from _xdp_problems(index, flow)
        yield from _external_problems(index, flow)
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


_XDP_KEYS = ("xdp_queue", "xdp_mode", "xdp_attach", "xdp_share")


def _xdp_problems(index: int, flow: Flow) -> Iterable[Problem]:
    if not flow.uses_xdp:
        for key in _XDP_KEYS:
            # testpmd's af_xdp device binds a queue too (xdp_queue picks it).
            if key == "xdp_queue" and flow.testpmd_vdev == "af_xdp":
                continue
            if key in flow.model_fields_set:
                yield Problem(
                    ("flows", index, key),
                    f"{key} only applies to AF_XDP flows, and this flow uses engine"
                    f" {flow.engine} and rx_engine {flow.receive_engine}. Remove {key}, or use"
                    " engine: xdp (or rx_engine: xdp).",
                )
        return
    if flow.engine == "xdp" and "tx_skb" in flow.model_fields_set:
        yield Problem(
            ("flows", index, "tx_skb"),
            "tx_skb only applies to engine: ring (AF_XDP hands its own frames to the driver)."
            " Remove tx_skb, or use engine: ring.",
        )
    if flow.xdp_share and flow.engine != "xdp":
        yield Problem(
            ("flows", index, "xdp_share"),
            f"xdp_share sends through the receiving socket's queue, so the sender must use"
            f" AF_XDP too, and this flow sends with engine {flow.engine}. Use engine: xdp, or"
            " remove xdp_share.",
        )
    if flow.xdp_share and flow.receive_engine != "xdp":
        yield Problem(
            ("flows", index, "xdp_share"),
            "xdp_share joins this host's AF_XDP receiver, and this flow's receiving side uses"
            " rx_engine ring. Remove rx_engine: ring, or remove xdp_share.",
        )
    if flow.xdp_queue + flow.workers - 1 > MAX_XDP_QUEUE:
        yield Problem(
            ("flows", index, "xdp_queue"),
            f"xdp_queue {flow.xdp_queue} with {flow.workers} worker(s) reaches queue"
            f" {flow.xdp_queue + flow.workers - 1} (worker w binds xdp_queue + w); queues go up"
            f" to {MAX_XDP_QUEUE}. Use a lower xdp_queue or fewer workers.",
        )


# Keys of ringlab's own senders that an external tool's sender has no use for.
_OWN_SENDER_KEYS = ("stamping", "qdisc_bypass", "tx_skb", "batch", "ring_frames")


def _external_problems(index: int, flow: Flow) -> Iterable[Problem]:
    """External engines (docs/external-engines.md): testpmd cannot pace, and each of their
    keys needs the engine it belongs to."""
    sides = {flow.engine, flow.receive_engine}
    if flow.engine == "testpmd" and flow.rate.kind != "max":
        yield Problem(
            ("flows", index, "rate"),
            f"engine testpmd sends as fast as it can: testpmd has no packets-per-second"
            f" pacing on virtual devices (af_packet, af_xdp), so {flow.rate} cannot be kept."
            " Use rate: max, or another engine (ring, xdp) for a paced flow.",
        )
    for key, engine in (("testpmd_vdev", "testpmd"), ("pfring_cluster_id", "pfring")):
        if key in flow.model_fields_set and engine not in sides:
            yield Problem(
                ("flows", index, key),
                f"{key} only applies to engine {engine} (either side), and this flow uses"
                f" engine {flow.engine} and rx_engine {flow.receive_engine}. Remove {key}, or"
                f" use engine: {engine}.",
            )
    yield from _pci_problems(index, flow)
    if "cores" in flow.model_fields_set and not sides & EXTERNAL_ENGINES:
        yield Problem(
            ("flows", index, "cores"),
            "cores pins an external tool (engine testpmd or pfring); ringlab's own engines"
            " use workers. Remove cores, or use engine: testpmd.",
        )
    if flow.engine in EXTERNAL_ENGINES:
        for key in _OWN_SENDER_KEYS:
            if key in flow.model_fields_set:
                yield Problem(
                    ("flows", index, key),
                    f"{key} only applies to ringlab's own senders; engine {flow.engine} builds"
                    f" and sends its frames itself. Remove {key}.",
                )


def _pci_problems(index: int, flow: Flow) -> Iterable[Problem]:
    """testpmd_vdev: pci (docs/external-engines.md, "Real NICs"): each testpmd end names
    its PCI port (from_pci, to_pci); a PCI address is only for such an end."""
    ends = (
        ("from_pci", flow.from_pci, flow.engine, "engine", "from_interface"),
        ("to_pci", flow.to_pci, flow.receive_engine, "rx_engine", "to_interface"),
    )
    for key, address, engine, engine_key, interface_key in ends:
        if address is not None and flow.testpmd_vdev != "pci":
            yield Problem(
                ("flows", index, key),
                f"{key} names a PCI port for testpmd_vdev: pci, and this flow's testpmd_vdev"
                f" is {flow.testpmd_vdev or 'not set'}. Add testpmd_vdev: pci, or remove {key}.",
            )
        elif address is not None and engine != "testpmd":
            yield Problem(
                ("flows", index, key),
                f"{key} is the PCI port testpmd drives on that end, and that end's {engine_key}"
                f" is {engine}. Remove {key}, or use {engine_key}: testpmd.",
            )
        elif address is None and flow.testpmd_vdev == "pci" and engine == "testpmd":
            yield Problem(
                ("flows", index, "testpmd_vdev"),
                f"testpmd_vdev: pci needs the PCI port of each testpmd end, and {key} is not"
                f' set. Add {key}: "0000:3b:00.0" (the port\'s address, lspci -D), bound to'
                " vfio-pci.",
            )
        elif address is not None and interface_key in flow.model_fields_set:
            yield Problem(
                ("flows", index, interface_key),
                f"{key} {address} is a port bound to DPDK, which has no kernel interface:"
                f" {interface_key} does not apply to that end. Remove {interface_key}.",
            )


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
            f" above the {units.MAX_PPS_TEXT} one flow can carry."
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
