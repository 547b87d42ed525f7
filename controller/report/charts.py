"""Charts as inline SVG text (matplotlib, no pyplot, no display, no network).

``Figure`` objects are used directly instead of pyplot, so nothing global (a
backend, a current figure) is touched and charts can be drawn from any thread.
Text stays text (``svg.fonttype: none``): smaller files, and searchable in the
browser. Element ids are prefixed per chart so several SVGs can share one
HTML page, and fixed metadata keeps output reproducible.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ringlab.controller.analysis.trend_series import TrendSeries
from ringlab.controller.report.document import GroupRow
from ringlab.controller.store.results import PhaseResult, RunResult

_STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
LEGEND_COLUMNS = 6
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


def _rc(extra: dict[str, Any] | None = None) -> Any:
    # matplotlib types rc keys as a Literal of every name; ours are plain strings.
    settings: Any = {**_STYLE, **(extra or {})}
    return matplotlib.rc_context(settings)


def to_svg(figure: Figure, key: str) -> str:
    """The figure as an ``<svg>`` element, without XML prolog or DOCTYPE."""
    buffer = io.StringIO()
    with _rc({"svg.hashsalt": key}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return _scoped_ids(text[text.index("<svg") :], key)


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def _scoped_ids(svg: str, key: str) -> str:
    """Prefix every id (and reference to one) so charts sharing a page never clash.

    matplotlib numbers its groups figure_1, axes_1, ... in every file; inline,
    all SVGs share the page's id space.
    """
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", key) + "-"
    svg = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    return _REF.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)


def _new_figure(width: float, height: float) -> Figure:
    with _rc():
        return Figure(figsize=(width, height), layout="constrained")


def _phase_axes(figure: Figure, count: int) -> list[Axes]:
    columns = min(count, 3)
    rows = (count + columns - 1) // columns
    with _rc():
        grid = figure.subplots(rows, columns, squeeze=False, sharey=True)
    return [ax for row in grid for ax in row]


def _flow_colors(phases: Sequence[PhaseResult]) -> dict[str, str]:
    names = dict.fromkeys(flow.name for phase in phases for flow in phase.flows)
    return {name: _COLORS[i % len(_COLORS)] for i, name in enumerate(names)}


def _samples(phase: PhaseResult, flow: str, side: str) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for point in phase.series:
        value = (point.rx_pps if side == "rx" else point.tx_pps).get(flow)
        if value is not None:
            xs.append(point.t_s)
            ys.append(value)
    return xs, ys


def si(value: float, _position: object = None) -> str:
    """A tick label: 2500 -> ``2.5k``, 1_200_000 -> ``1.2M``, 0 -> ``0``."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.4g}{prefix}"
    return f"{value:.4g}"


def _rate_axis(ax: Axes, label: str) -> None:
    """From 0, with k/M ticks: a rate that wanders 2498-2500 reads as flat, not as a ramp,
    and two panels' heights compare."""
    ax.set_ylim(bottom=0)
    ax.margins(y=0.08)
    ax.yaxis.set_major_formatter(FuncFormatter(si))
    ax.set_ylabel(label)


def _legend_below(figure: Figure, axes: Sequence[Axes]) -> None:
    """One legend for every panel, under them: it never hides a line, and a flow keeps
    its colour across phases."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        figure.legend(
            list(entries.values()),
            list(entries),
            loc="outside lower center",
            ncol=min(len(entries), LEGEND_COLUMNS),
            fontsize=8,
            frameon=False,
        )


def run_chart(result: RunResult) -> str | None:
    """Packets/s over time, one panel per phase, rx solid and tx dashed per flow."""
    phases = [phase for phase in result.phases if phase.series]
    if not phases:
        return None
    colors = _flow_colors(phases)
    # The legend (rx and tx per flow, LEGEND_COLUMNS a row) gets its own height, so many
    # flows never squash the panels.
    legend_rows = -(-2 * len(colors) // LEGEND_COLUMNS)
    figure = _new_figure(11, 2.6 * ((len(phases) + 2) // 3) + 0.2 * legend_rows)
    axes = _phase_axes(figure, len(phases))
    with _rc():
        for ax, phase in zip(axes, phases, strict=False):
            for flow in phase.flows:
                color = colors[flow.name]
                # Each stats message comes from one host, so a point holds some flows only.
                for side, style in (("rx", "-"), ("tx", "--")):
                    xs, ys = _samples(phase, flow.name, side)
                    if xs:
                        ax.plot(
                            xs,
                            ys,
                            color=color,
                            linestyle=style,
                            alpha=1.0 if side == "rx" else 0.6,
                            label=f"{flow.name} {side}",
                        )
            ax.set_title(f"{phase.name} ({phase.group})", fontsize=9)
            ax.set_xlabel("s")
            _rate_axis(ax, "packets/s")
        for ax in axes[len(phases) :]:
            ax.set_visible(False)
        _legend_below(figure, axes[: len(phases)])
    return to_svg(figure, f"run-{result.run_id}")


def groups_chart(rows: Sequence[GroupRow]) -> str | None:
    """Receive rate per flow: both directions at once vs one at a time."""
    if not rows:
        return None
    figure = _new_figure(7, 2.8)
    with _rc():
        ax = figure.subplots()
        positions = range(len(rows))
        width = 0.38
        ax.bar(
            [p - width / 2 for p in positions],
            [r.bidirectional_rx_pps for r in rows],
            width,
            label="bidirectional",
            color=_COLORS[1],
        )
        ax.bar(
            [p + width / 2 for p in positions],
            [r.sliced_rx_pps for r in rows],
            width,
            label="time-sliced",
            color=_COLORS[0],
        )
        ax.set_xticks(
            list(positions), [f"{r.flow} ({r.engine}, {r.frame_size or '-'} B)" for r in rows]
        )
        _rate_axis(ax, "rx packets/s")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return to_svg(figure, "groups")


def trend_chart(series: TrendSeries, key: str) -> str:
    """The metric per run, each segment's mean as a step line and each change marked.

    Runs that never measured the metric get no point (a grey "n/m" on the axis, never a
    0); imported runs are hollow diamonds labelled with their source; a step between
    runs of different tools says so.
    """
    figure = _new_figure(9, 2.6)
    measured = series.measured
    with _rc():
        ax = figure.subplots()
        ax.plot(
            [i for i, _ in measured],
            [v for _, v in measured],
            color=_COLORS[0],
            linewidth=1,
            label=series.metric,
        )
        own = [(i, v) for i, v in measured if series.source(i) == "ringlab"]
        if own:
            ax.plot(*zip(*own, strict=True), "o", markersize=3, color=_COLORS[0], label="ringlab")
        imported: dict[str, list[tuple[int, float]]] = {}
        for i, v in measured:
            if series.source(i) != "ringlab":
                imported.setdefault(series.source(i), []).append((i, v))
        for n, (source, points) in enumerate(imported.items()):
            ax.plot(
                *zip(*points, strict=True),
                "D",
                markersize=6,
                markerfacecolor="none",
                color=_COLORS[(4 + n) % len(_COLORS)],
                label=f"imported ({source})",
            )
        missing = [i for i, v in enumerate(series.values) if v is None]
        for i in missing:
            # On the axis, in axes coordinates: it must never read as a value of 0. An
            # import names its source here, as it has no marker.
            source = series.source(i)
            ax.text(
                i,
                0.02,
                "n/m" if source == "ringlab" else f"n/m\n{source}",
                transform=ax.get_xaxis_transform(),
                fontsize=7,
                color="grey",
                ha="center",
            )
        bounds = [0, *(c.index for c in series.changes), len(series.values)]
        for start, end in itertools.pairwise(bounds):
            segment = [v for v in series.values[start:end] if v is not None]
            if segment:
                mean = sum(segment) / len(segment)
                ax.hlines(mean, start - 0.4, end - 0.6, colors=_COLORS[2], linewidth=2)
        for change in series.changes:
            color = _COLORS[2] if change.direction == "up" else _COLORS[1]
            tools = series.tool_change(change)
            note = (
                ""
                if tools is None
                else f"\ntool changed: {'+'.join(tools[0])} → {'+'.join(tools[1])}"
            )
            ax.axvline(change.index - 0.5, color=color, linestyle=":", linewidth=1.5)
            # Half-way up, beside the line, on a light box: clear of the title and points.
            ax.annotate(
                f" step {change.direction}{note}",
                (change.index - 0.5, 0.5),
                xycoords=ax.get_xaxis_transform(),
                fontsize=7,
                color=color,
                ha="left",
                va="center",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
            )
        ax.set_xlim(-0.5, len(series.values) - 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(
            "run (oldest first)" + (f"; n/m: {len(missing)} not measured" if missing else "")
        )
        _rate_axis(ax, series.metric)
        ax.set_title(series.label, fontsize=9)
        if imported or missing:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return to_svg(figure, key)
