"""How a run that holds an agent is described, in the agent's busy refusals
(agent/holds.py) and in the controller's own messages (controller/remote/holders.py): one
wording for both, from the fields the agent's Holder and the proto's SessionHolder share."""

from __future__ import annotations

import time
from typing import Protocol


class HolderFields(Protocol):
    @property
    def run_id(self) -> str: ...
    @property
    def scenario(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def controller_user(self) -> str: ...
    @property
    def controller_host(self) -> str: ...
    @property
    def since_wall_ns(self) -> int: ...


def describe_holder_fields(holder: HolderFields, now_wall_ns: int | None = None) -> str:
    """`run R (scenario 'S') from user@host since 15:26:01 UTC`, and `(12 s ago)` after it
    when ``now_wall_ns`` is given (the agent's clock, on which since_wall_ns was taken)."""
    if holder.run_id:
        text = f"run {holder.run_id}"
        if holder.scenario:
            text += f" (scenario {holder.scenario!r})"
    else:
        text = f"session {holder.session_id} (prepared without a hold)"
    who = "@".join(p for p in (holder.controller_user, holder.controller_host) if p)
    if who:
        text += f" from {who}"
    if holder.since_wall_ns:
        text += " since " + time.strftime("%H:%M:%S UTC", time.gmtime(holder.since_wall_ns / 1e9))
        if now_wall_ns is not None:
            ago = max(0, (now_wall_ns - holder.since_wall_ns) // 1_000_000_000)
            text += f" ({ago} s ago)"
    return text
