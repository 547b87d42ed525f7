"""Reference runs from captured peer-tool output.

Fixtures in tests/fixtures/report were captured on a veth pair between two
namespaces on this machine kind: iperf 3.12 (`iperf3 -c ... -u -l 18 -b 0 -t 3
--json`, `-t 2 --json` over TCP, `-u -l 64 -b 100M -t 2 --bidir --json`) and
trafgen 0.6.8 (`timeout -s INT 3 trafgen -i cfg -o IF --cpus 1 --no-sock-mem -Q`,
the same with `--cpus 2 -V`, and with `-b 100000pps`), output kept byte for byte
(trafgen's carriage returns included).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ringlab.controller.store.importers import import_iperf3, import_trafgen, load_reference
from ringlab.controller.store.results import RESULT_SCHEMA_VERSION, measures_packets, measures_rx
from ringlab.errors import ReferenceImportError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "report"


def test_iperf3_udp_becomes_a_unidirectional_reference_run() -> None:
    run = load_reference(FIXTURES / "iperf3_udp.json", "peer", hosts=("a", "b"))
    assert (run.status, run.mode, run.scenario) == ("completed", "unidirectional", "peer")
    (phase,) = run.phases
    (flow,) = phase.flows
    assert (flow.name, flow.from_host, flow.to_host, flow.engine) == ("a->b", "a", "b", "iperf3")
    # 18-byte payload + UDP 8 + IPv4 20 + Ethernet 14 + FCS 4.
    assert flow.frame_size == 64
    assert flow.tx_packets == 289030
    assert flow.lost == 206605
    # iperf3's receiver counts `packets` up to the highest sequence; arrivals are that minus lost.
    assert flow.rx_packets == 289030 - 206605
    assert flow.rx_packets * 18 == 1483650  # iperf3's own count of payload bytes received
    assert flow.rx_bytes == flow.rx_packets * 60  # frames without FCS, like interface counters
    assert flow.tx_pps == pytest.approx(289030 / 3.000076)
    assert flow.rx_pps == pytest.approx(82425 / 3.000334)
    assert flow.loss_ratio == pytest.approx(0.714821990796803)
    assert len(phase.series) == 3
    assert phase.series[0].tx_pps["a->b"] == pytest.approx(82760 / 1.0105470418930054)
    assert run.hosts["a"].agent_version == "iperf 3.12"
    assert run.started_at == "2026-11-22T01:49:17+00:00"
    assert measures_rx(flow) and measures_packets(flow)


def test_iperf3_defaults_to_its_own_addresses_as_host_names() -> None:
    run = load_reference(FIXTURES / "iperf3_udp.json", "peer")
    assert run.phases[0].flows[0].name == "10.77.0.1->10.77.0.2"


def test_iperf3_bidir_gives_two_flows_in_a_bidirectional_phase() -> None:
    run = load_reference(FIXTURES / "iperf3_udp_bidir.json", "peer", hosts=("a", "b"))
    (phase,) = run.phases
    assert (run.mode, phase.name, phase.group) == (
        "bidirectional",
        "bidirectional",
        "bidirectional",
    )
    forward, reverse = phase.flows
    assert (forward.name, reverse.name) == ("a->b", "b->a")
    assert forward.frame_size == 64 + 46
    assert (forward.tx_packets, forward.lost, forward.rx_packets) == (106634, 62169, 106613 - 62169)
    assert (reverse.tx_packets, reverse.lost, reverse.rx_packets) == (107870, 62652, 107038 - 62652)
    # The client sends forward and receives the reverse half.
    assert "a->b" in phase.series[0].tx_pps
    assert "b->a" in phase.series[0].rx_pps


def test_iperf3_tcp_counts_bytes_only() -> None:
    run = load_reference(FIXTURES / "iperf3_tcp.json", "peer", hosts=("a", "b"))
    (flow,) = run.phases[0].flows
    assert flow.engine == "iperf3-tcp"
    assert not measures_packets(flow)
    assert (flow.tx_packets, flow.tx_pps) == (0, 0.0)
    assert flow.tx_bytes == 1602224128
    assert flow.rx_bps == pytest.approx(6390030087.852698)
    assert run.phases[0].series == []


def test_iperf3_reverse_swaps_the_direction() -> None:
    data = json.loads((FIXTURES / "iperf3_udp.json").read_text())
    data["start"]["test_start"]["reverse"] = 1
    run = import_iperf3(data, "peer", hosts=("a", "b"))
    assert run.phases[0].flows[0].name == "b->a"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d.update(error="unable to connect to server: Connection refused"),
            "Connection refused",
        ),
        (lambda d: d.pop("end"), "end is missing"),
        (lambda d: d["start"].pop("test_start"), "test_start is missing"),
        (lambda d: d["start"].update(connected=[]), "never connected"),
        (lambda d: d["start"]["test_start"].update(protocol="SCTP"), "not UDP or TCP"),
    ],
)
def test_unusable_iperf3_documents_are_refused_with_a_reason(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((FIXTURES / "iperf3_udp.json").read_text())
    mutate(data)
    with pytest.raises(ReferenceImportError, match=expected):
        import_iperf3(data, "peer", source="x.json")


def test_truncated_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text((FIXTURES / "iperf3_udp.json").read_text()[:500])
    with pytest.raises(ReferenceImportError, match=r"cut\.json line \d+: not valid JSON"):
        load_reference(path, "peer")


def test_trafgen_summary_becomes_a_send_only_run() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    run = load_reference(FIXTURES / "trafgen_1cpu.txt", "peer", hosts=("a", "b"), now=now)
    (flow,) = run.phases[0].flows
    assert (flow.engine, flow.name, flow.frame_size) == ("trafgen", "a->b", 64)
    assert (flow.tx_packets, flow.tx_bytes) == (907776, 54466560)
    assert flow.tx_pps == pytest.approx(907776 / 2.985803)
    assert run.phases[0].duration_s == pytest.approx(2.985803)
    assert flow.rx_packets == 0 and not measures_rx(flow)
    assert flow.sender_interface.interface == "rlF12860x"
    assert run.started_at == "2026-01-02T03:04:05+00:00"


def test_trafgen_with_two_cpus_uses_the_longest_cpu_time() -> None:
    run = load_reference(FIXTURES / "trafgen_2cpu_verbose.txt", "peer")
    (flow,) = run.phases[0].flows
    assert flow.tx_packets == 490752 == 278272 + 212480
    assert run.phases[0].duration_s == pytest.approx(2.008292)
    assert flow.name == "trafgen->peer"


def test_trafgen_rate_limited_run() -> None:
    run = load_reference(FIXTURES / "trafgen_rate.txt", "peer")
    assert run.phases[0].flows[0].tx_pps == pytest.approx(200000 / 1.990131)


def test_trafgen_output_without_a_summary_is_refused() -> None:
    with pytest.raises(ReferenceImportError, match="packets outgoing"):
        import_trafgen("Running! Hang up with ^C!\n", "peer")
    no_cpu = "  10 packets outgoing\n  600 bytes outgoing\n"
    with pytest.raises(ReferenceImportError, match="--no-cpu-stats"):
        import_trafgen(no_cpu, "peer")


def test_a_ringlab_export_reads_back_as_is(tmp_path: Path) -> None:
    original = json.loads((FIXTURES / "run_bidir_vs_sliced.json").read_text())
    path = tmp_path / "export.json"
    path.write_text(json.dumps(original))
    run = load_reference(path, "ignored")
    # As is, but for where it came from: trends and reports mark imported runs.
    document = run.to_json_dict()
    assert document.pop("source") == "ringlab-export"
    assert document == original


def test_an_export_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    original = json.loads((FIXTURES / "run_bidir_vs_sliced.json").read_text())
    original["schema_version"] = RESULT_SCHEMA_VERSION + 1
    path = tmp_path / "export.json"
    path.write_text(json.dumps(original))
    with pytest.raises(ReferenceImportError, match="schema_version"):
        load_reference(path, "x")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReferenceImportError, match=r"nope\.json: cannot read it"):
        load_reference(tmp_path / "nope.json", "x")
