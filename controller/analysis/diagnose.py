"""Contention diagnosis: pure rules over a run's counters, giving `Diagnosis` entries.

Every rule reads the run (and, optionally, related runs of the same flows, such as
a time-sliced run to hold a bidirectional one against) and says what the numbers
mean and what to do. Nothing here does I/O; the rules are tested on recorded
counter series (tests/fixtures/diagnose/).

Vocabulary: a flow runs "both ways" in a phase when that phase also has a flow in
the opposite direction between the same two hosts; it runs "alone" otherwise
(time-sliced, unidirectional). The counters compared, in wire order, are: our
sender's count -> the sender interface's TX counter -> the receiver interface's RX
counter -> the receive ring (tp_packets / tp_drops) -> our receiver's count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ringlab.controller.analysis import loss, qdisc, xdp
from ringlab.controller.analysis.blind import blind_message
from ringlab.controller.analysis.not_sent import frames_not_sent, paced_shortfall
from ringlab.controller.analysis.unreported import collected_only, silent_agents
from ringlab.controller.store.results import (
    Diagnosis,
    FlowResult,
    PhaseResult,
    RunResult,
)

# A flow losing at least this fraction counts as "large loss".
LARGE_LOSS = 0.01
# Sent alone, a flow losing at most this fraction (or a tenth of its both-ways loss) is clean.
CLEAN_LOSS = loss.CLEAN_LOSS
# A test this small is "tiny"; losing at most HOLDBACK_MAX frames there looks like start-up.
TINY_TEST_FRAMES = 10_000
HOLDBACK_MAX = 8
# A sender reaching less than this share of its target fell short.
SHORTFALL = 0.9
BUSY_MARKERS = ("device or resource busy", "errno 16]", "ebusy")
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

Direction = tuple[str, str]


@dataclass(frozen=True)
class _Seen:
    run_id: str
    phase: str
    flow: FlowResult


@dataclass(frozen=True)
class _Context:
    result: RunResult
    # Per direction, every flow of that direction that ran alone (this run and related runs).
    alone: dict[Direction, list[_Seen]]

    def nic(self, host: str, interface: str) -> tuple[str | None, bool]:
        """(driver, zero-copy) of host:interface from the run's probe reports, if probed."""
        return _nic(self.result.probes, host, interface)


Rule = Callable[[_Context], Iterable[Diagnosis]]


def diagnose(result: RunResult, related: Sequence[RunResult] = ()) -> list[Diagnosis]:
    """Every finding for `result`; `related` runs (same flows, other modes) only add evidence."""
    # Counts an agent never reported are unknown: no rule may read them as zeros.
    evidence = [collected_only(run) for run in (result, *related)]
    context = _Context(evidence[0], _alone_flows(evidence))
    found = [
        *silent_agents(result),
        *paced_shortfall(evidence[0]),
        *(d for d in frames_not_sent(result) if not _qdisc_explains(result, d)),
        *(d for rule in RULES for d in rule(context)),
    ]
    return sorted(found, key=lambda d: _SEVERITY_ORDER[d.severity])


def _qdisc_explains(result: RunResult, finding: Diagnosis) -> bool:
    """A frames_not_sent finding whose cause sender_qdisc_drops names (not a link outage)."""
    if finding.code != "frames_not_sent":
        return False
    flows = (f for p in result.phases if p.name == finding.phase for f in p.flows)
    return any(f.name == finding.flow and qdisc.explains(f) for f in flows)


# --- evidence helpers ---------------------------------------------------------


def _direction(flow: FlowResult) -> Direction:
    return (flow.from_host, flow.to_host)


def both_ways(phase: PhaseResult, flow: FlowResult) -> bool:
    """True when `phase` also runs a flow from flow's receiver back to its sender."""
    reverse = (flow.to_host, flow.from_host)
    return any(_direction(other) == reverse for other in phase.flows)


def _alone_flows(runs: Iterable[RunResult]) -> dict[Direction, list[_Seen]]:
    alone: dict[Direction, list[_Seen]] = {}
    for run in runs:
        for phase in run.phases:
            for flow in phase.flows:
                if flow.tx_packets and not both_ways(phase, flow):
                    alone.setdefault(_direction(flow), []).append(
                        _Seen(run.run_id, phase.name, flow)
                    )
    return alone


def _nic(probes: dict[str, Any], host: str, interface: str) -> tuple[str | None, bool]:
    report = probes.get(host)
    if not isinstance(report, dict):
        return None, False
    for entry in report.get("interfaces") or []:
        if isinstance(entry, dict) and entry.get("name") == interface:
            driver = entry.get("driver")
            return (str(driver) if driver else None), bool(entry.get("zc"))
    return None, False


def _where(seen: Sequence[_Seen], own_run: str) -> str:
    names = [s.phase if s.run_id == own_run else f"run {s.run_id} {s.phase}" for s in seen]
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _pct(ratio: float) -> str:
    return f"{ratio:.2%}" if ratio >= 0.0001 or ratio == 0 else f"{ratio:.4%}"


def _phase_flows(result: RunResult) -> Iterator[tuple[PhaseResult, FlowResult]]:
    for phase in result.phases:
        for flow in phase.flows:
            yield phase, flow


def _zc_note(context: _Context, host: str, interface: str) -> str:
    driver, zc = context.nic(host, interface)
    if zc:
        return f" {host}:{interface} runs a zero-copy driver ({driver or 'ZC'})."
    if driver:
        return f" {host}:{interface} uses driver {driver}."
    return ""


# --- rules ----------------------------------------------------------------------


def rx_stuck_at_zero(context: _Context) -> Iterator[Diagnosis]:
    """Receiver at 0 while its peer sent: contention when both send, otherwise a dead path."""
    result = context.result
    for phase, flow in _phase_flows(result):
        if flow.tx_packets == 0 or flow.rx_packets > 0:
            continue
        alone = context.alone.get(_direction(flow), [])
        alone_ok = [s for s in alone if s.flow.rx_packets > 0]
        if both_ways(phase, flow) and (alone_ok or not alone):
            yield _starved(context, phase, flow, alone_ok)
        else:
            yield _receives_nothing(context, phase, flow)


def _starved(
    context: _Context, phase: PhaseResult, flow: FlowResult, alone_ok: Sequence[_Seen]
) -> Diagnosis:
    reverse = [
        f for f in phase.flows if _direction(f) == (flow.to_host, flow.from_host) and f.tx_packets
    ]
    both_zero = bool(reverse) and all(f.rx_packets == 0 for f in reverse)
    iface = flow.receiver_interface
    text = (
        f"{flow.to_host} received 0 of the {flow.tx_packets:,} frames {flow.from_host} sent "
        f"while both sides were sending (RX stuck at 0, the peer's TX climbing)."
    )
    if both_zero:
        text += (
            " The reverse direction is at 0 too: both sides at 0 only when both send is the "
            "PF_RING ZC bidirectional signature."
        )
    if alone_ok:
        best = max(alone_ok, key=lambda s: s.flow.rx_packets)
        text += (
            f" Sent alone ({_where(alone_ok, context.result.run_id)}) the same direction "
            f"delivered {best.flow.rx_packets:,} of {best.flow.tx_packets:,}: the directions "
            "contend, the path itself works."
        )
    else:
        text += (
            " No phase sent this direction alone to compare with; run "
            "`compare: [bidirectional, time-sliced]` to confirm."
        )
    if iface.interface and flow.measured("receiver_interface"):
        if iface.rx_packets >= flow.tx_packets:
            text += (
                f" {flow.to_host}:{iface.interface} counted {iface.rx_packets:,} frames in: they "
                "arrived and were taken before our ring."
            )
        else:
            text += f" {flow.to_host}:{iface.interface} counted {iface.rx_packets:,} frames in."
    text += _zc_note(context, flow.to_host, iface.interface)
    text += (
        " What to do: test one direction at a time (mode: time-sliced), or use the standard "
        "kernel driver instead of the zero-copy one for bidirectional tests."
    )
    return Diagnosis(
        code="rx_starved_bidirectional",
        severity="error",
        message=text,
        phase=phase.name,
        flow=flow.name,
    )


def _receives_nothing(context: _Context, phase: PhaseResult, flow: FlowResult) -> Diagnosis:
    iface = flow.receiver_interface
    where = f"{flow.to_host}:{iface.interface or '?'}"
    if not flow.measured("receiver_interface"):
        # A port bound to DPDK: the receiving tool's port statistics are the NIC's own.
        return Diagnosis(
            code="nothing_arrived",
            severity="error",
            message=(
                f"{flow.rx_engine or flow.engine} on {where} counted none of the"
                f" {flow.tx_packets:,} frames {flow.from_host} sent, and the kernel has no"
                f" counter for that port ({flow.not_measured['receiver_interface']}). What to"
                " do: check link state and cabling, the destination MAC and VLANs, and the"
                " receiving tool's own counters (receiver_extra, the tool output)."
            ),
            phase=phase.name,
            flow=flow.name,
        )
    # Half the frames is far above background traffic (neighbour discovery) on the interface.
    if iface.rx_packets and iface.rx_packets >= flow.tx_packets // 2:
        return Diagnosis(
            code="app_receives_nothing",
            severity="error",
            message=(
                f"{where} counted {iface.rx_packets:,} frames in, but ringlab's receive ring got "
                f"none of the {flow.tx_packets:,} {flow.from_host} sent: something between the "
                "driver and the packet socket takes them (a tc ingress filter, an XDP program, a "
                "zero-copy or kernel-bypass process owning the queue). What to do: check "
                f"`tc filter show dev {iface.interface or 'IF'} ingress`, `ip link show` for XDP, "
                "and which processes hold the interface (`ringlab probe`)."
            ),
            phase=phase.name,
            flow=flow.name,
        )
    return Diagnosis(
        code="nothing_arrived",
        severity="error",
        message=(
            f"ringlab's ring got none of the {flow.tx_packets:,} frames {flow.from_host} sent and "
            f"{where}'s RX counter only {iface.rx_packets:,}: they did not reach the receiving "
            "interface. What to do: "
            "check link state and cabling, the destination MAC (the NIC drops frames for other "
            "MACs) and VLANs. Under a zero-copy driver the interface counters read 0 anyway, so "
            "look at the sender's side first."
        )
        + _zc_note(context, flow.to_host, iface.interface),
        phase=phase.name,
        flow=flow.name,
    )


def loss_only_both_ways(context: _Context) -> Iterator[Diagnosis]:
    """Large loss when both directions run that disappears when the direction runs alone."""
    result = context.result
    for phase, flow in _phase_flows(result):
        if flow.rx_packets == 0 or flow.loss_ratio < LARGE_LOSS or not both_ways(phase, flow):
            continue
        alone = context.alone.get(_direction(flow), [])
        if not alone:
            continue
        worst_alone = max(s.flow.loss_ratio for s in alone)
        if worst_alone > max(CLEAN_LOSS, flow.loss_ratio / 10):
            continue
        yield Diagnosis(
            code="loss_only_bidirectional",
            severity="warning",
            message=(
                f"{flow.name} lost {_pct(flow.loss_ratio)} ({flow.lost:,} of {flow.tx_packets:,}) "
                f"with both directions running, but at most {_pct(worst_alone)} sent alone "
                f"({_where(alone, result.run_id)}): the two directions compete (for CPU, the "
                "NIC's queues, or a zero-copy driver's single owner). What to do: test time-sliced, "
                "give each direction its own cores and queues, or use the standard driver instead "
                "of ZC."
            ),
            phase=phase.name,
            flow=flow.name,
        )


def _receive_groups(phase: PhaseResult) -> dict[tuple[str, str], list[FlowResult]]:
    groups: dict[tuple[str, str], list[FlowResult]] = {}
    for flow in phase.flows:
        if flow.receiver_interface.interface and flow.measured("receiver_interface"):
            key = (flow.to_host, flow.receiver_interface.interface)
            groups.setdefault(key, []).append(flow)
    return groups


def kernel_ring_drops(context: _Context) -> Iterator[Diagnosis]:
    for phase in context.result.phases:
        for (host, interface), flows in _receive_groups(phase).items():
            # The ring is shared by the flows received on one interface: one count for all.
            drops = max(f.kernel_drops for f in flows)
            if not drops:
                continue
            if any(f.receiver_info.get("engine") == "xdp" for f in flows):
                yield xdp.xdp_drops(phase.name, host, interface, flows, drops)
                continue
            yield Diagnosis(
                code="kernel_ring_drops",
                severity="warning",
                message=(
                    f"The receive ring on {host}:{interface} dropped {drops:,} frames (tp_drops): "
                    "the kernel found no free block, so the receiver reads too slowly or its ring "
                    "is too small. What to do: give the flow a larger ring (`rx_block_size:`, "
                    "`rx_blocks:`; the default is 32 x 1MiB), add receive workers (`workers:` "
                    "spreads the interface over PACKET_FANOUT sockets), keep the receiver's core "
                    "free of other work, or lower the rate."
                ),
                phase=phase.name,
                flow=", ".join(f.name for f in flows),
            )


def blind_interface_counters(context: _Context) -> Iterator[Diagnosis]:
    """Interface counters below our own counts: the kernel does not see the traffic."""
    # One finding per interface and way for the whole run: ZC blindness is not per phase.
    found: dict[tuple[str, str, str], list[tuple[PhaseResult, list[FlowResult], int, int]]] = {}
    for phase in context.result.phases:
        for (host, interface), flows in _receive_groups(phase).items():
            ours = sum(f.rx_packets for f in flows)
            counted = flows[0].receiver_interface.rx_packets
            if ours > counted:
                found.setdefault((host, interface, "RX"), []).append((phase, flows, counted, ours))
        for (host, interface), flows in _send_groups(phase).items():
            ours = sum(f.tx_packets for f in flows)
            counted = flows[0].sender_interface.tx_packets
            if counted == 0 and ours > 0:
                found.setdefault((host, interface, "TX"), []).append((phase, flows, counted, ours))
    for (host, interface, way), cases in found.items():
        phase, flows, counted, ours = cases[0]
        more = f" (and in {len(cases) - 1} more phases)" if len(cases) > 1 else ""
        yield Diagnosis(
            code="interface_counters_blind",
            severity="info",
            message=blind_message(host, interface, way, counted, ours, more)
            + _zc_note(context, host, interface),
            phase=phase.name,
            flow=", ".join(f.name for f in flows),
        )


def _send_groups(phase: PhaseResult) -> dict[tuple[str, str], list[FlowResult]]:
    groups: dict[tuple[str, str], list[FlowResult]] = {}
    for flow in phase.flows:
        # Not measured (a port bound to DPDK): no kernel counter to reason from.
        if flow.sender_interface.interface and flow.measured("sender_interface"):
            key = (flow.from_host, flow.sender_interface.interface)
            groups.setdefault(key, []).append(flow)
    return groups


def device_busy(context: _Context) -> Iterator[Diagnosis]:
    """A second open of a zero-copy interface refused with EBUSY."""
    result = context.result
    sources: list[tuple[str, str, str]] = []
    for phase in result.phases:
        sources.extend((phase.name, f.name, e) for f in phase.flows for e in f.errors)
        sources.extend((phase.name, "", e) for e in phase.errors)
    # The run's error repeats the failing phase's: said once, with the phase when known.
    sources.append(("", "", result.error))
    seen: set[str] = set()
    for phase_name, flow_name, text in sources:
        if not any(m in text.lower() for m in BUSY_MARKERS) or text in seen:
            continue
        if xdp.MARKER in text.lower():  # an AF_XDP collision: xdp_queue_busy explains it
            continue
        seen.add(text)
        yield Diagnosis(
            code="zc_device_busy",
            severity="error",
            message=(
                f"Opening the interface failed with 'Device or resource busy' ({text.strip()}). "
                "A zero-copy driver lets one process own an interface (or queue) at a time and "
                "another one holds it: a second ringlab session, pfcount, a DPDK application. "
                "What to do: stop the other user (`ringlab probe` lists them), give each process "
                "its own queue (PF_RING `zc:eth1@0`, `zc:eth1@1`), or run time-sliced so only one "
                "side opens the interface at a time."
            ),
            phase=phase_name,
            flow=flow_name,
        )


def tiny_test_loss(context: _Context) -> Iterator[Diagnosis]:
    """A handful of frames missing from a very short test: start-up hold-back, not loss."""
    for phase, flow in _phase_flows(context.result):
        if not (0 < flow.lost <= HOLDBACK_MAX and flow.tx_packets <= TINY_TEST_FRAMES):
            continue
        if flow.kernel_drops or flow.send_errors:
            continue
        drivers = {
            context.nic(flow.from_host, flow.sender_interface.interface)[0],
            context.nic(flow.to_host, flow.receiver_interface.interface)[0],
        }
        named = " This path uses i40e." if "i40e" in drivers else ""
        yield Diagnosis(
            code="tiny_test_startup_loss",
            severity="info",
            message=(
                f"{flow.name} lost {flow.lost} of only {flow.tx_packets:,} frames. In a test this "
                "small a handful missing is typical of a NIC holding back the first packets (i40e "
                f"does so until its queue warms up), not of steady loss.{named} What to do: run "
                "longer (100k frames or more) and judge loss on that run."
            ),
            phase=phase.name,
            flow=flow.name,
        )


def send_errors(context: _Context) -> Iterator[Diagnosis]:
    for phase, flow in _phase_flows(context.result):
        if not flow.send_errors or flow.send_errors == flow.sender_extra.get("qdisc_given_up"):
            continue  # none, or only frames the qdisc dropped on every try: sender_qdisc_drops
        yield Diagnosis(
            code="send_errors",
            severity="warning",
            message=(
                f"{flow.from_host} hit {flow.send_errors:,} send errors on "
                f"{flow.sender_interface.interface or 'its interface'} for {flow.name}: the kernel "
                "refused frames (malformed, link down, driver rejected them). Refused frames never "
                "left and are not in tx_packets. What to do: check the interface state and the "
                "sender's frame size against the MTU (`ringlab probe`)."
            ),
            phase=phase.name,
            flow=flow.name,
        )


def sender_shortfall(context: _Context) -> Iterator[Diagnosis]:
    for phase, flow in _phase_flows(context.result):
        if phase.status != "completed" or flow.target_pps <= 0 or phase.duration_s <= 0:
            continue
        asked = flow.target_pps * phase.duration_s
        if flow.tx_packets >= SHORTFALL * asked or qdisc.explains(flow):
            continue
        yield Diagnosis(
            code="sender_shortfall",
            severity="warning",
            message=(
                f"{flow.name} sent {flow.tx_packets:,} frames, {flow.tx_packets / asked:.0%} of "
                f"the {asked:,.0f} asked ({flow.target_pps:,.0f} pps for {phase.duration_s:g}s). "
                "Frames never sent are not counted as lost. What to do: the sender is CPU-bound "
                "or blocked; add `workers:`, keep `qdisc_bypass`, or lower the rate."
            ),
            phase=phase.name,
            flow=flow.name,
        )


def loss_attribution(context: _Context) -> Iterator[Diagnosis]:
    return loss.loss_findings(context.result)


def xdp_queue_busy(context: _Context) -> Iterator[Diagnosis]:
    return xdp.queue_busy(context.result)


def sender_qdisc_drops(context: _Context) -> Iterator[Diagnosis]:
    return qdisc.qdisc_drops(context.result)


RULES: tuple[Rule, ...] = (
    xdp_queue_busy,
    rx_stuck_at_zero,
    loss_only_both_ways,
    device_busy,
    kernel_ring_drops,
    send_errors,
    sender_qdisc_drops,
    sender_shortfall,
    blind_interface_counters,
    tiny_test_loss,
    loss_attribution,
)
