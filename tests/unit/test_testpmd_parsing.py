"""testpmd's command line and its output parsed, against output captured from
dpdk-testpmd 22.11.11 (Debian 12's dpdk-dev) on this project's veth lab
(tests/fixtures/testpmd/: commands in docs/external-engines.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringlab.agent.external import testpmd
from ringlab.agent.external.testpmd import TestpmdCounters as Counters
from ringlab.agent.external.testpmd import TestpmdOptions as Options

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "testpmd"


def fed(role: str, *names: str) -> Counters:
    counters = Counters(role=role)
    for name in names:
        for line in (FIXTURES / name).read_text(errors="replace").splitlines():
            counters.feed(line)
    return counters


def test_txonly_final_forward_statistics_are_the_count() -> None:
    counters = fed("send", "txonly_af_packet.stdout")
    assert counters.started
    assert counters.final_packets() == 1_581_216
    assert counters.final_bytes(1_581_216, 64) == 1_581_216 * 60
    # The last periodic block (behind the screen-clear escape) was read too.
    assert counters.port["TX-packets"] == 765_856
    assert counters.readings == 2
    assert not counters.fatal and not counters.busy


def test_interactive_output_is_ready_at_its_first_stats_and_started_by_start() -> None:
    counters = Counters(role="send")
    lines = (FIXTURES / "txonly_interactive.stdout").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("testpmd> start"))
    for line in lines[:start]:
        counters.feed(line)
    assert not counters.started
    for line in lines[start:]:
        counters.feed(line)
    assert counters.started and counters.ready and counters.readings == 1
    # The prompt in front of a line does not hide it; the final count is the stop's.
    assert counters.port["TX-packets"] == 25_280
    assert counters.final_packets() == 117_792


def test_rxonly_counts_received_frames_and_bytes_per_frame() -> None:
    counters = fed("receive", "rxonly_af_packet.stdout")
    assert counters.final_packets() == 126_883
    assert counters.final_bytes(126_883, 64) == 7_613_070
    assert counters.extra()["testpmd_rx_missed"] == 0


def test_af_xdp_sender_output_parses_the_same_way() -> None:
    counters = fed("send", "txonly_af_xdp.stdout")
    assert counters.final_packets() == 554_112


def test_xsk_busy_is_recognised_in_the_tools_own_words() -> None:
    counters = fed("receive", "xsk_busy.stdout", "xsk_busy.stderr")
    assert counters.busy == "xsk_configure(): Failed to create xsk socket."
    assert not counters.started


@pytest.mark.parametrize(
    ("names", "fatal"),
    [
        (("one_lcore.stdout", "one_lcore.stderr"), "Cause: No cores defined for forwarding"),
        (
            ("cores_unavailable.stdout",),
            "EAL: invalid core list, please check specified cores are part of 0-1",
        ),
        (
            ("no_such_interface.stderr",),
            "rte_pmd_init_internals(): net_af_packet0: ioctl failed (SIOCGIFINDEX):No such device",
        ),
    ],
)
def test_a_testpmd_that_will_never_forward_is_told_by_its_first_fatal_line(
    names: tuple[str, ...], fatal: str
) -> None:
    assert fed("send", *names).fatal == fatal


def test_command_line_for_a_64_byte_txonly_flow_on_af_packet() -> None:
    argv = testpmd.command(
        Options("to-b", "send", 64, dst_mac="02:00:00:00:00:02", file_prefix="p"),
        [0, 1],
    )
    assert argv[:3] == ["dpdk-testpmd", "-l", "0,1"]
    assert "net_af_packet0,iface=to-b,qpairs=1,framecnt=16384" in argv
    assert "--txpkts=60" in argv and "--forward-mode=txonly" in argv
    assert "--eth-peer=0,02:00:00:00:00:02" in argv
    # Interactive: started and stopped on stdin, not --auto-start when spawned.
    assert "-i" in argv and "--auto-start" not in argv


def test_command_line_for_an_af_xdp_receiver_binds_its_queue() -> None:
    argv = testpmd.command(Options("to-a", "receive", 64, vdev="af_xdp", queue=2), [0, 1])
    assert "net_af_xdp0,iface=to-a,start_queue=2,queue_count=1" in argv
    assert "--forward-mode=rxonly" in argv and not any(a.startswith("--txpkts") for a in argv)
    # A receiver left to choose keeps its polling lcore off the sender's CPU.
    assert argv[1:5] == ["-l", "0,1", "--main-lcore", "1"]


@pytest.mark.parametrize(
    ("workers", "cores", "available", "expected"),
    [
        (1, "2,3", [0, 1, 2, 3], ["-l", "2,3"]),
        (2, "4-6", [0], ["-l", "4,5,6"]),
        (2, "", [0, 1, 2, 3], ["-l", "0,1,2"]),
        (3, "", [0, 1], ["--lcores", "(0-3)@(0,1)"]),
    ],
)
def test_cores(workers: int, cores: str, available: list[int], expected: list[str]) -> None:
    assert testpmd.lcore_argument(workers, cores, available) == expected


@pytest.mark.parametrize(
    ("cores", "reason"),
    [("3", "testpmd needs 2"), ("5-2", "not a CPU"), ("1,1", "twice")],
)
def test_unusable_cores_are_refused_with_the_reason(cores: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        testpmd.lcore_argument(1, cores, [0, 1])


def test_an_unknown_vdev_is_refused() -> None:
    with pytest.raises(ValueError, match="af_packet, af_xdp"):
        testpmd.command(Options("x", "send", 64, vdev="pcap"), [0, 1])
