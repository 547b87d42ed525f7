"""Reference runs from peer tools: `iperf3 --json` output and trafgen's exit summary.

An imported run is a normal RunResult (status completed, engine "iperf3" or
"trafgen") so reports, comparisons and trends treat it like any ringlab run.
Frame sizes and byte counts are put on ringlab's footing: ``frame_size`` is the
Ethernet frame with FCS (what a scenario's frame_size means), byte counters are
frame bytes without FCS (what the kernel's interface counters count).

What a tool does not measure stays 0 in the model, and the flow's ``engine`` tells
readers so (``measures_rx``, ``measures_packets``; field by field, with the reason,
``FlowResult.not_measured``, which makes those fields null in JSON and "n/m" in
`ringlab runs show`): trafgen only sends, so its rx fields were never counted;
iperf3 over TCP counts bytes, not packets (engine "iperf3-tcp").

A ringlab export (`ringlab runs export ID --format json`) is read back as is;
`ringlab runs import` gives it a new id (``fresh_run_id``) when the store already
holds a run with its id, so an import never replaces a run.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ringlab.controller.scenario import units
from ringlab.controller.store.results import (
    FlowResult,
    HostInfo,
    InterfaceDelta,
    PhaseResult,
    ResultVersionError,
    RunResult,
    SeriesPoint,
    load_result,
)
from ringlab.errors import ReferenceImportError

# Ethernet header + FCS, and the IP + UDP headers in front of an iperf3 UDP payload.
FCS = 4
UDP_IPV4_OVERHEAD = 20 + 8
UDP_IPV6_OVERHEAD = 40 + 8


def _run_id(started: datetime) -> str:
    return f"{started:%Y%m%d-%H%M%S}-import-{secrets.token_hex(2)}"


def fresh_run_id(started_at: str) -> str:
    """A new import run id for a run that started at ``started_at`` (ISO 8601).

    For a ringlab export whose id is taken: the copy sorts and reads like the
    original (same start time) but can never be mistaken for it.
    """
    try:
        started = datetime.fromisoformat(started_at)
    except ValueError:
        started = datetime.now(UTC)
    return _run_id(started)


def load_reference(
    path: Path, name: str, hosts: tuple[str, str] | None = None, now: datetime | None = None
) -> RunResult:
    """Read iperf3 JSON, trafgen output or a ringlab JSON export from ``path``."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise ReferenceImportError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReferenceImportError(
                f"{path} line {exc.lineno}: not valid JSON ({exc.msg}); give the complete"
                " output of `iperf3 --json` or of `ringlab runs export ID --format json`"
            ) from None
        if isinstance(data, dict) and "schema_version" in data:
            result = _ringlab_export(data, path)
            # An export of an import keeps the tool it came from.
            result.source = result.source or "ringlab-export"
            return result
        return import_iperf3(data, name, source=str(path), hosts=hosts)
    return import_trafgen(text, name, source=str(path), hosts=hosts, now=now)


def _ringlab_export(data: dict[str, Any], path: Path) -> RunResult:
    try:
        return load_result(data)
    except ResultVersionError as exc:
        raise ReferenceImportError(f"{path}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ReferenceImportError(
            f"{path}: not a ringlab run export: {where}: {first['msg']}"
        ) from None


# --- iperf3 ------------------------------------------------------------------------------


def _get(data: Mapping[str, Any], path: str, source: str) -> Any:
    current: Any = data
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            raise ReferenceImportError(
                f"{source}: {path} is missing; this does not look like the output of"
                " `iperf3 --json` run as a client (the server's JSON lacks the totals)"
            )
        current = current[part]
    return current


def import_iperf3(
    data: Any, name: str, *, source: str = "iperf3 JSON", hosts: tuple[str, str] | None = None
) -> RunResult:
    """A reference run from the client's `iperf3 --json` document (UDP or TCP, -R, --bidir)."""
    if not isinstance(data, Mapping):
        raise ReferenceImportError(f"{source}: expected a JSON object from `iperf3 --json`")
    if data.get("error"):
        raise ReferenceImportError(
            f"{source}: iperf3 reported an error: {data['error']}; import a run that completed"
        )
    start = _get(data, "start", source)
    test = _get(start, "test_start", source)
    connected = _get(start, "connected", source)
    if not connected:
        raise ReferenceImportError(f"{source}: start.connected is empty; iperf3 never connected")
    local, remote = str(connected[0]["local_host"]), str(connected[0]["remote_host"])
    src_name, dst_name = hosts or (local, remote)
    protocol = str(test.get("protocol", "")).upper()
    if protocol not in ("UDP", "TCP"):
        raise ReferenceImportError(
            f"{source}: protocol {protocol!r} is not UDP or TCP; import one of those"
        )
    end = _get(data, "end", source)
    reverse = bool(test.get("reverse"))
    bidir = "sum_sent_bidir_reverse" in end
    forward = (dst_name, src_name) if reverse else (src_name, dst_name)
    blksize = int(test.get("blksize", 0))
    ipv6 = ":" in local
    udp_overhead = UDP_IPV6_OVERHEAD if ipv6 else UDP_IPV4_OVERHEAD
    frame_size = blksize + udp_overhead + units.ETHERNET_OVERHEAD if protocol == "UDP" else 0

    def flow(direction: tuple[str, str], sent_key: str, received_key: str) -> FlowResult:
        sent = _get(end, sent_key, source)
        received = _get(end, received_key, source)
        if protocol == "UDP":
            return _udp_flow(direction, sent, received, frame_size)
        return _tcp_flow(direction, sent, received)

    flows = [flow(forward, "sum_sent", "sum_received")]
    if bidir:
        flows.append(
            flow((forward[1], forward[0]), "sum_sent_bidir_reverse", "sum_received_bidir_reverse")
        )
    # -b, per stream and direction, in bits/s of UDP payload (0: as fast as it can).
    asked = float(test.get("target_bitrate") or start.get("target_bitrate") or 0)
    if asked:
        for item in flows:
            item.sender_info["target_bitrate"] = f"{asked:.0f}"
            item.target_pps = asked / (blksize * 8) if protocol == "UDP" and blksize else 0.0
    timestamp = datetime.fromtimestamp(int(start.get("timestamp", {}).get("timesecs", 0)), UTC)
    seconds = float(end.get("sum_sent", {}).get("seconds", test.get("duration", 0)))
    host_info = HostInfo(
        agent_version=str(start.get("version", "iperf3")),
        hostname=local,
        kernel=str(start.get("system_info", "")),
        address=local,
    )
    mode = "bidirectional" if bidir else "unidirectional"
    phase = PhaseResult(
        name="bidirectional" if bidir else "main",
        group=mode,
        duration_s=seconds,
        flows=flows,
        series=_iperf3_series(data.get("intervals") or [], flows, bidir, reverse),
    )
    return RunResult(
        run_id=_run_id(timestamp),
        scenario=name,
        mode=mode,
        status="completed",
        started_at=timestamp.isoformat(timespec="seconds"),
        finished_at=timestamp.isoformat(timespec="seconds"),
        hosts={src_name: host_info, dst_name: HostInfo(address=remote, hostname=remote)},
        phases=[phase],
        source="iperf3",
    )


def _udp_flow(
    direction: tuple[str, str],
    sent: Mapping[str, Any],
    received: Mapping[str, Any],
    frame_size: int,
) -> FlowResult:
    tx = int(sent.get("packets", 0))
    lost = max(0, int(received.get("lost_packets", 0)))
    # iperf3's receiver reports `packets` as the highest sequence seen and `lost_packets`
    # as the gaps in it, so frames that really arrived are the difference.
    rx = max(0, int(received.get("packets", 0)) - lost)
    tx_s = float(sent.get("seconds", 0)) or 1.0
    rx_s = float(received.get("seconds", 0)) or tx_s
    wire = frame_size - FCS
    return FlowResult.model_validate(
        {
            "name": f"{direction[0]}->{direction[1]}",
            "from": direction[0],
            "to": direction[1],
            "frame_size": frame_size,
            "engine": "iperf3",
            "target_pps": 0.0,
            "tx_packets": tx,
            "tx_bytes": tx * wire,
            "rx_packets": rx,
            "rx_bytes": rx * wire,
            "lost": lost,
            "reordered": int(received.get("out_of_order", 0)),
            "tx_pps": tx / tx_s,
            "rx_pps": rx / rx_s,
            "tx_bps": tx * wire * 8 / tx_s,
            "rx_bps": rx * wire * 8 / rx_s,
        }
    )


def _tcp_flow(
    direction: tuple[str, str], sent: Mapping[str, Any], received: Mapping[str, Any]
) -> FlowResult:
    return FlowResult.model_validate(
        {
            "name": f"{direction[0]}->{direction[1]}",
            "from": direction[0],
            "to": direction[1],
            "engine": "iperf3-tcp",
            "tx_bytes": int(sent.get("bytes", 0)),
            "rx_bytes": int(received.get("bytes", 0)),
            "tx_bps": float(sent.get("bits_per_second", 0)),
            "rx_bps": float(received.get("bits_per_second", 0)),
        }
    )


def _iperf3_series(
    intervals: list[Any], flows: list[FlowResult], bidir: bool, reverse: bool
) -> list[SeriesPoint]:
    """Per-interval rates. The client's intervals count what it sent (or, for -R and the
    reverse half of --bidir, what it received), so each lands in tx_pps or rx_pps."""
    points: list[SeriesPoint] = []
    if not flows or not flows[0].frame_size:
        return points  # TCP: iperf3 has no packet counts per interval
    keys = [("sum", flows[0].name)]
    if bidir:
        keys.append(("sum_bidir_reverse", flows[1].name))
    for interval in intervals:
        if not isinstance(interval, Mapping):
            continue
        point = SeriesPoint(t_s=0.0)
        for key, flow_name in keys:
            entry = interval.get(key)
            if not isinstance(entry, Mapping) or not entry.get("seconds"):
                continue
            point.t_s = float(entry.get("end", 0.0))
            rate = float(entry.get("packets", 0)) / float(entry["seconds"])
            sender = bool(entry.get("sender", not reverse))
            (point.tx_pps if sender else point.rx_pps)[flow_name] = rate
        points.append(point)
    return points


# --- trafgen -----------------------------------------------------------------------------

_TRAFGEN_TOTAL = re.compile(r"^\s*(\d+)\s+(packets|bytes) outgoing\s*$", re.MULTILINE)
_TRAFGEN_CPU = re.compile(
    r"^\s*(\d+)\s+sec,\s*(\d+)\s+usec on CPU(\d+)\s+\((\d+) packets\)\s*$", re.MULTILINE
)
_TRAFGEN_DEVICE = re.compile(r"device IPv4 address for (\S+)")


def import_trafgen(
    text: str,
    name: str,
    *,
    source: str = "trafgen output",
    hosts: tuple[str, str] | None = None,
    now: datetime | None = None,
) -> RunResult:
    """A send-only reference run from what trafgen prints when stopped with SIGINT.

    Its summary counts packets and bytes sent and, per CPU, how long it ran; the
    longest CPU time is the run's duration.
    """
    clean = text.replace("\r", "\n")
    totals = {kind: int(count) for count, kind in _TRAFGEN_TOTAL.findall(clean)}
    cpus = _TRAFGEN_CPU.findall(clean)
    if "packets" not in totals or "bytes" not in totals:
        raise ReferenceImportError(
            f"{source}: no 'N packets outgoing' / 'N bytes outgoing' summary; trafgen prints"
            " it when stopped with SIGINT (`timeout -s INT 10 trafgen ...`) — import that"
            " output, and do not pass -C if you want per-CPU times"
        )
    if not cpus:
        raise ReferenceImportError(
            f"{source}: no 'S sec, U usec on CPUn (P packets)' lines, so the duration is"
            " unknown; run trafgen without -C (--no-cpu-stats)"
        )
    seconds = max(int(s) + int(us) / 1e6 for s, us, _, _ in cpus)
    packets, nbytes = totals["packets"], totals["bytes"]
    if seconds <= 0:
        raise ReferenceImportError(f"{source}: trafgen ran for 0 s; nothing to import")
    src, dst = hosts or ("trafgen", "peer")
    device = _TRAFGEN_DEVICE.search(clean)
    frame_size = nbytes // packets + FCS if packets else 0
    flow = FlowResult.model_validate(
        {
            "name": f"{src}->{dst}",
            "from": src,
            "to": dst,
            "frame_size": frame_size,
            "engine": "trafgen",
            "tx_packets": packets,
            "tx_bytes": nbytes,
            "tx_pps": packets / seconds,
            "tx_bps": nbytes * 8 / seconds,
            "sender_interface": InterfaceDelta(
                host=src, interface=device.group(1) if device else ""
            ),
        }
    )
    started = now or datetime.now(UTC)
    return RunResult(
        run_id=_run_id(started),
        scenario=name,
        mode="unidirectional",
        status="completed",
        started_at=started.isoformat(timespec="seconds"),
        finished_at=started.isoformat(timespec="seconds"),
        hosts={src: HostInfo(agent_version="trafgen"), dst: HostInfo()},
        phases=[PhaseResult(name="main", group="unidirectional", duration_s=seconds, flows=[flow])],
        source="trafgen",
    )
