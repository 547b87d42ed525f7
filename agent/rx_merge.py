"""Adding up the receive workers of one interface: per-stream counters and latency.

Only samples, min and max combine exactly; p50/p99 of merged workers are the
sample-weighted mean of theirs (README, Data plane: workers and fanout)."""

from __future__ import annotations

from collections.abc import Iterable

from ringlab.agent.rings.api import (
    LatencyStats,
    RxResult,
    StreamStats,
)


def merge_rx_results(results: list[RxResult]) -> RxResult | None:
    """Add up the fanout workers of one interface.

    Fanout hashes each sender worker's stream to one receiver worker, so the
    workers' per-flow counts are disjoint and add up. Latency percentiles of
    several workers are combined conservatively (the worst p99, the p50 of the
    worker with most samples).
    """
    if not results:
        return None
    if len(results) == 1:
        return results[0]
    flows: dict[int, StreamStats] = {}
    for result in results:
        for flow_id, stats in result.flows.items():
            flows[flow_id] = add_stream_stats(flows[flow_id], stats) if flow_id in flows else stats
    latency: dict[int, LatencyStats] = {}
    for flow_id in {f for r in results for f in r.latency}:
        parts = [
            r.latency[flow_id] for r in results if r.latency.get(flow_id, LatencyStats()).samples
        ]
        latency[flow_id] = combine_latency(parts)
    return RxResult(
        flows=flows,
        latency=latency,
        foreign_frames=sum(r.foreign_frames for r in results),
        suspect_frames=sum(r.suspect_frames for r in results),
        kernel_packets=sum(r.kernel_packets for r in results),
        kernel_drops=sum(r.kernel_drops for r in results),
        kernel_freezes=sum(r.kernel_freezes for r in results),
        started_wall_ns=min(r.started_wall_ns for r in results),
        extra=merge_extra(r.extra for r in results),
        info=merge_info(r.info for r in results),
    )


# Engine extras that are facts of a flow rather than counters to add over its workers
# (the queue is the first worker's).
_FACTS = frozenset({"xdp_zerocopy", "xdp_native", "xdp_link", "xdp_queue", "xdp_shared"})


def merge_extra(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Workers' engine counters added up; facts (xdp_queue, xdp_zerocopy...) the first's."""
    merged: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            if key in _FACTS:
                merged.setdefault(key, value)
            else:
                merged[key] = merged.get(key, 0) + value
    return merged


def merge_info(parts: Iterable[dict[str, str]]) -> dict[str, str]:
    """Workers' engine facts as text: the first worker's, other workers' notes added."""
    merged: dict[str, str] = {}
    for part in parts:
        for key, text in part.items():
            if key not in merged:
                merged[key] = text
            elif key == "xdp_notes" and text and text not in merged[key]:
                merged[key] = f"{merged[key]}; {text}"
    return merged


def add_stream_stats(a: StreamStats, b: StreamStats) -> StreamStats:
    firsts = [t for t in (a.first_wall_ns, b.first_wall_ns) if t]
    return StreamStats(
        packets=a.packets + b.packets,
        bytes=a.bytes + b.bytes,
        unique_packets=a.unique_packets + b.unique_packets,
        duplicates=a.duplicates + b.duplicates,
        reordered=a.reordered + b.reordered,
        expected_packets=a.expected_packets + b.expected_packets,
        first_wall_ns=min(firsts) if firsts else 0,
        last_wall_ns=max(a.last_wall_ns, b.last_wall_ns),
    )


def combine_latency(parts: list[LatencyStats]) -> LatencyStats:
    if not parts:
        return LatencyStats()
    samples = sum(p.samples for p in parts)
    biggest = max(parts, key=lambda p: p.samples)
    return LatencyStats(
        samples=samples,
        min_us=min(p.min_us for p in parts),
        p50_us=biggest.p50_us,
        p99_us=max(p.p99_us for p in parts),
        max_us=max(p.max_us for p in parts),
        mean_us=sum(p.mean_us * p.samples for p in parts) / samples,
    )
