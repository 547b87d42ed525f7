"""A report in the format asked for: which one (``--format`` or the file's suffix) and
the text of it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ringlab.controller.analysis.trend_series import TrendSeries
from ringlab.controller.report.document import build_report
from ringlab.controller.report.markdown import render_markdown
from ringlab.controller.report.tabular import render_csv, report_dict
from ringlab.controller.store.results import RunResult
from ringlab.errors import RinglabInputError

FORMATS = ("html", "md", "json", "csv")
_SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".json": "json", ".csv": "csv"}


def output_format(explicit: str | None, output: Path | None) -> str:
    """``--format`` when given, else the output file's suffix, else html."""
    if explicit:
        return explicit
    if output is None:
        return "html"
    found = _SUFFIXES.get(output.suffix.lower())
    if found is None:
        raise RinglabInputError(
            f"cannot tell the format from {output.name!r}; name it .html, .md, .json or .csv,"
            " or pass --format"
        )
    return found


def render_report(
    kind: str,
    runs: Sequence[RunResult],
    trends: Sequence[TrendSeries],
    baseline: str | None = None,
) -> str:
    """The report of ``runs`` as ``kind`` (one of ``FORMATS``); CSV has the flows only.
    ``baseline`` is the run id of ``--baseline``, one of ``runs``."""
    if kind == "csv":
        return render_csv(runs)
    report = build_report(runs, trends, baseline=baseline)
    if kind == "html":
        # Jinja2 and matplotlib load only for the format that needs them.
        from ringlab.controller.report.html import render_html

        return render_html(report)
    if kind == "md":
        return render_markdown(report)
    return json.dumps(report_dict(report), indent=2) + "\n"
