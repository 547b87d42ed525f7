"""Units: every accepted spelling, every rejection, and round trips through the formatters."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ringlab.controller.scenario.units import (
    MAX_RATE,
    Rate,
    UnitError,
    format_duration_ns,
    format_percent,
    format_pps,
    format_rate,
    format_size,
    parse_count,
    parse_duration_ns,
    parse_fraction,
    parse_rate,
    parse_size,
)
from ringlab.session_limits import MAX_DURATION_NS


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("10ns", 10),
        ("100us", 100_000),
        ("100µs", 100_000),
        ("500ms", 500_000_000),
        ("5s", 5_000_000_000),
        ("2m", 120_000_000_000),
        ("1.5s", 1_500_000_000),
        ("0.1s", 100_000_000),
        (".5ms", 500_000),
        ("5 s", 5_000_000_000),
        (" 200ms ", 200_000_000),
        ("1e3ms", 1_000_000_000),
        ("1440m", MAX_DURATION_NS),
    ],
)
def test_duration_forms(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


def test_zero_duration_only_when_allowed() -> None:
    assert parse_duration_ns("0ms", allow_zero=True) == 0
    with pytest.raises(UnitError, match="is zero"):
        parse_duration_ns("0ms")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5", "not a duration"),
        (5, "has no unit.*for example 5s"),
        (2.5, "has no unit.*for example 2.5s"),
        ("-1s", "cannot be negative"),
        ("5h", "not a duration"),
        ("5sec", "not a duration"),
        ("1.5ns", "finer than 1ns"),
        ("1441m", "longer than 24 hours"),
        ("1e400s", "longer than 24 hours"),
        (float("nan"), "not a duration"),
        (float("inf"), "not a duration"),
        (None, "nothing|None|not a duration"),
        (True, "not a duration"),
        ([1], "not a duration"),
        ("٥s", "not a duration"),
    ],
)
def test_duration_rejections(value: object, message: str) -> None:
    with pytest.raises(UnitError, match=message):
        parse_duration_ns(value)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5us"),
        (100_000_000, "100ms"),
        (5_000_000_000, "5s"),
        (1_500_000_000, "1.5s"),
        (60_000_000_000, "1m"),
        (90_000_000_000, "1.5m"),
        (100_000_000_000, "100s"),
    ],
)
def test_duration_formatting(ns: int, text: str) -> None:
    assert format_duration_ns(ns) == text


@given(st.integers(min_value=1, max_value=MAX_DURATION_NS))
def test_duration_round_trip(ns: int) -> None:
    assert parse_duration_ns(format_duration_ns(ns)) == ns


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("max", MAX_RATE),
        ("MAX", MAX_RATE),
        ("100kpps", Rate("pps", 100_000.0)),
        ("100Kpps", Rate("pps", 100_000.0)),
        ("1Mpps", Rate("pps", 1_000_000.0)),
        ("1.5Mpps", Rate("pps", 1_500_000.0)),
        ("250000pps", Rate("pps", 250_000.0)),
        ("100 kpps", Rate("pps", 100_000.0)),
        ("500Mbps", Rate("bps", 500e6)),
        ("1Gbps", Rate("bps", 1e9)),
        ("10kbps", Rate("bps", 10_000.0)),
        ("0.5pps", Rate("pps", 0.5)),
    ],
)
def test_rate_forms(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


def test_bit_rates_count_the_whole_frame() -> None:
    # 64 bytes incl. FCS = 512 bits per frame; preamble and IFG are not counted.
    assert parse_rate("1Gbps").pps(64) == 1_953_125.0
    assert parse_rate("500Mbps").pps(1518) == pytest.approx(500e6 / (1518 * 8))
    assert parse_rate("1Mpps").pps(9000) == 1e6
    assert MAX_RATE.pps(64) == 0.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10 gigs", "'10 gigs' is not a rate. Use max, a packet rate like 100kpps"),
        ("100kbit", "not a rate"),
        ("1Tbps", "not a rate"),
        ("0pps", "is zero"),
        ("0Gbps", "is zero"),
        ("-5pps", "not a rate"),
        ("500Mpps", "above 100Mpps"),
        ("2000Gbps", "above 1000Gbps"),
        ("1e400pps", "above 100Mpps"),
        (100000, "has no unit. Write 100000pps .* or 100000bps"),
        (1.5, "has no unit. Write 1.5pps"),
        (True, "not a rate"),
        (None, "not a rate"),
        ({"pps": 1}, "not a rate"),
        ("١٠٠kpps", "not a rate"),
        ("", "not a rate"),
    ],
)
def test_rate_rejections(value: object, message: str) -> None:
    with pytest.raises(UnitError, match=message):
        parse_rate(value)


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (MAX_RATE, "max"),
        (Rate("pps", 250_000.0), "250kpps"),
        (Rate("pps", 1_500_000.0), "1.5Mpps"),
        (Rate("pps", 999.0), "999pps"),
        (Rate("pps", 123_456.7), "123.4567kpps"),
        (Rate("bps", 500e6), "500Mbps"),
        (Rate("bps", 10e9), "10Gbps"),
    ],
)
def test_rate_formatting(rate: Rate, text: str) -> None:
    assert format_rate(rate) == text
    assert str(rate) == text


@given(
    st.integers(min_value=1, max_value=100_000_000),
    st.sampled_from(["pps", "bps"]),
)
def test_rate_round_trip_from_values(value: int, kind: str) -> None:
    rate = Rate("pps", float(value)) if kind == "pps" else Rate("bps", float(value))
    assert parse_rate(format_rate(rate)) == rate


@given(
    st.integers(min_value=1, max_value=99_999),
    st.integers(min_value=0, max_value=3),
    st.sampled_from(["", "k", "M"]),
    st.sampled_from(["pps", "bps"]),
)
def test_rate_round_trip_from_text(whole: int, decimals: int, prefix: str, unit: str) -> None:
    number = f"{whole / 10**decimals:.{decimals}f}"
    text = f"{number}{prefix}{unit}"
    assume(not (unit == "pps" and float(number) * {"": 1, "k": 1e3, "M": 1e6}[prefix] > 1e8))
    rate = parse_rate(text)
    assert parse_rate(format_rate(rate)) == rate


@pytest.mark.parametrize(
    ("value", "fraction"),
    [
        ("0.1%", 0.001),
        ("5%", 0.05),
        ("100%", 1.0),
        ("0%", 0.0),
        ("0.5 %", 0.005),
        (0.001, 0.001),
        (0, 0.0),
        (1, 1.0),
        ("0.001", 0.001),
    ],
)
def test_percent_forms(value: object, fraction: float) -> None:
    assert parse_fraction(value) == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "did you mean 5%"),
        (1.5, "did you mean 1.5%"),
        (-0.1, "negative"),
        ("150%", "more than 100%"),
        ("0.1 percent", "not a percentage"),
        ("-1%", "not a percentage"),
        ("abc", "not a percentage"),
        (None, "not a percentage"),
        (True, "not a percentage"),
        (float("nan"), "not a percentage"),
    ],
)
def test_percent_rejections(value: object, message: str) -> None:
    with pytest.raises(UnitError, match=message):
        parse_fraction(value)


def test_percent_formatting() -> None:
    assert format_percent(0.001) == "0.1%"
    assert format_percent(0.05) == "5%"
    assert format_percent(parse_fraction("0.25%")) == "0.25%"


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ("100k", 100_000.0),
        ("1M", 1_000_000.0),
        ("1.5M", 1_500_000.0),
        ("0.05G", 50_000_000.0),
        ("250000", 250_000.0),
        (250000, 250_000.0),
        (12.5, 12.5),
        ("100kpps", 100_000.0),
        (0, 0.0),
    ],
)
def test_count_forms(value: object, count: float) -> None:
    assert parse_count(value) == count


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("lots", "not a number"),
        ("-1", "cannot be negative"),
        (-5, "negative"),
        ("2G", "above 100Mpps"),
        (True, "not a number"),
        (None, "not a number"),
        ("1e400", "above 100Mpps"),
    ],
)
def test_count_rejections(value: object, message: str) -> None:
    with pytest.raises(UnitError, match=message):
        parse_count(value)


@pytest.mark.parametrize(
    ("pps", "text"),
    [
        (0, "0pps"),
        (1_488_095.238, "1.49Mpps"),
        (250_000, "250.00kpps"),
        (50_349.2, "50.35kpps"),
        (12.4, "12pps"),
    ],
)
def test_pps_formatting(pps: float, text: str) -> None:
    assert format_pps(pps) == text


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("4MiB", 4 << 20),
        ("256KiB", 256 << 10),
        ("1 GiB", 1 << 30),
        ("512B", 512),
        ("0.5KiB", 512),
        ("65536", 65536),
        (65536, 65536),
        (0, 0),
    ],
)
def test_size_forms(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4MB", "write 4MiB"),
        ("256k", "write 256KiB"),
        ("-1KiB", "cannot be negative"),
        (-5, "negative"),
        (1.5, "whole number of bytes"),
        ("0.1KiB", "whole number of bytes"),
        (True, "not a size"),
        ("lots", "not a size"),
    ],
)
def test_size_rejections(value: object, message: str) -> None:
    with pytest.raises(UnitError, match=message):
        parse_size(value)


def test_sizes_format_in_the_largest_whole_unit() -> None:
    assert [format_size(v) for v in (4 << 20, 12 << 10, 1 << 30, 100, 0)] == [
        "4MiB",
        "12KiB",
        "1GiB",
        "100B",
        "0B",
    ]


def test_a_duration_option_is_seconds_and_a_bad_one_names_its_flag() -> None:
    from ringlab.controller.scenario.units import duration_option_s
    from ringlab.errors import RinglabInputError

    assert duration_option_s("--case-timeout", "90s") == 90
    assert duration_option_s("--wait", None) is None
    with pytest.raises(RinglabInputError, match=r"^--case-timeout: "):
        duration_option_s("--case-timeout", "soon")
