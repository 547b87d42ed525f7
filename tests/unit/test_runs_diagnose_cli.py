"""`ringlab runs diagnose RUN --with OTHER`: diagnosis across stored runs, from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import ringlab

from ringlab.controller.store.database import Store
from ringlab.controller.store.results import load_result

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "diagnose"


def test_related_run_turns_a_hunch_into_a_verdict(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with Store(db) as store:
        for name in ("one_way_starved_bidirectional.json", "one_way_sliced_clean.json"):
            store.save(load_result(json.loads((FIXTURES / name).read_text())))
    env = {"RINGLAB_DB": str(db)}

    alone = ringlab("runs", "diagnose", "tc-bidir", "--json", env=env)
    assert alone.returncode == 0, alone.stderr
    [starved] = [f for f in json.loads(alone.stdout) if f["code"] == "rx_starved_bidirectional"]
    assert "compare: [bidirectional, time-sliced]" in starved["message"]

    paired = ringlab("runs", "diagnose", "tc-bidir", "--with", "tc-sliced", "--json", env=env)
    assert paired.returncode == 0, paired.stderr
    [starved] = [f for f in json.loads(paired.stdout) if f["code"] == "rx_starved_bidirectional"]
    assert "Sent alone (run tc-sliced" in starved["message"]

    human = ringlab("runs", "diagnose", "tc-bidir", "--with", "tc-sliced", env=env)
    assert human.returncode == 0 and "rx_starved_bidirectional" in human.stdout
