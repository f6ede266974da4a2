"""The filter language of the ``/`` prompt, parsed once per keystroke.

Syntax (every term must match; matching is a case-insensitive substring test):

* ``word`` matches a row when any cell contains ``word``;
* ``key:value`` matches when the column ``key`` contains ``value``. ``key`` is a
  column key or label, case-insensitively, or an unambiguous prefix of one
  (``stat:disc`` finds the ``status`` column). A key that names no column makes the
  whole token plain text, so ``10.0.0.1:443`` or ``https://x`` still work;
* ``!term`` negates a term (``!status:connected``, ``!prod``);
* double quotes group words: ``"web 01"``, ``name:"web 01"``. An unterminated quote
  runs to the end (the user is still typing).

Terms whose value is empty (``status:``, ``!``, ``""``) are dropped, so a
half-typed query never blanks the table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from btconsole.ui.table import Column, Row

__all__ = ["CompiledTerm", "Term", "compile_terms", "matcher", "parse", "resolve_key"]


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


@dataclass(frozen=True, slots=True)
class CompiledTerm:
    """A term bound to columns: ``column`` is an index, or None for any cell.

    ``needle`` is already lower-cased; ``text`` is the term as plain text, used when
    the key named no column.
    """

    column: int | None
    needle: str
    negate: bool


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    current: list[str] = []
    in_quote = False
    started = False
    for char in text:
        if char == '"':
            in_quote = not in_quote
            started = True
        elif char.isspace() and not in_quote:
            if started:
                tokens.append("".join(current))
            current = []
            started = False
        else:
            current.append(char)
            started = True
    if started:
        tokens.append("".join(current))
    return tokens


def parse(text: str) -> list[Term]:
    """Split a filter query into terms (see the module docstring for the syntax)."""
    terms: list[Term] = []
    for token in _tokens(text):
        negate = token.startswith("!")
        body = token[1:] if negate else token
        key: str | None = None
        value = body
        head, sep, tail = body.partition(":")
        if sep and head:
            key, value = head, tail
        if value:
            terms.append(Term(key=key, value=value, negate=negate))
    return terms


def resolve_key(key: str, columns: Sequence[_ColumnLike]) -> int | None:
    """Index of the column ``key`` names (exact key/label, else unique prefix), or None."""
    wanted = key.casefold()
    for index, column in enumerate(columns):
        if column.key.casefold() == wanted or column.label.casefold() == wanted:
            return index
    found = {
        index
        for index, column in enumerate(columns)
        if column.key.casefold().startswith(wanted) or column.label.casefold().startswith(wanted)
    }
    return found.pop() if len(found) == 1 else None


def compile_terms(terms: Sequence[Term], columns: Sequence[_ColumnLike]) -> list[CompiledTerm]:
    """Bind terms to column indexes; a key naming no column turns back into plain text."""
    compiled: list[CompiledTerm] = []
    for term in terms:
        if term.key is None:
            compiled.append(CompiledTerm(None, term.value.lower(), term.negate))
            continue
        index = resolve_key(term.key, columns)
        if index is None:
            plain = f"{term.key}:{term.value}"
            compiled.append(CompiledTerm(None, plain.lower(), term.negate))
        else:
            compiled.append(CompiledTerm(index, term.value.lower(), term.negate))
    return compiled


def matcher(terms: Sequence[Term], columns: Sequence[Column]) -> Callable[[Row], bool]:
    """A predicate that is True for rows matching every term.

    Cells are compared lower-cased, after :func:`btconsole.ui.textsafe.clean`, the
    text the table shows. (The table itself filters on a precomputed copy of the
    same strings; this function is the reference for one row.)
    """
    from btconsole.ui.textsafe import clean

    compiled = compile_terms(terms, columns)

    def match(row: Row) -> bool:
        cells = [clean(cell).lower() for cell in row.cells]
        joined = "\n".join(cells)
        for term in compiled:
            if term.column is None:
                found = term.needle in joined
            else:
                found = term.column < len(cells) and term.needle in cells[term.column]
            if found == term.negate:
                return False
        return True

    return match
