"""`ringlab deploy` in the terminal and as JSON: one row per host and what happened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.markup import escape

from ringlab.controller.deploy.hosts import HostOutcome
from ringlab.controller.views.tables import Column, fit

STYLES = {
    "installed": "green",
    "verified": "green",
    "stopped": "yellow",
    "not running": "dim",
    "failed": "red",
}

# Host, result and version are never cut; at 80 columns the free text wraps between
# words, then the SSH target and the time go first (--json has them all).
DEPLOY_COLUMNS = (
    Column("host"),
    Column("ssh", optional=True),
    Column("python", wrap=True),
    Column("result"),
    Column("agent"),
    Column("time", "right", optional=True),
    Column("detail", wrap=True),
)


def print_outcomes(outcomes: Sequence[HostOutcome], console: Console) -> None:
    rows = [
        [
            escape(o.host),
            escape(o.target),
            escape(o.python),
            f"[{STYLES.get(o.action, '')}]{o.action}[/]",
            escape(o.agent_version),
            f"{o.seconds:.1f}s",
            escape(o.detail) if o.ok else "see below",
        ]
        for o in outcomes
    ]
    fitted = fit(DEPLOY_COLUMNS, rows, console.width, title="ringlab deploy")
    for table in fitted.tables:
        console.print(table)
    if fitted.dropped:
        console.print(fitted.note(console.width), style="dim")
    for outcome in outcomes:
        if not outcome.ok:
            console.print(
                f"[red]{escape(outcome.host)}[/]: {escape(outcome.detail)}",
                highlight=False,
                soft_wrap=True,
            )


def deploy_json(outcomes: Sequence[HostOutcome], wheel: str | None, build: str | None) -> Any:
    """What `deploy --json` prints: the wheel deployed (null with --stop) and every host."""
    return {
        "wheel": wheel,
        "build_id": build,
        "ok": all(o.ok for o in outcomes),
        "hosts": [asdict(o) for o in outcomes],
    }
