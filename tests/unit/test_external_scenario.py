"""Scenarios with external engines: defaults, what each key needs, and what reaches the
agents (FlowSpec fields). Pure."""

from __future__ import annotations

import pytest
from helpers import resolved_testpmd_flow

from ringlab.controller.run.plan import build_plan, highest_xdp_queue
from ringlab.controller.run.prepare import prepare_requests
from ringlab.controller.scenario.load import load_scenario_text
from ringlab.errors import ScenarioError
from ringlab.v1 import agent_pb2 as pb

HEAD = """\
version: 1
name: t
mode: unidirectional
duration: 1s
hosts: {a: {}, b: {}}
flows:
"""


def flow(keys: str) -> str:
    return HEAD + f"  - {{from: a, to: b, frame_size: 64, rate: max, {keys}}}\n"


def test_a_testpmd_sender_is_received_by_testpmd_unless_told() -> None:
    [planned] = build_plan(load_scenario_text(flow("engine: testpmd"), "s.yaml")).phases[0].flows
    assert (planned.engine, planned.rx_engine, planned.tool_device) == ("testpmd", "testpmd", "")
    mixed = load_scenario_text(flow("engine: testpmd, rx_engine: ring"), "s.yaml")
    assert build_plan(mixed).phases[0].flows[0].rx_engine == "ring"


def test_testpmd_options_reach_the_plan_and_an_af_xdp_queue_sizes_the_lab() -> None:
    text = flow("engine: testpmd, testpmd_vdev: af_xdp, xdp_queue: 1, cores: '0-2', workers: 2")
    plan = build_plan(load_scenario_text(text, "s.yaml"))
    [planned] = plan.phases[0].flows
    assert (planned.tool_device, planned.cores, planned.xdp_queue) == ("af_xdp", "0-2", 1)
    assert highest_xdp_queue(plan) == 2


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        ("engine: testpmd, xdp_queue: 1", "xdp_queue only applies to AF_XDP flows"),
        ("engine: ring, cores: '1'", "cores pins an external tool"),
        ("engine: testpmd, pfring_cluster_id: 5", "only applies to engine pfring"),
        ("engine: testpmd, cores: 'two'", "CPU list"),
    ],
)
def test_external_keys_need_their_engine(keys: str, words: str) -> None:
    with pytest.raises(ScenarioError, match=words):
        load_scenario_text(flow(keys), "s.yaml")


def test_pfring_may_be_paced_and_takes_a_zc_cluster() -> None:
    text = HEAD + "  - {from: a, to: b, frame_size: 64, rate: 1Mpps, engine: pfring,"
    text += " pfring_cluster_id: 99}\n"
    [planned] = build_plan(load_scenario_text(text, "s.yaml")).phases[0].flows
    assert (planned.engine, planned.rx_engine, planned.pfring_cluster_id) == (
        "pfring",
        "pfring",
        99,
    )
    assert planned.rate_pps == 1_000_000


def test_prepare_carries_the_tool_fields_and_tells_a_ring_receiver_its_peer_is_a_tool() -> None:
    resolved = resolved_testpmd_flow(rx_engine="ring", tool_device="af_xdp", cores="0,1")
    requests = prepare_requests(
        "s", [resolved], 10**9, management_addresses={}, allow_management_interface=False
    )
    [send], [receive] = requests["a"].flows, requests["b"].flows
    assert (send.engine, send.tool_device, send.cores) == (pb.ENGINE_TESTPMD, "af_xdp", "0,1")
    assert send.peer_engine == pb.ENGINE_UNSPECIFIED
    assert (receive.rx_engine, receive.peer_engine) == (pb.ENGINE_RING, pb.ENGINE_TESTPMD)
