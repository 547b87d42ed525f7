"""Inventories: where each host's agent is, how to reach it, which interfaces face which peer.

`ringlab lab up` writes one; remote labs write their own. They are validated like
scenarios: every error names the file, the line and the field, and all of them are
reported at once (a host with a schema mistake does not hide another host's mistakes).
Files the controller itself opens (ssh.key) are checked at load, not at connect time.

A remote host has an ``ssh:`` block. By default the controller reaches its agent
through an SSH forward to the agent's Unix socket in ``ssh.dir`` (``transport: ssh``),
so the agent has no TCP port at all and only the SSH user (and root) can open its
socket. ``transport: direct`` with a ``tls:`` block connects straight to
``ADDRESS:agent_port`` with mutual TLS.

Relative file paths (keys, known_hosts, certificates) are relative to the
inventory file's directory; the loader makes them absolute.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from ringlab.controller.scenario.messages import describe
from ringlab.controller.scenario.yaml_lines import YamlDocument, parse_input_yaml
from ringlab.errors import InventoryError, Loc, Problem

# [user@]host[:port]; host may be a bracketed IPv6 address.
_JUMP = re.compile(
    r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[0-9a-fA-F:]+\]|[^:@\s\[\]]+)(?::(?P<port>\d{1,5}))?$"
)


class JumpHost(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    user: str | None = None
    port: int = 22


def parse_jump(text: str) -> JumpHost:
    match = _JUMP.match(text)
    if not match or not (1 <= int(match["port"] or 22) <= 65535):
        raise PydanticCustomError(
            "ringlab",
            "{text}",
            {"text": f"jump host {text!r} is not [user@]host[:port], e.g. jump: admin@bastion:22"},
        )
    return JumpHost(
        host=match["host"].strip("[]"), user=match["user"], port=int(match["port"] or 22)
    )


class SshSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str
    user: str = "root"
    port: int = Field(default=22, ge=1, le=65535)
    # Private key file; without it, ssh-agent and ~/.ssh/id_* are tried.
    key: str | None = None
    # [user@]host[:port] of a bastion; same key and known_hosts as the host itself.
    jump: str | None = None
    # Default ~/.ssh/known_hosts.
    known_hosts: str | None = None
    # Interpreter on the host used to create the agent's virtualenv.
    python: str = "python3"
    # Where deploy keeps the venv, wheels, pid file and log on the host.
    dir: str = "~/.ringlab"

    @field_validator("jump")
    @classmethod
    def _jump(cls, value: str | None) -> str | None:
        if value is not None:
            parse_jump(value)
        return value

    @property
    def jump_host(self) -> JumpHost | None:
        return parse_jump(self.jump) if self.jump else None


class TlsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # What the controller presents and trusts.
    ca: str
    cert: str
    key: str
    # Name to check in the agent's certificate when it differs from the address dialled.
    server_name: str | None = None
    # The agent's own certificate and key; `ringlab deploy` copies them to the host.
    agent_cert: str | None = None
    agent_key: str | None = None


class InventoryHost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # gRPC target of the agent: unix:/path or HOST:PORT. Derived for ssh hosts.
    agent: str | None = None
    netns: str | None = None
    # The interface toward each peer host, and a default test interface.
    links: dict[str, str] = Field(default_factory=dict)
    interface: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    ssh: SshSpec | None = None
    tls: TlsSpec | None = None
    transport: Literal["direct", "ssh"] | None = None
    agent_port: int = Field(default=50051, ge=1, le=65535)
    # Where the deployed agent listens on its host; default a Unix socket in ssh.dir
    # (ssh transport: only the SSH user and root can open it) or 0.0.0.0:agent_port
    # (direct transport, mutual TLS required).
    listen: str | None = None

    @property
    def effective_transport(self) -> Literal["direct", "ssh"]:
        if self.transport is not None:
            return self.transport
        return "ssh" if self.ssh is not None else "direct"

    @property
    def listen_address(self) -> str:
        if self.listen:
            return self.listen
        if self.effective_transport == "ssh" and self.ssh is not None:
            return f"unix:{self.ssh.dir.rstrip('/')}/agent.sock"
        return f"0.0.0.0:{self.agent_port}"

    @property
    def direct_target(self) -> str | None:
        """Where a direct connection dials: `agent:`, else the SSH address and agent port."""
        if self.agent:
            return self.agent
        if self.ssh is not None:
            address = self.ssh.address
            host = f"[{address}]" if ":" in address else address
            return f"{host}:{self.agent_port}"
        return None


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    lab: str | None = None
    hosts: dict[str, InventoryHost]

    def select(self, labels: Mapping[str, str]) -> list[str]:
        """Hosts carrying every given label (e.g. {"nic": "i40e"}), in inventory order."""
        return [
            name
            for name, entry in self.hosts.items()
            if all(entry.labels.get(k) == v for k, v in labels.items())
        ]


def load_inventory(path: Path) -> Inventory:
    source = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InventoryError(
            source, [Problem((), f"cannot read the inventory: {exc.strerror}")]
        ) from None
    document = parse_input_yaml(text, source, InventoryError)
    inventory: Inventory | None = None
    problems: list[Problem] = []
    try:
        inventory = Inventory.model_validate(document.data)
        hosts = inventory.hosts
    except ValidationError as error:
        found = [describe(detail, Inventory) for detail in error.errors()]
        problems = [Problem(p.loc, p.text, document.line_for(p.loc, key=p.at_key)) for p in found]
        hosts = _valid_hosts(document.data)  # the rules below still see these
    problems += check_hosts(hosts, document, _host_names(document.data))
    problems += check_files(hosts, document, path.parent)
    if problems or inventory is None:
        raise InventoryError(source, problems)
    return absolute_paths(inventory, path.parent)


def _host_names(data: object) -> list[str]:
    hosts = data.get("hosts") if isinstance(data, dict) else None
    return [str(name) for name in hosts] if isinstance(hosts, dict) else []


def _valid_hosts(data: object) -> dict[str, InventoryHost]:
    """The hosts of a document that failed validation that are valid on their own."""
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, dict):
        return {}
    valid: dict[str, InventoryHost] = {}
    for name, entry in hosts.items():
        try:
            valid[str(name)] = InventoryHost.model_validate(entry or {})
        except ValidationError:
            continue  # its mistakes are reported by the whole document's validation
    return valid


def check_files(
    hosts: Mapping[str, InventoryHost], document: YamlDocument, base: Path
) -> list[Problem]:
    """Local files the controller opens itself must exist now, not fail at connect time."""
    problems: list[Problem] = []
    for host, entry in hosts.items():
        if entry.ssh is None or entry.ssh.key is None:
            continue
        key = Path(_absolute(entry.ssh.key, base) or "")
        if not key.is_file():
            loc: Loc = ("hosts", host, "ssh", "key")
            why = "is not a file" if key.exists() else "does not exist"
            problems.append(
                Problem(
                    loc,
                    f"SSH key {key} {why}; give the private key's path (relative to the"
                    " inventory's directory), or leave key: out to use ssh-agent and ~/.ssh/id_*",
                    document.line_for(loc, key=False),
                )
            )
    return problems


def check_hosts(
    hosts: Mapping[str, InventoryHost], document: YamlDocument, names: Sequence[str]
) -> list[Problem]:
    """Rules that span fields; each problem points at the line that has to change. `names`
    are every host the document has, valid or not (links may name any of them)."""
    problems: list[Problem] = []

    def add(loc: Loc, text: str, at_key: bool = True) -> None:
        problems.append(Problem(loc, text, document.line_for(loc, key=at_key), at_key=at_key))

    for host, entry in hosts.items():
        base: Loc = ("hosts", host)
        for peer in entry.links:
            if peer not in names:
                add(
                    (*base, "links", peer),
                    f"links names host {peer!r}, which is not in hosts ({', '.join(names)})",
                )
        if entry.transport == "ssh" and entry.ssh is None:
            add(
                (*base, "transport"),
                "transport: ssh needs an ssh block, like ssh: {address: 192.0.2.10, user: root}",
            )
        if entry.agent is None and entry.ssh is None:
            add(
                base,
                "the host has neither agent: (a gRPC address) nor ssh: (how to reach it); "
                "add one, like ssh: {address: 192.0.2.10}",
            )
        if entry.effective_transport == "ssh" and entry.agent is not None:
            add(
                (*base, "agent"),
                "agent: is not used with the ssh transport (the agent is reached through an "
                "SSH forward to its Unix socket in ssh.dir); remove it or set "
                "transport: direct",
            )
        has_agent_tls = entry.tls is not None and entry.tls.agent_cert is not None
        if entry.listen and not entry.listen.startswith("unix:") and not has_agent_tls:
            add(
                (*base, "listen"),
                f"listen: {entry.listen} is a TCP address without tls.agent_cert/agent_key: "
                "the agent refuses TCP without mutual TLS (any local user could reach it). "
                "Remove listen: (the default is a private Unix socket) or add a tls: block",
            )
        if entry.tls is not None and (entry.tls.agent_cert is None) != (
            entry.tls.agent_key is None
        ):
            add(
                (*base, "tls"), "tls.agent_cert and tls.agent_key go together; give both or neither"
            )
    return problems


def _absolute(value: str | None, base: Path) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def absolute_paths(inventory: Inventory, base: Path) -> Inventory:
    """The same inventory with every local file path made absolute against `base`."""
    hosts: dict[str, InventoryHost] = {}
    for name, entry in inventory.hosts.items():
        update: dict[str, object] = {}
        if entry.ssh is not None:
            update["ssh"] = entry.ssh.model_copy(
                update={
                    "key": _absolute(entry.ssh.key, base),
                    "known_hosts": _absolute(entry.ssh.known_hosts, base),
                }
            )
        if entry.tls is not None:
            tls = entry.tls
            update["tls"] = tls.model_copy(
                update={
                    "ca": _absolute(tls.ca, base),
                    "cert": _absolute(tls.cert, base),
                    "key": _absolute(tls.key, base),
                    "agent_cert": _absolute(tls.agent_cert, base),
                    "agent_key": _absolute(tls.agent_key, base),
                }
            )
        hosts[name] = entry.model_copy(update=update)
    return inventory.model_copy(update={"hosts": hosts})
