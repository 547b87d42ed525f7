"""How a nightly `ringlab regress` grows with the lab: N linked pairs, one select.

    sudo python bench/regress_scale.py                    # N = 1, 4, 8, 16
    sudo python bench/regress_scale.py --pairs 1,4 --max-parallel 4

For each N, a built-in lab of 2N hosts wired in N pairs (`--topology pairs`: g1-d1,
g2-d2, ...; one real agent process per host over Unix-socket gRPC) gets an inventory
that labels the g hosts role=gen and the d hosts role=dut. One suite with one test,
`select: {g: {role: gen}, d: {role: dut}}`, makes the N linked pairs its cases (the
N² - N unlinked combinations are left out). The suite runs once with
--update-baseline, then the measured run compares every case with its baseline: the
real `ringlab regress` command line, as a subprocess, so its CPU is the
controller's alone (the children's rusage around it), not the agents'.

Printed per N: cases and left-out sets, the measured run's wall time (the whole command,
start-up included) and its ratio to N = 1, the controller's CPU time (user + system),
per case and per case beyond the first size (start-up and imports, about a second,
paid once), and whether every case passed with exactly one JUnit test case per pair.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import yaml

SCENARIO = """\
version: 1
name: pair
mode: unidirectional
duration: {duration}s
hosts: {{g: {{}}, d: {{}}}}
flows:
  - {{from: g, to: d, frame_size: 64, rate: {rate}pps}}
"""

SUITE = """\
version: 1
name: nightly
thresholds: {max_rx_pps_drop: 20%, max_loss: 1%}
tests:
  - scenario: pair.yaml
    select: {g: {role: gen}, d: {role: dut}}
"""


@dataclass
class Figures:
    pairs: int
    cases: int
    left_out: int
    lab_up_s: float
    wall_s: float
    cpu_s: float
    passed: bool


def regress(
    work: Path, env: dict[str, str], extra: list[str]
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """`ringlab regress` in a subprocess: the result, its wall time and its CPU time."""
    command = [
        sys.executable, "-m", "ringlab", "regress", str(work / "suite.yaml"),
        "--baseline", "gold", "--inventory", str(work / "inventory.yaml"),
        "--junit", str(work / "junit.xml"), *extra,
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    wall = time.monotonic() - started
    # Only this child ends between the two readings (the lab's agents run on until the
    # lab is removed), so the difference is the controller's CPU alone.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, wall, cpu


def one_size(pairs: int, args: argparse.Namespace, base: Path) -> Figures:
    from ringlab.controller.remote.lab import create_lab, destroy_lab, wait_ready

    work = base / f"n{pairs}"
    work.mkdir()
    env = {**os.environ, "RINGLAB_DB": str(work / "runs.db"), "RINGLAB_LAB_DIR": str(base)}
    os.environ["RINGLAB_LAB_DIR"] = str(base)
    hosts = [h for i in range(1, pairs + 1) for h in (f"g{i}", f"d{i}")]
    up = time.monotonic()
    lab = create_lab(f"rs{os.getpid() % 1000}n{pairs}", hosts, topology="pairs")
    try:
        asyncio.run(wait_ready(lab, timeout_s=300))
        lab_up = time.monotonic() - up
        inventory = yaml.safe_load(lab.inventory_path.read_text())
        for host in hosts:
            role = "gen" if host.startswith("g") else "dut"
            inventory["hosts"][host]["labels"] = {"role": role}
        (work / "inventory.yaml").write_text(yaml.safe_dump(inventory, sort_keys=False))
        (work / "pair.yaml").write_text(SCENARIO.format(duration=args.duration, rate=args.rate))
        (work / "suite.yaml").write_text(SUITE)
        limit = ["--max-parallel", str(args.max_parallel)] if args.max_parallel else []
        first, _, _ = regress(work, env, ["--update-baseline", *limit])
        if first.returncode != 0:
            raise SystemExit(f"N={pairs}: the baseline run failed:\n{first.stdout}{first.stderr}")
        done, wall, cpu = regress(work, env, limit)
    finally:
        destroy_lab(lab)
    suite = ET.parse(work / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    passed = (
        done.returncode == 0
        and len(cases) == pairs
        and all(c.find("failure") is None and c.find("error") is None for c in cases)
    )
    if not passed:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    left_out = pairs * pairs - pairs
    return Figures(pairs, len(cases), left_out, lab_up, wall, cpu, passed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", default="1,4,8,16", help="lab sizes N (pairs), comma-separated")
    parser.add_argument("--rate", type=int, default=2000, help="pps per pair (default 2000)")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds of traffic per case")
    parser.add_argument("--max-parallel", type=int, default=0, help="passed to regress (0: none)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: the built-in lab uses network namespaces")
    sizes = [int(n) for n in args.pairs.split(",")]
    rows: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="ringlab-regress-scale-") as base:
        for pairs in sizes:
            rows.append(one_size(pairs, args, Path(base)))
            print(f"N={pairs} done: {rows[-1]}", file=sys.stderr, flush=True)
    reference = rows[0].wall_s
    print(
        f"{args.rate} pps of 64-byte frames per pair for {args.duration:g} s,"
        f" max parallel {args.max_parallel or 'unlimited'}, {os.cpu_count()} cores"
    )
    print(
        "| pairs N | hosts | cases | left out | lab up | regress wall | × N=1 |"
        " controller CPU | per case | per case past N=1 | all passed |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    first = rows[0]
    for row in rows:
        # What each case adds to a run of one case (start-up and imports counted once).
        added = (
            f"{(row.cpu_s - first.cpu_s) / (row.cases - first.cases) * 1000:.0f} ms"
            if row.cases > first.cases
            else "-"
        )
        print(
            f"| {row.pairs} | {2 * row.pairs} | {row.cases} | {row.left_out} |"
            f" {row.lab_up_s:.1f} s | {row.wall_s:.1f} s | {row.wall_s / reference:.2f} |"
            f" {row.cpu_s:.2f} s | {row.cpu_s / max(row.cases, 1) * 1000:.0f} ms | {added} |"
            f" {'yes' if row.passed else 'NO'} |"
        )


if __name__ == "__main__":
    main()
