"""Deploy benchmark: `ringlab deploy` to 1 host vs N hosts at once (real sshd in namespaces).

    sudo python bench/deploy_parallel.py            # 1 host, then 8 hosts
    sudo python bench/deploy_parallel.py --hosts 16

Every host is a network namespace with its own OpenSSH sshd (tests/integration/sshd.py)
and its own remote directory, so each deploy is a fresh one: SFTP copy, virtualenv,
pip install of the wheel, agent start, GetInfo through the SSH tunnel. The wheel is
built once beforehand (not timed). Printed: wall time for 1 host, for N hosts, their
ratio (N x would mean no parallelism at all), each host's own time, and the time of
an unchanged re-deploy (verify only). Everything is stopped and removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from sshd import make_ssh_lab, remove_ssh_lab  # noqa: E402

from ringlab.controller.deploy.artifact import Artifact, build_wheel, find_checkout  # noqa: E402
from ringlab.controller.deploy.hosts import HostOutcome, deploy_all  # noqa: E402
from ringlab.controller.remote.inventory import Inventory, load_inventory  # noqa: E402


def timed(
    inventory: Inventory, artifact: Artifact | None, hosts: list[str], stop: bool = False
) -> tuple[float, list[HostOutcome]]:
    started = time.monotonic()
    outcomes = asyncio.run(deploy_all(inventory, artifact, hosts, stop=stop))
    elapsed = time.monotonic() - started
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise SystemExit(f"deploy failed: {failed[0].host}: {failed[0].detail}")
    return elapsed, outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=8, help="hosts deployed at once (default 8)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: network namespaces, veth and sshd")
    root = find_checkout()
    if root is None:
        raise SystemExit("run from a ringlab checkout")
    with tempfile.TemporaryDirectory(prefix="rl-deploy-bench-") as scratch:
        work = Path(scratch)
        artifact = build_wheel(root, cache=work / "wheels")
        names = ["single", *(f"p{i}" for i in range(args.hosts))]
        lab = make_ssh_lab(work / "lab", names)
        try:
            lab.write_known_hosts()
            inventory = load_inventory(lab.inventory(work / "lab.yaml"))
            parallel = names[1:]
            one, _ = timed(inventory, artifact, ["single"])
            many, outcomes = timed(inventory, artifact, parallel)
            verify, _ = timed(inventory, artifact, parallel)
            per_host = [o.seconds for o in outcomes]
            print(f"cpus: {os.cpu_count()}   wheel: {artifact.wheel.name} ({artifact.build_id})")
            print(f"1 host:              {one:6.2f} s")
            print(
                f"{args.hosts} hosts at once:     {many:6.2f} s   ratio {many / one:4.2f}x "
                f"(no parallelism would be {args.hosts}x)"
            )
            print(
                f"  per host inside the {args.hosts}: median {statistics.median(per_host):.2f} s, "
                f"max {max(per_host):.2f} s"
            )
            print(f"{args.hosts} hosts, unchanged:  {verify:6.2f} s   (verify only)")
            timed(inventory, None, names, stop=True)
        finally:
            remove_ssh_lab(lab)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
