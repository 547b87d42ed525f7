"""Baseline engine: one send() per frame on a plain AF_PACKET socket.

Same frame, pacing and counting as the ring engine, so users can see on their NIC
what PACKET_MMAP buys. The per-packet Python loop is the point of this engine.
"""

from __future__ import annotations

import struct
import threading
import time

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings import packet as pk
from ringlab.agent.rings import qdisc as qd
from ringlab.agent.rings.api import Progress, TxConfig, TxResult
from ringlab.agent.rings.pacing import Pacer, default_batch, not_sent_report
from ringlab.agent.rings.sendloop import (
    DROP_RETRY_NS,
    OUTAGE_ERRNOS,
    OUTAGE_RETRY_NS,
    Outage,
    QdiscDrops,
)
from ringlab.agent.rings.start import RealtimeStart, pause_until, run_from_start

DEFAULT_BATCH = 256
_U64 = struct.Struct(">Q")


class SendtoSender:
    def __init__(self, config: TxConfig) -> None:
        self.config = config
        self.progress = Progress()
        self._batch = config.batch or default_batch(config.rate_pps, DEFAULT_BATCH)
        if config.rate_pps < 0:
            raise ValueError(f"rate_pps {config.rate_pps} is negative: use 0 for max rate")
        self._frame = bytearray(
            fr.build_frame(
                dst_mac=config.dst_mac,
                src_mac=config.src_mac,
                flow_id=config.flow_id,
                worker=config.worker,
                frame_size=config.frame_size,
                flags=0 if config.stamping else fr.FLAG_STATIC,
            )
        )
        role = f"sendto sender (flow {config.flow_id}, worker {config.worker})"
        self._sock = pk.open_packet_socket(config.interface, 0, role)
        try:
            fr.check_frame_size(config.frame_size, pk.interface_mtu(self._sock, config.interface))
            if config.qdisc_bypass:
                pk.set_qdisc_bypass(self._sock, True)
            pk.bind_interface(self._sock, config.interface, 0, role)
            self._qdiscs = qd.QdiscWatch(config.interface, config.qdisc_bypass, config.worker)
        except BaseException:
            self._sock.close()
            raise

    def run(self, start_mono_ns: int, duration_ns: int, stop: threading.Event) -> TxResult:
        return run_from_start(
            start_mono_ns, stop, lambda gate: self._send(start_mono_ns, duration_ns, stop, gate)
        )

    def _send(
        self, start_mono_ns: int, duration_ns: int, stop: threading.Event, gate: RealtimeStart
    ) -> TxResult:
        cpu0 = pk.thread_cpu()
        begin = time.monotonic_ns()
        started_wall = time.time_ns()
        end = max(start_mono_ns, begin) + duration_ns
        pacer = Pacer(self.config.rate_pps, max(start_mono_ns, begin), self._batch, end)
        buf = self._frame
        view = memoryview(buf)
        send = self._sock.send
        pack_seq = _U64.pack_into
        stamping = self.config.stamping
        frame_len = len(buf)
        monotonic = time.monotonic_ns
        seq = errors = 0
        first_wall = last_wall = 0
        outage, drops = Outage(), QdiscDrops()
        while True:
            now = monotonic()
            if stop.is_set() or pacer.finished(seq + errors, now):
                break
            n = pacer.allowed(seq + errors, now)
            if n == 0:
                pause_until(min(pacer.next_ns(seq + errors), end), stop)
                continue
            wall = time.time_ns()
            first_wall = first_wall or wall
            last_wall = wall
            if stamping:
                pack_seq(buf, fr.OFF_TX_NS, wall)
            for _ in range(n):
                if stamping:
                    pack_seq(buf, fr.OFF_SEQ, seq + errors)
                try:
                    send(view)
                except (BlockingIOError, InterruptedError):
                    break  # socket buffer full: the rest of the batch goes next time
                except OSError as e:
                    if e.errno in OUTAGE_ERRNOS:
                        # Link down: hold the frame (the pacer gives up what falls behind).
                        outage.refused(e)
                        pause_until(min(monotonic() + OUTAGE_RETRY_NS, end), stop)
                    elif drops.dropped(seq + errors, e, monotonic()):
                        drops.gave_up()
                        errors += 1  # dropped on every try: given up, never sent
                    else:
                        pause_until(monotonic() + DROP_RETRY_NS, stop)
                    break
                outage.accepted()
                if drops.pending:
                    drops.passed()
                seq += 1
            gate.release()
            self.progress.packets = seq
            self.progress.bytes = seq * frame_len
        cpu1 = pk.thread_cpu()
        packets = seq
        interface = self.config.interface
        extra, info = not_sent_report(pacer, packets, errors, interface, outage.finish())
        qdisc_extra, qdisc_info = self._qdiscs.report()
        return TxResult(
            packets=packets,
            bytes=packets * frame_len,
            send_errors=errors,
            started_wall_ns=started_wall,
            first_wall_ns=first_wall,
            last_wall_ns=last_wall,
            user_cpu_s=cpu1[0] - cpu0[0],
            system_cpu_s=cpu1[1] - cpu0[1],
            last_error=outage.error or drops.error,
            extra={**extra, **drops.extra(), **qdisc_extra},
            info={**info, **drops.info(interface), **qdisc_info},
        )

    def close(self) -> None:
        self._sock.close()
