"""Start skew between two agents of the built-in lab over 20 time-sliced phases.

    python bench/start_skew.py [--rounds 10] [--load 2]

Runs a time-sliced scenario (two directions x rounds, 200 ms slices, 50 ms gaps, 10 kpps)
through the real `ringlab run` on a temporary lab and prints each phase's measured start
skew with p50/p99/max. `--load N` runs N busy loops at normal priority meanwhile (each
ends by itself after 10 minutes at the latest): the case that used to delay starts by a
scheduler slice.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SCENARIO = """\
version: 1
name: start-skew
mode: time-sliced
hosts: {{a: {{}}, b: {{}}}}
flows:
  - {{from: a, to: b, frame_size: 64, rate: 10kpps}}
  - {{from: b, to: a, frame_size: 64, rate: 10kpps}}
time_slice: {{slice: 200ms, gap: 50ms, rounds: {rounds}}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--load", type=int, default=0, help="busy loops running meanwhile")
    args = parser.parse_args()
    burners = [
        subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(max(0, args.load))
    ]
    try:
        return measure(args.rounds, args.load)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


BUSY_LOOP = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end: pass"


def measure(rounds: int, load: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "skew.yaml"
        scenario.write_text(SCENARIO.format(rounds=rounds))
        env = {**os.environ, "RINGLAB_DB": str(Path(tmp) / "runs.db")}
        proc = subprocess.run(
            [sys.executable, "-m", "ringlab", "run", str(scenario), "--json"],
            capture_output=True,
            text=True,
            env=env,
        )
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return proc.returncode
    result = json.loads(proc.stdout)
    skews = np.array([phase["start_skew_us"] for phase in result["phases"]])
    print(f"phases: {len(skews)}  busy loops: {load}  load average: {os.getloadavg()[0]:.1f}")
    print("start skew per phase (µs):", " ".join(f"{s:.0f}" for s in skews))
    print(
        f"p50 {np.percentile(skews, 50):.0f} µs  p99 {np.percentile(skews, 99):.0f} µs  "
        f"max {skews.max():.0f} µs  (target: p99 < 1000 µs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
