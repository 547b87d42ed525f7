"""Scale benchmark: one controller drives 64 agents (32 built-in-lab host pairs) at a low rate.

    sudo python bench/scale.py                    # 8 agents, then 64
    sudo python bench/scale.py --sizes 16,32,64 --rate 1000 --duration 1

One built-in lab (`ringlab lab up --topology pairs`: namespaces, veth pairs, one real
agent process per host over Unix-socket gRPC) of the largest size is created; each
size then runs one phase on its first N hosts: every pair's first host sends to the
second at --rate packets/s for --duration seconds. The real Orchestrator runs it;
every RPC it makes is timed by a thin wrapper around the real GrpcAgent.

Printed per size: the wall time of each step (connect = GetInfo + clock sync,
prepare, start RPCs, collect after the traffic ended, release), the start skew of the
senders (controller clock, measured by the agents) and how long before the scheduled
start the last Start RPC was acknowledged, exact-count check (rx == tx, lost 0), and
the controller's own CPU time per agent (to compare sizes: flat means linear work).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from ringlab.controller.remote.clients import AgentApi, ClockEstimate, GrpcAgent
from ringlab.controller.remote.lab import (
    Lab,
    agent_channel_options,
    create_lab,
    destroy_lab,
    new_temporary_name,
    wait_ready,
)
from ringlab.controller.run.endpoints import Resolver
from ringlab.controller.run.orchestrator import Orchestrator
from ringlab.controller.run.plan import Plan, build_plan
from ringlab.controller.run.prepare import prepare_requests
from ringlab.controller.scenario import load_scenario_text
from ringlab.controller.store.results import RunResult
from ringlab.v1 import agent_pb2 as pb


@dataclass
class Calls:
    """(start, end) wall-clock ns of every call, by method name."""

    spans: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    start_at_ns: list[int] = field(default_factory=list)

    def window_s(self, method: str) -> float:
        spans = self.spans.get(method, [])
        if not spans:
            return 0.0
        return (max(e for _, e in spans) - min(s for s, _ in spans)) / 1e9

    def last_end(self, method: str) -> int:
        return max(e for _, e in self.spans[method])


class TimedAgent:
    """Delegates to a real agent and records when each call started and ended."""

    def __init__(self, agent: GrpcAgent, calls: Calls) -> None:
        self.agent = agent
        self.host = agent.host
        self.address = agent.address
        self.calls = calls

    async def _timed(self, method: str, call: object) -> object:
        start = time.time_ns()
        try:
            return await call  # type: ignore[misc]
        finally:
            self.calls.spans[method].append((start, time.time_ns()))

    async def info(self) -> pb.GetInfoResponse:
        return await self._timed("info", self.agent.info())  # type: ignore[return-value]

    async def sync_clock(self, exchanges: int = 8) -> ClockEstimate:
        return await self._timed("sync_clock", self.agent.sync_clock(exchanges))  # type: ignore[return-value]

    async def probe(self, request: pb.ProbeRequest) -> pb.ProbeResponse:
        return await self.agent.probe(request)

    async def prepare(self, request: pb.PrepareRequest) -> None:
        await self._timed("prepare", self.agent.prepare(request))

    async def start(self, request: pb.StartRequest) -> pb.StartResponse:
        self.calls.start_at_ns.append(request.start_at_wall_ns)
        return await self._timed("start", self.agent.start(request))  # type: ignore[return-value]

    async def stop(self, session_id: str) -> None:
        await self.agent.stop(session_id)

    async def renew(self, session_id: str) -> None:
        await self.agent.renew(session_id)

    async def results(
        self, session_id: str, wait: bool, timeout_s: float | None = None
    ) -> pb.GetResultsResponse:
        return await self._timed("results", self.agent.results(session_id, wait, timeout_s))  # type: ignore[return-value]

    def stats(self, session_id: str, interval_ms: int) -> AsyncIterator[pb.StatsResponse]:
        return self.agent.stats(session_id, interval_ms)

    async def release(self, session_id: str) -> None:
        await self._timed("release", self.agent.release(session_id))

    async def close(self) -> None:
        await self.agent.close()


def scenario_text(hosts: list[str], rate: int, duration: float, lease: float) -> str:
    lines = [
        "version: 1",
        "name: scale",
        "mode: bidirectional",
        f"duration: {duration}s",
        f"lease: {lease}s",
        "hosts:",
        *(f"  {h}: {{}}" for h in hosts),
        "flows:",
    ]
    for i in range(0, len(hosts), 2):
        lines.append(
            f"  - {{from: {hosts[i]}, to: {hosts[i + 1]}, frame_size: 64, "
            f"rate: {rate}pps, engine: ring}}"
        )
    return "\n".join(lines) + "\n"


@dataclass
class Figures:
    agents: int
    steps: dict[str, float]
    skew_us: float
    margin_left_ms: float
    exact: bool
    cpu_s: float
    wall_s: float


async def run_size(lab: Lab, hosts: list[str], rate: int, duration: float, lease: float) -> Figures:
    scenario = load_scenario_text(scenario_text(hosts, rate, duration, lease), "scale.yaml")
    plan = build_plan(scenario)
    import grpc

    calls = Calls()
    timed_agents = [
        TimedAgent(
            GrpcAgent(
                h,
                lab.hosts[h].agent,
                grpc.aio.insecure_channel(lab.hosts[h].agent, options=agent_channel_options()),
            ),
            calls,
        )
        for h in hosts
    ]
    agents: Mapping[str, AgentApi] = {a.host: a for a in timed_agents}
    resolver = Resolver(
        links={h: lab.hosts[h].links for h in hosts},
        default_interfaces={h: None for h in hosts},
        scenario_interfaces={h: None for h in hosts},
    )
    result = RunResult(
        run_id=f"scale-{len(hosts)}", scenario="scale", mode=plan.mode, started_at=""
    )
    # Channels are opened (HTTP/2 set up) before timing: on a loaded 2-core box, 64 agent
    # processes can take longer than gRPC's connect timeout to answer all at once.
    opened = time.monotonic()
    await asyncio.gather(*(a.agent.wait_ready(120) for a in timed_agents))
    channels_s = time.monotonic() - opened
    cpu0, wall0 = time.process_time(), time.monotonic()
    try:
        orchestrator = Orchestrator(agents, resolver)
        await orchestrator.run(plan, result)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        released = calls.window_s("release")
        collected_ns = calls.last_end("results") if calls.spans.get("results") else 0
        parallel_prepare = 0.0
        if result.status == "completed":
            parallel_prepare = await prepare_in_parallel(orchestrator, plan, agents)
    finally:
        for agent in agents.values():
            await agent.close()
    if result.status != "completed":
        raise SystemExit(f"{len(hosts)} agents: run {result.status}: {result.error}")
    (phase,) = result.phases
    traffic_end = min(calls.start_at_ns) + plan.phases[0].duration_ns + plan.drain_ns
    steps = {
        "channels": channels_s,
        "connect": calls.window_s("info") + calls.window_s("sync_clock"),
        "prepare": calls.window_s("prepare"),
        "start RPCs": calls.window_s("start"),
        "collect": (collected_ns - traffic_end) / 1e9,
        "release": released,
        "prep. ||": parallel_prepare,
    }
    margin_left = (min(calls.start_at_ns) - calls.last_end("start")) / 1e6
    exact = all(f.rx_packets == f.tx_packets > 0 and f.lost == 0 for f in phase.flows)
    for f in phase.flows:
        if not (f.rx_packets == f.tx_packets > 0 and f.lost == 0):
            print(
                f"  {len(hosts)} agents, flow {f.name}: tx {f.tx_packets} rx {f.rx_packets} "
                f"lost {f.lost} kernel drops {f.kernel_drops}"
            )
    return Figures(len(hosts), steps, phase.start_skew_us, margin_left, exact, cpu, wall)


async def prepare_in_parallel(
    orchestrator: Orchestrator, plan: Plan, agents: Mapping[str, AgentApi]
) -> float:
    """What prepare would take if the orchestrator issued every Prepare at once."""
    flows = orchestrator.resolve(plan.phases[0], 0, orchestrator.infos)
    session = f"scale-{len(agents)}-parallel-prepare"
    requests = prepare_requests(session, flows, plan.lease_ns)
    started = time.monotonic()
    await asyncio.gather(*(agents[h].prepare(r) for h, r in requests.items()))
    elapsed = time.monotonic() - started

    async def discard(host: str) -> None:
        # Like the orchestrator's salvage: stop, wait for the session to settle, release.
        await agents[host].stop(session)
        await agents[host].results(session, wait=True, timeout_s=10)
        await agents[host].release(session)

    await asyncio.gather(*(discard(h) for h in requests))
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="8,64", help="agent counts, even (default %(default)s)")
    parser.add_argument("--rate", type=int, default=1000, help="pps per flow (default 1000)")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument(
        "--lease",
        type=float,
        default=3.0,
        help="session lease in seconds (default 3, the scenario default; leases are "
        "renewed from each agent's Prepare, so a slow prepare of many agents does not "
        "expire the first ones)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: network namespaces, veth and AF_PACKET")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    hosts = [f"h{i:02d}" for i in range(max(sizes))]
    started = time.monotonic()
    lab = create_lab(new_temporary_name(), hosts, temporary=True, topology="pairs")
    try:
        asyncio.run(wait_ready(lab, timeout_s=300))
        print(f"lab of {len(hosts)} agents up in {time.monotonic() - started:.1f} s")
        figures = [
            asyncio.run(run_size(lab, hosts[:n], args.rate, args.duration, args.lease))
            for n in sizes
        ]
    finally:
        destroy_lab(lab)
    step_names = list(figures[0].steps)
    print(
        f"\n{args.rate} pps x 64-byte frames per pair for {args.duration} s, cpus {os.cpu_count()}"
    )
    header = ["agents", *step_names, "skew", "margin", "exact", "ctl cpu", "cpu/agent", "run"]
    print("  ".join(f"{h:>11}" for h in header))
    for f in figures:
        cells = [
            f"{f.agents}",
            *(f"{f.steps[s] * 1000:.0f} ms" for s in step_names),
            f"{f.skew_us:.0f} us",
            f"{f.margin_left_ms:.0f} ms",
            "yes" if f.exact else "NO",
            f"{f.cpu_s:.2f} s",
            f"{f.cpu_s / f.agents * 1000:.1f} ms",
            f"{f.wall_s:.2f} s",
        ]
        print("  ".join(f"{c:>11}" for c in cells))
    print(
        "\nskew: spread of the senders' first-frame times; margin: time left between the "
        "last Start acknowledgement and the scheduled start (negative = late start)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
