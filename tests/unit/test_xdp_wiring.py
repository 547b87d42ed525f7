"""AF_XDP through the product, without sockets: scenario keys -> plan -> PrepareRequest ->
the agent's FlowPlan; the session's receiver grouping, shared senders and the recorded
queue collision (fakes on the DataPlane seam); results back to the controller.

The real sockets run in tests/integration/test_xdp_runs.py.
"""

from __future__ import annotations

import errno
import pickle
from dataclasses import replace

import pytest

from ringlab.agent.flows import FlowOutcome, FlowPlan, SessionError, State
from ringlab.agent.rings.api import RxConfig, TxConfig
from ringlab.agent.rings.xdp.errors import QueueBusy
from ringlab.agent.session import DataPlane, Session
from ringlab.agent.validation import validate_flows
from ringlab.agent.wire import flow_plan_from_proto, flow_result_to_proto
from ringlab.controller.analysis.diagnose import diagnose
from ringlab.controller.run.assemble import ResolvedFlow, flow_result
from ringlab.controller.run.plan import build_plan, highest_xdp_queue
from ringlab.controller.run.prepare import prepare_requests
from ringlab.controller.scenario import ScenarioError, load_scenario_text
from ringlab.controller.store.results import PhaseResult, RunResult
from ringlab.v1 import agent_pb2 as pb
from tests.unit.test_session import TX, FakeClock, FakeReceiver, FakeSender

SCENARIO = """version: 1
name: xdp
mode: bidirectional
duration: 1s
hosts: {a: {}, b: {}}
flows:
  - {from: a, to: b, frame_size: 64, rate: 1kpps, engine: xdp, xdp_queue: 2, workers: 2,
     xdp_mode: copy, xdp_attach: generic, xdp_share: true}
  - {from: b, to: a, frame_size: 64, rate: 1kpps, engine: ring, rx_engine: xdp}
  - {from: a, to: b, frame_size: 64, rate: 1kpps, name: plain}
"""


def test_scenario_keys_reach_the_prepare_request() -> None:
    plan = build_plan(load_scenario_text(SCENARIO, "s.yaml"))
    first, second, plain = plan.phases[0].flows
    assert (first.engine, first.rx_engine, first.xdp_queue, first.workers) == ("xdp", "xdp", 2, 2)
    assert (first.xdp_mode, first.xdp_attach, first.xdp_share) == ("copy", "generic", True)
    assert (second.engine, second.rx_engine) == ("ring", "xdp")
    assert (plain.engine, plain.rx_engine, plain.xdp_queue) == ("ring", "ring", 0)
    assert highest_xdp_queue(plan) == 3  # queue 2 + 2 workers - 1: a temporary lab gets 4
    endpoints = [
        ResolvedFlow(
            flow_id=i + 1,
            name=f.name,
            src_host=f.src_host,
            dst_host=f.dst_host,
            src_interface="to-b" if f.src_host == "a" else "to-a",
            dst_interface="to-a" if f.dst_host == "b" else "to-b",
            src_mac="02:00:00:00:00:01",
            dst_mac="02:00:00:00:00:02",
            frame_size=f.frame_size,
            rate_pps=f.rate_pps,
            engine=f.engine,
            workers=f.workers,
            stamping=True,
            qdisc_bypass=True,
            paged_skb=False,
            batch=0,
            ring_frames=0,
            rx_engine=f.rx_engine,
            xdp_queue=f.xdp_queue,
            xdp_mode=f.xdp_mode,
            xdp_attach=f.xdp_attach,
            xdp_share=f.xdp_share,
        )
        for i, f in enumerate(plan.phases[0].flows)
    ]
    requests = prepare_requests(
        "s", endpoints, 10**9, management_addresses={}, allow_management_interface=False
    )
    sent = requests["a"].flows[0]
    assert (sent.engine, sent.rx_engine, sent.xdp_queue) == (pb.ENGINE_XDP, pb.ENGINE_XDP, 2)
    assert (sent.xdp_mode, sent.xdp_attach, sent.xdp_share) == ("copy", "generic", True)
    received = flow_plan_from_proto(requests["a"].flows[1])  # b->a received on a
    assert (received.role, received.engine, received.rx_engine) == ("receive", "ring", "xdp")
    assert received.xdp
    plain_plan = flow_plan_from_proto(requests["a"].flows[2])
    assert (plain_plan.rx_engine, plain_plan.xdp) == ("ring", False)


def test_wire_defaults_and_refusals() -> None:
    spec = pb.FlowSpec(
        flow_id=1, name="x", role=pb.ROLE_RECEIVE, interface="lo", engine=pb.ENGINE_XDP
    )
    plan = flow_plan_from_proto(spec)
    assert (plan.rx_engine, plan.xdp_mode, plan.xdp_attach) == ("xdp", "auto", "native")
    for field, value, words in (
        ("xdp_mode", "zero-copy", "xdp_mode 'zero-copy' is unknown; use auto, copy, zerocopy"),
        ("xdp_attach", "skb", "xdp_attach 'skb' is unknown; use native, generic"),
        ("rx_engine", pb.ENGINE_SENDTO, "cannot receive; use ring or xdp"),
    ):
        bad = pb.FlowSpec()
        bad.CopyFrom(spec)
        setattr(bad, field, value)
        with pytest.raises(SessionError) as caught:
            flow_plan_from_proto(bad)
        assert caught.value.kind == "invalid" and words in caught.value.message


@pytest.mark.parametrize(
    "text, words",
    [
        ("engine: ring, xdp_share: true", "xdp_share only applies to AF_XDP flows"),
        ("engine: ring, rx_engine: xdp, xdp_share: true", "the sender must use AF_XDP too"),
        ("engine: xdp, rx_engine: ring, xdp_share: true", "receiving side uses rx_engine ring"),
        ("engine: xdp, xdp_queue: 1020, workers: 8", "reaches queue 1027"),
        ("engine: xdp, xdp_mode: fast", "is not an AF_XDP bind mode"),
    ],
)
def test_scenario_refuses_xdp_keys_that_cannot_apply(text: str, words: str) -> None:
    scenario = SCENARIO.split("flows:")[0] + (
        f"flows:\n  - {{from: a, to: b, frame_size: 64, rate: 1kpps, {text}}}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(scenario, "s.yaml")
    assert words in str(caught.value)


SEND = FlowPlan(
    flow_id=1,
    name="a->b",
    role="send",
    interface="lo",
    src_mac=b"\x02" * 6,
    dst_mac=b"\x02" * 6,
    frame_size=64,
    rate_pps=1000.0,
    engine="xdp",
    workers=1,
    stamping=True,
    qdisc_bypass=True,
    paged_skb=False,
    ring_frames=0,
    batch=0,
    rx_engine="xdp",
)
RECEIVE = replace(SEND, flow_id=2, name="b->a", role="receive", src_mac=b"", dst_mac=b"")


class Plane:
    """Fakes that refuse a second socket on one queue, as the kernel does."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.owned: dict[tuple[str, int], str] = {}
        self.receivers: list[FakeReceiver] = []
        self.isolated: list[TxConfig] = []
        self.local: list[TxConfig] = []

    def _bind(self, interface: str, queue: int, role: str, share: bool) -> None:
        holder = self.owned.get((interface, queue))
        if holder is not None and not (share and holder.startswith("shared")):
            raise QueueBusy(interface, queue, f"held by {holder}", role)
        self.owned[(interface, queue)] = ("shared " if share else "") + role

    def open_sender(self, config: TxConfig) -> FakeSender:
        self._bind(config.interface, config.xdp_queue + config.worker, "sender", False)
        self.isolated.append(config)
        return FakeSender(config, "until_stop")

    def open_local_sender(self, config: TxConfig) -> FakeSender:
        self._bind(config.interface, config.xdp_queue + config.worker, "sender", True)
        self.local.append(config)
        return FakeSender(config, "until_stop")

    def open_receiver(self, config: RxConfig) -> FakeReceiver:
        self._bind(config.interface, config.xdp_queue + config.worker, "receiver", config.xdp_share)
        self.receivers.append(FakeReceiver(config, self.clock))
        return self.receivers[-1]

    def plane(self) -> DataPlane:
        return DataPlane(
            open_sender=self.open_sender,
            open_receiver=self.open_receiver,
            open_local_sender=self.open_local_sender,
            interface_counters=lambda name: {},
        )


def _session(plane: Plane, flows: list[FlowPlan]) -> Session:
    return Session("s", flows, 10**9, plane.clock, plane.clock, plane.plane())


def test_one_receiver_per_interface_queue_with_every_flow_id() -> None:
    plane = Plane()
    wide = replace(RECEIVE, flow_id=3, name="wide", workers=2)  # queues 0 and 1
    session = _session(plane, [RECEIVE, wide])
    try:
        configs = [r.config for r in plane.receivers]
        assert [(c.engine, c.xdp_queue, c.worker, c.fanout_group) for c in configs] == [
            ("xdp", 0, 0, None),
            ("xdp", 1, 0, None),
        ]
        assert all(c.flow_ids == frozenset({2, 3}) for c in configs)
    finally:
        session.stop()
        assert session.done_event.wait(5)


def test_collision_is_recorded_on_the_flow_with_our_holder() -> None:
    plane = Plane()
    session = _session(plane, [SEND, RECEIVE])
    outcome = session.outcomes[SEND.flow_id]
    assert outcome.queue_busy is not None
    assert (outcome.queue_busy.interface, outcome.queue_busy.queue) == ("lo", 0)
    assert outcome.queue_busy.holders == ("b->a (receiver)",)
    assert "xdp queue busy" in outcome.error and "b->a (receiver)" in outcome.error
    session.start(plane.clock(), 10**9, 0)
    session.stop()
    assert session.done_event.wait(5)
    assert session.state is State.STOPPED  # the receiver ran; the sender never opened
    message = flow_result_to_proto(outcome)
    assert message.xdp_queue_busy.holders == ["b->a (receiver)"]
    assert message.xdp_queue_busy.interface == "lo" and message.packets == 0


def test_shared_sender_opens_in_process_and_joins_the_receiver() -> None:
    plane = Plane()
    flows = [replace(SEND, xdp_share=True), replace(RECEIVE, xdp_share=True)]
    session = _session(plane, flows)
    try:
        assert session.outcomes[1].queue_busy is None
        assert [c.xdp_share for c in plane.local] == [True] and plane.isolated == []
    finally:
        session.stop()
        assert session.done_event.wait(5)


def test_ring_and_xdp_receivers_on_one_interface_are_refused() -> None:
    ring = replace(RECEIVE, flow_id=5, name="ringy", engine="ring", rx_engine="ring")
    with pytest.raises(SessionError) as caught:
        validate_flows("s", [RECEIVE, ring], 1000, {})
    assert "never reach an AF_PACKET ring" in caught.value.message


def test_umem_counts_against_the_session_ring_limit() -> None:
    # 64 queues x 1 Mi chunks x 2 KiB is far above the 1 GiB session limit.
    big = replace(RECEIVE, workers=16, xdp_frames=1 << 20)
    with pytest.raises(SessionError) as caught:
        validate_flows("s", [big], 1000, {})
    assert "rings of this session would need" in caught.value.message


def test_queue_busy_survives_pickling_and_reaches_the_diagnosis() -> None:
    busy = pickle.loads(pickle.dumps(QueueBusy("to-b", 0, "pid 1 (python)", "xdp sender")))
    assert (busy.errno, busy.interface, busy.queue) == (errno.EBUSY, "to-b", 0)
    plane = Plane()
    session = _session(plane, [SEND, RECEIVE])
    session.stop()
    assert session.done_event.wait(5)
    sent = flow_result_to_proto(session.outcomes[1])
    sent.info["engine"] = "xdp"
    endpoints = ResolvedFlow(1, "a->b", "a", "b", "lo", "lo", "", "", 64, 1e3, "xdp", 1,
                              True, True, False, 0, 0, rx_engine="xdp")  # fmt: skip
    received = pb.FlowResult(flow_id=1, name="a->b", role=pb.ROLE_RECEIVE, interface="lo")
    flow = flow_result(endpoints, sent, received, {})
    assert flow.xdp_queue_busy[0].host == "a"
    run = RunResult(
        run_id="r",
        scenario="x",
        mode="bidirectional",
        status="failed",
        error=flow.errors[0],
        phases=[PhaseResult(name="bidirectional", group="bidirectional", flows=[flow])],
    )
    codes = [d.code for d in diagnose(run)]
    assert codes.count("xdp_queue_busy") == 1 and "zc_device_busy" not in codes
    message = next(d.message for d in diagnose(run) if d.code == "xdp_queue_busy")
    for words in ("lo queue 0", "b->a (receiver)", "time-sliced", "xdp_share", "xdp_queue"):
        assert words in message


def test_worker_extras_add_up_and_facts_do_not() -> None:
    outcome = FlowOutcome(SEND)
    for worker in range(2):
        outcome.tx.append(
            replace(
                TX,
                extra={"xdp_queue": 3 + worker, "xdp_zerocopy": 0, "xdp_tx_invalid_descs": 2},
                info={"engine": "xdp", "xdp_mode": "copy"},
            )
        )
    message = flow_result_to_proto(outcome)
    assert dict(message.extra) == {"xdp_queue": 3, "xdp_zerocopy": 0, "xdp_tx_invalid_descs": 4}
    assert message.info["xdp_mode"] == "copy"


def test_xdp_drops_are_explained_by_the_sockets_statistics() -> None:
    endpoints = ResolvedFlow(1, "a->b", "a", "b", "to-b", "to-a", "", "", 64, 0.0, "xdp", 1,
                              True, True, False, 0, 0, rx_engine="xdp")  # fmt: skip
    sent = pb.FlowResult(flow_id=1, name="a->b", role=pb.ROLE_SEND, interface="to-b", packets=10)
    sent.info["engine"] = "xdp"
    received = pb.FlowResult(
        flow_id=1, name="a->b", role=pb.ROLE_RECEIVE, interface="to-a", unique_packets=7,
        kernel_drops=3,
    )  # fmt: skip
    received.info["engine"] = "xdp"
    received.extra["xdp_rx_ring_full"] = 3
    flow = flow_result(endpoints, sent, received, {})
    phase = PhaseResult(name="main", group="unidirectional", flows=[flow])
    run = RunResult(run_id="r", scenario="x", mode="unidirectional", phases=[phase])
    [drops] = [d for d in diagnose(run) if d.code == "kernel_ring_drops"]
    assert "XDP_STATISTICS: rx_dropped 0, rx_ring_full 3" in drops.message
    assert "tp_drops" not in drops.message
