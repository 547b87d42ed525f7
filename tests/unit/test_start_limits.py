"""check_start and check_session_id (agent/validation.py): the bounds and their messages.
Pure: the agent's clock is passed in."""

from __future__ import annotations

import pytest

from ringlab.agent.flows import SessionError
from ringlab.agent.validation import check_session_id, check_start
from ringlab.session_limits import (
    MAX_DURATION_NS,
    MAX_SESSION_ID_LEN,
    MAX_START_AHEAD_NS,
    MAX_START_BEHIND_NS,
)

NOW = 1_796_000_000 * 10**9


def refused(call: object) -> str:
    with pytest.raises(SessionError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.kind == "invalid"
    return caught.value.message


def test_the_start_window_edges_are_inclusive() -> None:
    for start in (NOW - MAX_START_BEHIND_NS, NOW, NOW + MAX_START_AHEAD_NS):
        check_start(start, MAX_DURATION_NS, 0, NOW)
    ahead = refused(lambda: check_start(NOW + MAX_START_AHEAD_NS + 1, 10**9, 0, NOW))
    behind = refused(lambda: check_start(NOW - MAX_START_BEHIND_NS - 1, 10**9, 0, NOW))
    assert "+600 s from this agent's clock" in ahead
    assert "-60 s from this agent's clock" in behind and "nanoseconds since 1970" in behind


@pytest.mark.parametrize("duration", [0, -1, MAX_DURATION_NS + 1, 10**18])
def test_durations_outside_0_to_a_day_are_refused(duration: int) -> None:
    assert "duration_ns" in refused(lambda: check_start(NOW, duration, 0, NOW))


def test_session_ids() -> None:
    check_session_id("20261203-153000-abcdef-p0")
    check_session_id("x" * MAX_SESSION_ID_LEN)
    assert "empty" in refused(lambda: check_session_id(""))
    assert "129 characters" in refused(lambda: check_session_id("x" * 129))
    assert "'/'" in refused(lambda: check_session_id("a/b"))
