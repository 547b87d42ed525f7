"""Who holds each agent, and who waits for it (GetInfo's holder and queue), for
`lab status` and `probe`: a shared lab tells whom to ask before running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from ringlab.controller.remote.clients import AgentError, GrpcAgent
from ringlab.controller.remote.lab import Lab, agent_alive, agent_channel_options
from ringlab.holder_text import describe_holder_fields
from ringlab.v1 import agent_pb2 as pb

# `lab status` must not hang on a frozen agent.
ASK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class AgentHold:
    """One agent's holder (None: free) and its line; ``error`` when it could not be asked."""

    holder: pb.SessionHolder | None = None
    waiting: Sequence[pb.SessionHolder] = field(default_factory=list)
    error: str = ""


def hold_of(info: pb.GetInfoResponse) -> AgentHold:
    return AgentHold(info.holder if info.HasField("holder") else None, list(info.waiting))


def _since(wall_ns: int) -> str | None:
    if not wall_ns:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_ns / 1e9))


def describe_holder(holder: pb.SessionHolder | None) -> str:
    """`run R (scenario 'S') from user@host since 15:26:01 UTC`."""
    if holder is None:
        return "nobody (others are ahead in its line)"
    return describe_holder_fields(holder)


def holder_json(holder: pb.SessionHolder) -> dict[str, Any]:
    return {
        "run_id": holder.run_id or None,
        "scenario": holder.scenario or None,
        "controller_host": holder.controller_host or None,
        "controller_user": holder.controller_user or None,
        "since": _since(holder.since_wall_ns),
        "session_id": holder.session_id or None,
    }


def hold_json(hold: AgentHold | None) -> dict[str, Any]:
    """``holder`` (null: free, or not known — then ``holder_error`` says why) and ``waiting``."""
    if hold is None:
        return {"holder": None, "waiting": [], "holder_error": "agent down"}
    document: dict[str, Any] = {
        "holder": holder_json(hold.holder) if hold.holder is not None else None,
        "waiting": [holder_json(w) for w in hold.waiting],
    }
    if hold.error:
        document["holder_error"] = hold.error
    return document


def hold_text(hold: AgentHold | None) -> str:
    """`free`, or `run R (scenario 'S') from user@host since 15:26:01 UTC; 1 waiting`."""
    if hold is None:
        return "-"
    if hold.error:
        return f"unknown ({hold.error})"
    text = describe_holder(hold.holder) if hold.holder is not None else "free"
    if hold.waiting:
        text += f"; {len(hold.waiting)} waiting"
    return text


async def ask(agent: GrpcAgent) -> AgentHold:
    try:
        return hold_of(await agent.info(timeout_s=ASK_TIMEOUT_S))
    except AgentError as exc:
        return AgentHold(error=exc.code or "no answer")


async def lab_holds(labs: Sequence[Lab]) -> dict[tuple[str, str], AgentHold]:
    """(lab, host) -> its agent's hold, for every agent that is up."""
    targets = [(lab.name, host) for lab in labs for host in lab.hosts.values() if agent_alive(host)]

    async def one(host_name: str, address: str) -> AgentHold:
        channel = grpc.aio.insecure_channel(address, options=agent_channel_options())
        try:
            return await ask(GrpcAgent(host_name, address, channel))
        finally:
            await channel.close(None)

    holds = await asyncio.gather(*(one(h.name, h.agent) for _, h in targets))
    return {(name, h.name): hold for (name, h), hold in zip(targets, holds, strict=True)}


async def agent_holds(agents: Mapping[str, GrpcAgent]) -> dict[str, AgentHold]:
    hosts = list(agents)
    holds = await asyncio.gather(*(ask(agents[h]) for h in hosts))
    return dict(zip(hosts, holds, strict=True))
