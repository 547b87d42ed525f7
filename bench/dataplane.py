"""Data-plane benchmark: ringlab ring / sendto / xdp senders against trafgen on one veth pair.

    sudo python bench/dataplane.py                 # 64-byte frames (about 6 minutes)
    sudo python bench/dataplane.py --duration 3 --rounds 10 --sweep   # 64, 512, 1500 B

One run creates a fresh veth pair between two namespaces; for each sender a ringlab
RX-ring receiver (--rx-engine xdp: an AF_XDP one) runs in its own process pinned to
--rx-cpu, the sender in its own process pinned to --tx-cpu, one worker each. trafgen
sends a static template (nothing rewritten per packet); "ring" rewrites sequence number
and timestamp of every frame, and so does "xdp" (AF_XDP, copy mode on veth; see
docs/afxdp.md).

Two parts per frame size:
- ratio rounds: in each of --rounds rounds every sender runs --slice seconds back to
  back with a trafgen run of the same length (trafgen first every other time). A pair's
  ratio is the sender's rate over trafgen's, both as the receiver counted them; the
  median and quartiles over the pairs are printed.
  Short alternating turns because this kind of machine (a shared VM) switches between a
  fast and a slow state every few seconds: ratios of long runs taken one after the other
  mostly measure which state each run fell into.
- sustained: one --duration run per sender: packets/s sent, the rate the receiver
  counted, its kernel drops, frames lost (sent but not received), the sender's
  user-space share of its CPU time, utime / (utime + stime), and latency.
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
from ringlab.agent.rings.rx import snap_len_for

FLOW = 1
ENGINES = ("ring", "ring-paged", "ring-static", "sendto", "xdp", "trafgen")
# These send the static template (flags bit 0): the receiver must be told, or it
# counts their frames as forged.
STATIC_ENGINES = ("ring-static", "trafgen")
PEER = "trafgen"
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
    # Rate / trafgen's rate from the short ratio rounds (see ratio_stats): median, p25, p75.
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None

    @property
    def user_share(self) -> float:
        total = self.user_s + self.system_s
        return self.user_s / total if total else 0.0


def _rx_main(
    pair: Pair,
    cpu: int,
    static: bool,
    frame_size: int,
    rx_engine: str,
    stop: Any,
    conn: Connection,
) -> None:
    os.sched_setaffinity(0, {cpu})
    enter_netns(pair.ns_rx)
    flows = frozenset({FLOW})
    config = RxConfig(
        interface=pair.if_rx,
        flow_ids=flows,
        static_flow_ids=flows if static else frozenset(),
        snap_len=snap_len_for([frame_size]),  # as an agent's receiver would
        engine="xdp" if rx_engine == "xdp" else "ring",
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


def _start_receiver(
    pair: Pair, cpu: int, static: bool, frame_size: int, rx_engine: str
) -> tuple[Any, Any, Connection]:
    stop = _ctx.Event()
    here, there = _ctx.Pipe()
    proc = _ctx.Process(
        target=_rx_main,
        args=(pair, cpu, static, frame_size, rx_engine, stop, there),
        daemon=True,
    )
    proc.start()
    if not here.poll(30) or here.recv() != "ready":
        raise RuntimeError("receiver did not become ready within 30 s")
    return proc, stop, here


@dataclass(frozen=True)
class Tuning:
    ring_frames: int = 0  # 0: engine default
    batch: int = 0
    rx_engine: str = "ring"  # the receiver's engine: ring (RX ring) or xdp (AF_XDP)


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
        engine="sendto" if engine == "sendto" else "xdp" if engine == "xdp" else "ring",
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
    proc, stop, conn = _start_receiver(
        pair, rx_cpu, engine in STATIC_ENGINES, frame_size, tuning.rx_engine
    )
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


def pair_order(engine: str, peer: str, turn: int) -> list[str]:
    """A sender and the peer back to back, the peer first every other turn, so a drift
    in the machine's speed within a pair favours neither on average."""
    return [engine, peer] if turn % 2 == 0 else [peer, engine]


def ratio_stats(pairs: list[tuple[float, float]]) -> tuple[float, float, float] | None:
    """Median, p25 and p75 of rate / peer rate over back-to-back pairs of runs."""
    ratios = sorted(rate / peer for rate, peer in pairs if peer > 0)
    if not ratios:
        return None
    if len(ratios) == 1:
        return ratios[0], ratios[0], ratios[0]
    q = statistics.quantiles(ratios, n=4, method="inclusive")
    return statistics.median(ratios), q[0], q[-1]


def render(rows: list[Row]) -> str:
    head = (
        f"{'frame':>5} {'sender':<12} {'tx Mpps':>8} {'/trafgen':>8} {'p25-p75':>11} "
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
    ratio = ring.ratio if ring.ratio is not None else ring.rx_pps / trafgen.rx_pps
    checks = [
        (f"ring (stamping) / trafgen = {ratio:.2f} >= 1.2", ratio >= 1.2),
        (f"receiver kernel drops = {ring.kernel_drops}", ring.kernel_drops == 0),
        (f"frames lost = {ring.lost}", ring.lost == 0),
        (f"ring sender user share = {100 * ring.user_share:.1f}% < 20%", ring.user_share < 0.2),
    ]
    return [f"  [{'ok' if ok else 'MISSED'}] {text}" for text, ok in checks]


def measure_size(
    pair: Pair, engines: list[str], size: int, args: argparse.Namespace, tuning: Tuning
) -> list[Row]:
    def run(engine: str, seconds: float) -> Row:
        row = measure(pair, engine, size, seconds, args.tx_cpu, args.rx_cpu, tuning)
        print(
            f"  {size} B {engine} {seconds:g} s: {row.rx_pps / 1e6:.3f} Mpps received",
            file=sys.stderr,
            flush=True,
        )
        return row

    # The rates are the receiver's (frames / first-to-last-frame span): one instrument
    # for every sender, blind to start-up time and to how a sender counts its frames.
    pairs: dict[str, list[tuple[float, float]]] = {e: [] for e in engines if e != PEER}
    if PEER in engines:
        for n in range(args.rounds):
            for k, engine in enumerate(pairs):
                got = {e: run(e, args.slice).rx_pps for e in pair_order(engine, PEER, n + k)}
                pairs[engine].append((got[engine], got[PEER]))
    sustained = {e: run(e, args.duration) for e in engines}
    if PEER in engines and not args.rounds:
        peer_rate = sustained[PEER].rx_pps
        pairs = {e: [(sustained[e].rx_pps, peer_rate)] for e in pairs}
    ratios = {e: ratio_stats(p) for e, p in pairs.items()}
    if PEER in engines:
        ratios[PEER] = (1.0, 1.0, 1.0)
    rows = []
    for engine in engines:
        mid, low, high = ratios.get(engine) or (None, None, None)
        rows.append(replace(sustained[engine], ratio=mid, ratio_low=low, ratio_high=high))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds of the sustained run per sender: rates, drops, loss, CPU (default 10)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=30,
        help="rounds of short back-to-back runs, each sender paired with trafgen, for the"
        " ratios (default 30; 0: ratios from the sustained runs)",
    )
    ap.add_argument(
        "--slice", type=float, default=1.0, help="seconds per sender per round (default 1)"
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
    ap.add_argument(
        "--rx-engine",
        choices=("ring", "xdp"),
        default="ring",
        help="the receiver's engine (default ring; xdp: AF_XDP, its drops are XDP_STATISTICS)",
    )
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
    if args.rounds < 0 or args.duration <= 0 or args.slice <= 0:
        print("--rounds must be >= 0, --duration and --slice > 0", file=sys.stderr)
        return 2
    if {args.tx_cpu, args.rx_cpu} - cpus or args.tx_cpu == args.rx_cpu:
        print(
            f"--tx-cpu and --rx-cpu must be two different CPUs of {sorted(cpus)}", file=sys.stderr
        )
        return 2
    sizes = [64, 512, 1500] if args.sweep else [args.frame_size]
    tuning = Tuning(ring_frames=args.ring_frames, batch=args.batch, rx_engine=args.rx_engine)
    pair = create_pair()
    rows: list[Row] = []
    try:
        for size in sizes:
            rows.extend(measure_size(pair, engines, size, args, tuning))
    finally:
        destroy_pair(pair.ns_tx, pair.ns_rx)
    print(
        f"veth pair, one worker, tx cpu {args.tx_cpu}, rx cpu {args.rx_cpu}, {args.rx_engine}"
        f" receiver; rates, drops,"
        f" loss and CPU from one {args.duration:g} s run per sender; /trafgen from"
        f" {args.rounds} rounds of {args.slice:g} s per sender (median, p25-p75)"
    )
    print(render(rows))
    checks = goals(rows)
    if checks:
        print("issue #3 goals (64-byte frames):")
        print("\n".join(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
