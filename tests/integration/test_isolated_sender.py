"""Senders in worker processes (rings/isolated.py) on a real veth pair.

The worker must send from the namespace of the thread that created it, report live
progress through shared memory, obey the stop event, report open errors like an
in-process sender, and stop sending when the process that created it dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from veth_lab import VethLab, call_in_netns, lab_tx_config

from ringlab.agent.rings.api import (
    RxConfig,
    RxResult,
    TxConfig,
    TxResult,
    open_receiver,
    open_sender,
)
from ringlab.agent.rings.isolated import IsolatedSender

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, veth, AF_PACKET"),
]

FLOW = 777


def tx_config(lab: VethLab, **kw: object) -> TxConfig:
    return lab_tx_config(lab, FLOW, **kw)


def wait_until(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


def running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        # Gone before the open, or between the open and the read (ESRCH).
        return False


class Receiving:
    """A receiver in namespace B counting on its own thread until stopped."""

    def __init__(self, lab: VethLab) -> None:
        config = RxConfig(interface=lab.if_b, flow_ids=frozenset({FLOW}))
        self.receiver = call_in_netns(lab.ns_b, lambda: open_receiver(config))
        self.stop = threading.Event()
        self.result: RxResult | None = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        self.result = self.receiver.run(self.stop, lambda: None)

    def finish(self) -> RxResult:
        self.stop.set()
        self.thread.join(30)
        self.receiver.close()
        assert self.result is not None
        return self.result


@pytest.fixture
def receiving(veth_lab: VethLab) -> Receiving:
    rx = Receiving(veth_lab)
    yield rx
    if rx.thread.is_alive():
        rx.finish()


@pytest.mark.parametrize("engine", ["ring", "sendto"])
def test_worker_sends_exactly_from_the_creators_namespace(
    veth_lab: VethLab, receiving: Receiving, engine: str
) -> None:
    # Created on a thread inside namespace A: the pytest process itself is not in it,
    # so frames reach B only if the worker joined A.
    sender = call_in_netns(
        veth_lab.ns_a, lambda: IsolatedSender(tx_config(veth_lab, engine=engine))
    )
    try:
        seen_live: list[int] = []

        def watch() -> None:
            wait_until(lambda: sender.progress.packets > 0, 10, "live progress")
            seen_live.append(sender.progress.packets)

        watcher = threading.Thread(target=watch)
        watcher.start()
        tx: TxResult = sender.run(time.monotonic_ns() + 50_000_000, 500_000_000, threading.Event())
        watcher.join(15)
    finally:
        sender.close()
    rx = receiving.finish()
    assert abs(tx.packets - 10_000) <= 100
    assert seen_live and 0 < seen_live[0] <= tx.packets
    assert sender.progress.packets == tx.packets
    flow = rx.flows[FLOW]
    assert (flow.unique_packets, flow.expected_packets) == (tx.packets, tx.packets)
    assert rx.foreign_frames == 0 and rx.kernel_drops == 0


def test_stop_event_ends_a_long_run_early(veth_lab: VethLab, receiving: Receiving) -> None:
    sender = call_in_netns(veth_lab.ns_a, lambda: IsolatedSender(tx_config(veth_lab)))
    stop = threading.Event()
    try:
        threading.Thread(
            target=lambda: (
                wait_until(lambda: sender.progress.packets > 1000, 10, "traffic"),
                stop.set(),
            )
        ).start()
        began = time.monotonic()
        tx = sender.run(time.monotonic_ns() + 20_000_000, 60_000_000_000, stop)
        took = time.monotonic() - began
    finally:
        sender.close()
    rx = receiving.finish()
    assert 1000 < tx.packets < 20_000 * 10
    assert took < 10, f"a 60 s run took {took:.1f} s to stop"
    assert rx.flows[FLOW].unique_packets == tx.packets


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"interface": "nope0"}, "does not exist in this network namespace"),
        ({"frame_size": 9000}, "MTU"),
    ],
)
def test_open_errors_read_like_an_in_process_senders(
    veth_lab: VethLab, change: dict[str, object], says: str
) -> None:
    config = tx_config(veth_lab, **change)
    errors = []
    for opener in (open_sender, IsolatedSender):
        with pytest.raises((OSError, ValueError), match=says) as caught:
            call_in_netns(veth_lab.ns_a, lambda opener=opener: opener(config))
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]


_OWNER = """
import sys, threading, time
from ringlab.agent.rings.api import TxConfig
from ringlab.agent.rings.isolated import IsolatedSender
sys.path.insert(0, {tests!r})
from veth_lab import enter_netns
enter_netns({ns!r})
sender = IsolatedSender(TxConfig(interface={iface!r}, flow_id={flow}, worker=0,
    src_mac={src!r}, dst_mac={dst!r}, frame_size=64, rate_pps=20000))
print(sender.pid, flush=True)
threading.Thread(target=sender.run, args=(time.monotonic_ns(), 600 * 10**9, threading.Event())).start()
while sender.progress.packets == 0:
    time.sleep(0.01)
print("sending", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("fate", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_worker_stops_sending_when_its_owner_dies_or_freezes(
    veth_lab: VethLab, receiving: Receiving, fate: signal.Signals
) -> None:
    script = _OWNER.format(
        tests=os.path.dirname(__file__),
        ns=veth_lab.ns_a,
        iface=veth_lab.if_a,
        flow=FLOW,
        src=veth_lab.mac_a,
        dst=veth_lab.mac_b,
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker_pid = 0
    try:
        assert owner.stdout is not None
        worker_pid = int(owner.stdout.readline())
        assert owner.stdout.readline().strip() == "sending"
        owner.send_signal(fate)
        # Killed: the worker's pipe closes. Frozen: its heartbeat stops. Either way the
        # worker stops sending and exits; no traffic outlives or runs on behind its owner.
        wait_until(lambda: not running(worker_pid), 10, "the worker to exit")
        rx = receiving.finish()
        assert rx.flows[FLOW].unique_packets > 0
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
        if worker_pid and running(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
