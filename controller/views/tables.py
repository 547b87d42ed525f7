"""Terminal tables that fit the terminal without cutting an id or a number.

Rich shrinks a table wider than the terminal by cutting cells short
(``20261203-1…``, ``100,0…``), and ids are what the other commands take, counts
what a run measured. ``fit`` lays a table out for a width instead:

1. every column whole, if that fits;
2. columns marked ``wrap`` (free text, lists of tags) wrapped between words,
   never inside one;
3. the columns split over several tables stacked one under the other, each
   repeating the first ``keys`` columns (``groups`` say how: counts, then rates);
4. columns marked ``optional`` left out, in order, with a note that says which
   (the caller prints it; ``--json`` has everything);
5. what is left dealt over as many stacked tables as it takes.

Only when even the ids alone are wider than the terminal is anything cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

# Rich's default box and padding: one border left of each column and one on the right
# edge, one space of padding each side of every cell.
_BORDER_AND_PADDING = 3


@dataclass(frozen=True)
class Column:
    """A column of a fitted table: ids and numbers by default (never wrapped, never cut)."""

    header: str  # "\n" splits a long header over lines
    justify: JustifyMethod = "left"
    wrap: bool = False  # free text or a list: may wrap between words, never inside one
    optional: bool = False  # may be left out when nothing else fits


@dataclass
class Fitted:
    """Tables to print one after the other, and the headers of columns left out."""

    tables: list[Table]
    dropped: list[str] = field(default_factory=list)

    def note(self, width: int) -> str:
        if not self.dropped:
            return ""
        names = ", ".join(self.dropped)
        return f"(not shown at {width} columns: {names}; widen the terminal or use --json)"


def _text(markup: str) -> Text:
    # Cells are markup (colours); an id like ":b:" stays itself, not an emoji.
    return Text.from_markup(markup, emoji=False)


def _lines(text: str) -> list[Text]:
    return list(_text(text).split("\n"))


def _natural(column: Column, cells: Sequence[str]) -> int:
    texts = [*_lines(column.header), *(line for cell in cells for line in _lines(cell))]
    return max((t.cell_len for t in texts), default=1)


def _narrowest(column: Column, cells: Sequence[str]) -> int:
    if not column.wrap:
        return _natural(column, cells)
    words = [
        word for text in (column.header, *cells) for word in Text.from_markup(text).plain.split()
    ]
    return max((Text(word).cell_len for word in words), default=1)


def _overhead(count: int) -> int:
    return _BORDER_AND_PADDING * count + 1


def when(iso: str) -> str:
    """An ISO 8601 time as ``2026-12-03 10:10:10`` in UTC (readable, wraps at the space)."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def fit(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int,
    *,
    title: str | None = None,
    keys: int = 1,
    groups: Sequence[Sequence[int]] = (),
) -> Fitted:
    """Lay ``rows`` out under ``columns`` in at most ``width`` terminal cells.

    Cells are rich markup: escape text that comes from users (``rich.markup.escape``).

    ``groups`` are lists of column indexes (past the first ``keys``) that make one table
    each when the whole table does not fit.
    """
    cells = [[row[i] for row in rows] for i in range(len(columns))]
    natural = [_natural(c, cells[i]) for i, c in enumerate(columns)]
    narrowest = [_narrowest(c, cells[i]) for i, c in enumerate(columns)]

    def layout(indexes: Sequence[int]) -> list[int] | None:
        """Column widths (without padding) that fit ``width``, or None."""
        room = width - _overhead(len(indexes)) - sum(narrowest[i] for i in indexes)
        if room < 0:
            return None
        widths = {i: narrowest[i] for i in indexes}
        # Room left goes to wrapped columns a cell at a time, evenly, optional ones last.
        for tier in (False, True):
            growing = [i for i in indexes if columns[i].optional == tier]
            while room > 0:
                short = [i for i in growing if widths[i] < natural[i]]
                if not short:
                    break
                for i in short[:room]:
                    widths[i] += 1
                room -= min(room, len(short))
        return [widths[i] for i in indexes]

    def table(indexes: Sequence[int], widths: Sequence[int] | None, heading: str | None) -> Table:
        made = Table(title=heading, title_justify="left")
        for position, i in enumerate(indexes):
            column = columns[i]
            made.add_column(
                _text(column.header),
                justify=column.justify,
                no_wrap=not column.wrap,
                overflow="fold" if column.wrap else "ellipsis",
                width=widths[position] if widths is not None else None,
            )
        for row in rows:
            made.add_row(*(_text(row[i]) for i in indexes))
        return made

    everything = list(range(len(columns)))
    widths = layout(everything)
    if widths is not None:
        return Fitted([table(everything, widths, title)])
    key_columns = list(range(keys))
    if groups:
        stacked = [[*key_columns, *group] for group in groups]
        fitted = [layout(indexes) for indexes in stacked]
        if all(w is not None for w in fitted):
            return Fitted(
                [
                    table(indexes, w, title if n == 0 else None)
                    for n, (indexes, w) in enumerate(zip(stacked, fitted, strict=True))
                ]
            )
    kept = everything
    dropped: list[str] = []
    for i in everything:
        if not columns[i].optional:
            continue
        kept = [k for k in kept if k != i]
        dropped.append(columns[i].header.replace("\n", " "))
        widths = layout(kept)
        if widths is not None:
            return Fitted([table(kept, widths, title)], dropped)
    # Deal the columns left over as many tables as it takes, in order.
    stacked = []
    current: list[int] = []
    for i in kept[keys:]:
        if current and layout([*key_columns, *current, i]) is None:
            stacked.append([*key_columns, *current])
            current = []
        current.append(i)
    stacked.append([*key_columns, *current])
    # A table whose ids alone are wider than the terminal is left to rich to shrink.
    return Fitted(
        [
            table(indexes, layout(indexes), title if n == 0 else None)
            for n, indexes in enumerate(stacked)
        ],
        dropped,
    )
