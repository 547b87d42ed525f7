"""Ring data plane on a real veth pair between two namespaces.

Senders live in namespace A, receivers in namespace B. Sockets are created on helper
threads that entered the namespace (see conftest); run() then works from any thread.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from dataclasses import replace

import pytest
from veth_lab import VethLab, call_in_netns, lab_tx_config

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings.api import (
    Receiver,
    RxConfig,
    RxResult,
    Sender,
    TxConfig,
    TxResult,
    open_receiver,
    open_sender,
)
from ringlab.agent.rings.rx import RX_SNAP_LEN, snap_len_for

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, veth, AF_PACKET"),
]

FLOW = 4242


def tx_config(lab: VethLab, **kw: object) -> TxConfig:
    return lab_tx_config(lab, FLOW, **kw)


def run_pair(
    lab: VethLab,
    txs: list[TxConfig],
    rxs: list[RxConfig],
    duration_s: float,
    during: object = None,
) -> tuple[list[TxResult], list[RxResult]]:
    receivers: list[Receiver] = [call_in_netns(lab.ns_b, lambda c=c: open_receiver(c)) for c in rxs]
    senders: list[Sender] = []
    try:
        senders = [call_in_netns(lab.ns_a, lambda c=c: open_sender(c)) for c in txs]
        rx_stop, tx_stop = threading.Event(), threading.Event()
        rx_results: list[RxResult | None] = [None] * len(receivers)
        tx_results: list[TxResult | None] = [None] * len(senders)

        def rx_main(i: int) -> None:
            rx_results[i] = receivers[i].run(rx_stop, lambda: None)

        start = time.monotonic_ns() + 50_000_000
        duration = int(duration_s * 1e9)

        def tx_main(i: int) -> None:
            tx_results[i] = senders[i].run(start, duration, tx_stop)

        rx_threads = [threading.Thread(target=rx_main, args=(i,)) for i in range(len(receivers))]
        tx_threads = [threading.Thread(target=tx_main, args=(i,)) for i in range(len(senders))]
        for t in rx_threads + tx_threads:
            t.start()
        if callable(during):
            during()
        for t in tx_threads:
            t.join(timeout=duration_s + 30)
        rx_stop.set()
        for t in rx_threads:
            t.join(timeout=30)
        assert all(r is not None for r in tx_results + rx_results), "a worker did not finish"
        return [r for r in tx_results if r], [r for r in rx_results if r]
    finally:
        for s in senders:
            s.close()
        for r in receivers:
            r.close()


def rx_config(lab: VethLab, **kw: object) -> RxConfig:
    return replace(RxConfig(interface=lab.if_b, flow_ids=frozenset({FLOW})), **kw)  # type: ignore[arg-type]


def assert_exact(tx: TxResult, rx: RxResult) -> None:
    s = rx.flows[FLOW]
    assert tx.packets > 0 and tx.send_errors == 0
    assert s.unique_packets == tx.packets
    assert s.expected_packets == tx.packets  # nothing lost
    assert (s.duplicates, s.reordered) == (0, 0)
    assert s.bytes == tx.bytes
    assert rx.kernel_drops == 0


@pytest.mark.parametrize(
    ("engine", "paged_skb"), [("ring", False), ("ring", True), ("sendto", False)]
)
def test_paced_flow_is_exact(veth_lab: VethLab, engine: str, paged_skb: bool) -> None:
    config = tx_config(veth_lab, engine=engine, rate_pps=50_000, paged_skb=paged_skb)
    (tx,), (rx,) = run_pair(veth_lab, [config], [rx_config(veth_lab)], 1.0)
    # Byte-exact frames either way: a virtio_net_hdr leaking onto the wire would shift
    # the header (foreign frames) and add 10 bytes to every frame.
    assert rx.foreign_frames == 0 and rx.suspect_frames == 0
    assert abs(tx.packets - 50_000) <= 500
    assert_exact(tx, rx)
    lat = rx.latency[FLOW]
    assert lat.samples == tx.packets and 0 < lat.min_us <= lat.p50_us <= lat.p99_us <= lat.max_us
    assert tx.first_wall_ns <= rx.flows[FLOW].first_wall_ns


@pytest.mark.parametrize("paged_skb", [False, True])
def test_max_rate_ring_counts_every_frame_it_reports(veth_lab: VethLab, paged_skb: bool) -> None:
    config = tx_config(veth_lab, rate_pps=0, frame_size=128, paged_skb=paged_skb)
    (tx,), (rx,) = run_pair(veth_lab, [config], [rx_config(veth_lab)], 0.3)
    s = rx.flows[FLOW]
    # Frames the receiving ring had no room for are kernel drops, never silently missing.
    assert s.unique_packets + rx.kernel_drops == tx.packets
    assert s.expected_packets == tx.packets
    assert tx.packets > 10_000
    assert tx.bytes == tx.packets * 124


@pytest.mark.parametrize("snap_len", [0, 64])
def test_cut_frames_count_whole_and_pack_blocks_tight(veth_lab: VethLab, snap_len: int) -> None:
    # 8 KiB blocks hold 5 whole 1518-byte frames but about 50 cut to 64 bytes; at 20 kpps
    # a block fills in well under the 8 ms retire timeout either way. Whole frames then
    # cost a block (and its Python) per 5 frames: the receiver falls behind and the
    # kernel drops; cut frames are all counted.
    config = tx_config(veth_lab, rate_pps=20_000, frame_size=1518)
    rx_cfg = rx_config(veth_lab, block_size=8192, block_count=64, snap_len=snap_len)
    (tx,), (rx,) = run_pair(veth_lab, [config], [rx_cfg], 0.5)
    s = rx.flows[FLOW]
    assert s.unique_packets + rx.kernel_drops == tx.packets
    assert s.bytes == s.unique_packets * 1514  # from tp_len: whole frames, cut or not
    per_block = s.unique_packets / rx.extra["blocks"]
    if snap_len:
        assert_exact(tx, rx)
        assert per_block > 20, per_block
    else:
        assert per_block < 10, per_block


def test_snap_len_for_cuts_only_frames_longer_than_the_snap() -> None:
    assert snap_len_for([64, 68]) == 0  # 64 bytes on the wire without FCS: nothing to cut
    assert snap_len_for([64, 69]) == RX_SNAP_LEN
    assert snap_len_for([1518]) == RX_SNAP_LEN


def test_a_snap_len_shorter_than_the_header_is_refused(veth_lab: VethLab) -> None:
    with pytest.raises(ValueError, match="would cut the 42-byte ringlab header"):
        call_in_netns(veth_lab.ns_b, lambda: open_receiver(rx_config(veth_lab, snap_len=30)))


def test_static_template_counts_packets(veth_lab: VethLab) -> None:
    (tx,), (rx,) = run_pair(
        veth_lab,
        [tx_config(veth_lab, stamping=False)],
        [rx_config(veth_lab, static_flow_ids=frozenset({FLOW}))],
        0.3,
    )
    s = rx.flows[FLOW]
    assert tx.packets > 0 and s.packets == tx.packets
    assert (s.unique_packets, s.expected_packets) == (0, 0)
    assert rx.extra["static_packets"] == tx.packets
    assert rx.latency[FLOW].samples == 0


def test_two_workers_with_fanout_keep_each_stream_on_one_receiver(veth_lab: VethLab) -> None:
    txs = [tx_config(veth_lab, worker=w, rate_pps=20_000) for w in range(2)]
    rxs = [
        rx_config(veth_lab, worker=w, workers=2, fanout_group=4000 + os.getpid() % 1000)
        for w in range(2)
    ]
    tx_results, rx_results = run_pair(veth_lab, txs, rxs, 0.5)
    sent = sum(t.packets for t in tx_results)
    got = [r.flows[FLOW] for r in rx_results]
    # One (flow, worker) stream per receiver: each saw exactly one sender worker's frames.
    assert sorted(g.unique_packets for g in got) == sorted(t.packets for t in tx_results)
    assert sum(g.expected_packets for g in got) == sent
    assert all(g.duplicates == 0 and g.reordered == 0 for g in got)
    assert all(r.kernel_drops == 0 for r in rx_results)


def test_foreign_truncated_and_forged_frames_are_counted_apart(veth_lab: VethLab) -> None:
    good = fr.build_frame(
        dst_mac=veth_lab.mac_b, src_mac=veth_lab.mac_a, flow_id=FLOW, worker=0, frame_size=64
    )
    bad_magic = bytearray(good)
    bad_magic[14:18] = b"XXXX"
    unknown_flow = fr.build_frame(
        dst_mac=veth_lab.mac_b, src_mac=veth_lab.mac_a, flow_id=7, worker=0, frame_size=64
    )
    forged = fr.build_frame(
        dst_mac=veth_lab.mac_b,
        src_mac=veth_lab.mac_a,
        flow_id=FLOW,
        worker=0,
        frame_size=64,
        seq=2**62,
    )
    other_type = bytearray(good)
    other_type[12:14] = b"\x88\xb6"  # not our ethertype: filtered by the kernel, never seen
    injected = {"foreign": [bytes(bad_magic), unknown_flow] * 5, "suspect": [good[:30], forged] * 5}

    def inject() -> None:
        def send_all() -> None:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            with s:
                s.bind((veth_lab.if_a, 0))
                for f in [*injected["foreign"], *injected["suspect"], bytes(other_type)]:
                    s.send(f)
                    time.sleep(0.01)  # spread over the run, not a synchronisation

        call_in_netns(veth_lab.ns_a, send_all)

    (tx,), (rx,) = run_pair(
        veth_lab, [tx_config(veth_lab)], [rx_config(veth_lab)], 0.6, during=inject
    )
    assert rx.foreign_frames == len(injected["foreign"])
    assert rx.suspect_frames == len(injected["suspect"])
    assert_exact(tx, rx)


def test_unknown_interface_is_a_clear_error(veth_lab: VethLab) -> None:
    with pytest.raises(OSError, match="does not exist in this network namespace"):
        call_in_netns(veth_lab.ns_a, lambda: open_sender(tx_config(veth_lab, interface="nope0")))
    with pytest.raises(OSError, match="does not exist in this network namespace"):
        call_in_netns(veth_lab.ns_b, lambda: open_receiver(rx_config(veth_lab, interface="nope0")))


def test_frame_larger_than_mtu_is_refused(veth_lab: VethLab) -> None:
    with pytest.raises(fr.FrameError, match="MTU 1500"):
        call_in_netns(veth_lab.ns_a, lambda: open_sender(tx_config(veth_lab, frame_size=2000)))


def test_stop_before_start_sends_nothing(veth_lab: VethLab) -> None:
    sender = call_in_netns(veth_lab.ns_a, lambda: open_sender(tx_config(veth_lab)))
    try:
        stop = threading.Event()
        stop.set()
        result = sender.run(time.monotonic_ns() + 10**9, 10**9, stop)
        assert result.packets == 0
    finally:
        sender.close()


def test_receiver_keeps_counting_a_late_senders_tail(veth_lab: VethLab) -> None:
    """A sender that starts late (an overloaded host) still has every frame counted."""
    receiver = call_in_netns(veth_lab.ns_b, lambda: open_receiver(rx_config(veth_lab)))
    sender = call_in_netns(veth_lab.ns_a, lambda: open_sender(tx_config(veth_lab, rate_pps=20_000)))
    try:
        now = time.monotonic_ns()
        # The receiver's deadline passes while the sender is only half way through.
        deadline = now + 400_000_000
        start, duration = now + 200_000_000, 400_000_000
        got: list[RxResult] = []
        stop = threading.Event()
        rx_thread = threading.Thread(
            target=lambda: got.append(receiver.run(stop, lambda: deadline))
        )
        rx_thread.start()
        sent = sender.run(start, duration, threading.Event())
        rx_thread.join(timeout=30)
    finally:
        sender.close()
        receiver.close()
    assert sent.packets > 6_000
    assert got[0].flows[FLOW].unique_packets == sent.packets


def _if_counter(ns: str, ifname: str, name: str) -> int:
    from pyroute2 import NetNS

    with NetNS(ns) as nsr:
        (link,) = nsr.link("get", ifname=ifname)
    return int((link.get_attr("IFLA_STATS64") or {}).get(name, 0))


def _set_link(ns: str, ifname: str, state: str) -> None:
    from pyroute2 import NetNS

    with NetNS(ns) as nsr:
        nsr.link("set", index=nsr.link_lookup(ifname=ifname)[0], state=state)


def test_a_link_outage_is_reported_as_frames_not_sent_never_as_a_burst(
    veth_lab: VethLab,
) -> None:
    rate = 50_000
    samples: list[tuple[float, int]] = []

    def outage() -> None:
        deadline = time.monotonic() + 10
        while _if_counter(veth_lab.ns_b, veth_lab.if_b, "rx_packets") < 10_000:
            assert time.monotonic() < deadline, "no traffic arrived"
            time.sleep(0.01)
        _set_link(veth_lab.ns_a, veth_lab.if_a, "down")
        down_at = time.monotonic()
        # The outage itself lasts a second (a fault we make, not a wait for readiness);
        # meanwhile and after, the sender's interface is sampled every 100 ms.
        link_up = False
        while time.monotonic() < down_at + 2.5:
            if not link_up and time.monotonic() >= down_at + 1.0:
                _set_link(veth_lab.ns_a, veth_lab.if_a, "up")
                link_up = True
            samples.append(
                (time.monotonic(), _if_counter(veth_lab.ns_a, veth_lab.if_a, "tx_packets"))
            )
            time.sleep(0.1)

    config = tx_config(veth_lab, rate_pps=rate)
    (tx,), (rx,) = run_pair(veth_lab, [config], [rx_config(veth_lab)], 4.0, during=outage)
    not_sent = tx.extra["not_sent"]
    assert tx.extra["refusals"] == 1 and 0.9e9 <= tx.extra["refused_ns"] <= 1.6e9, tx.extra
    # The traffic of the time the kernel refused to send, less the bounded catch-up (50 ms).
    assert abs(not_sent - tx.extra["refused_ns"] * rate / 1e9) <= 0.1 * rate, tx.extra
    # The schedule's frames are all accounted for: sent, or not sent and reported.
    assert tx.packets + not_sent == 4 * rate
    assert veth_lab.if_a in tx.info["not_sent"] and "not sent" in tx.info["not_sent"]
    # Not one refusal per retry counted as frame errors.
    assert tx.send_errors == 0
    assert_exact(tx, rx)
    # No 100 ms interval after the link came back carries more than twice the rate.
    rates = [(b - a) / (t1 - t0) for (t0, a), (t1, b) in itertools.pairwise(samples)]
    assert max(rates) <= 2 * rate, rates
