"""The agent and the controller describe a holder in one wording (ringlab/holder_text.py)."""

from __future__ import annotations

from ringlab.agent.holds import Holder
from ringlab.controller.remote.holders import describe_holder
from ringlab.v1 import agent_pb2 as pb

SINCE = 1_764_775_561 * 10**9  # 15:26:01 UTC


def test_agent_and_controller_word_a_holder_alike() -> None:
    agent_holder = Holder(
        "r1", "s", controller_host="ctl", controller_user="me", since_wall_ns=SINCE
    )
    wire_holder = pb.SessionHolder(
        run_id="r1", scenario="s", controller_host="ctl", controller_user="me", since_wall_ns=SINCE
    )
    agent_text = agent_holder.describe(SINCE + 12 * 10**9)
    controller_text = describe_holder(wire_holder)
    assert controller_text == "run r1 (scenario 's') from me@ctl since 15:26:01 UTC"
    assert agent_text == controller_text + " (12 s ago)"


def test_a_session_without_a_hold_and_nobody() -> None:
    assert describe_holder(pb.SessionHolder(session_id="x")) == (
        "session x (prepared without a hold)"
    )
    assert describe_holder(None) == "nobody (others are ahead in its line)"
