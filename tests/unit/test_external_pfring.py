"""engine: pfring through the process engine, with stand-ins for PF_RING's tools.

PF_RING's kernel module cannot load here, so `pfsend` and `zsend` are small scripts on
PATH that print what the real tools print (tests/fixtures/pfring/, cited there) and
answer SIGINT as pfsend does ("Leaving...", its last report, "Sent N packets"). What
is real: the process engine (own process group, setpriv, stdbuf, SIGINT, output tail),
the command lines and the parsers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ringlab.agent.external.engine import ExternalSender, record_failure
from ringlab.agent.external.process import ToolFailed
from ringlab.agent.flows import FlowOutcome, FlowPlan

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pfring"


def plan(**changes: object) -> FlowPlan:
    fields: dict[str, object] = {
        "flow_id": 1,
        "name": "a->b",
        "role": "send",
        "interface": "eth1",
        "src_mac": b"\x02\0\0\0\0\1",
        "dst_mac": b"\x02\0\0\0\0\2",
        "frame_size": 64,
        "rate_pps": 1_000_000.0,
        "engine": "pfring",
        "workers": 1,
        "stamping": True,
        "qdisc_bypass": False,
        "paged_skb": False,
        "ring_frames": 0,
        "batch": 0,
        **changes,
    }
    return FlowPlan(**fields)  # type: ignore[arg-type]


def stand_in(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The stand-ins use bash, sed and sleep; PF_RING's real tools are nowhere here.
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    return tmp_path


def run_for(sender: ExternalSender, seconds: float) -> int:
    start = time.monotonic_ns()
    result = sender.run(start, int(seconds * 1e9), threading.Event())
    return result.packets


def test_pfsend_runs_until_sigint_and_its_last_word_is_the_count(tools: Path) -> None:
    fixture = FIXTURES / "pfsend-format.txt"
    stand_in(
        tools,
        "pfsend",
        f"trap 'sed -n \"/^Leaving/,\\$p\" {fixture}; exit 0' INT\n"
        f"sed '/^Leaving/,$d' {fixture}\n"
        "while true; do sleep 0.05; done\n",
    )
    sender = ExternalSender(plan())
    assert run_for(sender, 0.5) == 2_412_359
    run = sender.tool_run()
    assert run.command == "pfsend -i eth1 -l 60 -p 1000000 -n 0"
    assert run.exit == "exit 0" and run.output.endswith("Sent 2412359 packets")


def test_a_busy_zc_device_is_the_busy_finding_in_zsends_words(tools: Path) -> None:
    fixture = FIXTURES / "open-busy-zsend-format.txt"
    stand_in(tools, "zsend", f"cat {fixture}\nexit 1\n")
    sender = ExternalSender(plan(pfring_cluster_id=99))
    with pytest.raises(ToolFailed) as caught:
        run_for(sender, 5)
    outcome = FlowOutcome(plan(pfring_cluster_id=99))
    record_failure(outcome, caught.value, holders=())
    assert outcome.queue_busy is not None
    assert outcome.queue_busy.tool == "zsend"
    assert "Device or resource busy" in outcome.queue_busy.message
    assert outcome.error.startswith("xdp queue busy: zsend: pfring_zc_open_device error")
    assert outcome.tool is not None and "-c 99" in outcome.tool.command


def test_a_tool_that_exits_early_is_the_flows_error_with_its_last_words(tools: Path) -> None:
    stand_in(
        tools,
        "pfsend",
        "echo 'TX rate: [current 1.00 pps/0.00 Gbps][average 1.00 pps/0.00 Gbps]"
        "[total 1.00 pkts]'\nsleep 0.2\necho 'sendto failed: No buffer space available'\n"
        "exit 3\n",
    )
    with pytest.raises(ToolFailed) as caught:
        run_for(ExternalSender(plan()), 10)
    assert "exited before the flow's end (exit 3)" in caught.value.message
    assert "No buffer space available" in caught.value.message


def test_a_missing_pfsend_is_the_flows_error_naming_where_it_comes_from(
    tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tools))
    with pytest.raises(ToolFailed, match=r"pfsend is not installed.*ntop's pfring"):
        run_for(ExternalSender(plan()), 1)
