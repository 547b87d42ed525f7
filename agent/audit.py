"""The audit trail: every Prepare and CheckPrepare, who asked for it, and the verdict.

One line per request, through the `ringlab.agent.audit` logger, on the agent's stderr
(a deployed agent's agent.log, the built-in lab's agent-HOST.log):

    ... ringlab agent audit: Prepare refused FAILED_PRECONDITION session=run1-p0
    peer=ipv4:10.0.0.9:51234 client="CN=ringlab-controller,O=ringlab lab"
    controller_addresses=[10.0.0.5] flows="#7 'a->b' send on eth0, 1000 pps, engine ring"
    reason="flow 'a->b' (id 7): interface eth0 carries the default route ..."

Who asked: with mutual TLS, the subject of the client certificate (the call's auth
context); always, the peer address gRPC reports. Values a client chose (session id,
flow names, interfaces) are quoted with escapes, so a request cannot forge a line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TextIO

from ringlab.v1 import agent_pb2 as pb

logger = logging.getLogger("ringlab.agent.audit")

# A request can carry thousands of flows and long strings: the line stays readable.
MAX_FLOWS = 32
MAX_TEXT = 120
_BARE = re.compile(r"[\w.:/@+\-\[\]]+", re.ASCII)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a line is logged (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def log_to_stderr() -> None:
    """Send audit lines to stderr (once per process; the agent configures no logging)."""
    if any(isinstance(h, _StderrHandler) for h in logger.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s ringlab agent audit: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


class CallContext(Protocol):
    def peer(self) -> str: ...
    def auth_context(self) -> Mapping[str, Iterable[bytes]]: ...


@dataclass(frozen=True)
class Requester:
    peer: str
    tls_subject: str = ""  # "" without mutual TLS


def requester(context: CallContext) -> Requester:
    """Who sent this call, as far as gRPC tells.

    For a Unix-socket peer gRPC reports only "unix:" (the client's socket is unnamed).
    Its uid would take SO_PEERCRED on the connection's socket, and grpc python gives a
    servicer no way to reach that socket: no file descriptor, no peer credentials in the
    auth context (not even with local credentials, whose auth context holds only
    transport_security_type "local"), and channelz lists addresses only. So the line
    carries the peer string and no uid; the socket's file permissions decide who can
    connect at all.
    """
    auth = context.auth_context()
    subject = next(iter(auth.get("x509_subject", ())), b"") or next(
        iter(auth.get("x509_common_name", ())), b""
    )
    return Requester(peer=context.peer(), tls_subject=subject.decode(errors="replace"))


def _text(value: str) -> str:
    if len(value) > MAX_TEXT:
        value = value[:MAX_TEXT] + "..."
    return value if _BARE.fullmatch(value) else json.dumps(value)


def _enum_name(enum: type[pb.Role] | type[pb.Engine], value: int) -> str:
    try:
        return enum.Name(value)  # type: ignore[arg-type]
    except ValueError:
        return str(value)


_ROLES = {pb.ROLE_SEND: "send", pb.ROLE_RECEIVE: "receive"}
_ENGINES = {pb.ENGINE_UNSPECIFIED: "ring", pb.ENGINE_RING: "ring", pb.ENGINE_SENDTO: "sendto"}


def describe_flow(spec: pb.FlowSpec) -> str:
    name = spec.name if len(spec.name) <= MAX_TEXT else spec.name[:MAX_TEXT] + "..."
    role = _ROLES.get(spec.role) or f"role {_enum_name(pb.Role, spec.role)}"
    interface = spec.interface[:MAX_TEXT]
    parts = [f"#{spec.flow_id} {name!r} {role} on {interface!r}"]
    if spec.pci_address:  # testpmd on a PCI port: the device it takes from the host
        parts.append(f"PCI {spec.pci_address[:MAX_TEXT]!r}")
    if spec.role == pb.ROLE_SEND:
        parts.append(f"{spec.rate_pps:g} pps" if spec.rate_pps else "max rate")
        parts.append(f"engine {_ENGINES.get(spec.engine) or _enum_name(pb.Engine, spec.engine)}")
    if spec.allow_management_interface:
        parts.append("allow_management_interface")
    return ", ".join(parts)


def describe_flows(flows: Iterable[pb.FlowSpec]) -> str:
    listed = list(flows)
    shown = "; ".join(describe_flow(f) for f in listed[:MAX_FLOWS])
    more = len(listed) - MAX_FLOWS
    return f"{shown}; and {more} more" if more > 0 else shown


def audit_line(
    rpc: str, request: pb.PrepareRequest, who: Requester, refusal: tuple[str, str] | None
) -> str:
    """The line for one request; `refusal` is (status code name, message) when refused."""
    verdict = f"refused {refusal[0]}" if refusal else "accepted"
    addresses = ",".join(_text(a) for a in request.management_addresses[:MAX_FLOWS])
    fields = [
        f"{rpc} {verdict}",
        f"session={_text(request.session_id)}",
        f"peer={_text(who.peer)}",
        f"client={_text(who.tls_subject) if who.tls_subject else 'none'}",
        f"controller_addresses=[{addresses}]",
        f"flows={json.dumps(describe_flows(request.flows))}",
    ]
    if refusal:
        fields.append(f"reason={json.dumps(refusal[1])}")
    return " ".join(fields)


def record(
    rpc: str, request: pb.PrepareRequest, who: Requester, refusal: tuple[str, str] | None
) -> None:
    logger.info("%s", audit_line(rpc, request, who, refusal))
