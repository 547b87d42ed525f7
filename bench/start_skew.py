"""Start skew between two agents of the built-in lab over 20 time-sliced phases.

    python bench/start_skew.py [--rounds 10]

Runs a time-sliced scenario (two directions x rounds, 200 ms slices, 50 ms gaps, 10 kpps)
through the real `ringlab run` on a temporary lab and prints each phase's measured start
skew with p50/p99/max. Run it on an otherwise idle machine: on 2 cores, any other load
delays thread wake-ups by milliseconds.
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "skew.yaml"
        scenario.write_text(SCENARIO.format(rounds=args.rounds))
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
    load = os.getloadavg()[0]
    print(f"phases: {len(skews)}  load average: {load:.1f}")
    print("start skew per phase (µs):", " ".join(f"{s:.0f}" for s in skews))
    print(
        f"p50 {np.percentile(skews, 50):.0f} µs  p99 {np.percentile(skews, 99):.0f} µs  "
        f"max {skews.max():.0f} µs  (target: p99 < 1000 µs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
