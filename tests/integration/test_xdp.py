"""The AF_XDP engine on real veth pairs between namespaces.

Copy mode only (veth has no zero-copy), native XDP unless a test asks for generic.
Senders run in worker processes as in the agent (rings/isolated.py) unless they share
a socket with a receiver, which must be in the same process. Every test removes its
namespaces, and with them the veth pairs, whatever happens.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pytest
from veth_lab import VethLab, call_in_netns, lab_tx_config, remove_veth_lab
from xdp_lab import (
    attached_program,
    link_text,
    make_multiqueue_lab,
    program_exists,
    wait_until,
)

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
from ringlab.agent.rings.isolated import IsolatedSender
from ringlab.agent.rings.xdp import bpf
from ringlab.agent.rings.xdp.errors import QueueBusy, XdpProgramError, ZeroCopyUnsupported
from ringlab.agent.rings.xdp.netlink import XDP_FLAGS_SKB_MODE, RtNetlink

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, veth, AF_XDP, bpf()"),
]

FLOW = 5151
BACK = 5252


@pytest.fixture
def two_queue_lab() -> Iterator[VethLab]:
    lab = make_multiqueue_lab(2)
    try:
        yield lab
    finally:
        remove_veth_lab(lab.ns_a, lab.ns_b)


def xdp_tx(lab: VethLab, flow: int = FLOW, **kw: object) -> TxConfig:
    return lab_tx_config(lab, flow, engine="xdp", **kw)


def xdp_rx(lab: VethLab, flows: set[int] | None = None, **kw: object) -> RxConfig:
    base = RxConfig(interface=lab.if_b, flow_ids=frozenset(flows or {FLOW}), engine="xdp")
    return replace(base, **kw)  # type: ignore[arg-type]


@dataclass
class Run:
    """Receivers counting on threads, senders sending from one start; closes everything."""

    receivers: list[Receiver] = field(default_factory=list)
    senders: list[Sender] = field(default_factory=list)

    def receive(self, ns: str, config: RxConfig) -> Receiver:
        receiver = call_in_netns(ns, lambda: open_receiver(config))
        self.receivers.append(receiver)
        return receiver

    def send(self, ns: str, config: TxConfig, isolated: bool = True) -> Sender:
        opener = IsolatedSender if isolated else open_sender
        sender: Sender = call_in_netns(ns, lambda: opener(config))
        self.senders.append(sender)
        return sender

    def go(self, duration_s: float) -> tuple[list[TxResult], list[RxResult]]:
        stop_rx = threading.Event()
        rx: list[RxResult | None] = [None] * len(self.receivers)
        tx: list[TxResult | None] = [None] * len(self.senders)
        start = time.monotonic_ns() + 100_000_000
        duration = int(duration_s * 1e9)

        def receive(i: int) -> None:
            rx[i] = self.receivers[i].run(stop_rx, lambda: None)

        def send(i: int) -> None:
            tx[i] = self.senders[i].run(start, duration, threading.Event())

        rx_threads = [threading.Thread(target=receive, args=(i,)) for i in range(len(rx))]
        tx_threads = [threading.Thread(target=send, args=(i,)) for i in range(len(tx))]
        for t in rx_threads + tx_threads:
            t.start()
        for t in tx_threads:
            t.join(duration_s + 30)
        stop_rx.set()
        for t in rx_threads:
            t.join(30)
        assert all(r is not None for r in tx + rx), "a worker did not finish"
        return [r for r in tx if r], [r for r in rx if r]

    def close(self) -> None:
        for s in self.senders:
            s.close()
        for r in self.receivers:
            r.close()


@pytest.fixture
def run() -> Iterator[Run]:
    r = Run()
    try:
        yield r
    finally:
        r.close()


def assert_exact(tx: TxResult, rx: RxResult, flow: int = FLOW) -> None:
    s = rx.flows[flow]
    assert tx.packets > 0 and tx.send_errors == 0, tx
    assert (s.unique_packets, s.expected_packets) == (tx.packets, tx.packets)
    assert (s.duplicates, s.reordered) == (0, 0)
    assert s.bytes == tx.bytes
    assert rx.kernel_drops == 0 and rx.foreign_frames == 0 and rx.suspect_frames == 0


# -- traffic -------------------------------------------------------------------------


def test_xdp_to_xdp_100kpps_for_3s_is_exact(veth_lab: VethLab, run: Run) -> None:
    run.receive(veth_lab.ns_b, xdp_rx(veth_lab))
    run.send(veth_lab.ns_a, xdp_tx(veth_lab, rate_pps=100_000))
    (tx,), (rx,) = run.go(3.0)
    assert tx.packets == 300_000
    assert_exact(tx, rx)
    assert rx.extra["xdp_frames_read"] == 300_000
    # Every frame carried the receive program's kernel stamp.
    assert rx.extra["xdp_kernel_stamped"] == 300_000
    lat = rx.latency[FLOW]
    assert lat.samples == 300_000 and 0 < lat.min_us <= lat.p50_us <= lat.p99_us <= lat.max_us
    assert tx.info["xdp_mode"] == rx.info["xdp_mode"] == "copy"  # veth has no zero-copy
    assert (rx.info["xdp_attach"], rx.info["xdp_attach_via"]) == ("native", "link")
    assert (rx.extra["xdp_zerocopy"], rx.extra["xdp_native"], rx.extra["xdp_link"]) == (0, 1, 1)
    for name in ("rx_dropped", "rx_ring_full", "rx_invalid_descs", "rx_fill_ring_empty_descs"):
        assert rx.extra[f"xdp_{name}"] == 0, name
    assert tx.extra["xdp_tx_invalid_descs"] == 0


@pytest.mark.parametrize(("tx_engine", "rx_engine"), [("xdp", "ring"), ("ring", "xdp")])
def test_xdp_and_ring_ends_interwork_exactly(
    veth_lab: VethLab, run: Run, tx_engine: str, rx_engine: str
) -> None:
    run.receive(
        veth_lab.ns_b,
        RxConfig(interface=veth_lab.if_b, flow_ids=frozenset({FLOW}), engine=rx_engine),  # type: ignore[arg-type]
    )
    run.send(veth_lab.ns_a, lab_tx_config(veth_lab, FLOW, engine=tx_engine, rate_pps=50_000))
    (tx,), (rx,) = run.go(1.0)
    assert abs(tx.packets - 50_000) <= 500
    assert_exact(tx, rx)


def test_generic_attach_is_used_when_asked_and_counts_exactly(veth_lab: VethLab, run: Run) -> None:
    receiver = run.receive(veth_lab.ns_b, xdp_rx(veth_lab, xdp_attach="generic"))
    assert "xdpgeneric" in link_text(veth_lab.ns_b, veth_lab.if_b)
    run.send(veth_lab.ns_a, xdp_tx(veth_lab, rate_pps=20_000))
    (tx,), (rx,) = run.go(0.5)
    assert_exact(tx, rx)
    assert rx.info["xdp_attach"] == "generic" and rx.extra["xdp_native"] == 0
    assert receiver.info["xdp_attach"] == "generic"  # type: ignore[attr-defined]


def test_max_rate_losses_are_all_accounted(veth_lab: VethLab, run: Run) -> None:
    """At max rate every frame the sender reports is counted or is in XDP_STATISTICS;
    frames the veth dropped (its peer's ring full) are the sender's send_errors."""
    run.receive(veth_lab.ns_b, xdp_rx(veth_lab, xdp_frames=512))
    run.send(veth_lab.ns_a, xdp_tx(veth_lab, rate_pps=0))
    (tx,), (rx,) = run.go(0.5)
    s = rx.flows[FLOW]
    assert tx.packets > 10_000
    assert s.unique_packets + rx.kernel_drops == tx.packets
    assert rx.kernel_drops == (
        rx.extra["xdp_rx_dropped"] + rx.extra["xdp_rx_ring_full"] + rx.extra["xdp_rx_invalid_descs"]
    )
    assert tx.send_errors == tx.extra["xdp_device_drops"]
    assert s.duplicates == 0


def test_static_template_and_stop_before_start(veth_lab: VethLab, run: Run) -> None:
    run.receive(veth_lab.ns_b, xdp_rx(veth_lab, static_flow_ids=frozenset({FLOW})))
    run.send(veth_lab.ns_a, xdp_tx(veth_lab, stamping=False), isolated=False)
    (tx,), (rx,) = run.go(0.3)
    assert tx.packets > 0 and rx.flows[FLOW].packets == tx.packets
    assert rx.extra["static_packets"] == tx.packets
    stop = threading.Event()
    stop.set()
    idle = run.senders[0].run(time.monotonic_ns() + 10**9, 10**9, stop)
    assert idle.packets == 0 and idle.info["xdp_mode"] == "copy"


def test_two_queues_two_sockets_each_exact(two_queue_lab: VethLab, run: Run) -> None:
    lab = two_queue_lab
    # Worker w binds queue xdp_queue + w: two workers cover queues 0 and 1 on each side.
    for w in range(2):
        run.receive(lab.ns_b, xdp_rx(lab, worker=w, workers=2))
    for w in range(2):
        run.send(lab.ns_a, xdp_tx(lab, worker=w, rate_pps=20_000))
    # Both receivers share one program and one map on the interface.
    assert attached_program(lab.ns_b, lab.if_b) is not None
    txs, rxs = run.go(0.5)
    assert [r.extra["xdp_queue"] for r in rxs] == [0, 1]
    assert [t.extra["xdp_queue"] for t in txs] == [0, 1]
    for tx, rx in zip(txs, rxs, strict=True):
        # TX queue q of one end lands on RX queue q of the other: one stream per socket.
        assert_exact(tx, rx)


def test_shared_socket_sends_and_receives_on_one_queue(veth_lab: VethLab, run: Run) -> None:
    """xdp_share: one socket per side carries both directions on queue 0."""
    a_side = replace(veth_lab, if_b=veth_lab.if_a)  # receive configs for side A
    # Either side may open first: B's receiver makes its socket, A's sender makes A's.
    run.receive(veth_lab.ns_b, xdp_rx(veth_lab, xdp_share=True))
    run.send(veth_lab.ns_a, xdp_tx(veth_lab, rate_pps=20_000, xdp_share=True), isolated=False)
    run.receive(veth_lab.ns_a, xdp_rx(a_side, {BACK}, xdp_share=True))
    back = lab_tx_config(veth_lab, BACK, engine="xdp", rate_pps=20_000, xdp_share=True)
    back = replace(back, interface=veth_lab.if_b, src_mac=veth_lab.mac_b, dst_mac=veth_lab.mac_a)
    run.send(veth_lab.ns_b, back, isolated=False)
    # One socket per side: the shared queue is not bound twice.
    assert len({s.xsk.key for s in run.senders} | {r.xsk.key for r in run.receivers}) == 2  # type: ignore[attr-defined]
    (tx_ab, tx_ba), (rx_b, rx_a) = run.go(0.5)
    assert_exact(tx_ab, rx_b, FLOW)
    assert_exact(tx_ba, rx_a, BACK)
    assert tx_ab.info["xdp_share"] == rx_b.info["xdp_share"] == "yes"


# -- contention -------------------------------------------------------------------------


def test_second_socket_on_a_queue_gets_ebusy_naming_interface_and_queue(
    veth_lab: VethLab, run: Run
) -> None:
    run.receive(veth_lab.ns_b, xdp_rx(veth_lab))
    back = replace(
        xdp_tx(veth_lab, BACK),
        interface=veth_lab.if_b,
        src_mac=veth_lab.mac_b,
        dst_mac=veth_lab.mac_a,
    )
    # In this process: the holder is named.
    with pytest.raises(QueueBusy) as caught:
        call_in_netns(veth_lab.ns_b, lambda: open_sender(back))
    err = caught.value
    assert err.errno == errno.EBUSY and (err.interface, err.queue) == (veth_lab.if_b, 0)
    text = str(err)
    assert f"interface {veth_lab.if_b} queue 0 is busy" in text
    assert "another AF_XDP socket owns it (this process's xdp receiver (worker 0))" in text
    # From a sender's own process, as in the agent: the same error crosses the pipe.
    began = time.monotonic()
    with pytest.raises(QueueBusy) as caught:
        call_in_netns(veth_lab.ns_b, lambda: IsolatedSender(back))
    assert time.monotonic() - began < 15
    err = caught.value
    assert (err.errno, err.interface, err.queue) == (errno.EBUSY, veth_lab.if_b, 0)
    assert f"pid {os.getpid()}" in str(err)  # the process holding AF_XDP sockets
    # Copy mode was asked explicitly: EBUSY comes before the copy/zero-copy choice.
    with pytest.raises(QueueBusy):
        call_in_netns(veth_lab.ns_b, lambda: open_sender(replace(back, xdp_mode="copy")))


def test_zerocopy_on_veth_is_refused_clearly(veth_lab: VethLab) -> None:
    with pytest.raises(ZeroCopyUnsupported, match="has no AF_XDP zero-copy"):
        call_in_netns(veth_lab.ns_a, lambda: open_sender(xdp_tx(veth_lab, xdp_mode="zerocopy")))


def test_a_queue_the_interface_lacks_is_named(veth_lab: VethLab) -> None:
    with pytest.raises(OSError, match=r"the interface has 1 queue\(s\) \(0..0\)"):
        call_in_netns(veth_lab.ns_b, lambda: open_receiver(xdp_rx(veth_lab, xdp_queue=1)))
    assert attached_program(veth_lab.ns_b, veth_lab.if_b) is None


def test_someone_elses_xdp_program_is_not_replaced(veth_lab: VethLab) -> None:
    def attach_other() -> tuple[RtNetlink, int]:
        fd = bpf.load_program([bpf.mov64_imm(0, 2), bpf.exit_insn()], "other_prog", "GPL")
        nl = RtNetlink()
        nl.set_xdp(socket.if_nametoindex(veth_lab.if_b), fd, XDP_FLAGS_SKB_MODE)
        return nl, fd

    nl, fd = call_in_netns(veth_lab.ns_b, attach_other)
    try:
        with pytest.raises(XdpProgramError, match="already has an XDP program") as caught:
            call_in_netns(veth_lab.ns_b, lambda: open_receiver(xdp_rx(veth_lab)))
        assert "'other_prog'" in str(caught.value) and "xdp off" in str(caught.value)
    finally:
        nl.close()
        os.close(fd)


# -- cleanup ------------------------------------------------------------------------------


def test_nothing_is_left_after_close(veth_lab: VethLab) -> None:
    receiver = call_in_netns(veth_lab.ns_b, lambda: open_receiver(xdp_rx(veth_lab)))
    sender = call_in_netns(veth_lab.ns_a, lambda: open_sender(xdp_tx(veth_lab)))
    prog_id = attached_program(veth_lab.ns_b, veth_lab.if_b)
    assert prog_id is not None and "xdp" in link_text(veth_lab.ns_b, veth_lab.if_b)
    sender.close()
    receiver.close()
    assert "xdp" not in link_text(veth_lab.ns_b, veth_lab.if_b)
    wait_until(lambda: not program_exists(prog_id), 5, f"program {prog_id} to be freed")
    # The queues are free again (a closed socket's pool is released asynchronously; the
    # bind waits for it within its bounded retry).
    again = call_in_netns(veth_lab.ns_b, lambda: open_receiver(xdp_rx(veth_lab)))
    again.close()
    call_in_netns(veth_lab.ns_a, lambda: open_sender(xdp_tx(veth_lab))).close()


def test_nothing_is_left_when_opening_fails_half_way(
    veth_lab: VethLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The program was attached and the socket bound when inserting into the map fails."""
    seen: list[int | None] = []

    def fail(map_fd: int, key: int, value: int) -> None:
        seen.append(attached_program(veth_lab.ns_b, veth_lab.if_b))
        raise OSError(errno.ENOMEM, "injected failure")

    monkeypatch.setattr(bpf, "map_update_u32", fail)
    with pytest.raises(OSError, match="injected failure"):
        call_in_netns(veth_lab.ns_b, lambda: open_receiver(xdp_rx(veth_lab)))
    assert seen and seen[0] is not None  # it did get that far
    assert attached_program(veth_lab.ns_b, veth_lab.if_b) is None
    monkeypatch.undo()
    call_in_netns(veth_lab.ns_b, lambda: open_receiver(xdp_rx(veth_lab))).close()


_HOLDER = """
import sys, time
sys.path.insert(0, {tests!r})
from veth_lab import enter_netns
from ringlab.agent.rings.api import RxConfig, TxConfig, open_receiver, open_sender
enter_netns({ns!r})
receiver = open_receiver(RxConfig(interface={iface!r}, flow_ids=frozenset({{1}}), engine="xdp",
    xdp_share=True))
sender = open_sender(TxConfig(interface={iface!r}, flow_id=2, worker=0, src_mac=bytes(6),
    dst_mac=bytes(6), frame_size=64, rate_pps=1000, engine="xdp", xdp_share=True))
print("ready", flush=True)
time.sleep(600)
"""


def test_nothing_is_left_after_kill_9_of_the_holder(veth_lab: VethLab) -> None:
    script = _HOLDER.format(tests=os.path.dirname(__file__), ns=veth_lab.ns_b, iface=veth_lab.if_b)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        prog_id = attached_program(veth_lab.ns_b, veth_lab.if_b)
        assert prog_id is not None
        with pytest.raises(QueueBusy):  # it really holds the queue
            call_in_netns(veth_lab.ns_b, lambda: open_receiver(xdp_rx(veth_lab)))
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        # The bpf link closed with the process: the program is detached and freed.
        wait_until(lambda: "xdp" not in link_text(veth_lab.ns_b, veth_lab.if_b), 5, "the detach")
        wait_until(lambda: not program_exists(prog_id), 5, f"program {prog_id} to be freed")
        again = call_in_netns(veth_lab.ns_b, lambda: open_receiver(xdp_rx(veth_lab)))
        again.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
