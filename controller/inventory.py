"""Inventories: where each host's agent is and which interfaces face which peer.

`ringlab lab up` writes one; remote labs write their own (validated like
scenarios: errors name file, line and field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ringlab.controller.scenario_messages import describe
from ringlab.controller.scenario_problems import Problem, ScenarioError
from ringlab.controller.yaml_lines import YamlProblem, parse_yaml


class SshSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str
    user: str = "root"
    port: int = Field(default=22, ge=1, le=65535)
    key: str | None = None
    jump: str | None = None
    known_hosts: str | None = None


class TlsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca: str
    cert: str
    key: str
    server_name: str | None = None


class InventoryHost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # gRPC target of the agent: unix:/path, HOST:PORT; with ssh, the port on the remote loopback.
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


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    lab: str | None = None
    hosts: dict[str, InventoryHost]

    def interface_toward(self, host: str, peer: str) -> str | None:
        entry = self.hosts[host]
        return entry.links.get(peer) or entry.interface


class InventoryError(ScenarioError):
    """An inventory file cannot be used; same shape of message as scenario errors."""


def load_inventory(path: Path) -> Inventory:
    source = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InventoryError(source, [Problem((), f"cannot read the inventory: {exc.strerror}")]) from None
    try:
        document = parse_yaml(text)
    except YamlProblem as problem:
        raise InventoryError(
            source, [Problem((), problem.text, problem.line, problem.column)]
        ) from None
    try:
        inventory = Inventory.model_validate(document.data)
    except ValidationError as error:
        problems = [describe(detail, Inventory) for detail in error.errors()]
        raise InventoryError(
            source,
            [Problem(p.loc, p.text, document.line_for(p.loc, key=p.at_key)) for p in problems],
        ) from None
    for host, entry in inventory.hosts.items():
        for peer in entry.links:
            if peer not in inventory.hosts:
                raise InventoryError(
                    source,
                    [
                        Problem(
                            ("hosts", host, "links", peer),
                            f"links names host {peer!r}, which is not in hosts "
                            f"({', '.join(inventory.hosts)})",
                            document.line_for(("hosts", host, "links", peer), key=True),
                            at_key=True,
                        )
                    ],
                )
    return inventory
