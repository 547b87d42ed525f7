"""Each engine name's value in the proto's Engine enum: one table for both directions, the
controller writing FlowSpec.engine/rx_engine (controller/run/prepare.py) and the agent
reading them back (agent/wire.py)."""

from __future__ import annotations

from ringlab.v1 import agent_pb2 as pb

# Keyed by str: the controller's resolved flows carry the engine as the scenario spelled
# it (already checked against ringlab.engines.ENGINES).
ENGINE_CODES: dict[str, pb.Engine] = {
    "ring": pb.ENGINE_RING,
    "sendto": pb.ENGINE_SENDTO,
    "xdp": pb.ENGINE_XDP,
    "testpmd": pb.ENGINE_TESTPMD,
    "pfring": pb.ENGINE_PFRING,
}
