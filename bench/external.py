"""External engines benchmark: DPDK testpmd (af_packet and af_xdp vdevs) beside ringlab's
ring and xdp senders and trafgen, on one veth pair.

    sudo python bench/external.py                       # 64-byte frames, 10 rounds of 2 s
    sudo python bench/external.py --rounds 20 --slice 1

Same method as bench/dataplane.py's ratio rounds: in each round every sender runs
--slice seconds back to back with a trafgen run of the same length (trafgen first every
other time), and a pair's ratio is the sender's rate over trafgen's; the median and
quartiles are printed. One instrument rates every sender: the receiving veth's
rx_packets counter (testpmd writes no ringlab header, so ringlab's receiver cannot
count its frames; nothing listens on the receiving end, the kernel counts and drops).
The interval starts once frames arrive, so start-up time (EAL's for testpmd) counts
for none. Every sender's sending thread is on --tx-cpu; testpmd's main lcore, which
waits on its command line, is on the other CPU.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _lab import Pair, create_pair, destroy_pair, enter_netns
from dataplane import _trafgen_config, pair_order, ratio_stats

from ringlab.agent.external import testpmd
from ringlab.agent.rings.api import TxConfig, open_sender

ENGINES = ("testpmd-af_packet", "testpmd-af_xdp", "ring", "xdp", "trafgen")
PEER = "trafgen"
_ctx = mp.get_context("fork")


def rx_packets(pair: Pair) -> int:
    out = subprocess.run(
        ["ip", "-j", "-s", "-n", pair.ns_rx, "link", "show", "dev", pair.if_rx],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(json.loads(out)[0]["stats64"]["rx"]["packets"])


def _ringlab_main(pair: Pair, cpu: int, engine: str, frame_size: int, stop: Any) -> None:
    os.sched_setaffinity(0, {cpu})
    enter_netns(pair.ns_tx)
    config = TxConfig(
        interface=pair.if_tx,
        flow_id=1,
        worker=0,
        src_mac=pair.mac_tx,
        dst_mac=pair.mac_rx,
        frame_size=frame_size,
        rate_pps=0,
        engine="xdp" if engine == "xdp" else "ring",
    )
    sender = open_sender(config)
    try:
        sender.run(time.monotonic_ns(), 3600 * 10**9, stop)
    finally:
        sender.close()


def start_ringlab(pair: Pair, cpu: int, engine: str, frame_size: int) -> Callable[[], None]:
    stop = _ctx.Event()
    proc = _ctx.Process(target=_ringlab_main, args=(pair, cpu, engine, frame_size, stop))
    proc.start()

    def end() -> None:
        stop.set()
        proc.join(30)
        if proc.is_alive():
            proc.kill()

    return end


def start_trafgen(pair: Pair, cpu: int, frame_size: int) -> Callable[[], None]:
    trafgen = shutil.which("trafgen")
    if trafgen is None:
        raise RuntimeError("trafgen not found: apt-get install netsniff-ng")
    cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", prefix="ringlab-bench-")  # noqa: SIM115
    cfg.write(_trafgen_config(pair, frame_size))
    cfg.flush()

    def enter() -> None:
        os.sched_setaffinity(0, {cpu})
        enter_netns(pair.ns_tx)

    cmd = [trafgen, "-i", cfg.name, "-o", pair.if_tx, "--cpus", "1", "--no-sock-mem"]
    proc = subprocess.Popen(
        [*cmd, "--notouch-irq"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=enter,
        start_new_session=True,
    )

    def end() -> None:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
        cfg.close()

    return end


def start_testpmd(pair: Pair, cpu: int, vdev: str, frame_size: int) -> Callable[[], None]:
    main_cpu = next(c for c in sorted(os.sched_getaffinity(0)) if c != cpu)
    options = testpmd.TestpmdOptions(
        interface=pair.if_tx,
        role="send",
        frame_size=frame_size,
        vdev=vdev,
        cores=f"{min(main_cpu, cpu)},{max(main_cpu, cpu)}",
        dst_mac=":".join(f"{b:02x}" for b in pair.mac_rx),
        file_prefix=f"ringlab-bench-{os.getpid()}",
    )
    argv = testpmd.command(options, sorted(os.sched_getaffinity(0)))
    if main_cpu > cpu:  # the main lcore is the first listed unless told
        argv[3:3] = ["--main-lcore", str(main_cpu)]
    proc = subprocess.Popen(
        ["ip", "netns", "exec", pair.ns_tx, "stdbuf", "-oL", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert proc.stdin is not None
    proc.stdin.write("start\n")  # read once the port is up
    proc.stdin.flush()

    def end() -> None:
        assert proc.stdin is not None
        proc.stdin.write("stop\nquit\n")
        proc.stdin.flush()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)
        shutil.rmtree(f"/var/run/dpdk/{options.file_prefix}", ignore_errors=True)

    return end


def measure(pair: Pair, engine: str, frame_size: int, slice_s: float, cpu: int) -> float:
    """Frames per second the receiving veth counted over `slice_s` once frames arrive."""
    base = rx_packets(pair)
    if engine.startswith("testpmd-"):
        end = start_testpmd(pair, cpu, engine.removeprefix("testpmd-"), frame_size)
    elif engine == "trafgen":
        end = start_trafgen(pair, cpu, frame_size)
    else:
        end = start_ringlab(pair, cpu, engine, frame_size)
    try:
        deadline = time.monotonic() + 30
        while rx_packets(pair) - base < 1000:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{engine}: no frames arrived within 30 s")
            time.sleep(0.02)
        first, began = rx_packets(pair), time.monotonic()
        time.sleep(slice_s)  # the measured interval
        last, ended = rx_packets(pair), time.monotonic()
    finally:
        end()
    return (last - first) / (ended - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="pairs per sender")
    parser.add_argument("--slice", type=float, default=2.0, help="seconds per run")
    parser.add_argument("--frame-size", type=int, default=64, help="bytes with FCS")
    parser.add_argument("--tx-cpu", type=int, default=1, help="CPU of the sending thread")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (namespaces, veth)", file=sys.stderr)
        return 2
    pair = create_pair()
    rates: dict[str, list[float]] = {engine: [] for engine in ENGINES}
    pairs: dict[str, list[tuple[float, float]]] = {e: [] for e in ENGINES if e != PEER}
    try:
        for turn in range(args.rounds):
            for engine in pairs:
                got = {
                    name: measure(pair, name, args.frame_size, args.slice, args.tx_cpu)
                    for name in pair_order(engine, PEER, turn)
                }
                rates[engine].append(got[engine])
                rates[PEER].append(got[PEER])
                pairs[engine].append((got[engine], got[PEER]))
            print(f"round {turn + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        destroy_pair(pair.ns_tx, pair.ns_rx)
    print(f"{'sender':<18} {'Mpps (median)':>13} {'/trafgen':>8} {'p25-p75':>11}")
    for engine in ENGINES:
        stats = ratio_stats(pairs[engine]) if engine in pairs else (1.0, 1.0, 1.0)
        median = statistics.median(rates[engine]) / 1e6
        ratio = f"{stats[0]:.2f}" if stats else "-"
        spread = f"{stats[1]:.2f}-{stats[2]:.2f}" if stats and engine != PEER else ""
        print(f"{engine:<18} {median:>13.3f} {ratio:>8} {spread:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
