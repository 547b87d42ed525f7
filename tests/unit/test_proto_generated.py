"""The committed generated code must be what scripts/gen-proto makes from agent.proto."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("agent_pb2.py", "agent_pb2.pyi", "agent_pb2_grpc.py")


def test_generated_code_matches_the_proto(tmp_path: Path) -> None:
    subprocess.run([str(ROOT / "scripts" / "gen-proto"), str(tmp_path)], check=True, cwd=ROOT)
    for name in GENERATED:
        fresh = (tmp_path / "ringlab" / "v1" / name).read_text()
        committed = (ROOT / "proto" / "ringlab" / "v1" / name).read_text()
        assert fresh == committed, f"{name} is stale: run scripts/gen-proto and commit the result"


def test_contract_is_versioned() -> None:
    from ringlab.v1 import API_VERSION
    from ringlab.v1 import agent_pb2 as pb

    assert API_VERSION == 1
    assert pb.DESCRIPTOR.package == "ringlab.v1"
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["Agent"].methods}
    assert {"GetInfo", "Prepare", "Start", "Stop", "GetResults", "Stats"} <= methods
    # Each RPC has its own request and response message.
    inputs = [m.input_type.name for m in pb.DESCRIPTOR.services_by_name["Agent"].methods]
    outputs = [m.output_type.name for m in pb.DESCRIPTOR.services_by_name["Agent"].methods]
    assert len(set(inputs)) == len(inputs) and len(set(outputs)) == len(outputs)
