"""Engine names agent and controller share: what a scenario's `engine:` and `rx_engine:`
may say, what a FlowPlan carries, and the AF_XDP modes. Imports nothing of either side,
so both use it (the agent may not import the controller, tests/unit/test_layout.py)."""

from __future__ import annotations

from typing import Literal, get_args

# ringlab's own data planes (agent/rings/): AF_PACKET ring, sendto, AF_XDP.
BuiltinEngine = Literal["ring", "sendto", "xdp"]
BuiltinRxEngine = Literal["ring", "xdp"]
# Tools the agent runs as processes (agent/external/, docs/external-engines.md): their
# frames carry no ringlab header.
ExternalEngine = Literal["testpmd", "pfring"]
Engine = Literal[BuiltinEngine, ExternalEngine]
RxEngine = Literal[BuiltinRxEngine, ExternalEngine]
# AF_XDP (engine xdp): bind mode, and how the receive program is attached. auto tries
# zero-copy and falls back to copy where the driver has none; zerocopy refuses instead.
# native falls back to generic (skb) XDP where the driver refuses native; the results
# say what was used (TxResult/RxResult.info, docs/afxdp.md).
XdpMode = Literal["auto", "copy", "zerocopy"]
XdpAttach = Literal["native", "generic"]

ENGINES: tuple[Engine, ...] = get_args(Engine)
BUILTIN_ENGINES: frozenset[BuiltinEngine] = frozenset(get_args(BuiltinEngine))
RX_ENGINES: tuple[RxEngine, ...] = get_args(RxEngine)
EXTERNAL_ENGINES: frozenset[ExternalEngine] = frozenset(get_args(ExternalEngine))
XDP_MODES: tuple[XdpMode, ...] = get_args(XdpMode)
XDP_ATTACH: tuple[XdpAttach, ...] = get_args(XdpAttach)


def default_rx_engine(engine: str) -> str:
    """A flow's receiving engine when its rx_engine is not given: the sending engine where
    it receives too (xdp, the external tools), else ring."""
    return engine if engine == "xdp" or engine in EXTERNAL_ENGINES else "ring"
