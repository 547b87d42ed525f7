"""Parse and format the units scenarios are written in: durations, rates, percentages, counts,
sizes.

Every parser takes the raw YAML value (``str``, ``int``, ``float``, anything else) and
returns a plain number or raises ``UnitError`` whose text quotes the value and shows
the accepted forms. Prefixes k/M/G are decimal (1k = 1000); sizes use binary units
only (KiB, MiB, GiB), because a ring's geometry is counted in pages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

# Longest single duration we accept (the agent refuses a longer phase); longer runs
# belong in several scenarios.
from ringlab.errors import RinglabInputError
from ringlab.session_limits import MAX_DURATION_NS

# Sane upper bound for one flow: well above any NIC a lab here will see (100G at 64 B is
# 148.8 Mpps only in theory; a single software flow will never get near it).
MAX_PPS = 100e6
MAX_PPS_TEXT = "100Mpps"  # MAX_PPS as the rate forms spell it
# A frame_size counts the 14-byte Ethernet header and the 4-byte FCS; the MTU neither.
ETHERNET_OVERHEAD = 18
# Bit rates above this are typos, whatever the frame size.
MAX_BPS = 1e12

_DURATION_UNITS_NS: dict[str, int] = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
}
_PREFIX: dict[str, int] = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9}

# ASCII digits only: Python's float() would also take other scripts' digits.
_NUMBER = r"(?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
_DURATION_RE = re.compile(_NUMBER + r" ?(?P<unit>ns|us|µs|ms|s|m)")
_RATE_RE = re.compile(_NUMBER + r" ?(?P<prefix>[kKMG]?)(?P<unit>pps|bps)")
_COUNT_RE = re.compile(_NUMBER + r" ?(?P<prefix>[kKMG]?)(?:pps)?")
_PERCENT_RE = re.compile(_NUMBER + r" ?%")
_SIZE_RE = re.compile(_NUMBER + r" ?(?P<unit>B|KiB|MiB|GiB)?")
_SIZE_UNITS: dict[str, int] = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
_LOOSE_SIZE_RE = re.compile(r"(?P<num>[0-9.]+) ?(?P<prefix>[kKmMgG])(?:i?[bB])?")

DURATION_FORMS = "a number and a unit (ns, us, ms, s or m), like 500ms, 5s or 2m"
RATE_FORMS = "max, a packet rate like 100kpps or 1Mpps, or a bit rate like 500Mbps or 1Gbps"
PERCENT_FORMS = "a percentage like 0.1% or a fraction between 0 and 1 like 0.001"
COUNT_FORMS = "a number, optionally with k, M or G, like 100k, 1M or 250000"
SIZE_FORMS = "bytes, or a number with KiB, MiB or GiB, like 65536, 256KiB or 4MiB"


class UnitError(ValueError):
    """A value is not in the expected unit form; the text says which forms are accepted."""


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _finite_number(value: object) -> float | None:
    """A YAML int/float as a float, or None for anything else (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def parse_duration_ns(value: object, *, allow_zero: bool = False) -> int:
    """``"5s"`` -> 5_000_000_000. Units: ns us ms s m (minutes). Must be > 0 unless allow_zero."""
    if not isinstance(value, str):
        number = _finite_number(value)
        if number is not None:
            raise UnitError(
                f"{_show(value)} has no unit. Write it as {DURATION_FORMS}"
                f" (for example {_show_number(number)}s)."
            )
        raise UnitError(f"{_show(value)} is not a duration. Use {DURATION_FORMS}.")
    match = _DURATION_RE.fullmatch(value.strip())
    if match is None:
        hint = ""
        if value.strip().startswith("-"):
            hint = " Durations cannot be negative."
        raise UnitError(f"{_show(value)} is not a duration.{hint} Use {DURATION_FORMS}.")
    amount = _decimal(match["num"])
    if amount is None:
        raise UnitError(f"{_show(value)} is not a duration. Use {DURATION_FORMS}.")
    exact = amount * _DURATION_UNITS_NS[match["unit"]]
    if exact != exact.to_integral_value():
        raise UnitError(f"{_show(value)} is finer than 1ns. Round it to whole nanoseconds.")
    if exact > MAX_DURATION_NS:
        raise UnitError(
            f"{_show(value)} is longer than {MAX_DURATION_NS // (3600 * 10**9)} hours (the longest"
            " phase an agent runs). Use a shorter duration."
        )
    ns = int(exact)
    if ns == 0 and not allow_zero:
        raise UnitError(f"{_show(value)} is zero. Use a duration greater than 0, like 5s.")
    return ns


def _show_number(number: float) -> str:
    return str(int(number)) if number == int(number) else repr(number)


def format_duration_ns(ns: int) -> str:
    """Shortest exact spelling in the largest unit that fits: 1_500_000_000 -> ``"1.5s"``."""
    if ns == 0:
        return "0s"
    for unit in ("m", "s", "ms", "us"):
        scale = _DURATION_UNITS_NS[unit]
        if ns >= scale:
            text = format(Decimal(ns) / scale, "f")
            if len(text.split(".")[-1]) <= 3 or "." not in text:
                return _strip_zeros(text) + unit
    return f"{ns}ns"


def _strip_zeros(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class Rate:
    """A flow's target rate: ``max`` (as fast as possible), packets/s or bits/s.

    Bit rates count the whole Ethernet frame including its 4-byte FCS (``frame_size``
    bytes), not the preamble, start delimiter or inter-frame gap: 1Gbps with 64-byte
    frames is 1e9 / (64 * 8) = 1_953_125 pps, not the 1_488_095 pps of 1G line rate.
    """

    kind: Literal["max", "pps", "bps"]
    value: float  # per second; 0.0 for max

    def pps(self, frame_size: int) -> float:
        """Packets per second for frames of ``frame_size`` bytes; 0.0 means max."""
        if self.kind == "max":
            return 0.0
        if self.kind == "pps":
            return self.value
        return self.value / (frame_size * 8)

    def __str__(self) -> str:
        return format_rate(self)


MAX_RATE = Rate("max", 0.0)


def parse_rate(value: object) -> Rate:
    """``max`` | ``100kpps`` | ``1Mpps`` | ``250000pps`` | ``500Mbps`` | ``1Gbps`` -> Rate."""
    if isinstance(value, str) and value.strip().lower() == "max":
        return MAX_RATE
    if not isinstance(value, str):
        number = _finite_number(value)
        if number is not None:
            raise UnitError(
                f"{_show(value)} has no unit. Write {_show_number(number)}pps for packets"
                f" per second or {_show_number(number)}bps for bits per second, or use max."
            )
        raise UnitError(f"{_show(value)} is not a rate. Use {RATE_FORMS}.")
    match = _RATE_RE.fullmatch(value.strip())
    amount = _decimal(match["num"]) if match else None
    if match is None or amount is None:
        raise UnitError(f"{_show(value)} is not a rate. Use {RATE_FORMS}.")
    per_second = float(amount * _PREFIX[match["prefix"]])
    kind: Literal["pps", "bps"] = "pps" if match["unit"] == "pps" else "bps"
    if per_second <= 0:
        raise UnitError(
            f"{_show(value)} is zero. Use a rate greater than 0, or max for as fast as possible."
        )
    if kind == "pps" and per_second > MAX_PPS:
        raise UnitError(
            f"{_show(value)} is above {MAX_PPS_TEXT}, more than one flow can carry."
            " Use a lower rate, or split it over several flows."
        )
    if kind == "bps" and per_second > MAX_BPS:
        raise UnitError(f"{_show(value)} is above 1000Gbps. Use a lower rate.")
    return Rate(kind, per_second)


def _format_scaled(value: float, unit: str) -> str:
    """Largest k/M/G prefix that still spells ``value`` exactly; parse of the text gives it back."""
    for prefix, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if value >= scale:
            scaled = Decimal(repr(value)) / scale
            text = _strip_zeros(format(scaled, "f"))
            if float(Decimal(text) * scale) == value and len(text) <= 10:
                return f"{text}{prefix}{unit}"
    return f"{_strip_zeros(format(Decimal(repr(value)), 'f'))}{unit}"


def format_rate(rate: Rate) -> str:
    """Canonical spelling: ``max``, ``250kpps``, ``1.5Mpps``, ``500Mbps``."""
    if rate.kind == "max":
        return "max"
    return _format_scaled(rate.value, rate.kind)


def format_pps(pps: float) -> str:
    """A packet rate for people, the one spelling every table, report and message uses:
    50_349.2 -> ``50.35kpps``, 1_488_095.2 -> ``1.49Mpps``, 0 -> ``0pps``. Two decimals so
    measured rates line up in columns; a target of ``max`` is 0 pps and is the caller's to
    spell (see format_rate)."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(pps) >= scale:
            return f"{pps / scale:.2f}{prefix}pps"
    return f"{pps:.0f}pps"


def parse_fraction(value: object) -> float:
    """``"0.1%"`` -> 0.001; a plain number is already a fraction and must lie in 0..1."""
    number: float | None
    if isinstance(value, str):
        match = _PERCENT_RE.fullmatch(value.strip())
        if match is not None:
            percent = _decimal(match["num"])
            if percent is None or percent > 100:
                raise UnitError(f"{_show(value)} is more than 100%. Use {PERCENT_FORMS}.")
            return float(percent / 100)
        number = _finite_number(float(d)) if (d := _plain_decimal(value)) is not None else None
    else:
        number = _finite_number(value)
    if number is None:
        raise UnitError(f"{_show(value)} is not a percentage. Use {PERCENT_FORMS}.")
    if number < 0:
        raise UnitError(f"{_show(value)} is negative. Use {PERCENT_FORMS}.")
    if number > 1:
        raise UnitError(
            f"{_show(value)} is more than 1 (100%) as a fraction;"
            f" did you mean {_show_number(number)}%? Use {PERCENT_FORMS}."
        )
    return number


def _plain_decimal(text: str) -> Decimal | None:
    stripped = text.strip()
    if not re.fullmatch(_NUMBER, stripped):
        return None
    return _decimal(stripped)


def format_percent(fraction: float) -> str:
    """0.001 -> ``"0.1%"``."""
    return f"{_strip_zeros(format(Decimal(repr(fraction)) * 100, 'f'))}%"


def parse_count(value: object) -> float:
    """``"100k"`` -> 100_000.0; also ``1M``, ``2.5G``, ``100kpps`` and plain numbers (>= 0)."""
    if isinstance(value, str):
        match = _COUNT_RE.fullmatch(value.strip())
        number = _decimal(match["num"]) if match else None
        if match is None or number is None:
            hint = " It cannot be negative." if value.strip().startswith("-") else ""
            raise UnitError(f"{_show(value)} is not a number.{hint} Use {COUNT_FORMS}.")
        result = float(number * _PREFIX[match["prefix"]])
    else:
        plain = _finite_number(value)
        if plain is None:
            raise UnitError(f"{_show(value)} is not a number. Use {COUNT_FORMS}.")
        result = plain
    if result < 0:
        raise UnitError(f"{_show(value)} is negative. Use {COUNT_FORMS}.")
    if not math.isfinite(result) or result > MAX_PPS:
        raise UnitError(f"{_show(value)} is above {MAX_PPS_TEXT}. Use {COUNT_FORMS}.")
    return result


def parse_size(value: object) -> int:
    """``"4MiB"`` -> 4_194_304; also ``256KiB``, ``1GiB``, ``512B`` and plain byte counts."""
    if isinstance(value, str):
        text = value.strip()
        match = _SIZE_RE.fullmatch(text)
        number = _decimal(match["num"]) if match else None
        if match is None or number is None:
            loose = _LOOSE_SIZE_RE.fullmatch(text)
            if loose:
                unit = {"k": "KiB", "m": "MiB", "g": "GiB"}[loose["prefix"].lower()]
                hint = f" Sizes take binary units: write {loose['num']}{unit}."
            elif text.startswith("-"):
                hint = " It cannot be negative."
            else:
                hint = ""
            raise UnitError(f"{_show(value)} is not a size.{hint} Use {SIZE_FORMS}.")
        exact = number * _SIZE_UNITS[match["unit"] or "B"]
    else:
        plain = _finite_number(value)
        if plain is None:
            raise UnitError(f"{_show(value)} is not a size. Use {SIZE_FORMS}.")
        exact = Decimal(repr(plain))
    if exact != exact.to_integral_value():
        raise UnitError(f"{_show(value)} is not a whole number of bytes. Use {SIZE_FORMS}.")
    if exact < 0:
        raise UnitError(f"{_show(value)} is negative. Use {SIZE_FORMS}.")
    return int(exact)


def format_size(size: int) -> str:
    """4_194_304 -> ``"4MiB"``; sizes that are not whole KiB stay in bytes."""
    for unit in ("GiB", "MiB", "KiB"):
        scale = _SIZE_UNITS[unit]
        if size and size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"


def duration_option_s(flag: str, text: str | None) -> float | None:
    """A command-line duration (`--wait 10m`, `--case-timeout 90s`) in seconds; None when
    the option was not given. A malformed value is the user's error, naming the flag."""
    if text is None:
        return None
    try:
        return parse_duration_ns(text) / 1e9
    except UnitError as exc:
        raise RinglabInputError(f"{flag}: {exc}") from None
