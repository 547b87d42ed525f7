"""Diagnosis rules on recorded counter series (tests/fixtures/diagnose/*.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringlab.controller.analysis.diagnose import diagnose
from ringlab.controller.analysis.loss import attribute_loss
from ringlab.controller.store.results import Diagnosis, FlowResult, RunResult, load_result

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "diagnose"


def load(name: str) -> RunResult:
    return load_result(json.loads((FIXTURES / name).read_text()))


def codes(found: list[Diagnosis]) -> list[tuple[str, str, str]]:
    return [(d.code, d.phase, d.flow) for d in found]


def only(found: list[Diagnosis], code: str) -> list[Diagnosis]:
    return [d for d in found if d.code == code]


def test_every_fixture_loads_and_every_finding_says_what_to_do() -> None:
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert len(names) >= 10
    for name in names:
        for finding in diagnose(load(name)):
            assert finding.message.endswith("."), (name, finding.code)
            if finding.severity != "info" and finding.code != "loss_attribution":
                assert "What to do" in finding.message, (name, finding.code)


def test_zc_signature_both_sides_zero_only_when_both_send() -> None:
    found = diagnose(load("zc_both_zero_compare.json"))
    starved = only(found, "rx_starved_bidirectional")
    assert [(d.phase, d.flow) for d in starved] == [
        ("bidirectional", "a->b"),
        ("bidirectional", "b->a"),
    ]
    for finding in starved:
        assert finding.severity == "error"
        assert "PF_RING ZC bidirectional signature" in finding.message
        assert "time-sliced" in finding.message and "standard kernel driver" in finding.message
        assert "Sent alone (time-sliced/r1/" in finding.message
        assert "zero-copy driver (i40e)" in finding.message
    # Errors come first; the time-sliced phases that worked are not called starved.
    assert found[0].severity == "error"
    assert not [d for d in found if d.code == "rx_starved_bidirectional" and "sliced" in d.phase]


def test_zc_blind_counters_are_explained_once_per_interface_and_way() -> None:
    blind = only(diagnose(load("zc_both_zero_compare.json")), "interface_counters_blind")
    keys = sorted(d.message.split("'s ")[0] + d.message.split("'s ")[1][:2] for d in blind)
    assert keys == ["a:ens1f0RX", "a:ens1f0TX", "b:ens1f0RX", "b:ens1f0TX"]
    assert all(d.severity == "info" for d in blind)
    assert all("ringlab counts from its own rings" in d.message for d in blind)


def test_zc_loss_cannot_be_placed_on_blind_counters() -> None:
    run = load("zc_both_zero_compare.json")
    part = attribute_loss([run.phases[0].flows[0]])
    assert (part.lost, part.sender, part.link, part.kernel_ring, part.receiver) == (
        2_900_000,
        0,
        0,
        0,
        0,
    )
    assert part.unknown == 2_900_000


def test_one_way_starvation_needs_the_sliced_run_to_be_sure() -> None:
    bidir = load("one_way_starved_bidirectional.json")
    alone = diagnose(bidir)
    [finding] = only(alone, "rx_starved_bidirectional")
    assert finding.flow == "a->b"
    assert "compare: [bidirectional, time-sliced]" in finding.message
    assert "signature" not in finding.message  # only one side at 0

    with_sliced = diagnose(bidir, [load("one_way_sliced_clean.json")])
    [finding] = only(with_sliced, "rx_starved_bidirectional")
    assert "Sent alone (run tc-sliced time-sliced/r1/a->b)" in finding.message
    assert "50,000 of 50,000" in finding.message
    assert "taken before our ring" in finding.message  # the interface did count them
    assert "mode: time-sliced" in finding.message


def test_related_run_where_the_direction_also_fails_alone_is_not_contention() -> None:
    bidir = load("one_way_starved_bidirectional.json")
    dead = load("one_way_sliced_clean.json")
    for phase in dead.phases:
        for flow in phase.flows:
            if flow.name == "a->b":
                flow.lost, flow.rx_packets = flow.tx_packets, 0
    found = diagnose(bidir, [dead])
    assert not only(found, "rx_starved_bidirectional")
    assert codes(only(found, "app_receives_nothing")) == [
        ("app_receives_nothing", "bidirectional", "a->b")
    ]


def test_receiving_nothing_alone_tells_interface_counted_from_nothing_arrived() -> None:
    found = diagnose(load("rx_zero_alone.json"))
    assert codes(only(found, "app_receives_nothing")) == [("app_receives_nothing", "main", "a->b")]
    assert codes(only(found, "nothing_arrived")) == [("nothing_arrived", "again", "a->b")]
    assert "tc filter show dev to-a ingress" in only(found, "app_receives_nothing")[0].message
    assert not only(found, "rx_starved_bidirectional")


def test_kernel_ring_drops_are_attributed_to_the_ring() -> None:
    run = load("kernel_drops.json")
    found = diagnose(run)
    [drops] = only(found, "kernel_ring_drops")
    assert "120,000" in drops.message and "b:to-a" in drops.message
    assert "workers" in drops.message
    part = attribute_loss(run.phases[0].flows)
    assert (part.sender, part.link, part.kernel_ring, part.receiver, part.unknown) == (
        0,
        0,
        120_000,
        0,
        0,
    )


def test_link_loss_is_placed_on_the_link() -> None:
    run = load("link_loss.json")
    part = attribute_loss(run.phases[0].flows)
    assert (part.lost, part.link, part.sender, part.kernel_ring, part.receiver) == (
        500,
        500,
        0,
        0,
        0,
    )
    [finding] = only(diagnose(run), "loss_attribution")
    assert finding.severity == "info"  # 0.05% is below the 0.1% "clean" line
    assert "link 500" in finding.message


def test_tc_style_loss_is_placed_on_the_receiver() -> None:
    run = load("one_way_starved_bidirectional.json")
    part = attribute_loss([run.phases[0].flows[0]])
    assert (part.receiver, part.sender, part.link, part.kernel_ring, part.unknown) == (
        50_000,
        0,
        0,
        0,
        0,
    )


def test_loss_only_when_both_ways_recommends_time_sliced() -> None:
    found = diagnose(load("loss_bidirectional_only.json"))
    flagged = only(found, "loss_only_bidirectional")
    assert [(d.phase, d.flow) for d in flagged] == [
        ("bidirectional", "a->b"),
        ("bidirectional", "b->a"),
    ]
    assert "8.00%" in flagged[0].message and "time-sliced" in flagged[0].message
    # Loss still counted, and placed: all of it in the receive rings.
    parts = [d for d in only(found, "loss_attribution") if d.phase == "bidirectional"]
    assert [d.flow for d in parts] == ["a->b", "b->a"]
    assert "receiver kernel ring 64,000" in parts[0].message


def test_loss_that_stays_when_sliced_is_not_blamed_on_contention() -> None:
    run = load("loss_bidirectional_only.json")
    for phase in run.phases[1:]:
        for flow in phase.flows:
            flow.rx_packets = flow.tx_packets * 95 // 100
            flow.lost = flow.tx_packets - flow.rx_packets
    assert not only(diagnose(run), "loss_only_bidirectional")


def test_device_busy_is_reported_once_with_its_phase() -> None:
    found = diagnose(load("device_busy.json"))
    [busy] = only(found, "zc_device_busy")
    assert busy.phase == "main" and busy.severity == "error"
    assert "zc:eth1@0" in busy.message and "time-sliced" in busy.message


def test_tiny_test_loss_names_i40e() -> None:
    found = diagnose(load("i40e_tiny.json"))
    [tiny] = only(found, "tiny_test_startup_loss")
    assert "lost 3 of only 64" in tiny.message
    assert "This path uses i40e" in tiny.message


def test_send_errors_and_shortfall() -> None:
    found = diagnose(load("sender_trouble.json"))
    assert codes(found) == [
        ("send_errors", "main", "a->b"),
        ("sender_shortfall", "main", "a->b"),
    ]
    assert "40% of the 1,000,000 asked" in found[1].message


def test_clean_run_has_nothing_to_say() -> None:
    found = diagnose(load("one_way_sliced_clean.json"))
    assert found == []


@pytest.mark.parametrize(
    ("tx", "rx", "sent_if", "recv_if", "drops"),
    [
        (1000, 990, 1000, 995, 3),
        (1000, 0, 0, 0, 0),
        (1000, 1000, 1002, 1002, 0),
        (1000, 400, 900, 880, 50),
        (5, 0, 7, 900, 900),
    ],
)
def test_attribution_always_adds_up(
    tx: int, rx: int, sent_if: int, recv_if: int, drops: int
) -> None:
    flow = FlowResult.model_validate(
        {
            "name": "f",
            "from": "a",
            "to": "b",
            "tx_packets": tx,
            "rx_packets": rx,
            "lost": tx - rx,
            "kernel_drops": drops,
            "sender_interface": {"host": "a", "interface": "x", "tx_packets": sent_if},
            "receiver_interface": {"host": "b", "interface": "y", "rx_packets": recv_if},
        }
    )
    part = attribute_loss([flow])
    pieces = (part.sender, part.link, part.kernel_ring, part.receiver, part.unknown)
    assert sum(pieces) == tx - rx
    assert min(pieces) >= 0
