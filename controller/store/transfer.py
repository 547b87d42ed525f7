"""Copying one run store's history into another (`ringlab store migrate`).

Rows are copied as stored (the result document's text, the scenario text, each flow's
place in its run), in one transaction on the target, so a copy cut short leaves nothing
half-copied. Copying again adds only what is new: a run already in the target with the
same document is counted as there, its tags added if new; a run whose id the target
holds with another document is a conflict, left as the target has it and reported.
Suite runs and their cases go the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ringlab.controller.store.database import Store

_RUN_COLUMNS = "run_id, scenario, mode, status, started_at, finished_at, scenario_text, result_json"
_FLOW_COLUMNS = (
    "run_id, phase, flow, from_host, to_host, tx_packets, rx_packets, lost, tx_pps, rx_pps,"
    " kernel_drops, position"
)
_SUITE_RUN_COLUMNS = "suite_run_id, suite, baseline_tag, started_at, finished_at"
_CASE_COLUMNS = (
    "suite_run_id, case_key, position, name, scenario, hosts, verdict, run_id,"
    " baseline_run_id, metric, message, duration_s"
)


@dataclass
class TransferCounts:
    runs_copied: int = 0
    runs_present: int = 0  # already in the target, the same document
    flows_copied: int = 0
    tags_copied: int = 0
    suite_runs_copied: int = 0
    suite_runs_present: int = 0
    cases_copied: int = 0
    conflicts: list[str] = field(default_factory=list)  # run / suite run ids left as they were

    def to_json_dict(self) -> dict[str, object]:
        return {
            "runs": {"copied": self.runs_copied, "already_there": self.runs_present},
            "flows_copied": self.flows_copied,
            "tags_copied": self.tags_copied,
            "suite_runs": {
                "copied": self.suite_runs_copied,
                "already_there": self.suite_runs_present,
            },
            "cases_copied": self.cases_copied,
            "conflicts": self.conflicts,
        }


def _insert(columns: str, table: str, conflict: str) -> str:
    marks = ", ".join("?" * len(columns.split(",")))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT ({conflict}) DO NOTHING"


def copy_history(source: Store, target: Store) -> TransferCounts:
    """Every run, tag, flow, suite run and case of ``source`` that ``target`` lacks."""
    counts = TransferCounts()
    src, dst = source.database, target.database
    runs = src.fetch_all(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started_at, run_id")
    with dst.transaction():
        for row in runs:
            run_id = row[0]
            if dst.run(_insert(_RUN_COLUMNS, "runs", "run_id"), row):
                counts.runs_copied += 1
                flows = src.fetch_all(
                    f"SELECT {_FLOW_COLUMNS} FROM flows WHERE run_id = ? ORDER BY position",
                    (run_id,),
                )
                dst.run_many(_insert(_FLOW_COLUMNS, "flows", "run_id, phase, flow"), flows)
                counts.flows_copied += len(flows)
            else:
                there = dst.fetch_one("SELECT result_json FROM runs WHERE run_id = ?", (run_id,))
                if there is None or there[0] != row[7]:
                    counts.conflicts.append(str(run_id))
                    continue
                counts.runs_present += 1
            for (tag,) in src.fetch_all("SELECT tag FROM tags WHERE run_id = ?", (run_id,)):
                counts.tags_copied += dst.run(
                    _insert("run_id, tag", "tags", "run_id, tag"), (run_id, tag)
                )
        _copy_suites(source, target, counts)
    return counts


def _copy_suites(source: Store, target: Store, counts: TransferCounts) -> None:
    src, dst = source.database, target.database
    suite_runs = src.fetch_all(
        f"SELECT {_SUITE_RUN_COLUMNS} FROM suite_runs ORDER BY started_at, suite_run_id"
    )
    for row in suite_runs:
        suite_run_id = row[0]
        if dst.run(_insert(_SUITE_RUN_COLUMNS, "suite_runs", "suite_run_id"), row):
            counts.suite_runs_copied += 1
        else:
            there = dst.fetch_one(
                f"SELECT {_SUITE_RUN_COLUMNS} FROM suite_runs WHERE suite_run_id = ?",
                (suite_run_id,),
            )
            # finished_at may have been filled in since an earlier copy: not a conflict.
            if there is None or tuple(there[:4]) != tuple(row[:4]):
                counts.conflicts.append(str(suite_run_id))
                continue
            counts.suite_runs_present += 1
            if row[4] and not there[4]:
                dst.run(
                    "UPDATE suite_runs SET finished_at = ? WHERE suite_run_id = ?",
                    (row[4], suite_run_id),
                )
        cases = src.fetch_all(
            f"SELECT {_CASE_COLUMNS} FROM suite_cases WHERE suite_run_id = ?", (suite_run_id,)
        )
        for case in cases:
            counts.cases_copied += dst.run(
                _insert(_CASE_COLUMNS, "suite_cases", "suite_run_id, case_key"), case
            )
