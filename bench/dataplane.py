"""Data-plane benchmark: ringlab ring / sendto senders against trafgen on one veth pair.

    sudo python bench/dataplane.py                 # 64-byte frames, 10 s per sender
    sudo python bench/dataplane.py --duration 3 --sweep   # also 512 and 1500 bytes

One run creates a fresh veth pair between two namespaces; for each sender a ringlab
RX-ring receiver runs in its own process pinned to --rx-cpu, the sender in its own
process pinned to --tx-cpu, one worker each. Printed per sender: packets/s sent, the
ratio to trafgen in the same run, the rate the receiver counted, its kernel drops,
frames lost (sent but not received), and the sender's user-space share of its CPU
time, utime / (utime + stime). trafgen sends a static template (nothing rewritten
per packet); "ring" rewrites sequence number and timestamp of every frame.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

from _lab import Pair, create_pair, destroy_pair, enter_netns

from ringlab.agent.rings import frame as fr
from ringlab.agent.rings.api import (
    RxConfig,
    RxResult,
    TxConfig,
    TxResult,
    open_receiver,
    open_sender,
)

FLOW = 1
ENGINES = ("ring", "ring-paged", "ring-static", "sendto", "trafgen")
# These send the static template (flags bit 0): the receiver must be told, or it
# counts their frames as forged.
STATIC_ENGINES = ("ring-static", "trafgen")
_ctx = mp.get_context("fork")


@dataclass(frozen=True)
class Row:
    engine: str
    frame_size: int
    tx_packets: int
    tx_pps: float
    rx_pps: float
    rx_packets: int
    kernel_drops: int
    lost: int
    user_s: float
    system_s: float
    p50_us: float | None
    p99_us: float | None
    # tx pps / trafgen's tx pps: the median over rounds of each round's own ratio, so a
    # machine whose speed drifts between rounds (a shared VM) moves both sides alike.
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None

    @property
    def user_share(self) -> float:
        total = self.user_s + self.system_s
        return self.user_s / total if total else 0.0


def _rx_main(pair: Pair, cpu: int, static: bool, stop: Any, conn: Connection) -> None:
    os.sched_setaffinity(0, {cpu})
    enter_netns(pair.ns_rx)
    flows = frozenset({FLOW})
    config = RxConfig(
        interface=pair.if_rx, flow_ids=flows, static_flow_ids=flows if static else frozenset()
    )
    receiver = open_receiver(config)
    conn.send("ready")
    try:
        conn.send(receiver.run(stop, lambda: None))
    finally:
        receiver.close()


def _tx_main(
    pair: Pair, cpu: int, config: TxConfig, start_ns: int, duration_ns: int, conn: Connection
) -> None:
    os.sched_setaffinity(0, {cpu})
    enter_netns(pair.ns_tx)
    sender = open_sender(config)
    try:
        conn.send(sender.run(start_ns, duration_ns, _ctx.Event()))
    finally:
        sender.close()


def _start_receiver(pair: Pair, cpu: int, static: bool) -> tuple[Any, Any, Connection]:
    stop = _ctx.Event()
    here, there = _ctx.Pipe()
    proc = _ctx.Process(target=_rx_main, args=(pair, cpu, static, stop, there), daemon=True)
    proc.start()
    if not here.poll(30) or here.recv() != "ready":
        raise RuntimeError("receiver did not become ready within 30 s")
    return proc, stop, here


@dataclass(frozen=True)
class Tuning:
    ring_frames: int = 0  # 0: engine default
    batch: int = 0


def _run_ringlab(
    pair: Pair, cpu: int, engine: str, frame_size: int, duration_ns: int, tuning: Tuning
) -> tuple[TxResult, float]:
    config = TxConfig(
        interface=pair.if_tx,
        flow_id=FLOW,
        worker=0,
        src_mac=pair.mac_tx,
        dst_mac=pair.mac_rx,
        frame_size=frame_size,
        rate_pps=0,
        engine="sendto" if engine == "sendto" else "ring",
        stamping=engine != "ring-static",
        paged_skb=engine == "ring-paged",
        ring_frames=tuning.ring_frames,
        batch=tuning.batch,
    )
    here, there = _ctx.Pipe()
    start = time.monotonic_ns() + 300_000_000
    proc = _ctx.Process(
        target=_tx_main, args=(pair, cpu, config, start, duration_ns, there), daemon=True
    )
    proc.start()
    if not here.poll(duration_ns / 1e9 + 60):
        proc.kill()
        raise RuntimeError(f"{engine} sender did not report within its duration + 60 s")
    result: TxResult = here.recv()
    proc.join()
    return result, duration_ns / 1e9


def _trafgen_config(pair: Pair, frame_size: int) -> str:
    frame = fr.build_frame(
        dst_mac=pair.mac_rx,
        src_mac=pair.mac_tx,
        flow_id=FLOW,
        worker=0,
        frame_size=frame_size,
        flags=fr.FLAG_STATIC,
    )
    head = ", ".join(f"0x{b:02x}" for b in frame[: fr.HEADER_END])
    return f"{{ {head}, fill(0x00, {len(frame) - fr.HEADER_END}) }}\n"


def _run_trafgen(pair: Pair, cpu: int, frame_size: int, duration_ns: int) -> tuple[TxResult, float]:
    trafgen = shutil.which("trafgen")
    if trafgen is None:
        raise RuntimeError("trafgen not found: apt-get install netsniff-ng")
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", prefix="ringlab-bench-") as cfg:
        cfg.write(_trafgen_config(pair, frame_size))
        cfg.flush()

        def enter() -> None:
            os.sched_setaffinity(0, {cpu})
            enter_netns(pair.ns_tx)

        # --no-sock-mem/--notouch-irq: leave the host's sysctls and IRQ affinity alone.
        cmd = [
            trafgen,
            "-i",
            cfg.name,
            "-o",
            pair.if_tx,
            "--cpus",
            "1",
            "--no-sock-mem",
            "--notouch-irq",
        ]
        began = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=enter,
            start_new_session=True,
        )
        time.sleep(duration_ns / 1e9)  # the benchmark's measured interval
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.stdout is not None
        out = proc.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
    match = re.search(r"(\d+) packets outgoing", out)
    if not match:
        raise RuntimeError(f"could not read trafgen's packet count; its output was:\n{out}")
    packets = int(match.group(1))
    result = TxResult(
        packets=packets,
        bytes=packets * fr.buffer_len(frame_size),
        send_errors=0,
        started_wall_ns=0,
        first_wall_ns=0,
        last_wall_ns=0,
        user_cpu_s=usage.ru_utime,
        system_cpu_s=usage.ru_stime,
    )
    return result, elapsed


def measure(
    pair: Pair,
    engine: str,
    frame_size: int,
    duration_s: float,
    tx_cpu: int,
    rx_cpu: int,
    tuning: Tuning = Tuning(),
) -> Row:
    duration_ns = int(duration_s * 1e9)
    proc, stop, conn = _start_receiver(pair, rx_cpu, engine in STATIC_ENGINES)
    try:
        if engine == "trafgen":
            tx, elapsed = _run_trafgen(pair, tx_cpu, frame_size, duration_ns)
        else:
            tx, elapsed = _run_ringlab(pair, tx_cpu, engine, frame_size, duration_ns, tuning)
    finally:
        stop.set()
    if not conn.poll(60):
        proc.kill()
        raise RuntimeError("receiver did not report within 60 s of the end")
    rx: RxResult = conn.recv()
    proc.join()
    flow = rx.flows[FLOW]
    span = (flow.last_wall_ns - flow.first_wall_ns) / 1e9
    static = engine in STATIC_ENGINES
    received = flow.packets if static else flow.unique_packets
    lat = rx.latency[FLOW]
    return Row(
        engine=engine,
        frame_size=frame_size,
        tx_packets=tx.packets,
        tx_pps=tx.packets / elapsed,
        rx_pps=flow.packets / span if span > 0 else 0.0,
        rx_packets=received,
        kernel_drops=rx.kernel_drops,
        # Sent minus received: unlike expected - unique it also sees losses at the tail.
        lost=tx.packets - received,
        user_s=tx.user_cpu_s,
        system_s=tx.system_cpu_s,
        p50_us=lat.p50_us if lat.samples else None,
        p99_us=lat.p99_us if lat.samples else None,
    )


def _median(rows: list[Row], peer: list[Row] | None) -> Row:
    """The round with the median send rate (drops and loss summed over all rounds).

    With `peer` (trafgen's rows of the same rounds) the ratio is taken round by round.
    """
    mid = sorted(rows, key=lambda r: r.tx_pps)[len(rows) // 2]
    pairs = zip(rows, peer or [], strict=False)
    ratios = sorted(r.tx_pps / p.tx_pps for r, p in pairs if p.tx_pps)
    return replace(
        mid,
        kernel_drops=sum(r.kernel_drops for r in rows),
        lost=sum(r.lost for r in rows),
        ratio=statistics.median(ratios) if ratios else None,
        ratio_low=ratios[0] if ratios else None,
        ratio_high=ratios[-1] if ratios else None,
    )


def render(rows: list[Row]) -> str:
    head = (
        f"{'frame':>5} {'sender':<12} {'tx Mpps':>8} {'/trafgen':>8} {'rounds':>11} "
        f"{'rx Mpps':>8} {'drops':>7} {'lost':>7} {'user%':>6} {'lat p50/p99 us':>16}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        spread = (
            f"{r.ratio_low:.2f}-{r.ratio_high:.2f}"
            if r.ratio_low is not None and r.ratio_high is not None
            else "-"
        )
        lat = (
            f"{r.p50_us:.0f}/{r.p99_us:.0f}"
            if r.p50_us is not None and r.p99_us is not None
            else "-"
        )
        lines.append(
            f"{r.frame_size:>5} {r.engine:<12} {r.tx_pps / 1e6:>8.3f} {ratio:>8} {spread:>11}"
            f" {r.rx_pps / 1e6:>8.3f} {r.kernel_drops:>7} {r.lost:>7} {100 * r.user_share:>5.1f}% {lat:>16}"
        )
    return "\n".join(lines)


def goals(rows: list[Row]) -> list[str]:
    """Issue #3's targets, checked on the 64-byte rows."""
    by = {r.engine: r for r in rows if r.frame_size == 64}
    ring, trafgen = by.get("ring"), by.get("trafgen")
    if not ring or not trafgen:
        return []
    ratio = ring.ratio if ring.ratio is not None else ring.tx_pps / trafgen.tx_pps
    checks = [
        (f"ring (stamping) / trafgen = {ratio:.2f} >= 1.2", ratio >= 1.2),
        (f"receiver kernel drops = {ring.kernel_drops}", ring.kernel_drops == 0),
        (f"frames lost = {ring.lost}", ring.lost == 0),
        (f"ring sender user share = {100 * ring.user_share:.1f}% < 20%", ring.user_share < 0.2),
    ]
    return [f"  [{'ok' if ok else 'MISSED'}] {text}" for text, ok in checks]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per sender (default 10)")
    ap.add_argument(
        "--rounds", type=int, default=1, help="interleaved rounds per sender; median shown"
    )
    ap.add_argument("--sweep", action="store_true", help="frame sizes 64, 512 and 1500")
    ap.add_argument(
        "--frame-size", type=int, default=64, help="frame size with FCS when not sweeping"
    )
    ap.add_argument(
        "--engines", default=",".join(ENGINES), help=f"comma list of {', '.join(ENGINES)}"
    )
    ap.add_argument("--ring-frames", type=int, default=0, help="TX ring frames (default: engine's)")
    ap.add_argument("--batch", type=int, default=0, help="frames per kick (default: engine's)")
    ap.add_argument("--tx-cpu", type=int, default=0)
    ap.add_argument("--rx-cpu", type=int, default=1)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "bench/dataplane.py needs root (namespaces, AF_PACKET): run it with sudo",
            file=sys.stderr,
        )
        return 2
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        print(
            f"unknown engine(s) {', '.join(unknown)}: choose from {', '.join(ENGINES)}",
            file=sys.stderr,
        )
        return 2
    cpus = os.sched_getaffinity(0)
    if args.rounds < 1 or args.duration <= 0:
        print("--rounds must be >= 1 and --duration > 0", file=sys.stderr)
        return 2
    if {args.tx_cpu, args.rx_cpu} - cpus or args.tx_cpu == args.rx_cpu:
        print(
            f"--tx-cpu and --rx-cpu must be two different CPUs of {sorted(cpus)}", file=sys.stderr
        )
        return 2
    sizes = [64, 512, 1500] if args.sweep else [args.frame_size]
    tuning = Tuning(ring_frames=args.ring_frames, batch=args.batch)
    pair = create_pair()
    rows: list[Row] = []
    try:
        for size in sizes:
            runs: dict[str, list[Row]] = {e: [] for e in engines}
            # Interleaved rounds: load that changes over time hits every sender alike.
            for _ in range(args.rounds):
                for engine in engines:
                    row = measure(
                        pair, engine, size, args.duration, args.tx_cpu, args.rx_cpu, tuning
                    )
                    runs[engine].append(row)
                    print(
                        f"  {size} B {engine}: {row.tx_pps / 1e6:.3f} Mpps",
                        file=sys.stderr,
                        flush=True,
                    )
            rows.extend(_median(runs[e], runs.get("trafgen")) for e in engines)
    finally:
        destroy_pair(pair.ns_tx, pair.ns_rx)
    print(
        f"veth pair, one worker, {args.duration:g} s per sender x {args.rounds} interleaved"
        f" round(s) (median), tx cpu {args.tx_cpu}, rx cpu {args.rx_cpu}"
    )
    print(render(rows))
    checks = goals(rows)
    if checks:
        print("issue #3 goals (64-byte frames):")
        print("\n".join(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
