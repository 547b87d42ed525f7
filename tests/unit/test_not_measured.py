"""A count a tool never collected reads "not measured" (null with the reason), never 0."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from helpers import ringlab

from ringlab.controller.cli import main
from ringlab.controller.store.results import load_result

FIXTURES = Path(__file__).parents[1] / "fixtures" / "report"
SENT = 40_000  # what the trafgen fixture sent (its summary)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store holding one trafgen import (send-only) and one iperf3 TCP import (bytes only)."""
    path = tmp_path / "runs.db"
    trafgen = tmp_path / "trafgen.txt"
    trafgen.write_text(
        f"{SENT} packets outgoing\n2560000 bytes outgoing\n4 sec, 12 usec on CPU0 ({SENT} packets)\n"
    )
    assert (
        main(["runs", "import", str(trafgen), "--as", "tg", "--tag", "tg", "--db", str(path)]) == 0
    )
    tcp = FIXTURES / "iperf3_tcp.json"
    assert main(["runs", "import", str(tcp), "--as", "tcp", "--tag", "tcp", "--db", str(path)]) == 0
    return path


def test_runs_show_of_a_trafgen_import_says_not_measured(db: Path) -> None:
    shown = ringlab("runs", "--db", str(db), "show", "tg")
    assert shown.returncode == 0, shown.stderr
    (row,) = [line for line in shown.stdout.splitlines() if line.startswith("│ trafgen->peer")]
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    # flow, tx, rx, lost, reord, dup, tx pps, rx pps, k.drops, latency
    assert cells[1] == f"{SENT:,}"
    assert cells[2:6] == ["n/m"] * 4 and cells[7:] == ["n/m"] * 3
    assert cells[6] == "10.00kpps"
    assert (
        "n/m = not measured: rx, lost, reord, dup, rx pps, k.drops, latency of trafgen->peer"
        " (trafgen only sends: nothing counted what arrived)"
    ) in shown.stdout


def test_runs_show_json_of_a_trafgen_import_has_null_with_the_reason(db: Path) -> None:
    shown = ringlab("runs", "--db", str(db), "show", "tg", "--json")
    assert shown.returncode == 0, shown.stderr
    (flow,) = json.loads(shown.stdout)["phases"][0]["flows"]
    assert flow["tx_packets"] == SENT and flow["tx_pps"] > 0
    for field in ("rx_packets", "lost", "reordered", "duplicates", "rx_pps", "kernel_drops"):
        assert flow[field] is None, field
        assert flow["not_measured"][field] == "trafgen only sends: nothing counted what arrived"
    assert flow["latency_us"] is None
    assert flow["receiver_interface"]["rx_packets"] is None
    assert flow["sender_interface"]["host"] == "trafgen"  # what is known stays
    assert "tx_packets" not in flow["not_measured"]


def test_an_iperf3_tcp_import_has_no_packet_counts(db: Path) -> None:
    shown = ringlab("runs", "--db", str(db), "show", "tcp", "--json")
    (flow,) = json.loads(shown.stdout)["phases"][0]["flows"]
    assert flow["tx_bytes"] > 0 and flow["tx_packets"] is None and flow["lost"] is None
    assert flow["not_measured"]["tx_packets"] == "iperf3 over TCP counts bytes, not packets"
    table = ringlab("runs", "--db", str(db), "show", "tcp").stdout
    assert "n/m = not measured: tx, rx, lost, reord, dup, tx pps, rx pps of" in table


def test_a_ringlab_run_has_every_count_and_no_not_measured(tmp_path: Path) -> None:
    run = load_result(json.loads((FIXTURES / "run_bidir_vs_sliced.json").read_text()))
    document = run.to_json_dict()
    flows = [f for phase in document["phases"] for f in phase["flows"]]
    assert flows and all("not_measured" not in f for f in flows)
    assert all(isinstance(f["rx_packets"], int) and isinstance(f["lost"], int) for f in flows)


def test_an_export_with_nulls_imports_back_the_same(db: Path, tmp_path: Path) -> None:
    exported = tmp_path / "tg.json"
    assert main(["runs", "export", "tg", "-o", str(exported), "--db", str(db)]) == 0
    other = tmp_path / "other.db"
    assert main(["runs", "import", str(exported), "--db", str(other)]) == 0
    again = ringlab("runs", "--db", str(other), "show", "latest", "--json")
    assert json.loads(again.stdout) == json.loads(exported.read_text())


def test_csv_export_leaves_not_measured_cells_empty(db: Path) -> None:
    exported = ringlab("runs", "--db", str(db), "export", "tg", "--format", "csv")
    (row,) = csv.DictReader(io.StringIO(exported.stdout))
    assert row["tx_packets"] == str(SENT)
    for column in ("rx_packets", "lost", "loss_ratio", "rx_pps", "kernel_drops", "latency_p50_us"):
        assert row[column] == "", column
