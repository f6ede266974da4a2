"""The filter language of the ``/`` prompt, parsed once per keystroke.

Terms are separated by spaces; a row must match every term. Text is compared
case-insensitively, as the table shows it (after :func:`btconsole.ui.textsafe.clean`).

=====================  ==================================================================
term                   keeps rows
=====================  ==================================================================
``word``               with ``word`` anywhere in the row (a substring of any cell)
``key:value``          where a word of column ``key`` starts with ``value``:
                       ``status:disc`` finds ``Disconnected``, ``name:web`` finds
                       ``prod-web-01``; ``status:connected`` does not find
                       ``Disconnected``, ``since:1d`` does not find ``91d``
``key:=value``         whose ``key`` cell is ``value``, whole (``status:=connected``)
``key>v`` ``key>=v``   whose ``key`` cell, read as a number or an age, compares so with
``key<v`` ``key<=v``   ``v``: ``noncomp>=10``, ``mtd>1000``, ``since>7d``, ``since<=2h``
``!term``              not matching ``term`` (any of the above)
``"a b"``              double quotes keep words together, and make ``:``, ``<``, ``>``
                       and a leading ``!`` plain text (``"https://x"``)
=====================  ==================================================================

A *word* starts at the beginning of a cell or after a character that is not a letter
or digit. ``key`` is a column key or header (spaces and dashes optional: ``non-comp``,
``noncomp``), case-insensitive, or an unambiguous start of one (``stat``). A comparison
reads a cell as a number (``1,234``, ``12.5%``, ``1,234 EUR``) when the bound is a
number, as an age (``45s``, ``12m``, ``3h``, ``14d``, also ``2w``, ``1y``, ``1d12h``)
when the bound is an age; a cell that is neither (``-``) never passes a comparison,
so ``!since>7d`` keeps rows with no age. Text is never compared by order.

Terms whose value is empty (``status:``, ``since>``, ``!``, ``""``) are dropped: a
half-typed query never blanks the table. A key naming no column, or a bound that is
neither a number nor an age, raises :class:`FilterError` with a one-line hint; the
table then keeps its last valid filter.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, cast

if TYPE_CHECKING:
    from btconsole.ui.table import Column, Row

__all__ = [
    "COMPARISONS",
    "CompiledTerm",
    "FilterError",
    "Term",
    "cell_value",
    "check_kinds",
    "compile_query",
    "compile_terms",
    "matcher",
    "parse",
    "query_value",
    "resolve_key",
    "word_pattern",
]

Op = Literal[":", ":=", ">", ">=", "<", "<="]
Kind = Literal["number", "age"]

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class FilterError(ValueError):
    """A query the table cannot apply; ``str()`` is a one-line hint for the user."""


class _ColumnLike(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Term:
    """One filter term: ``key`` is None for a plain (any-cell) term."""

    key: str | None
    value: str
    negate: bool = False
    op: Op = ":"


@dataclass(frozen=True, slots=True)
class CompiledTerm:
    """A term bound to columns: ``column`` is an index, or None for any cell.

    ``needle`` is the value lower-cased. ``op`` is ``":"`` (substring for a plain
    term, word start for a column), ``":="`` (whole cell) or a comparison, which
    compares the cell read as ``kind`` with ``bound``.
    """

    column: int | None
    needle: str
    negate: bool
    op: Op = ":"
    kind: Kind | None = None
    bound: float = 0.0


# --------------------------------------------------------------------------- values

_AGE_UNITS = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "mo": 30 * 86400,
    "y": 365 * 86400,
}
_AGE = re.compile(r"(?:\d+(?:\.\d+)?(?:mo|[smhdwy]))+")
_AGE_PART = re.compile(r"(\d+(?:\.\d+)?)(mo|[smhdwy])")
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+"
# a cell: a number, maybe a percent sign or a currency code after a space (money)
_NUMBER_CELL = re.compile(rf"({_NUMBER})(?:\s?%|\s[a-z]{{3}})?")
# a bound typed in the query: a number, maybe with a percent sign
_NUMBER_QUERY = re.compile(rf"({_NUMBER})%?")


def _age_seconds(text: str) -> float:
    return float(sum(float(n) * _AGE_UNITS[unit] for n, unit in _AGE_PART.findall(text)))


def cell_value(text: str) -> tuple[Kind, float] | None:
    """A lower-cased cell read as an age or a number, or None (``-``, words, ``3/1``)."""
    text = text.strip()
    if _AGE.fullmatch(text):
        return "age", _age_seconds(text)
    found = _NUMBER_CELL.fullmatch(text)
    if found:
        return "number", float(found.group(1).replace(",", ""))
    return None


def query_value(text: str) -> tuple[Kind, float] | None:
    """A comparison bound: ``7d`` (an age, in seconds), ``10``, ``1,000``, ``90%``."""
    text = text.strip().lower()
    if _AGE.fullmatch(text):
        return "age", _age_seconds(text)
    found = _NUMBER_QUERY.fullmatch(text)
    if found:
        return "number", float(found.group(1).replace(",", ""))
    return None


def word_pattern(needle: str) -> re.Pattern[str]:
    """``needle`` at the start of a word: not right after a letter or a digit."""
    return re.compile(r"(?<![^\W_])" + re.escape(needle))


# --------------------------------------------------------------------------- parsing

_KEY = re.compile(r"[A-Za-z](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")
_OPERATOR_CHARS = ":<>"

_Chars = list[tuple[str, bool]]  # each character, and whether it was inside quotes


def _tokens(text: str) -> list[_Chars]:
    tokens: list[_Chars] = []
    current: _Chars = []
    in_quote = False
    started = False
    for char in text:
        if char == '"':
            in_quote = not in_quote
            started = True
        elif char.isspace() and not in_quote:
            if started:
                tokens.append(current)
            current = []
            started = False
        else:
            current.append((char, in_quote))
            started = True
    if started:
        tokens.append(current)
    return tokens


def _text(chars: _Chars) -> str:
    return "".join(char for char, _ in chars)


def _term(chars: _Chars) -> Term:
    negate = bool(chars) and chars[0] == ("!", False)
    body = chars[1:] if negate else chars
    for index, (char, quoted) in enumerate(body):
        if quoted:
            break  # quoted before any operator: plain text
        if char in _OPERATOR_CHARS:
            head = _text(body[:index])
            if not _KEY.fullmatch(head):
                break  # "10.0.0.1:443", ":x", "a->b": plain text
            op = char
            rest = body[index + 1 :]
            if rest and rest[0] == ("=", False):
                op += "="
                rest = rest[1:]
            return Term(head, _text(rest), negate, cast("Op", op))
    return Term(None, _text(body), negate)


def parse(text: str) -> list[Term]:
    """Split a filter query into terms (see the module docstring for the syntax)."""
    terms = [_term(chars) for chars in _tokens(text)]
    return [term for term in terms if term.value]


# --------------------------------------------------------------------------- columns


def _squash(text: str) -> str:
    return "".join(char for char in text.casefold() if char.isalnum())


def _candidates(key: str, columns: Sequence[_ColumnLike]) -> list[int]:
    """Columns ``key`` may name: one exact match, else every key (then header) it starts."""
    wanted = key.casefold()
    squashed = _squash(key)
    for index, column in enumerate(columns):
        names = (column.key.casefold(), column.label.casefold())
        if wanted in names or squashed in (_squash(column.key), _squash(column.label)):
            return [index]
    if not squashed:
        return []
    by_key = [i for i, c in enumerate(columns) if _squash(c.key).startswith(squashed)]
    if by_key:
        return by_key
    return [i for i, c in enumerate(columns) if _squash(c.label).startswith(squashed)]


def resolve_key(key: str, columns: Sequence[_ColumnLike]) -> int | None:
    """Index of the column ``key`` names (exact key/header, else unique start), or None."""
    found = _candidates(key, columns)
    return found[0] if len(found) == 1 else None


def _column_index(term: Term, columns: Sequence[_ColumnLike]) -> int:
    assert term.key is not None
    found = _candidates(term.key, columns)
    if len(found) == 1:
        return found[0]
    text = f"{term.key}{term.op}{term.value}"
    if found:
        names = ", ".join(columns[i].key for i in found)
        raise FilterError(f"'{term.key}' could be {names}: type more of the column's name")
    names = " ".join(column.key for column in columns)
    raise FilterError(
        f"no column '{term.key}' (columns: {names}); quote it to search text: \"{text}\""
    )


def compile_terms(terms: Sequence[Term], columns: Sequence[_ColumnLike]) -> list[CompiledTerm]:
    """Bind terms to column indexes.

    Raises:
        FilterError: a key names no column (or several), or a comparison's bound is
            neither a number nor an age.
    """
    compiled: list[CompiledTerm] = []
    for term in terms:
        needle = term.value.lower()
        if term.key is None:
            compiled.append(CompiledTerm(None, needle, term.negate))
            continue
        index = _column_index(term, columns)
        if term.op in (":", ":="):
            compiled.append(CompiledTerm(index, needle, term.negate, term.op))
            continue
        value = query_value(term.value)
        if value is None:
            raise FilterError(
                f"{term.key}{term.op}{term.value}: compare with a number "
                f"({term.key}{term.op}10) or an age ({term.key}{term.op}7d)"
            )
        kind, bound = value
        compiled.append(CompiledTerm(index, needle, term.negate, term.op, kind, bound))
    return compiled


def compile_query(text: str, columns: Sequence[_ColumnLike]) -> list[CompiledTerm]:
    """``compile_terms(parse(text), columns)``; raises :class:`FilterError`."""
    return compile_terms(parse(text), columns)


def check_kinds(
    terms: Sequence[CompiledTerm],
    columns: Sequence[_ColumnLike],
    kinds_of: Callable[[int], Collection[str]],
) -> None:
    """Raise :class:`FilterError` for a comparison with a column that holds no value
    of its kind (``since>7`` where SINCE holds ages): never compared as text.

    ``kinds_of(column)`` gives the kinds (``"number"``, ``"age"``) the column's cells
    hold; an empty table holds every kind (nothing to judge by).
    """
    for term in terms:
        if term.kind is None or term.column is None:
            continue
        kinds = kinds_of(term.column)
        if term.kind in kinds:
            continue
        column = columns[term.column]
        written = f"{column.key}{term.op}"
        if "age" in kinds:
            count = f"{term.bound:g}" if term.kind == "number" and term.bound >= 0 else "7"
            raise FilterError(
                f"{column.label} holds ages: {written}{count}d, {written}{count}h "
                f"or {written}{count}m"
            )
        if "number" in kinds:
            raise FilterError(f"{column.label} holds numbers: {written}10")
        raise FilterError(f"{column.label} holds no numbers or ages to compare")


# --------------------------------------------------------------------------- reference


def term_matches(term: CompiledTerm, cells: Sequence[str], pattern: re.Pattern[str]) -> bool:
    """Whether lower-cased, cleaned ``cells`` match ``term`` (ignoring ``negate``).

    ``pattern`` is :func:`word_pattern` of the term's needle.
    """
    if term.column is None:
        return term.needle in "\n".join(cells)
    cell = cells[term.column] if term.column < len(cells) else ""
    if term.op == ":":
        return pattern.search(cell) is not None
    if term.op == ":=":
        return cell == term.needle
    value = cell_value(cell)
    return (
        value is not None and value[0] == term.kind and COMPARISONS[term.op](value[1], term.bound)
    )


def matcher(terms: Sequence[Term], columns: Sequence[Column]) -> Callable[[Row], bool]:
    """A predicate that is True for rows matching every term.

    Cells are compared lower-cased, after :func:`btconsole.ui.textsafe.clean`, the
    text the table shows. (The table itself filters on a precomputed copy of the
    same strings; this function is the reference for one row.)

    Raises:
        FilterError: as :func:`compile_terms`.
    """
    from btconsole.ui.textsafe import clean

    compiled = [(term, word_pattern(term.needle)) for term in compile_terms(terms, columns)]

    def match(row: Row) -> bool:
        cells = [clean(cell).lower() for cell in row.cells]
        return all(term_matches(term, cells, pattern) != term.negate for term, pattern in compiled)

    return match
