"""PF_RING's tools (pfsend, pfcount, zsend, zcount): command lines, counters, open errors.

The tools cannot run here (no PF_RING kernel module); the outputs are fixtures built from
their format strings or quoted in PF_RING issues (tests/fixtures/pfring/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ringlab.agent.external.pfring import (
    StatsReader,
    ToolCounters,
    find_open_error,
    parse_count,
    parse_number,
    parse_output,
    receive_command,
    send_command,
    tool_for,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pfring"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_every_fixture_is_listed_with_its_source() -> None:
    readme = fixture("README.md")
    files = sorted(p.name for p in FIXTURES.glob("*.txt"))
    assert files
    for name in files:
        assert f"| {name} |" in readme, name


# ---- command lines -------------------------------------------------------------------


def test_tool_follows_the_device_kind() -> None:
    assert tool_for("send", "eth1") == "pfsend"
    assert tool_for("receive", "eth1") == "pfcount"
    assert tool_for("send", "zc:eth1") == "zsend"
    assert tool_for("receive", "zc:eth1") == "zcount"


def test_pfsend_at_max_rate_sends_until_stopped_with_the_frame_less_its_fcs() -> None:
    assert send_command("eth1", 64) == ["pfsend", "-i", "eth1", "-l", "60", "-n", "0"]


def test_pfsend_paced_counted_and_pinned() -> None:
    command = send_command("eth1", 1518, rate_pps=250000.5, count=1000, core=1)
    assert command == [
        "pfsend", "-i", "eth1", "-l", "1514", "-p", "250000.5", "-n", "1000", "-g", "1",
    ]  # fmt: skip


def test_pfsend_line_rate_in_gbits() -> None:
    command = send_command("eth1", 64, rate_gbps=2.5, executable="/opt/pf/pfsend")
    assert command[0] == "/opt/pf/pfsend"
    assert command[command.index("-r") + 1] == "2.5"
    assert "-p" not in command


def test_pfsend_refuses_a_cluster_id_because_its_c_reforges_addresses() -> None:
    with pytest.raises(ValueError, match="reforges destination IPs"):
        send_command("eth1", 64, cluster_id=3)


def test_zsend_takes_its_cluster_and_whole_pps() -> None:
    command = send_command("zc:eth1", 64, rate_pps=1000000, cluster_id=99, core=0)
    assert command == [
        "zsend", "-i", "zc:eth1", "-l", "60", "-p", "1000000", "-n", "0", "-g", "0", "-c", "99",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="whole packets per second"):
        send_command("zc:eth1", 64, rate_pps=10.5, cluster_id=99)
    with pytest.raises(ValueError, match="needs a cluster_id"):
        send_command("zc:eth1", 64)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frame_size": 63}, "frame_size must be in 64"),
        ({"frame_size": 65540}, "frame_size must be in 64"),
        ({"frame_size": 64, "rate_pps": 10, "rate_gbps": 1.0}, "not both"),
        ({"frame_size": 64, "rate_pps": 0}, "rate_pps must be > 0"),
        ({"frame_size": 64, "rate_gbps": -1.0}, "rate_gbps must be > 0"),
        ({"frame_size": 64, "count": 0}, "count must be in 1.."),
        ({"frame_size": 64, "count": 2**31}, "read it as an int"),
        ({"frame_size": 64, "core": -1}, "core must be in 0.."),
    ],
)
def test_send_command_refuses_what_the_tool_would_misread(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        send_command("eth1", **kwargs)  # type: ignore[arg-type]


def test_pfcount_counts_received_packets_only() -> None:
    assert receive_command("eth1") == ["pfcount", "-i", "eth1", "-e", "1"]
    assert receive_command("eth1", count=500, core=1, cluster_id=7) == [
        "pfcount", "-i", "eth1", "-e", "1", "-N", "500", "-g", "1", "-c", "7",
    ]  # fmt: skip


def test_zcount_needs_a_cluster_and_has_no_count() -> None:
    assert receive_command("zc:eth1", cluster_id=10, core=2) == [
        "zcount", "-i", "zc:eth1", "-g", "2", "-c", "10",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="no packet count option"):
        receive_command("zc:eth1", cluster_id=10, count=5)
    with pytest.raises(ValueError, match="needs a cluster_id"):
        receive_command("zc:eth1")


# ---- numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0.0),
        ("999", 999.0),
        ("1'234", 1234.0),
        ("1'234'567", 1234567.0),
        ("1'234'567'890", 1234567890.0),
        ("0.00", 0.0),
        ("2'764.36", 2764.36),
        ("19'604'725.00", 19604725.0),
    ],
)
def test_numbers_with_apostrophe_separators(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "12'34", "1''234", "'123", "1,234", "1.2.3", "-5", "n/a"])
def test_malformed_numbers_are_unknown(text: str) -> None:
    assert parse_number(text) is None


def test_counts_must_be_whole() -> None:
    assert parse_count("19'604'725.00") == 19604725
    assert parse_count("11'235.95") is None


# ---- counters from the tools' format strings -----------------------------------------


def test_pfsend_reports_packets_only_and_its_last_word() -> None:
    reports = parse_output("pfsend", fixture("pfsend-format.txt"))
    assert [r.packets for r in reports] == [1000012, 2000014, 2412359, 2412359]
    assert all(r.line_bytes is None and r.drops is None for r in reports)
    assert reports[0].current_pps == 999998.12
    assert [r.final for r in reports] == [False, False, True, True]


def test_pfcount_received_bytes_and_drops() -> None:
    reports = parse_output("pfcount", fixture("pfcount-format.txt"))
    assert reports == [
        ToolCounters("pfcount", packets=0, line_bytes=0, drops=0),
        ToolCounters(
            "pfcount", packets=14880000, line_bytes=1249920000, drops=100, current_pps=14880000.0
        ),
        ToolCounters(
            "pfcount",
            packets=1234566990,
            line_bytes=103703627160,
            drops=1000,
            current_pps=14880000.0,
            final=True,
        ),
    ]


def test_zsend_packets_and_line_bytes_without_drops() -> None:
    reports = parse_output("zsend", fixture("zsend-format.txt"))
    assert [(r.packets, r.line_bytes, r.drops, r.final) for r in reports] == [
        (14880952, 1249999968, None, False),
        (29761904, 2499999936, None, False),
        (37202380, 3124999920, None, True),
    ]
    # Line bytes: 60-byte packets plus 24 bytes of preamble, FCS and gap each.
    assert reports[-1].line_bytes == reports[-1].packets * (60 + 24)  # type: ignore[operator]


def test_zcount_packets_drops_and_line_bytes() -> None:
    reports = parse_output("zcount", fixture("zcount-format.txt"))
    assert reports[-1] == ToolCounters(
        "zcount",
        packets=22320000,
        line_bytes=1874880000,
        drops=1428,
        current_pps=14880000.0,
        final=True,
    )
    assert reports[0].current_pps is None  # the first block has no interval yet


# ---- counters quoted in PF_RING issues -----------------------------------------------


def test_pfcount_issue_206_output_cut_inside_a_block() -> None:
    reports = parse_output("pfcount", fixture("pfcount-issue-206.txt"))
    assert [(r.packets, r.line_bytes, r.drops) for r in reports] == [
        (179566, 178390504, 0),
        (351669, 345569858, 0),
        (529336, 515151581, 0),
    ]
    assert reports[1].current_pps == 172090.95
    # The quote ends inside "Actual Stats: [177'6": that rate is unknown, not 177.
    assert reports[2].current_pps is None


def test_pfcount_issue_945_everything_dropped() -> None:
    reports = parse_output("pfcount", fixture("pfcount-issue-945.txt"))
    assert [(r.packets, r.drops) for r in reports] == [(0, 0), (0, 1100254)]


def test_zcount_issue_371() -> None:
    reports = parse_output("zcount", fixture("zcount-issue-371.txt"))
    assert [(r.packets, r.line_bytes, r.drops) for r in reports] == [
        (4, 596, 0),
        (8, 1192, 0),
        (12, 1788, 0),
    ]


def test_zsend_issue_382_blocks_without_blank_lines_and_an_echoed_ctrl_c() -> None:
    reports = parse_output("zsend", fixture("zsend-issue-382.txt"))
    assert len(reports) == 5
    assert [r.final for r in reports] == [False, False, False, True, True]
    assert (reports[-1].packets, reports[-1].line_bytes) == (32769, 20447255)
    assert reports[-1].current_pps == 11235.95
    # -l 600: 624 line bytes a packet.
    assert reports[0].line_bytes == 32768 * 624


def test_pfsend_issue_488_skips_the_line_cut_short() -> None:
    reports = parse_output("pfsend", fixture("pfsend-issue-488.txt"))
    assert [r.packets for r in reports] == [19604725, 5545233]
    assert reports[0].current_pps == 10267572.58


# ---- garbage and missing fields ------------------------------------------------------


def test_an_unreadable_absolute_line_leaves_every_figure_unknown() -> None:
    for tool, line in (
        ("zcount", "Absolute Stats: lots pkts (0 drops) - 1 bytes"),
        ("pfcount", "Absolute Stats: [x pkts total][y pkts dropped]"),
    ):
        (report,) = parse_output(tool, f"=====\n{line}\n=====\n\n")  # type: ignore[arg-type]
        assert (report.packets, report.line_bytes, report.drops) == (None, None, None), tool


def test_a_malformed_number_is_unknown_and_its_neighbours_still_read() -> None:
    (report,) = parse_output("zsend", "=====\nAbsolute Stats: 12'34 pkts - 100 bytes\n=====\n\n")
    assert (report.packets, report.line_bytes, report.drops) == (None, 100, None)


def test_pfcount_without_its_received_line_knows_drops_only() -> None:
    text = "=====\nAbsolute Stats: [10 pkts total][2 pkts dropped][20.0% dropped]\n=====\n\n"
    (report,) = parse_output("pfcount", text)
    assert (report.packets, report.line_bytes, report.drops) == (None, None, 2)


def test_noise_and_empty_output_give_no_reports() -> None:
    for tool in ("pfsend", "pfcount", "zsend", "zcount"):
        assert parse_output(tool, "") == []  # type: ignore[arg-type]
        noise = "Using PF_RING v.8.9.0\n\x00\xff garbage\n[1 pkts rcvd][2 bytes rcvd]\n\n"
        assert parse_output(tool, noise) == []  # type: ignore[arg-type]


def test_reader_reports_a_block_at_its_empty_line() -> None:
    reader = StatsReader("zcount")
    assert reader.feed("=========================") is None
    assert reader.feed("Absolute Stats: 1'000 pkts (3 drops) - 84'000 bytes") is None
    assert reader.feed("=========================") is None
    report = reader.feed("")
    assert report == ToolCounters("zcount", packets=1000, line_bytes=84000, drops=3)
    assert reader.finish() is None


# ---- open errors ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["open-busy-zcount-format.txt", "open-busy-zsend-format.txt"])
def test_zc_contention_is_busy_and_names_the_interface(name: str) -> None:
    error = find_open_error(fixture(name))
    assert error is not None
    assert error.busy
    assert (error.call, error.device, error.interface) == (
        "pfring_zc_open_device",
        "zc:eth1",
        "eth1",
    )
    assert error.message == fixture(name).strip()


def test_ebusy_as_ntop_applications_print_it_is_busy_too() -> None:
    error = find_open_error(fixture("open-busy-cento-issue-184.txt"))
    assert error is not None and error.busy
    assert error.interface == "eth0"


@pytest.mark.parametrize(
    ("name", "call", "reason", "device", "interface"),
    [
        (
            "open-zcount-issue-59.txt",
            "pfring_zc_open_device",
            "Socket operation on non-socket",
            "zc:enp8s0f0",
            "enp8s0f0",
        ),
        (
            "open-zcount-issue-973.txt",
            "pfring_zc_open_device",
            "Socket operation on non-socket",
            "zc:2@0",
            None,
        ),
        ("open-pfcount-issue-541.txt", "pfring_open", "No such device", "zc:ens4f0", "ens4f0"),
        (
            "open-zcount-issue-527.txt",
            "pfring_zc_create_cluster",
            "Socket operation on non-socket",
            None,
            None,
        ),
        ("open-pfcount-issue-963.txt", "pfring_enable_ring", "", None, None),
    ],
)
def test_other_open_errors_are_not_busy(
    name: str, call: str, reason: str, device: str | None, interface: str | None
) -> None:
    error = find_open_error(fixture(name))
    assert error is not None
    assert (error.call, error.reason, error.device, error.interface) == (
        call,
        reason,
        device,
        interface,
    )
    assert not error.busy


def test_running_output_has_no_open_error() -> None:
    for name in ("pfcount-format.txt", "zsend-issue-382.txt", "pfsend-format.txt"):
        assert find_open_error(fixture(name)) is None
