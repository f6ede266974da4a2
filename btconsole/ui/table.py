"""The resource table every pane shows: virtualised, filterable, sortable.

Built on Textual's Line API (a :class:`~textual.scroll_view.ScrollView` whose
``render_line`` draws one terminal line), so only visible lines are ever rendered
and 50,000 rows cost no more to paint than 50. Line 0 is the header; it is drawn
for ``y == 0`` regardless of the scroll position, so it never scrolls away. Data
row ``i`` of the current (sorted, filtered) view is virtual line ``i + 1``.

Cell text is data: :func:`btconsole.ui.textsafe.clean` strips control and escape
sequences, :func:`~btconsole.ui.textsafe.fit` truncates it with "…", and it reaches
the terminal as a plain Rich ``Segment``, never parsed as markup.

Key bindings (every one has a description and an id; none clashes with the app's
``1``-``5 : / r R y o ? q escape ctrl+p``):

==========================  ============================  ================================
keys                        action                        binding id
==========================  ============================  ================================
``up`` / ``k``              cursor up                     ``resource_table.up``
``down`` / ``j``            cursor down                   ``resource_table.down``
``pageup`` / ``ctrl+b``     page up                       ``resource_table.page_up``
``pagedown`` / ``ctrl+f``   page down                     ``resource_table.page_down``
``home`` / ``g``            first row                     ``resource_table.first``
``end`` / ``G``             last row                      ``resource_table.last``
``enter``                   select (posts ``Selected``)   ``resource_table.select``
``>``                       sort by the next column       ``resource_table.sort_next``
``<``                       sort by the previous column   ``resource_table.sort_previous``
``s``                       reverse the sort order        ``resource_table.sort_reverse``
==========================  ============================  ================================

The mouse is optional: a click on a row moves the cursor there (on the highlighted
row, selects it); a click on a header label sorts by that column (again: reverses).

Sorting uses ``Row.sort_values`` when a row has them (numbers numerically, strings
case-insensitively, ``None`` meaning "no value" last in either direction), else
the case-insensitive cell text; it is stable, and orders are cached per column
and direction until the rows change. Filtering is :mod:`btconsole.ui.filterquery`
over the cleaned, lower-cased cells (see :class:`RowSet` for how it stays fast).

Column layout at a given width (see :func:`layout_columns`): while the columns'
``min_width`` do not fit, the least important column is dropped (highest
``priority`` number first, the rightmost among equals; ``priority=0`` is never
dropped, and the sort column goes last); then columns shrink from ``width`` toward
``min_width`` in proportion to their slack, except a column promised in ``full``,
which never shrinks (columns are dropped before it would); spare width goes to the
widest left-aligned column. A column marked ``hide_when_constant`` is left out while
every row holds the same text in it, and the sort column gets room for its whole
label and the arrow. A cell too long for its column is cut where its ``Column.cut``
says: in the middle for names and IDs (``er-con…frankfurt-001``), at the end for
free text.

Styles are component classes themed in ``DEFAULT_CSS``: ``resource-table--header``,
``--cursor``, and one per level (``--critical``, ``--warning``, ``--info``,
``--muted``, ``--ok``). A row's level colours the whole row, except ``"ok"``, which
leaves a row plain (so a healthy table is not all green); a cell level, including
``"ok"``, colours just that cell.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import accumulate, compress, filterfalse, repeat
from operator import attrgetter, contains, eq, itemgetter, not_
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

from btconsole.ui.filterquery import (
    COMPARISONS,
    CompiledTerm,
    FilterError,
    cell_value,
    check_kinds,
    compile_query,
    word_pattern,
)
from btconsole.ui.textsafe import ELLIPSIS, Cut, clean, fit
from btconsole.ui.themes import readable

__all__ = ["Column", "Level", "ResourceTable", "Row", "RowSet", "layout_columns"]

Level = Literal["ok", "info", "warning", "critical", "muted"]

LEVELS: tuple[Level, ...] = ("ok", "info", "warning", "critical", "muted")
LEFT_PAD = 1  # blank cells before the first column
GAP = 1  # blank cells between columns
SORT_ASCENDING = "▲"
SORT_DESCENDING = "▼"
_STRIP_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Column:
    """A table column. ``width`` is the preferred width in cells.

    ``priority`` says which columns go first when the table is too narrow: the
    highest number is dropped first; ``0`` means never drop.

    ``cut`` says where a cell too long for the column loses text (see
    :func:`~btconsole.ui.textsafe.fit`): ``"middle"`` for names and IDs, whose start
    and end tell rows apart (``er-con…frankfurt-001``), ``"end"`` for free text.
    ``hide_when_constant``: the column is not shown while every row (two or more)
    holds the same text in it (CUSTOMER when one customer is in scope).
    ``descending``: the column's sort values run opposite to the text shown (counts
    negated so the largest comes first); the header arrow then points the way the
    shown values run (``▼`` over 22, 11, 4).
    ``full``: a promised column, never narrower than ``width`` (the Arc pane's agent
    version): lower-priority columns are dropped to make room before it would shrink;
    ``min_width`` is then unused.
    """

    key: str
    label: str
    width: int
    min_width: int = 4
    align: Literal["left", "right"] = "left"
    priority: int = 1
    cut: Cut = "end"
    hide_when_constant: bool = False
    descending: bool = False
    full: bool = False

    @property
    def least_width(self) -> int:
        """The narrowest the layout may make it: ``width`` if promised in full."""
        return max(1, self.width if self.full else self.min_width)


@dataclass(frozen=True, slots=True)
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


def layout_columns(
    columns: Sequence[Column],
    width: int,
    *,
    hidden: frozenset[int] = frozenset(),
    sorted_column: int | None = None,
) -> list[tuple[int, int]]:
    """Choose the columns that fit in ``width`` cells and their widths.

    Returns ``(column index, width)`` pairs in column order. The row uses
    ``LEFT_PAD + sum(widths) + GAP * (len - 1)`` cells; see the module docstring
    for the rules. Never-drop columns that still do not fit are all kept at
    ``min_width`` (``width`` if promised in ``full``); the line is then cut at the
    right edge. Columns in ``hidden`` are left out; the ``sorted_column`` is given
    room for its label and the sort arrow (``SINCE ▲``, not ``SI… ▲``).
    """
    if sorted_column is not None and 0 <= sorted_column < len(columns):
        column = columns[sorted_column]
        room = cell_len(clean(column.label)) + 2
        if column.min_width < room or column.width < room:
            columns = list(columns)
            columns[sorted_column] = replace(
                column, width=max(column.width, room), min_width=max(column.min_width, room)
            )
    kept = [i for i in range(len(columns)) if i not in hidden]

    def needed(widths: list[int]) -> int:
        return LEFT_PAD + sum(widths) + GAP * (len(widths) - 1) if widths else 0

    while kept and needed([columns[i].least_width for i in kept]) > width:
        droppable = [i for i in kept if columns[i].priority != 0]
        if not droppable:
            break
        # the column the rows are sorted by stays in view while another can go: sorted
        # by ASSESSED at 80 columns, its room for the arrow had dropped ASSESSED itself
        # (the rows were in an order no column on the screen showed)
        droppable = [i for i in droppable if i != sorted_column] or droppable
        # Highest priority number first; the rightmost among equals.
        victim = max(droppable, key=lambda i: (columns[i].priority, i))
        kept.remove(victim)
    if not kept:
        return []
    widths = {i: max(1, columns[i].width) for i in kept}
    excess = needed(list(widths.values())) - width
    if excess > 0:
        slack = {i: max(0, widths[i] - columns[i].least_width) for i in kept}
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
        # Spread the spare width one cell at a time over the left-aligned columns, each
        # up to twice its preferred width, most important first, so that on a wide
        # terminal no single column swallows the screen and pushes the figures away.
        # What is still left stays as a margin on the right.
        order = sorted(flexible, key=lambda i: (columns[i].priority, i))
        while spare > 0:
            grew = False
            for i in order:
                if spare and widths[i] < 2 * max(1, columns[i].width):
                    widths[i] += 1
                    spare -= 1
                    grew = True
            if not grew:
                break
    return [(i, widths[i]) for i in kept]


_NUMBER_TYPES = (int, float)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _column_sort_keys(values: Sequence[Any]) -> list[Any]:
    """Comparable keys for one column's values; ``None`` stays ``None`` (sorts last).

    All strings: case-folded strings; all numbers: the numbers; a mix: tuples that
    order numbers before strings before anything else, so sorting never raises.
    """
    types = set(map(type, values))
    if types == {str}:
        return list(map(str.casefold, values))
    if types <= {str, type(None)}:
        return [None if value is None else value.casefold() for value in values]
    if types <= {int, bool}:
        return list(values)
    if types <= {int, bool, float, type(None)}:
        return [None if _is_missing(value) else value for value in values]
    keys: list[Any] = []
    for value in values:
        if _is_missing(value):
            keys.append(None)
        elif isinstance(value, _NUMBER_TYPES):
            keys.append((0, value, ""))
        elif isinstance(value, str):
            keys.append((1, 0, value.casefold()))
        else:
            keys.append((2, 0, str(value)))
    return keys


def _scan(
    needle: str, big: str, starts: Sequence[int], hay: Sequence[str], *, negate: bool = False
) -> list[int]:
    """Positions of the rows of ``hay`` containing ``needle`` (ascending); with
    ``negate``, of the rows not containing it.

    ``big`` is ``hay`` joined with NUL (which no needle holds) and ``starts`` the
    offset of each row in it, plus one past the end. Sparse matches are found by
    scanning ``big`` in C and jumping to the next row after each hit. Each hit
    costs a few Python steps, a row tested on its own about a tenth of that, so
    once more than one row in twenty matches, the rest is tested row by row.
    """
    count = len(hay)
    found: list[int] = []
    find = big.find
    hit = find(needle)
    while hit != -1:
        position = bisect_right(starts, hit) - 1
        found.append(position)
        following = position + 1
        if following >= count:
            break
        if len(found) >= 32 and len(found) * 20 > following:
            tested = map(contains, hay[following:], repeat(needle))
            rest = range(following, count)
            if negate:
                head = list(filterfalse(set(found).__contains__, range(following)))
                head.extend(compress(rest, map(not_, tested)))
                return head
            found.extend(compress(rest, tested))
            return found
        hit = find(needle, starts[following])
    if negate:
        return list(filterfalse(set(found).__contains__, range(count)))
    return found


def _word_flags(texts: Sequence[str], needle: str, pattern: re.Pattern[str]) -> list[bool]:
    """For each of ``texts``: does a word in it start with ``needle``?

    The start-of-text and substring tests run in C over every text; the pattern
    (``needle`` after a non-word character) only over the texts that hold the
    needle somewhere after their start.
    """
    flags = list(map(str.startswith, texts, repeat(needle)))
    others = list(compress(range(len(flags)), map(not_, flags)))
    if others:
        inside = list(compress(others, map(contains, _take(texts, others), repeat(needle))))
        for index in compress(inside, map(pattern.search, _take(texts, inside))):
            flags[index] = True
    return flags


def _scan_words(
    needle: str,
    pattern: re.Pattern[str],
    big: str,
    starts: Sequence[int],
    hay: Sequence[str],
    *,
    negate: bool = False,
) -> list[int]:
    """Positions of the rows of ``hay`` where a word starts with ``needle`` (with
    ``negate``, where none does).

    As :func:`_scan`; ``pattern`` is :func:`~btconsole.ui.filterquery.word_pattern`
    of ``needle``. A hit that is not at a word start moves on within its row; once
    hits are dense, the rest is tested row by row (:func:`_word_flags`).
    """
    count = len(hay)
    found: list[int] = []
    find = big.find
    at_word = pattern.match
    hits = 0
    hit = find(needle)
    while hit != -1:
        position = bisect_right(starts, hit) - 1
        hits += 1
        if hits >= 32 and hits * 20 > position:
            flags = _word_flags(hay[position:], needle, pattern)
            rest = range(position, count)
            if negate:
                head = list(filterfalse(set(found).__contains__, range(position)))
                head.extend(compress(rest, map(not_, flags)))
                return head
            found.extend(compress(rest, flags))
            return found
        if at_word(big, hit):
            found.append(position)
            if position + 1 >= count:
                break
            hit = find(needle, starts[position + 1])
        else:
            hit = find(needle, hit + 1)
    if negate:
        return list(filterfalse(set(found).__contains__, range(count)))
    return found


class _Haystack:
    """Lower-cased text in sort order, as a tuple and as one NUL-joined string."""

    __slots__ = ("big", "hay", "starts")

    def __init__(self, texts: Sequence[str]) -> None:
        self.big = "\x00".join(texts)
        # Fresh strings, allocated in this order: scanning them row by row walks
        # memory sequentially (the originals lie scattered in the given order).
        self.hay = tuple(self.big.split("\x00")) if texts else ()
        self.starts = list(accumulate(map((1).__add__, map(len, self.hay)), initial=0))


def _take(items: Sequence[Any], positions: Sequence[int]) -> tuple[Any, ...]:
    """``tuple(items[p] for p in positions)``, done in C."""
    if not positions:
        return ()
    if len(positions) == 1:
        return (items[positions[0]],)
    return tuple(itemgetter(*positions)(items))


_ASCII_CONTROLS = bytes(range(0x20)) + b"\x7f"


def _bulk_lower(texts: Sequence[str], separators: int) -> list[str] | None:
    """``[text.lower() for text in texts]``, done in C, when every text is clean.

    Each text may hold ``separators`` newlines in total (the cell separators of
    row search strings). Returns None when any text needs :func:`clean`.
    """
    if not texts:
        return []
    joined = "\x00".join(texts)
    expected = len(texts) - 1 + separators  # NULs and newlines we put there
    if joined.isascii():  # O(1); then only C0 controls and DEL can be unprintable
        raw = joined.encode("ascii")
        if len(raw) - len(raw.translate(None, _ASCII_CONTROLS)) != expected:
            return None
        if raw.count(b"\x00") != len(texts) - 1:
            return None
    elif (
        joined.count("\x00") != len(texts) - 1
        or joined.count("\n") != separators
        or not joined.replace("\x00", " ").replace("\n", " ").isprintable()
    ):
        return None
    return joined.lower().split("\x00")


def _column_cells(rows: Sequence[Row], column: int) -> list[str]:
    """Cell ``column`` of every row ("" for a row that is too short)."""
    try:
        return list(map(itemgetter(column), map(attrgetter("cells"), rows)))
    except IndexError:
        return [row.cells[column] if column < len(row.cells) else "" for row in rows]


def _clean_lower(cell: str) -> str:
    return (cell if cell.isprintable() else clean(cell)).lower()


def _covers(term: CompiledTerm, wanted: CompiledTerm) -> bool:
    """True when every row ``term`` keeps (negation aside) ``wanted`` keeps too."""
    if wanted.op == ":" and wanted.column is None:  # a substring anywhere
        return term.op in (":", ":=") and wanted.needle in term.needle
    if wanted.op == ":" and term.column == wanted.column and term.op in (":", ":="):
        # a word starting with the needle (a whole cell is a word start)
        return term.needle.startswith(wanted.needle)
    return term == wanted


def _implies(new: Sequence[CompiledTerm], old: Sequence[CompiledTerm]) -> bool:
    """True when every row matching all ``new`` terms matches all ``old`` terms."""

    def covers(term: CompiledTerm, wanted: CompiledTerm) -> bool:
        if term.negate != wanted.negate:
            return False
        if not term.negate:
            return _covers(term, wanted)
        return _covers(wanted, term)  # rows without W are rows without T when W ⊇ T

    return all(any(covers(term, wanted) for term in new) for wanted in old)


class RowSet:
    """Rows with a sort order and a filter, kept fast for tens of thousands of rows.

    Pure (no Textual): :class:`ResourceTable` draws what this computes. Rows are
    held in sort order (``sorted_rows``); ``view`` lists the positions in that
    order which pass the filter, ascending (a ``range`` when nothing is filtered).

    Per row, ``set_rows`` computes one lower-cased search string (the cleaned
    cells joined by newlines). Sort orders are cached per column and direction.
    A filter scans the search text in sort order, so its result needs no sort;
    results are cached per query, and a query that narrows the previous one (one
    more character typed) only looks at the previous result when that is small.
    """

    _FILTER_CACHE_LIMIT = 64

    def __init__(self) -> None:
        self.columns: tuple[Column, ...] = ()
        self.rows: list[Row] = []
        self._search: list[str] | None = None
        self._keys: list[str] | None = None
        self.sort_column: int | None = None
        self.sort_reverse = False
        self.terms: tuple[CompiledTerm, ...] = ()
        self.order: Sequence[int] = range(0)
        self.sorted_rows: list[Row] = []
        self.view: Sequence[int] = range(0)
        self._column_text: dict[int, list[str]] = {}
        self._sort_keys: dict[int, list[Any]] = {}
        self._orders: dict[tuple[int, bool], list[int]] = {}
        self._haystacks: dict[int | None, _Haystack] = {}
        self._cell_values: dict[int, list[tuple[str, float] | None]] = {}
        self._typed_values: dict[tuple[int, str], Sequence[float | None]] = {}
        self._results: dict[tuple[CompiledTerm, ...], list[int]] = {}
        self._last: tuple[tuple[CompiledTerm, ...], list[int]] | None = None

    # -- inputs

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns (keeps the rows; drops per-column caches)."""
        self.columns = tuple(columns)
        if self.sort_column is not None and self.sort_column >= len(self.columns):
            self.sort_column = None
        self._column_text.clear()
        self._cell_values.clear()
        self._sort_keys.clear()
        self._orders.clear()
        self._apply_order()

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Replace the rows; sort and filter are re-applied."""
        self.rows = list(rows)
        self._search = None
        self._keys = None
        self._column_text.clear()
        self._cell_values.clear()
        self._sort_keys.clear()
        self._orders.clear()
        self._apply_order()

    def set_sort(self, column: int | None, reverse: bool) -> None:
        """Sort by column index ``column`` (None: the given order)."""
        self.sort_column = column
        self.sort_reverse = reverse if column is not None else False
        self._apply_order()

    def set_terms(self, terms: Sequence[CompiledTerm]) -> None:
        """Filter by ``terms`` (all must match)."""
        self.terms = tuple(terms)
        self._apply_filter()

    def prepare(self) -> None:
        """Build now what the first filter keystroke would otherwise build.

        The table calls this when idle after new rows or a new sort, so typing
        finds the search text ready.
        """
        self._haystack(None)
        self._row_keys()

    # -- queries

    @property
    def search(self) -> list[str]:
        """Per row (given order): the cleaned cells, lower-cased, newline-joined."""
        if self._search is None:
            cells = list(map(attrgetter("cells"), self.rows))
            join = "\n".join
            separators = sum(map(len, cells)) - (len(cells) - cells.count(()))
            search = _bulk_lower(list(map(join, cells)), separators)
            if search is None:  # some text needs cleaning: row by row
                search = []
                for row_cells in cells:
                    if all(map(str.isprintable, row_cells)):
                        text = join(row_cells)
                    else:
                        text = join(map(clean, row_cells))
                    search.append(text.lower())
            self._search = search
        return self._search

    def position_of(self, key: str | None) -> int | None:
        """Where the row with ``key`` is in ``view``, or None when it is not shown.

        A linear search (in C): cheaper than keeping a dict of 50,000 fresh keys
        on every ``set_rows``, for one look-up per change of view.
        """
        if key is None:
            return None
        try:
            index = self._row_keys().index(key)
        except ValueError:
            return None
        order = self.order
        sorted_position = index if isinstance(order, range) else order.index(index)
        view = self.view
        if isinstance(view, range):
            return sorted_position if sorted_position < len(view) else None
        found = bisect_left(view, sorted_position)
        if found < len(view) and view[found] == sorted_position:
            return found
        return None

    def _row_keys(self) -> list[str]:
        if self._keys is None:
            self._keys = list(map(attrgetter("key"), self.rows))
        return self._keys

    def column_text(self, column: int) -> list[str]:
        """Cleaned, lower-cased text of one column for every row (given order; cached)."""
        values = self._column_text.get(column)
        if values is None:
            raw = _column_cells(self.rows, column)
            values = _bulk_lower(raw, 0)
            if values is None:
                values = [_clean_lower(cell) for cell in raw]
            self._column_text[column] = values
        return values

    # -- sorting

    def forget_sort_caches(self) -> None:
        """Drop cached sort keys and orders (the next sort computes them afresh)."""
        self._sort_keys.clear()
        self._orders.clear()

    def _sort_keys_for(self, column: int) -> list[Any]:
        keys = self._sort_keys.get(column)
        if keys is None:
            rows = self.rows
            given_values = list(map(attrgetter("sort_values"), rows))
            fast: list[Any] | None = None
            if None not in given_values:
                try:
                    fast = list(map(itemgetter(column), given_values))
                except IndexError:
                    fast = None
            if fast is not None:
                keys = _column_sort_keys(fast)
            elif all(given is None for given in given_values):
                keys = _column_sort_keys(self.column_text(column))
            else:
                texts: list[str] | None = None
                values: list[Any] = []
                for position, row in enumerate(rows):
                    given = row.sort_values
                    if given is not None and column < len(given):
                        values.append(given[column])
                    else:
                        if texts is None:
                            texts = self.column_text(column)
                        values.append(texts[position])
                keys = _column_sort_keys(values)
            self._sort_keys[column] = keys
        return keys

    def _sorted(self, column: int, reverse: bool) -> list[int]:
        order = self._orders.get((column, reverse))
        if order is None:
            keys = self._sort_keys_for(column)
            missing = (
                [index for index, key in enumerate(keys) if key is None] if None in keys else []
            )
            if missing:
                lacking = set(missing)
                present = [index for index in range(len(keys)) if index not in lacking]
            else:
                present = list(range(len(keys)))
            present.sort(key=keys.__getitem__, reverse=reverse)
            order = present + missing
            self._orders[(column, reverse)] = order
        return order

    def _apply_order(self) -> None:
        column = self.sort_column
        if column is None:
            self.order = range(len(self.rows))
            self.sorted_rows = list(self.rows)
        else:
            self.order = self._sorted(column, self.sort_reverse)
            self.sorted_rows = list(_take(self.rows, self.order))
        self._haystacks.clear()
        self._typed_values.clear()
        self._results.clear()
        self._last = None
        self._apply_filter()

    # -- filtering

    def forget_filter_results(self) -> None:
        """Drop cached filter results, except the last (which narrowing starts from)."""
        self._results.clear()

    def _haystack(self, column: int | None) -> _Haystack:
        haystack = self._haystacks.get(column)
        if haystack is None:
            # Built from the given order (rows lie in memory in that order, which
            # makes reading them several times faster than in sort order).
            source = self.search if column is None else self.column_text(column)
            order = self.order
            haystack = _Haystack(source if isinstance(order, range) else _take(source, order))
            self._haystacks[column] = haystack
        return haystack

    def _apply_filter(self) -> None:
        terms = self.terms
        count = len(self.rows)
        if not terms:
            self.view = range(count)
            return
        cached = self._results.get(terms)
        if cached is None:
            candidates: list[int] | None = None
            todo = terms
            if self._last is not None and _implies(terms, self._last[0]):
                candidates = self._last[1]
                todo = tuple(term for term in terms if term not in self._last[0])
            # Keep-terms first: they shrink the candidates most cheaply.
            for term in sorted(todo, key=lambda term: term.negate):
                candidates = self._match(term, candidates)
            cached = candidates if candidates is not None else list(range(count))
            if len(self._results) >= self._FILTER_CACHE_LIMIT:
                self._results.clear()
            self._results[terms] = cached
        self._last = (terms, cached)
        self.view = cached

    def _match(self, term: CompiledTerm, candidates: list[int] | None) -> list[int]:
        if term.op == ":" and term.column is None:
            return self._match_substring(term, candidates)
        count = len(self.rows)
        if term.op == ":" and (candidates is None or len(candidates) * 3 >= count * 2):
            haystack = self._haystack(term.column)
            pattern = word_pattern(term.needle)
            found = _scan_words(
                term.needle,
                pattern,
                haystack.big,
                haystack.starts,
                haystack.hay,
                negate=term.negate and candidates is None,
            )
            if candidates is None:
                return found
            return _combine(found, candidates, count, negate=term.negate)
        positions: Sequence[int] = range(count) if candidates is None else candidates

        def pick(items: Sequence[Any]) -> Sequence[Any]:
            return items if candidates is None else _take(items, candidates)

        tested: Any
        if term.op == ":":
            texts = pick(self._haystack(term.column).hay)
            tested = _word_flags(texts, term.needle, word_pattern(term.needle))
        elif term.op == ":=":
            hay = self._haystack(term.column).hay
            tested = map(eq, pick(hay), repeat(term.needle))
        else:
            assert term.column is not None and term.kind is not None
            compare = COMPARISONS[term.op]
            bound = term.bound
            tested = [
                value is not None and compare(value, bound)
                for value in pick(self._typed(term.column, term.kind))
            ]
        if term.negate:
            return list(compress(positions, map(not_, tested)))
        return list(compress(positions, tested))

    def _match_substring(self, term: CompiledTerm, candidates: list[int] | None) -> list[int]:
        haystack = self._haystack(term.column)
        needle = term.needle
        count = len(haystack.hay)
        # Testing candidates one by one beats a full scan unless they are most rows.
        if candidates is not None and len(candidates) * 3 < count * 2:
            tested = map(contains, _take(haystack.hay, candidates), repeat(needle))
            if term.negate:
                return list(compress(candidates, map(not_, tested)))
            return list(compress(candidates, tested))
        if candidates is None:
            return _scan(needle, haystack.big, haystack.starts, haystack.hay, negate=term.negate)
        found = _scan(needle, haystack.big, haystack.starts, haystack.hay)
        return _combine(found, candidates, count, negate=term.negate)

    # -- typed values (comparisons)

    def _values(self, column: int) -> list[tuple[str, float] | None]:
        """Each row's cell ``column`` read as an age or a number (given order; cached)."""
        values = self._cell_values.get(column)
        if values is None:
            texts = self.column_text(column)
            # a column of ages or amounts repeats few texts: read each distinct one once
            read = {text: cell_value(text) for text in set(texts)}
            values = list(map(read.__getitem__, texts))
            self._cell_values[column] = values
        return values

    def value_kinds(self, column: int) -> frozenset[str]:
        """The kinds of value (``"number"``, ``"age"``) column ``column`` holds.

        Every kind when there are no rows: nothing says a comparison is wrong.
        """
        if not self.rows:
            return frozenset(("number", "age"))
        return frozenset(value[0] for value in self._values(column) if value is not None)

    def _typed(self, column: int, kind: str) -> Sequence[float | None]:
        """Cell ``column`` of each row in sort order, as a ``kind`` value or None."""
        typed = self._typed_values.get((column, kind))
        if typed is None:
            given = [
                value[1] if value is not None and value[0] == kind else None
                for value in self._values(column)
            ]
            order = self.order
            typed = given if isinstance(order, range) else _take(given, order)
            self._typed_values[(column, kind)] = typed
        return typed


def _combine(
    found: Sequence[int], candidates: list[int] | None, count: int, *, negate: bool
) -> list[int]:
    """Rows of ``candidates`` (None: all ``count`` rows) in ``found``, or with
    ``negate`` not in it; ``found`` and ``candidates`` ascending."""
    if candidates is None:
        if negate:
            return list(filterfalse(set(found).__contains__, range(count)))
        return list(found)
    if negate:
        excluded = set(found)
        return list(filterfalse(excluded.__contains__, candidates))
    if len(found) < len(candidates):
        wanted = set(candidates)
        return list(filter(wanted.__contains__, found))
    kept = set(found)
    return list(filter(kept.__contains__, candidates))


class ResourceTable(ScrollView, can_focus=True):
    """A virtualised table of :class:`Row` objects with a fixed header."""

    # Which table has focus shows as more than a text colour (two tables share the
    # overview): the focused table's header takes the theme's $secondary and its
    # cursor row the strong block cursor; the other table keeps a $panel header and a
    # faint cursor row. Foregrounds on a coloured background are "auto" (black or
    # white against that background): the themed colours are resolved as full styles
    # (see _compute_styles), so every theme, a user's included, stays readable.
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
        &:focus > .resource-table--header {
            text-style: bold;
            background: $secondary;
            color: auto 95%;
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
        self._set = RowSet()
        self._prepare_pending = False
        self._set.set_columns(self._columns)
        self._filter_text = ""  # as typed
        self._filter_applied = ""  # the last text that compiled: what filters the rows
        self._filter_error: str | None = None
        self._sort_key: str | None = None
        self._cursor = 0  # index into the view
        self._cursor_key: str | None = None
        self._layout: list[tuple[int, int]] = []
        self._cells_layout: list[tuple[int, int, bool, bool]] = []
        self._cells_width = 0
        self._layout_width = -1
        self._layout_state: tuple[int, str | None, frozenset[int]] | None = None
        self._hidden: frozenset[int] = frozenset()
        self._strips: dict[tuple[int, int, bool], Strip] = {}
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
        view = self._set.view
        if not view:
            return None
        return self._set.sorted_rows[view[self._cursor]]

    @property
    def cursor_index(self) -> int:
        """Position of the cursor in the filtered view (0 when empty)."""
        return self._cursor

    @property
    def filtered_count(self) -> int:
        """Rows that pass the filter."""
        return len(self._set.view)

    @property
    def total_count(self) -> int:
        """All rows."""
        return len(self._set.rows)

    @property
    def sort_key(self) -> str | None:
        """Key of the column the rows are sorted by, or None for the given order."""
        return self._sort_key

    @property
    def sort_reverse(self) -> bool:
        """True when sorted descending."""
        return self._set.sort_reverse

    @property
    def filter_text(self) -> str:
        """The filter query as last given to :meth:`set_filter` (valid or not)."""
        return self._filter_text

    @property
    def applied_filter(self) -> str:
        """The last valid query given to :meth:`set_filter`: the one in force."""
        return self._filter_applied

    @property
    def filter_error(self) -> str | None:
        """Why the last query given to :meth:`set_filter` is not in force (one line)."""
        return self._filter_error

    @property
    def visible_rows(self) -> list[Row]:
        """The rows in the current filtered, sorted order (a new list)."""
        rows = self._set.sorted_rows
        return [rows[position] for position in self._set.view]

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns; the sort is kept if its column still exists."""
        self._columns = tuple(columns)
        keys = [column.key for column in self._columns]
        rows = self._set
        rows.set_columns(self._columns)
        if self._sort_key in keys:
            rows.set_sort(keys.index(self._sort_key), rows.sort_reverse)
        else:
            self._sort_key = None
            rows.set_sort(None, False)
        try:
            terms = self._compile(self._filter_applied)
        except FilterError:  # the query names a column that is gone: no filter
            terms = []
            self._filter_text = self._filter_applied = ""
        self._filter_error = None
        rows.set_terms(terms)
        self._hidden = _constant_columns(self._columns, self._set.rows)
        self._layout_width = -1
        self._layout_state = None
        self._invalidate()
        self._after_view_change(keep_position=True)
        self._prepare_when_idle()

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Replace the rows, re-applying sort and filter.

        The cursor stays on the same row key when that row is still shown;
        otherwise it keeps its position (clamped), so a removed row's successor
        takes its place.
        """
        self._set.set_rows(rows)
        self._hidden = _constant_columns(self._columns, rows)
        self._invalidate()
        self._after_view_change(keep_position=True)
        self._prepare_when_idle()

    def set_filter(self, text: str) -> None:
        """Filter rows with a :mod:`btconsole.ui.filterquery` query (cheap per keystroke).

        A query that cannot apply (an unknown column, ``since>7`` on a column of ages)
        leaves the last valid filter in force and sets :attr:`filter_error`.
        """
        self._filter_text = text
        try:
            terms = self._compile(text)
        except FilterError as error:
            self._filter_error = str(error)
            return
        self._filter_error = None
        self._filter_applied = text
        if tuple(terms) == self._set.terms:
            return
        self._set.set_terms(terms)
        self._after_view_change(keep_position=False)

    def _compile(self, text: str) -> list[CompiledTerm]:
        terms = compile_query(clean(text), self._columns)
        check_kinds(terms, self._columns, self._set.value_kinds)
        return terms

    def go_top(self) -> None:
        """Cursor on the first row, scrolled to the top (a new scope: a new list)."""
        old_key = self._cursor_key
        self._cursor = 0
        self.scroll_to(y=0, animate=False, force=True)
        self.refresh()
        self._post_if_moved(old_key)

    def sort_by(self, column_key: str, *, reverse: bool | None = None) -> None:
        """Sort by a column; ``reverse=None`` toggles when it already is the sort column.

        Raises:
            KeyError: no column has that key.
        """
        index = self._column_index(column_key)
        if reverse is None:
            reverse = not self._set.sort_reverse if column_key == self._sort_key else False
        self._sort_key = column_key
        self._set.set_sort(index, reverse)
        self._header_strip = None
        self._after_view_change(keep_position=False)
        self._prepare_when_idle()

    def clear_sort(self) -> None:
        """Show rows in the order they were given."""
        self._sort_key = None
        self._set.set_sort(None, False)
        self._header_strip = None
        self._after_view_change(keep_position=False)
        self._prepare_when_idle()

    def move_cursor(self, index: int) -> None:
        """Put the cursor on view position ``index`` (clamped) and scroll to it."""
        count = len(self._set.view)
        if not count:
            return
        old = self._cursor
        self._cursor = max(0, min(index, count - 1))
        self._cursor_changed(old)

    def select_key(self, key: str) -> bool:
        """Put the cursor on the row with ``key``; False when it is not shown."""
        position = self._set.position_of(key)
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
        self.move_cursor(len(self._set.view) - 1)

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
        self.sort_by(self._sort_key, reverse=not self._set.sort_reverse)

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        """Draw line ``y`` of the widget: the header at 0, else a data row."""
        width = self.scrollable_content_region.width
        if (width, self._sort_key, self._hidden) != self._layout_state:
            self._relayout(width)
        if self._styles is None:
            self._styles = self._compute_styles()
        if y == 0:
            return self._render_header(width)
        index = self.scroll_offset.y + y - 1
        view = self._set.view
        if 0 <= index < len(view):
            row = self._set.sorted_rows[view[index]]
            cursor = index == self._cursor
            cache_key = (id(row), width, cursor)  # rows live until set_rows clears this
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

    def on_click(self, event: events.Click) -> None:
        """A click on the header sorts by that column; on a row, moves the cursor
        there (a click on the highlighted row selects it)."""
        y = event.y
        if y == 0:
            column = self._column_at(event.x)
            if column is not None:
                self.sort_by(column)
            return
        index = self.scroll_offset.y + y - 1
        if 0 <= index < len(self._set.view):
            if index == self._cursor:
                self.action_select()
            else:
                self.move_cursor(index)

    # ------------------------------------------------------------------ internals

    def _prepare_when_idle(self) -> None:
        """After the next repaint, build the search text the first keystroke needs."""
        if self._prepare_pending or not self.is_mounted:
            return
        self._prepare_pending = True

        def prepare() -> None:
            self._prepare_pending = False
            self._set.prepare()

        self.call_after_refresh(prepare)

    def _invalidate(self) -> None:
        self._strips.clear()
        self._header_strip = None
        self._styles = None
        self.refresh()

    def _compute_styles(self) -> dict[str, Style]:
        # Full component styles, not partial ones: a partial style keeps neither an
        # "auto" foreground resolved against its own background (white on a white
        # cursor) nor a translucent background blended onto the table's.
        # Each then passes through readable(): a user's theme cannot hide the text.
        base = self.rich_style
        styles: dict[str, Style] = {"base": base}
        styles["header"] = readable(base + self.get_component_rich_style("resource-table--header"))
        styles["cursor"] = readable(self.get_component_rich_style("resource-table--cursor"))
        for level in LEVELS:
            styles[level] = readable(self.get_component_rich_style(f"resource-table--{level}"))
        styles["muted_row"] = base + styles["muted"]
        return styles

    @property
    def shown_columns(self) -> list[str]:
        """Keys of the columns drawn at the current width, left to right."""
        return [self._columns[index].key for index, _ in self._layout]

    @property
    def shown_widths(self) -> dict[str, int]:
        """The width of each column drawn at the current width, by key."""
        return {self._columns[index].key: width for index, width in self._layout}

    def _relayout(self, width: int) -> None:
        sorted_column = None
        if self._sort_key is not None:
            keys = [column.key for column in self._columns]
            sorted_column = keys.index(self._sort_key) if self._sort_key in keys else None
        self._layout = layout_columns(
            self._columns, width, hidden=self._hidden, sorted_column=sorted_column
        )
        self._cells_layout = [
            (
                index,
                column_width,
                self._columns[index].align == "right",
                self._columns[index].cut == "middle",
            )
            for index, column_width in self._layout
        ]
        self._layout_state = (width, self._sort_key, self._hidden)
        self._cells_width = sum(w for _, w in self._layout) + GAP * max(0, len(self._layout) - 1)
        self._layout_width = width
        self._strips.clear()
        self._header_strip = None

    def _render_header(self, width: int) -> Strip:
        state = (width, self._sort_key, self._set.sort_reverse)
        if self._header_strip is not None and self._header_strip[0] == state:
            return self._header_strip[1]
        assert self._styles is not None
        style = self._styles["header"]
        parts: list[str] = [" " * LEFT_PAD]
        for position, (index, column_width) in enumerate(self._layout):
            column = self._columns[index]
            label = clean(column.label)
            if column.key == self._sort_key:
                # the way the shown values run, not the way the sort keys do
                downward = self._set.sort_reverse != column.descending
                arrow = SORT_DESCENDING if downward else SORT_ASCENDING
                if cell_len(label) + 2 <= column_width:
                    text = label + " " + arrow
                else:  # narrower than its label (a terminal too narrow for its minimum)
                    text = fit(label, column_width - 1) + arrow
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
            row_style = row_style + styles[row.level]
        if cursor:
            row_style = row_style + styles["cursor"]
        cells = row.cells
        cell_count = len(cells)
        cell_levels = None if cursor else row.cell_levels
        segments: list[Segment] = []
        pending: list[str] = [" " * LEFT_PAD]  # text in row_style not yet emitted
        gap = " " * GAP
        for position, (index, column_width, right, middle) in enumerate(self._cells_layout):
            if position:
                pending.append(gap)
            text = cells[index] if index < cell_count else ""
            if not text.isprintable():
                text = clean(text)
            if text.isascii():  # one cell per character: no need to measure
                if len(text) > column_width:
                    if middle and column_width >= 3:
                        # as fit(cut="middle"): a third of the room for the start
                        head = max(1, (column_width - 1) // 3)
                        tail = len(text) - (column_width - 1 - head)
                        text = text[:head] + ELLIPSIS + text[tail:]
                    else:
                        text = text[: column_width - 1] + ELLIPSIS if column_width > 0 else ""
                fill = column_width - len(text)
            else:
                text = fit(text, column_width, "middle" if middle else "end")
                fill = column_width - cell_len(text)
            if fill > 0:
                text = " " * fill + text if right else text + " " * fill
            level = cell_levels[index] if cell_levels and index < len(cell_levels) else None
            if level is None:
                pending.append(text)
            else:
                if pending:
                    segments.append(Segment("".join(pending), row_style))
                    pending = []
                segments.append(Segment(text, row_style + styles[level]))
        used = LEFT_PAD + self._cells_width
        if used < width:
            pending.append(" " * (width - used))
        if pending:
            segments.append(Segment("".join(pending), row_style))
        if used > width:
            return Strip(segments).crop(0, width)
        return Strip(segments, width)

    def _render_empty(self, width: int) -> Strip:
        assert self._styles is not None
        if not self._set.rows:
            message = "no rows"
        else:
            message = f"no rows match filter '{clean(self._filter_applied)}'"
        text = fit(" " * LEFT_PAD + message, width)
        style = self._styles["muted_row"]
        return Strip([Segment(text, style)]).adjust_cell_length(width, self._styles["base"])

    def _column_index(self, column_key: str) -> int:
        for index, column in enumerate(self._columns):
            if column.key == column_key:
                return index
        raise KeyError(column_key)

    def _after_view_change(self, *, keep_position: bool) -> None:
        """Place the cursor after the view changed, then repaint."""
        old_key = self._cursor_key
        position = self._set.position_of(old_key)
        if position is None:
            position = self._cursor if keep_position else 0
        self._cursor = max(0, min(position, len(self._set.view) - 1))
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
        self.virtual_size = Size(self.size.width, len(self._set.view) + 1)

    def _scroll_cursor_into_view(self) -> None:
        height = self.scrollable_content_region.height - 1
        if height <= 0:
            return
        top = self.scroll_offset.y
        if self._cursor < top:
            top = self._cursor
        elif self._cursor >= top + height:
            top = self._cursor - height + 1
        top = max(0, min(top, len(self._set.view) - height))
        if top != self.scroll_offset.y:
            self.scroll_to(y=top, animate=False, force=True)

    def _column_at(self, x: int) -> str | None:
        left = LEFT_PAD
        for index, column_width in self._layout:
            if left <= x < left + column_width:
                return self._columns[index].key
            left += column_width + GAP
        return None

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


def _constant_columns(columns: Sequence[Column], rows: Sequence[Row]) -> frozenset[int]:
    """Indices of the ``hide_when_constant`` columns holding one text in every row
    (two rows or more: a single row says nothing about the view)."""
    if len(rows) < 2:
        return frozenset()
    hidden = []
    for index, column in enumerate(columns):
        if not column.hide_when_constant:
            continue
        first = rows[0].cells[index] if index < len(rows[0].cells) else ""
        # stops at the first row that differs: cheap when the column varies
        if all((row.cells[index] if index < len(row.cells) else "") == first for row in rows):
            hidden.append(index)
    return frozenset(hidden)


def _pad(text: str, width: int, align: str) -> str:
    gap = width - cell_len(text)
    if gap <= 0:
        return text
    return " " * gap + text if align == "right" else text + " " * gap
