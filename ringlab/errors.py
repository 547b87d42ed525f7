"""Errors that describe bad user input (files, flags, scenarios) rather than bugs.

Every input error class lives here, on purpose:

- ``RinglabInputError``: the user gave ringlab something it cannot use. ``.message``
  is complete, human-readable text that says what is wrong and how to fix it; a CLI
  prints it and exits 2, never a traceback.
  - ``ScenarioError``: a file failed to load; ``problems`` holds every ``Problem``
    (file, line, column, field, text), in file order.
    - ``SuiteError``, ``InventoryError``: the same for suites and inventories.
  - ``PreflightRefused``: a run would do what must not be done (nothing was sent).
  - ``RequestRejected``: an agent refused a request as invalid (INVALID_ARGUMENT, ...).
  - ``EndpointError``: a flow's interface cannot be resolved.
  - ``ReferenceImportError``: a peer tool's output cannot be imported.
  - ``StoreLocationError``: a --db / RINGLAB_DB value is not a store (bad URL or scheme).
  - ``CertsError``, ``ArtifactError``, ``WheelhouseError``, ``DeployError``: lab PKI and
    deploy inputs.

Agents unreachable or failing are not input errors (``AgentError`` in
controller/remote/clients.py), nor are the internal ``ValueError``s that the modules
above turn into these.

This module imports only the standard library, so agent and controller code can both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class RinglabInputError(Exception):
    """Bad input from the user; ``message`` is what to show them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PreflightRefused(RinglabInputError):
    """Preflight found what must not run (a management interface, a down link, ...):
    nothing was sent, nothing stored."""


Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario; ``line``/``column`` are 1-based when known."""

    loc: Loc
    text: str
    line: int | None = None
    column: int | None = None
    at_key: bool = False  # point at the key's line (unknown keys), not the value's

    @property
    def field(self) -> str:
        """``flows[0].rate`` style path; '' for the document as a whole."""
        out = ""
        for part in self.loc:
            if isinstance(part, int) and not isinstance(part, bool):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else str(part)
        return out

    def render(self, source: str) -> str:
        where = source
        if self.line is not None:
            where += f" line {self.line}"
            if self.column is not None:
                where += f", column {self.column}"
        if self.loc:
            where += f", field {self.field}"
        return f"{where}: {self.text}"


class ScenarioError(RinglabInputError):
    """A scenario cannot be used; ``problems`` holds every problem found, in file order."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__("\n".join(problem.render(source) for problem in self.problems))


class SuiteError(ScenarioError):
    """A suite cannot be used; every problem names the file, line and field."""


class InventoryError(ScenarioError):
    """An inventory file cannot be used; same shape of message as scenario errors."""


class CertsError(RinglabInputError):
    pass


class ArtifactError(RinglabInputError):
    pass


class WheelhouseError(RinglabInputError):
    pass


class DeployError(RinglabInputError):
    pass


class RequestRejected(RinglabInputError):
    """An agent answered INVALID_ARGUMENT: the scenario asks for something it refuses."""


class ReferenceImportError(RinglabInputError):
    """A file cannot be imported; the message names the file and what is missing."""


class EndpointError(RinglabInputError):
    pass


class StoreLocationError(RinglabInputError):
    """A run store location that cannot be used: unknown scheme, malformed PostgreSQL URL.
    The message names where it came from (--db, RINGLAB_DB) and never the password."""
