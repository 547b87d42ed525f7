"""Number formatting shared by every renderer, so a value reads the same everywhere."""

from __future__ import annotations

from ringlab.controller.scenario.units import format_pps

# The one packet-rate spelling lives in scenario/units.py; the report renderers call it fmt.pps.
pps = format_pps


def bps(value: float) -> str:
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{prefix}bps"
    return f"{value:.0f}bps"


def pct(fraction: float) -> str:
    """0.0123 -> ``1.23%``."""
    return f"{fraction * 100:.2f}%"


def signed_pct(fraction: float | None) -> str:
    """A relative change: ``+1.23%``, ``-40.00%``; ``n/a`` when there is no base to divide by."""
    if fraction is None:
        return "n/a"
    return f"{fraction * 100:+.2f}%"


def number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.2f}"


def metric(name: str, value: float) -> str:
    """A metric's value in its own unit: loss as a percentage, rates as pps."""
    if name == "loss":
        return pct(value)
    if name.endswith("pps"):
        return pps(value)
    return number(value)
