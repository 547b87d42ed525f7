"""sender_qdisc_drops (controller/analysis/qdisc.py) on a recorded run whose sender's
qdisc dropped frames: the qdisc is named with its own counter, and the generic guesses
(send errors "malformed, link down", a "CPU-bound" shortfall) stay quiet."""

from __future__ import annotations

import json
from pathlib import Path

from ringlab.controller.analysis.diagnose import diagnose
from ringlab.controller.store.results import RunResult, load_result

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "diagnose" / "sender_trouble.json"


def with_sender_extra(extra: dict[str, int], send_errors: int) -> RunResult:
    document = json.loads(FIXTURE.read_text())
    flow = document["phases"][0]["flows"][0]
    flow["sender_extra"] = extra
    flow["send_errors"] = send_errors
    return load_result(document)


def test_a_filter_that_drops_frames_is_named_instead_of_send_errors_and_cpu() -> None:
    run = with_sender_extra(
        {
            "qdisc_drops": 40,
            "qdisc_dropped_frames": 12,
            "qdisc_given_up": 12,
            "qdisc_kernel_drops": 40,
            "tc/clsact/ffff:/drops": 40,
        },
        send_errors=12,
    )
    found = diagnose(run)
    assert [d.code for d in found] == ["sender_qdisc_drops"]
    text = found[0].message
    assert "a:to-b" in text and "clsact ffff: (40 drops)" in text
    assert "12 were dropped on every try and given up" in text and "qdisc_bypass" in text
    assert found[0].severity == "error"


def test_drops_a_later_try_got_through_are_a_warning_and_other_errors_still_show() -> None:
    run = with_sender_extra(
        {"qdisc_drops": 30, "qdisc_dropped_frames": 25, "qdisc_given_up": 0, "tc/tbf/1:/drops": 30},
        send_errors=12,
    )
    found = {d.code: d for d in diagnose(run)}
    assert found["sender_qdisc_drops"].severity == "warning"
    assert "tbf 1: (30 drops)" in found["sender_qdisc_drops"].message
    assert "25 of those frames went out on a later try" in found["sender_qdisc_drops"].message
    # 12 send errors the qdisc does not explain are still reported as such.
    assert "send_errors" in found and "sender_shortfall" not in found


def test_no_qdisc_evidence_leaves_the_generic_findings() -> None:
    found = [d.code for d in diagnose(with_sender_extra({}, send_errors=12))]
    assert found == ["send_errors", "sender_shortfall"]
