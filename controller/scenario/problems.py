"""What is wrong with a scenario: ``Problem`` (one finding) and ``ScenarioError`` (all of them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ringlab.errors import RinglabInputError

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
