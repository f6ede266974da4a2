"""The resource table every pane shows: virtualised, filterable, sortable.

Built on Textual's Line API (a :class:`~textual.scroll_view.ScrollView` whose
``render_line`` draws one terminal line), so only visible lines are ever rendered
and 50,000 rows cost no more to paint than 50. Line 0 is the header; it is drawn
for ``y == 0`` regardless of the scroll position, so it never scrolls away. Data
row ``i`` of the current (sorted, filtered) view is virtual line ``i + 1``.

Cell text is data: :func:`btconsole.ui.textsafe.clean` strips control and escape
sequences, :func:`~btconsole.ui.textsafe.fit` truncates it with "…", and it reaches
the terminal as a plain Rich ``Segment``, never parsed as markup.

Key bindings (ids in brackets; none clashes with the app's ``1``-``5 : / r R y o ?
q escape``):

=====================  ============================  =============================
keys                   action                        id
=====================  ============================  =============================
``up`` / ``k``         cursor up                     ``resource_table.up``
``down`` / ``j``       cursor down                   ``resource_table.down``
``pageup``/``ctrl+b``  page up                       ``resource_table.page_up``
``pagedown``/``ctrl+f`` page down                    ``resource_table.page_down``
``home`` / ``g``       first row                     ``resource_table.first``
``end`` / ``G``        last row                      ``resource_table.last``
``enter``              select (posts ``Selected``)   ``resource_table.select``
``>``                  sort by the next column       ``resource_table.sort_next``
``<``                  sort by the previous column   ``resource_table.sort_previous``
``s``                  reverse the sort order        ``resource_table.sort_reverse``
=====================  ============================  =============================

Column layout at a given width (see :func:`layout_columns`): while the columns'
``min_width`` do not fit, the least important column is dropped (highest
``priority`` number first, the rightmost among equals; ``priority=0`` is never
dropped); then columns shrink from ``width`` toward ``min_width`` in proportion to
their slack; spare width goes to the widest left-aligned column.

Styles are component classes themed in ``DEFAULT_CSS``: ``resource-table--header``,
``--cursor``, and one per level (``--critical``, ``--warning``, ``--info``,
``--muted``, ``--ok``). A row's level colours the whole row, except ``"ok"``, which
leaves a row plain (so a healthy table is not all green); a cell level, including
``"ok"``, colours just that cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from btconsole.ui.filterquery import CompiledTerm, compile_terms, parse
from btconsole.ui.textsafe import clean, fit

__all__ = ["Column", "Level", "ResourceTable", "Row", "layout_columns"]

Level = Literal["ok", "info", "warning", "critical", "muted"]

LEVELS: tuple[Level, ...] = ("ok", "info", "warning", "critical", "muted")
LEFT_PAD = 1  # blank cells before the first column
GAP = 1  # blank cells between columns
SORT_ASCENDING = "▲"
SORT_DESCENDING = "▼"
_STRIP_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class Column:
    """A table column. ``width`` is the preferred width in cells.

    ``priority`` says which columns go first when the table is too narrow: the
    highest number is dropped first; ``0`` means never drop.
    """

    key: str
    label: str
    width: int
    min_width: int = 4
    align: Literal["left", "right"] = "left"
    priority: int = 1


@dataclass(frozen=True)
class Row:
    """One table row. ``cells`` (and ``cell_levels``, ``sort_values``) follow the columns.

    ``key`` identifies the row across refreshes (the cursor follows it). Cells may
    hold any text, hostile included; it is cleaned before display. ``sort_values``
    gives typed values to sort by (numbers sort numerically, ``None`` last); when
    absent, a column sorts by case-insensitive cell text.
    """

    key: str
    cells: tuple[str, ...]
    level: Level = "ok"
    cell_levels: tuple[Level | None, ...] | None = None
    sort_values: tuple[Any, ...] | None = None
    payload: Any = None


def layout_columns(columns: Sequence[Column], width: int) -> list[tuple[int, int]]:
    """Choose the columns that fit in ``width`` cells and their widths.

    Returns ``(column index, width)`` pairs in column order. The row uses
    ``LEFT_PAD + sum(widths) + GAP * (len - 1)`` cells; see the module docstring
    for the rules. Never-drop columns that still do not fit are all kept at
    ``min_width`` (the line is then cut at the right edge).
    """
    kept = list(range(len(columns)))

    def needed(widths: list[int]) -> int:
        return LEFT_PAD + sum(widths) + GAP * (len(widths) - 1) if widths else 0

    while kept and needed([max(1, columns[i].min_width) for i in kept]) > width:
        droppable = [i for i in kept if columns[i].priority != 0]
        if not droppable:
            break
        # Highest priority number first; the rightmost among equals.
        victim = max(droppable, key=lambda i: (columns[i].priority, i))
        kept.remove(victim)
    if not kept:
        return []
    widths = {i: max(1, columns[i].width) for i in kept}
    excess = needed(list(widths.values())) - width
    if excess > 0:
        slack = {i: max(0, widths[i] - max(1, columns[i].min_width)) for i in kept}
        total_slack = sum(slack.values())
        if total_slack:
            take = min(excess, total_slack)
            cuts = {i: take * slack[i] // total_slack for i in kept}
            remainder = take - sum(cuts.values())
            for i in sorted(kept, key=lambda i: (-(slack[i] - cuts[i]), i)):
                if remainder <= 0:
                    break
                if cuts[i] < slack[i]:
                    cuts[i] += 1
                    remainder -= 1
            for i in kept:
                widths[i] -= cuts[i]
    else:
        spare = -excess
        flexible = [i for i in kept if columns[i].align == "left"] or kept
        widest = max(flexible, key=lambda i: (widths[i], -i))
        widths[widest] += spare
    return [(i, widths[i]) for i in kept]


def _sort_key_value(value: Any) -> tuple[int, Any] | None:
    """Map a sort value to a comparable key; None (and NaN) mean "sort last"."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return None
        return (0, value)
    if isinstance(value, str):
        return (1, value.casefold())
    return (2, value)


class ResourceTable(ScrollView, can_focus=True):
    """A virtualised table of :class:`Row` objects with a fixed header."""

    DEFAULT_CSS = """
    ResourceTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;

        & > .resource-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .resource-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .resource-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .resource-table--critical {
            color: $text-error;
            text-style: bold;
        }
        & > .resource-table--warning {
            color: $text-warning;
        }
        & > .resource-table--info {
            color: $text-accent;
        }
        & > .resource-table--muted {
            color: $text-muted;
        }
        & > .resource-table--ok {
            color: $text-success;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "resource-table--header",
        "resource-table--cursor",
        "resource-table--critical",
        "resource-table--warning",
        "resource-table--info",
        "resource-table--muted",
        "resource-table--ok",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="resource_table.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="resource_table.down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="resource_table.page_up"),
        Binding(
            "pagedown,ctrl+f", "page_down", "Page down", show=False, id="resource_table.page_down"
        ),
        Binding("home,g", "first", "First row", show=False, id="resource_table.first"),
        Binding("end,G", "last", "Last row", show=False, id="resource_table.last"),
        Binding("enter", "select", "Details", show=False, id="resource_table.select"),
        Binding(
            "greater_than_sign",
            "sort_next",
            "Sort next column",
            key_display=">",
            id="resource_table.sort_next",
        ),
        Binding(
            "less_than_sign",
            "sort_previous",
            "Sort previous column",
            key_display="<",
            show=False,
            id="resource_table.sort_previous",
        ),
        Binding("s", "sort_reverse", "Reverse sort", id="resource_table.sort_reverse"),
    ]

    class Selected(Message):
        """Enter was pressed on ``row``."""

        def __init__(self, table: ResourceTable, row: Row) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> ResourceTable:
            return self.table

    class CursorMoved(Message):
        """The highlighted row changed (``None`` when the view is empty)."""

        def __init__(self, table: ResourceTable, row: Row | None) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> ResourceTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column] = (),
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._columns: tuple[Column, ...] = tuple(columns)
        self._rows: list[Row] = []
        self._key_index: dict[str, int] = {}
        self._search: list[str] = []  # per row: cleaned cells, lower-cased, "\n"-joined
        self._column_text: dict[int, list[str]] = {}  # lazily: cleaned lower-case cells
        self._sort_cache: dict[tuple[int, bool], list[int]] = {}
        self._order: list[int] = []  # all row indexes in sort order
        self._view: list[int] = []  # the filtered order: what is shown
        self._filter_text = ""
        self._terms: list[CompiledTerm] = []
        self._sort_key: str | None = None
        self._sort_reverse = False
        self._cursor = 0  # index into _view
        self._cursor_key: str | None = None
        self._layout: list[tuple[int, int]] = []
        self._layout_width = -1
        self._strips: dict[tuple[str, int, bool], Strip] = {}
        self._header_strip: tuple[tuple[int, str | None, bool], Strip] | None = None
        self._styles: dict[str, Style] | None = None

    # ----------------------------------------------------------------- public API

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns, as last given to :meth:`set_columns`."""
        return self._columns

    @property
    def cursor_row(self) -> Row | None:
        """The highlighted row, or None when nothing is shown."""
        if not self._view:
            return None
        return self._rows[self._view[self._cursor]]

    @property
    def cursor_index(self) -> int:
        """Position of the cursor in the filtered view (0 when empty)."""
        return self._cursor

    @property
    def filtered_count(self) -> int:
        """Rows that pass the filter."""
        return len(self._view)

    @property
    def total_count(self) -> int:
        """All rows."""
        return len(self._rows)

    @property
    def sort_key(self) -> str | None:
        """Key of the column the rows are sorted by, or None for the given order."""
        return self._sort_key

    @property
    def sort_reverse(self) -> bool:
        """True when sorted descending."""
        return self._sort_reverse

    @property
    def filter_text(self) -> str:
        """The filter query as last given to :meth:`set_filter`."""
        return self._filter_text

    @property
    def visible_rows(self) -> list[Row]:
        """The rows in the current filtered, sorted order (a new list)."""
        rows = self._rows
        return [rows[i] for i in self._view]

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns; the sort is kept if its column still exists."""
        self._columns = tuple(columns)
        keys = {column.key for column in self._columns}
        if self._sort_key not in keys:
            self._sort_key = None
            self._sort_reverse = False
        self._column_text.clear()
        self._sort_cache.clear()
        self._terms = compile_terms(parse(self._filter_text), self._columns)
        self._layout_width = -1
        self._invalidate()
        self._rebuild(keep_position=True)

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Replace the rows, re-applying sort and filter.

        The cursor stays on the same row key when that row is still shown;
        otherwise it keeps its position (clamped), so a removed row's successor
        takes its place.
        """
        self._rows = list(rows)
        self._key_index = {row.key: index for index, row in enumerate(self._rows)}
        search: list[str] = []
        append = search.append
        for row in self._rows:
            cells = row.cells
            if "".join(cells).isprintable():
                append("\n".join(cells).lower())
            else:
                append("\n".join(clean(cell) for cell in cells).lower())
        self._search = search
        self._column_text.clear()
        self._sort_cache.clear()
        self._invalidate()
        self._rebuild(keep_position=True)

    def set_filter(self, text: str) -> None:
        """Filter rows with a :mod:`btconsole.ui.filterquery` query (cheap per keystroke)."""
        terms = compile_terms(parse(text), self._columns)
        self._filter_text = text
        if terms == self._terms:
            return
        self._terms = terms
        self._apply_filter()
        self._after_view_change(keep_position=False)

    def sort_by(self, column_key: str, *, reverse: bool | None = None) -> None:
        """Sort by a column; ``reverse=None`` toggles when it already is the sort column.

        Raises:
            KeyError: no column has that key.
        """
        index = self._column_index(column_key)
        if reverse is None:
            reverse = not self._sort_reverse if column_key == self._sort_key else False
        self._sort_key = column_key
        self._sort_reverse = reverse
        self._order = self._sorted_order(index, reverse)
        self._header_strip = None
        self._apply_filter()
        self._after_view_change(keep_position=False)

    def clear_sort(self) -> None:
        """Show rows in the order they were given."""
        self._sort_key = None
        self._sort_reverse = False
        self._order = list(range(len(self._rows)))
        self._header_strip = None
        self._apply_filter()
        self._after_view_change(keep_position=False)

    def move_cursor(self, index: int) -> None:
        """Put the cursor on view position ``index`` (clamped) and scroll to it."""
        if not self._view:
            return
        old = self._cursor
        self._cursor = max(0, min(index, len(self._view) - 1))
        self._cursor_changed(old)

    def select_key(self, key: str) -> bool:
        """Put the cursor on the row with ``key``; False when it is not shown."""
        position = self._position_of(key)
        if position is None:
            return False
        self.move_cursor(position)
        return True

    # ------------------------------------------------------------------- actions

    def action_cursor_up(self) -> None:
        """Move the cursor up one row."""
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        """Move the cursor down one row."""
        self.move_cursor(self._cursor + 1)

    def action_page_down(self) -> None:
        """Move the view and the cursor down one page."""
        page = self._page_height()
        self.scroll_to(y=self.scroll_offset.y + page, animate=False, force=True)
        self.move_cursor(self._cursor + page)

    def action_page_up(self) -> None:
        """Move the view and the cursor up one page."""
        page = self._page_height()
        self.scroll_to(y=max(0, self.scroll_offset.y - page), animate=False, force=True)
        self.move_cursor(self._cursor - page)

    def action_first(self) -> None:
        """Go to the first row."""
        self.move_cursor(0)

    def action_last(self) -> None:
        """Go to the last row."""
        self.move_cursor(len(self._view) - 1)

    def action_select(self) -> None:
        """Post :class:`Selected` for the highlighted row."""
        row = self.cursor_row
        if row is not None:
            self.post_message(self.Selected(self, row))

    def action_sort_next(self) -> None:
        """Sort by the next shown column (ascending)."""
        self._sort_step(1)

    def action_sort_previous(self) -> None:
        """Sort by the previous shown column (ascending)."""
        self._sort_step(-1)

    def action_sort_reverse(self) -> None:
        """Reverse the sort order (sorts by the first column if unsorted)."""
        if self._sort_key is None:
            keys = self._sortable_keys()
            if keys:
                self.sort_by(keys[0], reverse=True)
            return
        self.sort_by(self._sort_key, reverse=not self._sort_reverse)

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        """Draw line ``y`` of the widget: the header at 0, else a data row."""
        width = self.scrollable_content_region.width
        if width != self._layout_width:
            self._relayout(width)
        if self._styles is None:
            self._styles = self._compute_styles()
        if y == 0:
            return self._render_header(width)
        index = self.scroll_offset.y + y - 1
        view = self._view
        if 0 <= index < len(view):
            row = self._rows[view[index]]
            cursor = index == self._cursor
            cache_key = (row.key, width, cursor)
            strip = self._strips.get(cache_key)
            if strip is None:
                if len(self._strips) >= _STRIP_CACHE_LIMIT:
                    self._strips.clear()
                strip = self._render_row(row, width, cursor)
                self._strips[cache_key] = strip
            return strip
        if y == 1 and not view:
            return self._render_empty(width)
        return Strip.blank(width, self._styles["base"])

    def notify_style_update(self) -> None:
        """Drop cached strips and styles when the theme or focus state changes."""
        super().notify_style_update()
        self._invalidate()

    def _on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()
        self._invalidate()
        self._scroll_cursor_into_view()

    def on_focus(self, event: events.Focus) -> None:
        self._invalidate()

    def on_blur(self, event: events.Blur) -> None:
        self._invalidate()

    # ------------------------------------------------------------------ internals

    def _invalidate(self) -> None:
        self._strips.clear()
        self._header_strip = None
        self._styles = None
        self.refresh()

    def _compute_styles(self) -> dict[str, Style]:
        base = self.rich_style
        styles: dict[str, Style] = {"base": base}
        styles["header"] = base + self.get_component_rich_style(
            "resource-table--header", partial=True
        )
        styles["cursor"] = self.get_component_rich_style("resource-table--cursor", partial=True)
        for level in LEVELS:
            styles[level] = self.get_component_rich_style(f"resource-table--{level}", partial=True)
        styles["muted_row"] = base + styles["muted"]
        return styles

    def _relayout(self, width: int) -> None:
        self._layout = layout_columns(self._columns, width)
        self._layout_width = width
        self._strips.clear()
        self._header_strip = None

    def _render_header(self, width: int) -> Strip:
        state = (width, self._sort_key, self._sort_reverse)
        if self._header_strip is not None and self._header_strip[0] == state:
            return self._header_strip[1]
        assert self._styles is not None
        style = self._styles["header"]
        parts: list[str] = [" " * LEFT_PAD]
        for position, (index, column_width) in enumerate(self._layout):
            column = self._columns[index]
            label = clean(column.label)
            if column.key == self._sort_key:
                arrow = SORT_DESCENDING if self._sort_reverse else SORT_ASCENDING
                text = fit(label, column_width - 2) + " " + arrow
                text = fit(text, column_width)
            else:
                text = fit(label, column_width)
            if position:
                parts.append(" " * GAP)
            parts.append(_pad(text, column_width, column.align))
        strip = Strip([Segment("".join(parts), style)]).adjust_cell_length(width, style)
        self._header_strip = (state, strip)
        return strip

    def _render_row(self, row: Row, width: int, cursor: bool) -> Strip:
        assert self._styles is not None
        styles = self._styles
        row_style = styles["base"]
        if row.level != "ok":
            row_style = row_style + styles.get(row.level, Style())
        if cursor:
            row_style = row_style + styles["cursor"]
        cells = row.cells
        cell_levels = row.cell_levels
        segments: list[Segment] = []
        pending = " " * LEFT_PAD  # text in row_style not yet emitted
        for position, (index, column_width) in enumerate(self._layout):
            if position:
                pending += " " * GAP
            column = self._columns[index]
            raw = cells[index] if index < len(cells) else ""
            text = _pad(fit(clean(raw), column_width), column_width, column.align)
            level = cell_levels[index] if cell_levels and index < len(cell_levels) else None
            if level is None or cursor:
                pending += text
            else:
                if pending:
                    segments.append(Segment(pending, row_style))
                    pending = ""
                segments.append(Segment(text, row_style + styles.get(level, Style())))
        if pending:
            segments.append(Segment(pending, row_style))
        return Strip(segments).adjust_cell_length(width, row_style)

    def _render_empty(self, width: int) -> Strip:
        assert self._styles is not None
        if not self._rows:
            message = "no rows"
        else:
            message = f"no rows match filter '{clean(self._filter_text)}'"
        text = fit(" " * LEFT_PAD + message, width)
        style = self._styles["muted_row"]
        return Strip([Segment(text, style)]).adjust_cell_length(width, self._styles["base"])

    def _column_index(self, column_key: str) -> int:
        for index, column in enumerate(self._columns):
            if column.key == column_key:
                return index
        raise KeyError(column_key)

    def _column_values(self, index: int) -> list[str]:
        """Cleaned, lower-cased text of one column for every row (cached)."""
        values = self._column_text.get(index)
        if values is None:
            values = []
            append = values.append
            for row in self._rows:
                cells = row.cells
                if index < len(cells):
                    cell = cells[index]
                    append((cell if cell.isprintable() else clean(cell)).lower())
                else:
                    append("")
            self._column_text[index] = values
        return values

    def _sorted_order(self, index: int, reverse: bool) -> list[int]:
        cached = self._sort_cache.get((index, reverse))
        if cached is not None:
            return cached
        rows = self._rows
        texts = self._column_values(index)
        if all(row.sort_values is None for row in rows):
            order = sorted(range(len(rows)), key=texts.__getitem__, reverse=reverse)
        else:
            keys: list[tuple[int, Any] | None] = []
            for position, row in enumerate(rows):
                values = row.sort_values
                if values is not None and index < len(values):
                    keys.append(_sort_key_value(values[index]))
                else:
                    keys.append((1, texts[position]))
            present = [i for i, key in enumerate(keys) if key is not None]
            missing = [i for i, key in enumerate(keys) if key is None]
            try:
                present.sort(key=keys.__getitem__, reverse=reverse)  # type: ignore[arg-type]
            except TypeError:  # values of types that do not compare: fall back to text
                present.sort(key=lambda i: str(keys[i]), reverse=reverse)
            order = present + missing
        self._sort_cache[(index, reverse)] = order
        return order

    def _apply_filter(self) -> None:
        view = self._order
        for term in self._terms:
            haystack = self._search if term.column is None else self._column_values(term.column)
            needle = term.needle
            if term.negate:
                view = [i for i in view if needle not in haystack[i]]
            else:
                view = [i for i in view if needle in haystack[i]]
        self._view = view

    def _rebuild(self, *, keep_position: bool) -> None:
        if self._sort_key is not None and self._sort_key in {c.key for c in self._columns}:
            self._order = self._sorted_order(self._column_index(self._sort_key), self._sort_reverse)
        else:
            self._order = list(range(len(self._rows)))
        self._apply_filter()
        self._after_view_change(keep_position=keep_position)

    def _position_of(self, key: str | None) -> int | None:
        if key is None:
            return None
        row_index = self._key_index.get(key)
        if row_index is None:
            return None
        if self._view and self._view[min(self._cursor, len(self._view) - 1)] == row_index:
            return min(self._cursor, len(self._view) - 1)
        try:
            return self._view.index(row_index)
        except ValueError:
            return None

    def _after_view_change(self, *, keep_position: bool) -> None:
        """Place the cursor after the view changed, then repaint."""
        old_key = self._cursor_key
        position = self._position_of(old_key)
        if position is None:
            position = self._cursor if keep_position else 0
        self._cursor = max(0, min(position, len(self._view) - 1))
        self._update_virtual_size()
        self._scroll_cursor_into_view()
        self.refresh()
        self._post_if_moved(old_key)

    def _cursor_changed(self, old: int) -> None:
        old_key = self._cursor_key
        if old != self._cursor:
            self.refresh_line(old + 1)
            self.refresh_line(self._cursor + 1)
        self._scroll_cursor_into_view()
        self._post_if_moved(old_key)

    def _post_if_moved(self, old_key: str | None) -> None:
        row = self.cursor_row
        new_key = row.key if row is not None else None
        self._cursor_key = new_key
        if new_key != old_key:
            self.post_message(self.CursorMoved(self, row))

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._view) + 1)

    def _scroll_cursor_into_view(self) -> None:
        height = self.scrollable_content_region.height - 1
        if height <= 0:
            return
        top = self.scroll_offset.y
        if self._cursor < top:
            top = self._cursor
        elif self._cursor >= top + height:
            top = self._cursor - height + 1
        top = max(0, min(top, len(self._view) + 1 - (height + 1)))
        if top != self.scroll_offset.y:
            self.scroll_to(y=top, animate=False, force=True)

    def _sortable_keys(self) -> list[str]:
        shown = self._layout if self._layout_width >= 0 else []
        if shown:
            return [self._columns[index].key for index, _ in shown]
        return [column.key for column in self._columns]

    def _sort_step(self, step: int) -> None:
        keys = self._sortable_keys()
        if not keys:
            return
        if self._sort_key in keys:
            position = (keys.index(self._sort_key) + step) % len(keys)
        else:
            position = 0 if step > 0 else len(keys) - 1
        self.sort_by(keys[position], reverse=False)


def _pad(text: str, width: int, align: str) -> str:
    gap = width - cell_len(text)
    if gap <= 0:
        return text
    return " " * gap + text if align == "right" else text + " " * gap
