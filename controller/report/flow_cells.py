"""A flow's values as the report shows them, the same in HTML and Markdown: what the
flow's tool never measured reads "not measured" (never 0, never a bare dash), and a
target reads as it was asked for."""

from __future__ import annotations

from ringlab.controller.report import fmt
from ringlab.controller.store.results import FlowResult

NOT_MEASURED = "not measured"

# Imports whose tool's output does not say what rate it was asked for.
UNRECORDED_TARGET = frozenset({"trafgen"})

# Report columns -> the FlowResult field that says whether the flow's tool measured it.
_FIELD = {"loss": "lost", "latency": "latency_us"}


def bitrate(value: float) -> str:
    """20e6 -> ``20 Mbit/s``, as iperf3's ``-b 20M`` reads."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {prefix}bit/s"
    return f"{value:.0f} bit/s"


def target(flow: FlowResult) -> str:
    """The target rate as it was asked for: pps for ringlab, iperf3's ``-b`` as a bit rate
    (its pps beside it), ``max`` for a flow sent as fast as it could go, ``not recorded``
    where the tool's output does not say (trafgen's summary)."""
    if flow.engine in UNRECORDED_TARGET:
        return "not recorded"
    asked = float(flow.sender_info.get("target_bitrate", 0) or 0)
    if asked:
        return (
            f"{bitrate(asked)} ({fmt.pps(flow.target_pps)})" if flow.target_pps else bitrate(asked)
        )
    return fmt.pps(flow.target_pps) if flow.target_pps else "max"


def measured(flow: FlowResult, column: str) -> bool:
    return flow.measured(_FIELD.get(column, column))


def cell(flow: FlowResult, column: str) -> str:
    """One column of the flow tables (a FlowResult field name, or loss / latency)."""
    if not measured(flow, column):
        return NOT_MEASURED
    if column == "loss":
        return fmt.pct(flow.loss_ratio)
    if column == "latency":
        lat = flow.latency_us
        return f"{lat.p50:.0f}/{lat.p99:.0f}/{lat.max:.0f}" if lat.samples else "-"
    if column == "target":
        return target(flow)
    value = getattr(flow, column)
    if column.endswith("_pps"):
        return fmt.pps(value)
    if column.endswith("_bps"):
        return fmt.bps(value)
    return fmt.number(value)
