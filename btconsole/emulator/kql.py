"""The subset of Kusto Query Language (KQL) that Azure Resource Graph receives from btconsole.

Three stages, each usable on its own:

* a tokenizer (``_tokenize``) that turns the query text into tokens carrying 1-based line and
  0-based column numbers (what Resource Graph reports as ``line`` and
  ``characterPositionInLine``);
* a recursive-descent parser (:func:`parse`) that builds an immutable AST (:class:`Query`);
* a compiler (``_Compiler``) that turns the AST into Python closures once per query, so that
  evaluating a ``where`` over 100,000 rows is a list comprehension over plain function calls
  rather than a walk of the tree per row.

:func:`run_query` ties them together over in-memory tables (``{"resources": [row, ...]}``),
and :func:`error_body` renders a :class:`KqlError` as Resource Graph's HTTP 400 body.

The supported subset and its semantics (null handling, column naming, error codes) are
documented in ``docs/emulator-kql.md``.
"""

from __future__ import annotations

import fnmatch
import gc
import json
import math
import operator as _operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Union

__all__ = [
    "DEFAULT_TABLE",
    "KqlError",
    "Query",
    "error_body",
    "parse",
    "run_query",
]

Row = Mapping[str, Any]
Tables = Mapping[str, Sequence[Mapping[str, Any]]]
Fn = Callable[[Row], Any]
Stage = Callable[[list[Row], Tables], list[Row]]

DEFAULT_TABLE = "resources"
"""Resource Graph's default table, used when a query starts with an operator (``where ...``)."""

_EOF_TEXT = "<EOF>"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class KqlError(Exception):
    """A query Resource Graph would reject.

    ``code`` is the Resource Graph detail code: ``ParserFailure`` (syntax), ``UnknownFunction``,
    ``DisallowedLogicalTableName`` (unknown table), ``InvalidQueryLanguage`` (a Kusto operator
    this emulator does not implement) or ``SemanticError`` (emulator-specific: wrong number of
    arguments, aggregate outside ``summarize``, ...).
    """

    line: int
    column: int
    token: str
    message: str
    code: str
    expected: str | None

    def __init__(
        self,
        message: str,
        *,
        line: int = 1,
        column: int = 0,
        token: str = "",
        code: str = "ParserFailure",
        expected: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.token = token
        self.code = code
        self.expected = expected

    def __str__(self) -> str:
        return (
            f"{self.code}: {self.message} (line {self.line}, position {self.column}, "
            f"token {self.token!r})"
        )


_INVALID_QUERY_MESSAGE = (
    "Query is invalid. Please refer to the documentation for the Azure Resource Graph service "
    "and fix the error before retrying."
)


def error_body(err: KqlError, correlation_id: str) -> dict[str, Any]:
    """Resource Graph's HTTP 400 body for a rejected query."""
    now = datetime.now(timezone.utc)
    timestamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}0Z"
    detail: dict[str, Any]
    if err.code == "ParserFailure":
        detail = {
            "code": "ParserFailure",
            "message": "ParserFailure",
            "line": err.line,
            "characterPositionInLine": err.column,
            "token": err.token,
        }
        if err.expected is not None:
            detail["expectedToken"] = err.expected
    elif err.code == "InvalidQueryLanguage":
        # Resource Graph reports unsupported operators without a position.
        detail = {
            "code": "InvalidQueryLanguage",
            "message": "InvalidQueryLanguage",
            "line": -1,
            "characterPositionInLine": -1,
            "token": err.token,
        }
    else:
        detail = {"code": err.code, "message": err.message}
    return {
        "error": {
            "code": "BadRequest",
            "message": (
                "Please provide below info when asking for support: "
                f"timestamp = {timestamp}, correlationId = {correlation_id}."
            ),
            "details": [{"code": "InvalidQuery", "message": _INVALID_QUERY_MESSAGE}, detail],
        }
    }


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # ident | string | int | real | timespan | datetime | op | eof
    text: str  # the source text (for errors)
    value: Any
    line: int
    column: int
    offset: int

    @property
    def end(self) -> int:
        return self.offset + len(self.text)


_HYPHEN_KEYWORDS = frozenset(
    {"project-away", "project-rename", "project-keep", "project-reorder", "mv-expand", "mv-apply"}
)
_MULTI_OPS = ("==", "!=", "<>", "=~", "!~", "<=", ">=", "..")
_SINGLE_OPS = "|(),.[]{}=<>+-*/%:;!~"
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_IDENT_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_]*")
_TIMESPAN_UNITS: dict[str, float] = {
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 0.001,
    "milli": 0.001,
    "millis": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "microsecond": 0.000001,
    "microseconds": 0.000001,
    "tick": 0.0000001,
    "ticks": 0.0000001,
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


def _parse_datetime(text: str) -> datetime | None:
    """Parse an ISO-8601-ish date/time; naive values are UTC. None when unparsable."""
    s = text.strip()
    if not s:
        return None
    s = s.replace(" ", "T", 1) if "T" not in s and " " in s else s
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python < 3.11 accepts at most 6 fractional digits; ARG emits 7.
    s = re.sub(r"(\.\d{6})\d+", r"\1", s)
    try:
        value = datetime.fromisoformat(s)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _parse_timespan(text: str) -> timedelta | None:
    m = re.fullmatch(r"\s*(-?)(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", text)
    if m is not None:
        unit = _TIMESPAN_UNITS.get(m.group(3).lower())
        if unit is None:
            return None
        seconds = float(m.group(2)) * unit
        return timedelta(seconds=-seconds if m.group(1) else seconds)
    m = re.fullmatch(r"\s*(-?)(?:(\d+)\.)?(\d+):(\d+)(?::(\d+(?:\.\d+)?))?\s*", text)
    if m is not None:
        delta = timedelta(
            days=int(m.group(2) or 0),
            hours=int(m.group(3)),
            minutes=int(m.group(4)),
            seconds=float(m.group(5) or 0),
        )
        return -delta if m.group(1) else delta
    return None


def _tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    n = len(query)
    i = 0
    line = 1
    line_start = 0

    def error(at: int, text: str, message: str) -> KqlError:
        return KqlError(message, line=line, column=at - line_start, token=text)

    while i < n:
        c = query[i]
        if c == "\n":
            i += 1
            line += 1
            line_start = i
            continue
        if c.isspace():
            i += 1
            continue
        if query.startswith("//", i):
            while i < n and query[i] != "\n":
                i += 1
            continue
        start = i
        col = i - line_start

        # Strings: '...', "...", @'verbatim', h'obfuscated'.
        verbatim = c == "@" and i + 1 < n and query[i + 1] in "'\""
        obfuscated = c in "hH" and i + 1 < n and query[i + 1] in "'\""
        if c in "'\"" or verbatim or obfuscated:
            j = i + 1 if (verbatim or obfuscated) else i
            quote = query[j]
            j += 1
            chars: list[str] = []
            while True:
                if j >= n or query[j] == "\n":
                    raise error(start, query[start:j], "unterminated string literal")
                ch = query[j]
                if ch == quote:
                    if verbatim and j + 1 < n and query[j + 1] == quote:
                        chars.append(quote)
                        j += 2
                        continue
                    j += 1
                    break
                if ch == "\\" and not verbatim:
                    if j + 1 >= n:
                        raise error(start, query[start:], "unterminated string literal")
                    nxt = query[j + 1]
                    if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", query[j + 2 : j + 6]):
                        chars.append(chr(int(query[j + 2 : j + 6], 16)))
                        j += 6
                        continue
                    chars.append(_ESCAPES.get(nxt, nxt))
                    j += 2
                    continue
                chars.append(ch)
                j += 1
            tokens.append(Token("string", query[start:j], "".join(chars), line, col, start))
            i = j
            continue
        # Numbers and timespans (1d, 2.5h, 100ms).
        if c.isdigit() or (c == "." and i + 1 < n and query[i + 1].isdigit()):
            m = _NUMBER_RE.match(query, i) if c.isdigit() else re.compile(r"\.\d+").match(query, i)
            assert m is not None
            j = m.end()
            unit_match = re.compile(r"[A-Za-z]+").match(query, j)
            if unit_match is not None:
                j = unit_match.end()
                span = _parse_timespan(query[start:j])
                if span is None:
                    raise error(start, query[start:j], "invalid number or timespan literal")
                tokens.append(Token("timespan", query[start:j], span, line, col, start))
            elif "." in m.group() or "e" in m.group().lower():
                tokens.append(Token("real", query[start:j], float(m.group()), line, col, start))
            else:
                tokens.append(Token("int", query[start:j], int(m.group()), line, col, start))
            i = j
            continue
        # Identifiers and keywords (project-away, in~, datetime(...) literals).
        if c.isalpha() or c in "_$":
            m = _IDENT_RE.match(query, i)
            assert m is not None
            j = m.end()
            word = m.group()
            if j < n and query[j] == "-":
                m2 = _IDENT_RE.match(query, j + 1)
                if m2 is not None and f"{word}-{m2.group()}" in _HYPHEN_KEYWORDS:
                    j = m2.end()
                    word = query[start:j]
            if word == "in" and j < n and query[j] == "~":
                j += 1
                word = "in~"
            if word in ("datetime", "timespan"):
                k = j
                while k < n and query[k] in " \t":
                    k += 1
                if k < n and query[k] == "(":
                    close = query.find(")", k)
                    if close < 0:
                        raise error(start, query[start:], f"unterminated {word} literal")
                    raw = query[k + 1 : close].strip().strip("'\"")
                    literal: datetime | timedelta | None
                    if raw == "null":
                        literal = None
                    elif word == "datetime":
                        literal = _parse_datetime(raw)
                    else:
                        literal = _parse_timespan(raw)
                    if literal is None and raw != "null":
                        raise error(start, query[start : close + 1], f"invalid {word} literal")
                    kind = "datetime" if word == "datetime" else "timespan"
                    tokens.append(Token(kind, query[start : close + 1], literal, line, col, start))
                    i = close + 1
                    continue
            tokens.append(Token("ident", query[start:j], word, line, col, start))
            i = j
            continue
        # Negated word operators: !contains, !has, !in, !in~, !startswith, ...
        if c == "!" and i + 1 < n and query[i + 1].isalpha():
            m = _IDENT_RE.match(query, i + 1)
            assert m is not None
            j = m.end()
            if m.group() == "in" and j < n and query[j] == "~":
                j += 1
            tokens.append(Token("op", query[start:j], query[start:j], line, col, start))
            i = j
            continue
        two = query[i : i + 2]
        if two in _MULTI_OPS:
            tokens.append(Token("op", query[start : i + 2], two, line, col, start))
            i += 2
            continue
        if c in _SINGLE_OPS:
            tokens.append(Token("op", query[start : i + 1], c, line, col, start))
            i += 1
            continue
        raise error(start, c, f"unexpected character {c!r}")
    tokens.append(Token("eof", "", None, line, i - line_start, n))
    return tokens


# --------------------------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Column:
    name: str
    token: Token


@dataclass(frozen=True)
class Member:
    base: Expr
    key: str


@dataclass(frozen=True)
class Index:
    base: Expr
    index: Expr


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    token: Token


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    token: Token | None = None  # the operator token, for error positions


@dataclass(frozen=True)
class ListOp:
    """``x in (a, b)``, ``!in``, ``in~``, ``!in~``, ``has_any``, ``between``, ``!between``."""

    op: str
    left: Expr
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Negate:
    operand: Expr


Expr = Union[Literal, Column, Member, Index, Call, Binary, ListOp, Negate]
NamedExpr = tuple[Union[str, None], Expr]  # (explicit name or None, expression)


@dataclass(frozen=True)
class SortKey:
    expr: Expr
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Where:
    predicate: Expr


@dataclass(frozen=True)
class Project:
    items: tuple[NamedExpr, ...]


@dataclass(frozen=True)
class Extend:
    items: tuple[NamedExpr, ...]


@dataclass(frozen=True)
class ProjectAway:
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class ProjectRename:
    pairs: tuple[tuple[str, Column], ...]  # (new name, old column)


@dataclass(frozen=True)
class Sort:
    keys: tuple[SortKey, ...]


@dataclass(frozen=True)
class Take:
    count: int


@dataclass(frozen=True)
class Top:
    count: int
    keys: tuple[SortKey, ...]


@dataclass(frozen=True)
class Distinct:
    items: tuple[NamedExpr, ...] | None  # None: distinct *


@dataclass(frozen=True)
class Count:
    pass


@dataclass(frozen=True)
class Summarize:
    aggregates: tuple[tuple[Union[str, None], Call], ...]
    by: tuple[NamedExpr, ...]


@dataclass(frozen=True)
class MvExpand:
    items: tuple[NamedExpr, ...]
    kind: str  # bag | array
    index_column: str | None
    limit: int | None


@dataclass(frozen=True)
class Join:
    kind: str
    right: Query
    on: tuple[tuple[Column, Column], ...]  # (left column, right column)


Operator = Union[
    Where, Project, Extend, ProjectAway, ProjectRename, Sort, Take, Top, Distinct, Count,
    Summarize, MvExpand, Join,
]  # fmt: skip


@dataclass(frozen=True)
class Query:
    """A parsed query: a source table and the tabular operators applied to it in order."""

    table: str
    table_token: Token
    operators: tuple[Operator, ...]


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------

_TABULAR_OPERATORS = frozenset(
    {
        "where", "filter", "project", "extend", "project-away", "project-rename", "order",
        "sort", "take", "limit", "top", "distinct", "count", "summarize", "mv-expand", "join",
    }
)  # fmt: skip
_UNSUPPORTED_OPERATORS = frozenset(
    {
        "as", "consume", "evaluate", "facet", "find", "fork", "getschema", "invoke", "lookup",
        "make-series", "mv-apply", "parse", "parse-where", "partition", "print", "project-keep",
        "project-reorder", "range", "reduce", "render", "sample", "sample-distinct", "scan",
        "search", "serialize", "top-hitters", "top-nested", "union", "let",
    }
)  # fmt: skip
_COMPARISON_OPS = frozenset({"==", "!=", "<>", "<", "<=", ">", ">=", "=~", "!~"})
_STRING_OPS = frozenset(
    {
        f"{neg}{base}{cs}"
        for neg in ("", "!")
        for base in ("contains", "has", "startswith", "endswith", "hasprefix", "hassuffix")
        for cs in ("", "_cs")
    }
)
_LIST_OPS = frozenset({"in", "!in", "in~", "!in~", "has_any", "between", "!between"})
_TYPE_LITERALS = frozenset({"int", "long", "real", "double", "decimal", "bool", "boolean"})


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = _tokenize(query)
        self.pos = 0

    # -- token helpers -----------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def error(
        self, tok: Token | None = None, message: str = "", expected: str | None = None
    ) -> KqlError:
        tok = tok or self.tok
        text = _EOF_TEXT if tok.kind == "eof" else tok.text
        return KqlError(
            message or f"unexpected token {text!r}",
            line=tok.line,
            column=tok.column,
            token=text,
            expected=expected,
        )

    def is_op(self, text: str, tok: Token | None = None) -> bool:
        tok = tok or self.tok
        return tok.kind == "op" and tok.text == text

    def is_word(self, text: str, tok: Token | None = None) -> bool:
        tok = tok or self.tok
        return tok.kind == "ident" and tok.value == text

    def expect_op(self, text: str) -> Token:
        if not self.is_op(text):
            raise self.error(message=f"expected {text!r}", expected=text)
        return self.advance()

    def expect_word(self, text: str) -> Token:
        if not self.is_word(text):
            raise self.error(message=f"expected {text!r}", expected=text)
        return self.advance()

    def ident(self, what: str = "a name") -> str:
        tok = self.tok
        if tok.kind == "ident":
            self.advance()
            return str(tok.value)
        if tok.kind == "op" and tok.text == "[":  # ['column name']
            self.advance()
            if self.tok.kind != "string":
                raise self.error()
            name = str(self.advance().value)
            self.expect_op("]")
            return name
        raise self.error(message=f"expected {what}")

    def integer(self) -> int:
        if self.tok.kind != "int":
            raise self.error(message="expected an integer literal")
        return int(self.advance().value)

    # -- query structure ---------------------------------------------------------------------

    def parse_query(self) -> Query:
        query = self.parse_tabular()
        if self.tok.kind != "eof":
            raise self.error()
        return query

    def parse_tabular(self) -> Query:
        """``table | op | op ...`` or, as Resource Graph allows, ``op | op ...`` on resources."""
        tok = self.tok
        operators: list[Operator] = []
        if tok.kind == "ident" and (
            tok.value in _TABULAR_OPERATORS or tok.value in _UNSUPPORTED_OPERATORS
        ):
            table = DEFAULT_TABLE
            operators.append(self.parse_operator())
        elif tok.kind == "ident":
            table = str(self.advance().value)
        else:
            raise self.error()
        while self.is_op("|"):
            self.advance()
            operators.append(self.parse_operator())
        return Query(table=table, table_token=tok, operators=tuple(operators))

    def parse_operator(self) -> Operator:
        tok = self.tok
        if tok.kind != "ident":
            raise self.error()
        word = str(tok.value)
        if word in _UNSUPPORTED_OPERATORS:
            raise KqlError(
                f"operator {word!r} is not supported by the emulator",
                line=tok.line,
                column=tok.column,
                token=word,
                code="InvalidQueryLanguage",
            )
        if word not in _TABULAR_OPERATORS:
            raise self.error()
        self.advance()
        if word in ("where", "filter"):
            return Where(self.parse_expr())
        if word == "project":
            return Project(self.parse_named_list())
        if word == "extend":
            return Extend(self.parse_named_list())
        if word == "project-away":
            return ProjectAway(self.parse_patterns())
        if word == "project-rename":
            pairs: list[tuple[str, Column]] = []
            while True:
                new = self.ident("a column name")
                self.expect_op("=")
                pairs.append((new, self.column()))
                if not self.is_op(","):
                    break
                self.advance()
            return ProjectRename(tuple(pairs))
        if word in ("order", "sort"):
            self.expect_word("by")
            return Sort(self.parse_sort_keys())
        if word in ("take", "limit"):
            return Take(self.integer())
        if word == "top":
            count = self.integer()
            self.expect_word("by")
            return Top(count, self.parse_sort_keys())
        if word == "distinct":
            if self.is_op("*"):
                self.advance()
                return Distinct(None)
            return Distinct(self.parse_named_list())
        if word == "count":
            return Count()
        if word == "summarize":
            return self.parse_summarize()
        if word == "mv-expand":
            return self.parse_mv_expand()
        return self.parse_join()

    def parse_named_list(self) -> tuple[NamedExpr, ...]:
        items: list[NamedExpr] = []
        while True:
            items.append(self.parse_named())
            if not self.is_op(","):
                return tuple(items)
            self.advance()

    def parse_named(self) -> NamedExpr:
        if self.tok.kind == "ident" and self.is_op("=", self.peek()):
            name = str(self.advance().value)
            self.advance()
            return (name, self.parse_expr())
        return (None, self.parse_expr())

    def parse_patterns(self) -> tuple[str, ...]:
        patterns: list[str] = []
        while True:
            first = self.tok
            if not (first.kind == "ident" or self.is_op("*")):
                raise self.error(message="expected a column name")
            text = self.advance().text
            end = first.end
            while (self.tok.kind == "ident" or self.is_op("*")) and self.tok.offset == end:
                end = self.tok.end
                text += self.advance().text
            patterns.append(text)
            if not self.is_op(","):
                return tuple(patterns)
            self.advance()

    def parse_sort_keys(self) -> tuple[SortKey, ...]:
        keys: list[SortKey] = []
        while True:
            expr = self.parse_expr()
            descending = True  # KQL's default order is descending
            if self.is_word("asc") or self.is_word("desc"):
                descending = self.advance().value == "desc"
            nulls_first = not descending  # KQL's default: nulls first asc, last desc
            if self.is_word("nulls"):
                self.advance()
                if self.is_word("first") or self.is_word("last"):
                    nulls_first = self.advance().value == "first"
                else:
                    raise self.error(message="expected 'first' or 'last'", expected="first")
            keys.append(SortKey(expr, descending, nulls_first))
            if not self.is_op(","):
                return tuple(keys)
            self.advance()

    def parse_summarize(self) -> Summarize:
        aggregates: list[tuple[str | None, Call]] = []
        if not self.is_word("by"):
            while True:
                name: str | None = None
                if self.tok.kind == "ident" and self.is_op("=", self.peek()):
                    name = str(self.advance().value)
                    self.advance()
                tok = self.tok
                expr = self.parse_expr()
                if not (isinstance(expr, Call) and expr.name in _AGGREGATES):
                    raise KqlError(
                        "summarize expects an aggregation function such as count()",
                        line=tok.line,
                        column=tok.column,
                        token=tok.text or _EOF_TEXT,
                        code="SemanticError",
                    )
                aggregates.append((name, expr))
                if not self.is_op(","):
                    break
                self.advance()
        by: tuple[NamedExpr, ...] = ()
        if self.is_word("by"):
            self.advance()
            by = self.parse_named_list()
        if not aggregates and not by:
            raise self.error()
        return Summarize(tuple(aggregates), by)

    def parse_mv_expand(self) -> MvExpand:
        kind = "bag"
        index_column: str | None = None
        while self.tok.kind == "ident" and self.is_op("=", self.peek()):
            if self.is_word("kind") or self.is_word("bagexpansion"):
                self.advance()
                self.advance()
                kind = self.ident("bag or array")
                if kind not in ("bag", "array"):
                    raise self.error(self.tokens[self.pos - 1])
            elif self.is_word("with_itemindex"):
                self.advance()
                self.advance()
                index_column = self.ident("a column name")
            else:
                break
        items: list[NamedExpr] = []
        while True:
            items.append(self.parse_named())
            if self.is_word("to"):  # to typeof(T): accepted, values stay dynamic
                self.advance()
                self.expect_word("typeof")
                self.expect_op("(")
                self.ident("a type name")
                self.expect_op(")")
            if not self.is_op(","):
                break
            self.advance()
        limit: int | None = None
        if self.is_word("limit"):
            self.advance()
            limit = self.integer()
        return MvExpand(tuple(items), kind, index_column, limit)

    def parse_join(self) -> Join:
        kind = "innerunique"
        while self.tok.kind == "ident" and self.is_op("=", self.peek()):
            option = str(self.advance().value)
            self.advance()
            value_tok = self.tok
            value = self.ident("a join option value")
            if option == "kind":
                if value not in _JOIN_KINDS:
                    raise self.error(value_tok)
                kind = value
            elif not option.startswith("hint."):
                raise self.error(value_tok)
        self.expect_op("(")
        right = self.parse_tabular()
        self.expect_op(")")
        self.expect_word("on")
        on: list[tuple[Column, Column]] = []
        while True:
            if self.is_word("$left") or self.is_word("$right"):
                first = self.parse_side()
                self.expect_op("==")
                second = self.parse_side()
                if first[0] == second[0]:
                    raise self.error(self.tokens[self.pos - 1])
                if first[0] == "$left":
                    on.append((first[1], second[1]))
                else:
                    on.append((second[1], first[1]))
            else:
                column = self.column()
                on.append((column, column))
            if self.is_op(",") or self.is_word("and"):
                self.advance()
                continue
            return Join(kind, right, tuple(on))

    def parse_side(self) -> tuple[str, Column]:
        side = str(self.advance().value)
        self.expect_op(".")
        return side, self.column()

    def column(self) -> Column:
        tok = self.tok
        return Column(self.ident("a column name"), tok)

    # -- expressions -------------------------------------------------------------------------

    def parse_expr(self) -> Expr:
        return self.parse_or()

    def parse_or(self) -> Expr:
        left = self.parse_and()
        while self.is_word("or"):
            self.advance()
            left = Binary("or", left, self.parse_and())
        return left

    def parse_and(self) -> Expr:
        left = self.parse_comparison()
        while self.is_word("and"):
            self.advance()
            left = Binary("and", left, self.parse_comparison())
        return left

    def parse_comparison(self) -> Expr:
        left = self.parse_additive()
        tok = self.tok
        if tok.kind == "op" and tok.text in _COMPARISON_OPS:
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Binary(op, left, self.parse_additive(), tok)
        word = tok.text if tok.kind in ("ident", "op") else ""
        if word in _STRING_OPS:
            self.advance()
            return Binary(word, left, self.parse_additive(), tok)
        if word in ("matches", "!matches"):
            self.advance()
            self.expect_word("regex")
            return Binary(f"{word} regex", left, self.parse_additive(), tok)
        if word in _LIST_OPS:
            self.advance()
            self.expect_op("(")
            if word in ("between", "!between"):
                low = self.parse_additive()
                self.expect_op("..")
                high = self.parse_additive()
                self.expect_op(")")
                return ListOp(word, left, (low, high))
            items: list[Expr] = []
            if not self.is_op(")"):
                while True:
                    items.append(self.parse_expr())
                    if not self.is_op(","):
                        break
                    self.advance()
            self.expect_op(")")
            return ListOp(word, left, tuple(items))
        return left

    def parse_additive(self) -> Expr:
        left = self.parse_multiplicative()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.advance().text
            left = Binary(op, left, self.parse_multiplicative())
        return left

    def parse_multiplicative(self) -> Expr:
        left = self.parse_unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/", "%"):
            op = self.advance().text
            left = Binary(op, left, self.parse_unary())
        return left

    def parse_unary(self) -> Expr:
        if self.is_op("-"):
            self.advance()
            operand = self.parse_unary()
            if isinstance(operand, Literal) and isinstance(operand.value, (int, float, timedelta)):
                return Literal(-operand.value)
            return Negate(operand)
        if self.is_op("+"):
            self.advance()
            return self.parse_unary()
        return self.parse_postfix()

    def parse_postfix(self) -> Expr:
        expr = self.parse_primary()
        while True:
            if self.is_op("."):
                self.advance()
                tok = self.tok
                if tok.kind != "ident":
                    raise self.error(message="expected a member name")
                self.advance()
                expr = Member(expr, str(tok.value))
            elif self.is_op("["):
                self.advance()
                index = self.parse_expr()
                self.expect_op("]")
                if isinstance(index, Literal) and isinstance(index.value, str):
                    expr = Member(expr, index.value)
                else:
                    expr = Index(expr, index)
            else:
                return expr

    def parse_primary(self) -> Expr:
        tok = self.tok
        if tok.kind in ("string", "int", "real", "timespan", "datetime"):
            self.advance()
            return Literal(tok.value)
        if self.is_op("("):
            self.advance()
            expr = self.parse_expr()
            self.expect_op(")")
            return expr
        if self.is_op("["):  # ['column name']
            return Column(self.ident(), tok)
        if tok.kind != "ident":
            raise self.error()
        word = str(tok.value)
        if word in ("true", "false", "True", "False", "TRUE", "FALSE"):
            self.advance()
            return Literal(word.lower() == "true")
        if self.is_op("(", self.peek()):
            if word == "dynamic":
                self.advance()
                self.advance()
                value = self.parse_dynamic_value()
                self.expect_op(")")
                return Literal(value)
            if word in _TYPE_LITERALS:
                self.advance()
                self.advance()
                value = self.parse_dynamic_value()
                self.expect_op(")")
                return Literal(_convert_type_literal(word, value))
            return self.parse_call()
        self.advance()
        return Column(word, tok)

    def parse_call(self) -> Call:
        tok = self.advance()
        name = str(tok.value)
        if name not in _SCALARS and name not in _AGGREGATES:
            raise KqlError(
                f"Unknown function: '{name}'.",
                line=tok.line,
                column=tok.column,
                token=name,
                code="UnknownFunction",
            )
        self.expect_op("(")
        args: list[Expr] = []
        if not self.is_op(")"):
            while True:
                args.append(self.parse_expr())
                if not self.is_op(","):
                    break
                self.advance()
        self.expect_op(")")
        return Call(name, tuple(args), tok)

    def parse_dynamic_value(self) -> Any:
        """JSON-like literal inside ``dynamic(...)``: arrays, bags, strings, numbers, null."""
        tok = self.tok
        if self.is_op("["):
            self.advance()
            items: list[Any] = []
            if not self.is_op("]"):
                while True:
                    items.append(self.parse_dynamic_value())
                    if not self.is_op(","):
                        break
                    self.advance()
            self.expect_op("]")
            return items
        if self.is_op("{"):
            self.advance()
            bag: dict[str, Any] = {}
            if not self.is_op("}"):
                while True:
                    if self.tok.kind not in ("string", "ident"):
                        raise self.error(message="expected a property name")
                    key = str(self.advance().value)
                    self.expect_op(":")
                    bag[key] = self.parse_dynamic_value()
                    if not self.is_op(","):
                        break
                    self.advance()
            self.expect_op("}")
            return bag
        if self.is_op("-") and self.peek().kind in ("int", "real"):
            self.advance()
            return -self.advance().value
        if tok.kind in ("string", "int", "real", "datetime", "timespan"):
            self.advance()
            return tok.value
        if tok.kind == "ident" and tok.value in ("true", "false", "null"):
            self.advance()
            return {"true": True, "false": False, "null": None}[str(tok.value)]
        raise self.error()


def _convert_type_literal(word: str, value: Any) -> Any:
    if value is None:
        return None
    if word in ("int", "long"):
        return _to_int(value)
    if word in ("bool", "boolean"):
        return _to_bool(value)
    return _to_float(value)


def parse(query: str) -> Query:
    """Parse a query into its AST. Raises :class:`KqlError` (ParserFailure, UnknownFunction)."""
    return _Parser(query).parse_query()


# --------------------------------------------------------------------------------------------
# Value semantics
# --------------------------------------------------------------------------------------------


def _format_datetime(value: datetime) -> str:
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def _format_timespan(value: timedelta) -> str:
    total = value.total_seconds()
    sign = "-" if total < 0 else ""
    micro = round(abs(total) * 1_000_000)
    days, micro = divmod(micro, 86_400_000_000)
    hours, micro = divmod(micro, 3_600_000_000)
    minutes, micro = divmod(micro, 60_000_000)
    seconds, micro = divmod(micro, 1_000_000)
    text = f"{sign}{days}." if days else sign
    text += f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{micro:06d}0" if micro else "")


def _to_str(value: Any) -> str:
    """KQL tostring(): null is the empty string, dynamic values are compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, timedelta):
        return _format_timespan(value)
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _to_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value.strip())
            except ValueError:
                return None
            return int(number) if math.isfinite(number) else None
    return None


def _to_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    return None


def _to_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return _parse_datetime(value)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coerce_pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Let datetimes compare with ISO strings stored in rows."""
    if isinstance(a, datetime) and isinstance(b, str):
        return a, _parse_datetime(b)
    if isinstance(b, datetime) and isinstance(a, str):
        return _parse_datetime(a), b
    return a, b


def _hashable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, datetime, timedelta)):
        return value
    return ("\0dynamic", json.dumps(value, sort_keys=True, default=str))


def _sort_key(value: Any) -> tuple[int, Any]:
    """A total order across types: numbers, strings, datetimes, timespans, then dynamic."""
    if isinstance(value, (bool, int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, datetime):
        return (2, value.timestamp())
    if isinstance(value, timedelta):
        return (3, value.total_seconds())
    return (4, json.dumps(value, sort_keys=True, default=str))


_MISSING = object()


def _get_member(obj: Any, key: str) -> Any:
    """``obj.key``: exact match first, then ARM's case-insensitive fallback; else null."""
    if type(obj) is dict:  # fast path: rows are plain dicts
        value = obj.get(key, _MISSING)
        if value is not _MISSING:
            return value
    if isinstance(obj, Mapping):
        if key in obj:
            return obj[key]
        lowered = key.lower()
        for name, value in obj.items():
            if isinstance(name, str) and name.lower() == lowered:
                return value
        return None
    return None


def _get_index(obj: Any, index: Any) -> Any:
    if isinstance(index, str):
        return _get_member(obj, index)
    if (
        isinstance(obj, list)
        and isinstance(index, int)
        and not isinstance(index, bool)
        and -len(obj) <= index < len(obj)
    ):
        return obj[index]
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, timedelta):
        return _format_timespan(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


# -- string predicates ------------------------------------------------------------------------


def _has_pattern(needle: str, flags: int) -> re.Pattern[str]:
    """KQL ``has``: the needle must match whole terms (bounded by non-alphanumerics)."""
    head = r"(?<![0-9A-Za-z])" if needle[:1].isalnum() else ""
    tail = r"(?![0-9A-Za-z])" if needle[-1:].isalnum() else ""
    return re.compile(head + re.escape(needle) + tail, flags)


@lru_cache(maxsize=1024)
def _string_test(base: str, case_sensitive: bool, needle: str) -> Callable[[str], bool]:
    if base == "has":
        if not needle:
            return lambda hay: True
        pattern = _has_pattern(needle, 0 if case_sensitive else re.IGNORECASE)
        return lambda hay: pattern.search(hay) is not None
    if base == "hasprefix":
        pattern = re.compile(
            (r"(?<![0-9A-Za-z])" if needle[:1].isalnum() else "") + re.escape(needle),
            0 if case_sensitive else re.IGNORECASE,
        )
        return lambda hay: pattern.search(hay) is not None
    if base == "hassuffix":
        pattern = re.compile(
            re.escape(needle) + (r"(?![0-9A-Za-z])" if needle[-1:].isalnum() else ""),
            0 if case_sensitive else re.IGNORECASE,
        )
        return lambda hay: pattern.search(hay) is not None
    if case_sensitive:
        if base == "contains":
            return lambda hay: needle in hay
        if base == "startswith":
            return lambda hay: hay.startswith(needle)
        return lambda hay: hay.endswith(needle)
    low = needle.lower()
    if base == "contains":
        return lambda hay: low in hay.lower()
    if base == "startswith":
        return lambda hay: hay.lower().startswith(low)
    return lambda hay: hay.lower().endswith(low)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


# -- arithmetic -------------------------------------------------------------------------------


def _arithmetic_operand(value: Any) -> bool:
    return isinstance(value, (int, float, datetime, timedelta)) and not isinstance(value, bool)


def _arith(op: str, a: Any, b: Any) -> Any:
    """KQL arithmetic on numbers, datetimes and timespans; anything else (or null) is null."""
    if not (_arithmetic_operand(a) and _arithmetic_operand(b)):
        return None
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if isinstance(a, int) and isinstance(b, int):
            if b == 0:
                return None
            # long / long and long % long truncate toward zero, as in C#.
            quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
            return quotient if op == "/" else a - quotient * b
        if op == "/":
            return a / b
        return math.fmod(a, b)
    except (TypeError, ZeroDivisionError, OverflowError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# Scalar functions
# --------------------------------------------------------------------------------------------

Builder = Callable[[list[Fn]], Fn]


_UNARY_IMPLS: dict[Builder, Callable[[Any], Any]] = {}


def _unary(impl: Callable[[Any], Any]) -> Builder:
    def build(args: list[Fn]) -> Fn:
        arg = args[0]
        return lambda row: impl(arg(row))

    _UNARY_IMPLS[build] = impl  # lets the compiler fuse chains like tolower(tostring(x))
    return build


def _build_iff(args: list[Fn]) -> Fn:
    cond, then, other = args
    return lambda row: then(row) if cond(row) is True else other(row)


def _build_case(args: list[Fn]) -> Fn:
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
    default = args[-1]

    def case(row: Row) -> Any:
        for cond, value in pairs:
            if cond(row) is True:
                return value(row)
        return default(row)

    return case


def _build_coalesce(args: list[Fn]) -> Fn:
    def coalesce(row: Row) -> Any:
        for arg in args:
            value = arg(row)
            if value is not None and value != "":
                return value
        return None

    return coalesce


def _build_strcat(args: list[Fn]) -> Fn:
    return lambda row: "".join(_to_str(arg(row)) for arg in args)


def _split(text: Any, delimiter: Any, index: Any = None) -> Any:
    parts = _to_str(text).split(_to_str(delimiter)) if _to_str(delimiter) else [_to_str(text)]
    if index is None:
        return parts
    i = _to_int(index)
    if i is None or not -len(parts) <= i < len(parts):
        return []
    return [parts[i]]


def _build_split(args: list[Fn]) -> Fn:
    if len(args) == 2:
        text, delimiter = args
        return lambda row: _split(text(row), delimiter(row))
    text, delimiter, index = args
    return lambda row: _split(text(row), delimiter(row), index(row))


def _substring(text: Any, start: Any, length: Any = None) -> str:
    s = _to_str(text)
    begin = max(_to_int(start) or 0, 0)
    if length is None:
        return s[begin:]
    count = _to_int(length)
    return s[begin:] if count is None else s[begin : begin + max(count, 0)]


def _build_substring(args: list[Fn]) -> Fn:
    if len(args) == 2:
        text, start = args
        return lambda row: _substring(text(row), start(row))
    text, start, length = args
    return lambda row: _substring(text(row), start(row), length(row))


def _build_indexof(args: list[Fn]) -> Fn:
    text, lookup = args[0], args[1]
    return lambda row: _to_str(text(row)).find(_to_str(lookup(row)))


def _build_replace_string(args: list[Fn]) -> Fn:
    text, old, new = args
    return lambda row: _to_str(text(row)).replace(_to_str(old(row)), _to_str(new(row)))


def _build_now(args: list[Fn]) -> Fn:
    return lambda row: datetime.now(timezone.utc)


def _ago(span: Any) -> datetime | None:
    return datetime.now(timezone.utc) - span if isinstance(span, timedelta) else None


def _parse_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _build_pack_array(args: list[Fn]) -> Fn:
    return lambda row: [arg(row) for arg in args]


def _build_bag_pack(args: list[Fn]) -> Fn:
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
    return lambda row: {_to_str(k(row)): v(row) for k, v in pairs}


def _build_set_has_element(args: list[Fn]) -> Fn:
    array, item = args

    def has(row: Row) -> Any:
        values = array(row)
        return item(row) in values if isinstance(values, list) else None

    return has


def _build_strcat_array(args: list[Fn]) -> Fn:
    array, delimiter = args

    def join(row: Row) -> Any:
        values = array(row)
        if not isinstance(values, list):
            return None
        return _to_str(delimiter(row)).join(_to_str(v) for v in values)

    return join


def _round(value: Any, digits: Any = 0) -> Any:
    number = _to_float(value) if not _is_number(value) else value
    places = _to_int(digits) or 0
    if number is None:
        return None
    return round(float(number), places)


def _build_round(args: list[Fn]) -> Fn:
    if len(args) == 1:
        (value,) = args
        return lambda row: _round(value(row))
    value, digits = args
    return lambda row: _round(value(row), digits(row))


def _not(value: Any) -> Any:
    return (not value) if isinstance(value, bool) else None


# name -> (min args, max args, builder)
_SCALARS: dict[str, tuple[int, int, Builder]] = {
    "isnull": (1, 1, _unary(lambda v: v is None)),
    "isnotnull": (1, 1, _unary(lambda v: v is not None)),
    "isempty": (1, 1, _unary(lambda v: v is None or v == "")),
    "isnotempty": (1, 1, _unary(lambda v: v is not None and v != "")),
    "tostring": (1, 1, _unary(_to_str)),
    "toint": (1, 1, _unary(_to_int)),
    "tolong": (1, 1, _unary(_to_int)),
    "todouble": (1, 1, _unary(_to_float)),
    "toreal": (1, 1, _unary(_to_float)),
    "todecimal": (1, 1, _unary(_to_float)),
    "tobool": (1, 1, _unary(_to_bool)),
    "toboolean": (1, 1, _unary(_to_bool)),
    "todatetime": (1, 1, _unary(_to_datetime)),
    "todynamic": (1, 1, _unary(_parse_json)),
    "parse_json": (1, 1, _unary(_parse_json)),
    "tolower": (1, 1, _unary(lambda v: _to_str(v).lower())),
    "toupper": (1, 1, _unary(lambda v: _to_str(v).upper())),
    "strlen": (1, 1, _unary(lambda v: len(_to_str(v)))),
    "array_length": (1, 1, _unary(lambda v: len(v) if isinstance(v, list) else None)),
    "bag_keys": (1, 1, _unary(lambda v: list(v) if isinstance(v, Mapping) else None)),
    "not": (1, 1, _unary(_not)),
    "abs": (1, 1, _unary(lambda v: abs(v) if _is_number(v) else None)),
    "ago": (1, 1, _unary(_ago)),
    "now": (0, 0, _build_now),
    "iff": (3, 3, _build_iff),
    "iif": (3, 3, _build_iff),
    "case": (3, 999, _build_case),
    "coalesce": (2, 64, _build_coalesce),
    "strcat": (1, 64, _build_strcat),
    "split": (2, 3, _build_split),
    "substring": (2, 3, _build_substring),
    "indexof": (2, 2, _build_indexof),
    "replace_string": (3, 3, _build_replace_string),
    "pack_array": (1, 64, _build_pack_array),
    "bag_pack": (2, 128, _build_bag_pack),
    "pack": (2, 128, _build_bag_pack),
    "set_has_element": (2, 2, _build_set_has_element),
    "strcat_array": (2, 2, _build_strcat_array),
    "round": (1, 2, _build_round),
}

# Conversions whose output column keeps the name of their argument (Kusto's name inference).
_NAME_TRANSPARENT = frozenset(
    {
        "tostring", "toint", "tolong", "todouble", "toreal", "todecimal", "tobool",
        "toboolean", "todatetime", "todynamic", "parse_json",
    }
)  # fmt: skip

# name -> (min args, max args, output column prefix)
_AGGREGATES: dict[str, tuple[int, int, str]] = {
    "count": (0, 0, "count"),
    "countif": (1, 1, "countif"),
    "sum": (1, 1, "sum"),
    "sumif": (2, 2, "sumif"),
    "min": (1, 1, "min"),
    "max": (1, 1, "max"),
    "avg": (1, 1, "avg"),
    "dcount": (1, 2, "dcount"),
    "make_list": (1, 2, "list"),
    "make_set": (1, 2, "set"),
    "take_any": (1, 1, "any"),
    "any": (1, 1, "any"),
}

_JOIN_KINDS = frozenset(
    {"inner", "innerunique", "leftouter", "leftsemi", "leftanti", "anti", "leftantisemi"}
)


# --------------------------------------------------------------------------------------------
# Compiler: AST -> closures
# --------------------------------------------------------------------------------------------


def _infer_name(expr: Expr) -> str | None:
    """Kusto's column-name inference: ``properties.a.b`` -> ``properties_a_b``."""
    if isinstance(expr, Column):
        return expr.name
    if isinstance(expr, Member):
        base = _infer_name(expr.base)
        return f"{base}_{expr.key}" if base else None
    if isinstance(expr, Index):
        base = _infer_name(expr.base)
        if base and isinstance(expr.index, Literal) and isinstance(expr.index.value, int):
            return f"{base}_{expr.index.value}"
        return None
    if isinstance(expr, Call) and expr.name in _NAME_TRANSPARENT and expr.args:
        return _infer_name(expr.args[0])
    return None


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    suffix = 1
    while f"{name}{suffix}" in taken:
        suffix += 1
    return f"{name}{suffix}"


def _semantic_error(message: str, tok: Token) -> KqlError:
    return KqlError(
        message,
        line=tok.line,
        column=tok.column,
        token=tok.text or _EOF_TEXT,
        code="SemanticError",
    )


def _columns_of(rows: list[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in seen:
                seen[key] = None
    return list(seen)


def _output_names(items: Sequence[NamedExpr], taken: set[str], *, unique: bool = True) -> list[str]:
    """Output column names of ``name = expr`` items, inferring the missing ones (Kusto rules)."""
    names: list[str] = []
    counter = 0
    for name, expr in items:
        if name is None:
            name = _infer_name(expr)
            if name is None:
                counter += 1
                name = f"Column{counter}"
            if unique:
                name = _unique(name, taken)
        taken.add(name)
        names.append(name)
    return names


def _aggregate_names(op: Summarize, taken: set[str]) -> list[str]:
    """``count()`` -> ``count_``, ``sum(x)`` -> ``sum_x``, ``make_set(x)`` -> ``set_x``, ..."""
    names: list[str] = []
    for name, call in op.aggregates:
        if name is None:
            inferred = None
            if call.args and call.name != "countif":
                inferred = _infer_name(call.args[0])
            name = _unique(f"{_AGGREGATES[call.name][2]}_{inferred or ''}", taken)
        taken.add(name)
        names.append(name)
    return names


class _Compiler:
    def __init__(self) -> None:
        # Whether the query can produce datetime/timespan values, which run_query must render
        # as strings; when it cannot, the output rows are plain copies.
        self.temporal = False

    # -- expressions -------------------------------------------------------------------------

    def expr(self, e: Expr) -> Fn:
        if isinstance(e, Literal):
            value = e.value
            if isinstance(value, (datetime, timedelta, list, dict)):
                self.temporal = True
            return lambda row: value
        if isinstance(e, Column):
            name = e.name
            return lambda row: row.get(name)
        if isinstance(e, Member):
            return self.member(e)
        if isinstance(e, Index):
            base, index = self.expr(e.base), self.expr(e.index)
            return lambda row: _get_index(base(row), index(row))
        if isinstance(e, Call):
            return self.call(e)
        if isinstance(e, Negate):
            operand = self.expr(e.operand)
            return lambda row: _arith("-", 0, operand(row))
        if isinstance(e, ListOp):
            return self.list_op(e)
        return self.binary(e)

    def member(self, e: Member) -> Fn:
        # Flatten a.b.c into one closure walking a path: the common case in ARM rows.
        path: list[str] = []
        node: Expr = e
        while isinstance(node, Member):
            path.append(node.key)
            node = node.base
        path.reverse()
        if isinstance(node, Column):
            column = node.name

            def walk_column(row: Row) -> Any:
                value = row.get(column)
                for key in path:
                    if type(value) is dict:
                        found = value.get(key, _MISSING)
                        value = _get_member(value, key) if found is _MISSING else found
                    elif value is None:
                        return None
                    else:
                        value = _get_member(value, key)
                return value

            return walk_column
        base = self.expr(node)

        def walk(row: Row) -> Any:
            value = base(row)
            for key in path:
                if value is None:
                    return None
                value = _get_member(value, key)
            return value

        return walk

    def call(self, e: Call) -> Fn:
        if e.name in ("now", "ago", "todatetime"):
            self.temporal = True
        spec = _SCALARS.get(e.name)
        if spec is None:  # parse() only lets known names through, so this is an aggregate
            raise _semantic_error(
                f"aggregation function '{e.name}' is only allowed in summarize", e.token
            )
        low, high, build = spec
        if not low <= len(e.args) <= high:
            raise _semantic_error(
                f"function '{e.name}' expects {low}..{high} arguments, got {len(e.args)}",
                e.token,
            )
        if e.name == "case" and len(e.args) % 2 == 0:
            raise _semantic_error("case() expects condition/value pairs and an else value", e.token)
        outer = _UNARY_IMPLS.get(build)
        inner_call = e.args[0] if e.args else None
        if outer is not None and isinstance(inner_call, Call):
            inner_spec = _SCALARS.get(inner_call.name)
            inner = _UNARY_IMPLS.get(inner_spec[2]) if inner_spec else None
            if inner is not None and len(inner_call.args) == 1:
                # f(g(x)) in one closure instead of two.
                if inner_call.name in ("now", "ago", "todatetime"):
                    self.temporal = True
                arg = self.expr(inner_call.args[0])
                return lambda row: outer(inner(arg(row)))
        return build([self.expr(a) for a in e.args])

    def binary(self, e: Binary) -> Fn:
        op = e.op
        left = self.expr(e.left)
        right_const = isinstance(e.right, Literal)
        const = e.right.value if isinstance(e.right, Literal) else None
        right = self.expr(e.right)
        if op == "and":
            return lambda row: left(row) is True and right(row) is True
        if op == "or":
            return lambda row: left(row) is True or right(row) is True
        if op in ("+", "-", "*", "/", "%"):
            return lambda row: _arith(op, left(row), right(row))
        column = e.left.name if isinstance(e.left, Column) else None
        if op == "==":
            if right_const and isinstance(const, str):
                if column is not None:
                    return lambda row: row.get(column) == const
                return lambda row: left(row) == const
            return lambda row: _equals(left(row), right(row))
        if op == "!=":
            if right_const and isinstance(const, str):
                return lambda row: (v := left(row)) is not None and v != const
            return lambda row: _not_equals(left(row), right(row))
        if op in ("=~", "!~"):
            negate = op == "!~"
            if right_const:
                low = _to_str(const).lower()
                if column is not None:

                    def column_equals(row: Row) -> bool:
                        v = row.get(column)
                        return ((v if type(v) is str else _to_str(v)).lower() == low) != negate

                    return column_equals

                def equals_ci(row: Row) -> bool:
                    v = left(row)
                    return ((v if type(v) is str else _to_str(v)).lower() == low) != negate

                return equals_ci
            if negate:
                return lambda row: _to_str(left(row)).lower() != _to_str(right(row)).lower()
            return lambda row: _to_str(left(row)).lower() == _to_str(right(row)).lower()
        if op in ("<", "<=", ">", ">="):
            return _ordering(op, left, right)
        if op.endswith("regex"):
            negate = op.startswith("!")
            if right_const:
                pattern = _regex(_to_str(const))
                if pattern is None:
                    assert e.token is not None
                    raise _semantic_error("invalid regular expression", e.token)
                return lambda row: (pattern.search(_to_str(left(row))) is not None) != negate

            def matches(row: Row) -> bool:
                compiled = _regex(_to_str(right(row)))
                found = compiled is not None and compiled.search(_to_str(left(row))) is not None
                return found != negate

            return matches
        # contains / has / startswith / endswith / hasprefix / hassuffix and their variants
        negate = op.startswith("!")
        base = op.lstrip("!")
        case_sensitive = base.endswith("_cs")
        if case_sensitive:
            base = base[:-3]
        if right_const:
            test = _string_test(base, case_sensitive, _to_str(const))
            if negate:
                return lambda row: not test(_to_str(left(row)))
            return lambda row: test(_to_str(left(row)))

        def string_op(row: Row) -> bool:
            result = _string_test(base, case_sensitive, _to_str(right(row)))(_to_str(left(row)))
            return result != negate

        return string_op

    def list_op(self, e: ListOp) -> Fn:
        left = self.expr(e.left)
        if e.op in ("between", "!between"):
            low, high = self.expr(e.items[0]), self.expr(e.items[1])
            negate = e.op == "!between"

            def between(row: Row) -> bool:
                value = left(row)
                lo, hi = low(row), high(row)
                if value is None or lo is None or hi is None:
                    return False
                value, lo = _coerce_pair(value, lo)
                value, hi = _coerce_pair(value, hi)
                try:
                    return bool(lo <= value <= hi) != negate
                except TypeError:
                    return False

            return between
        item_fns = [self.expr(i) for i in e.items]
        constant = all(isinstance(i, Literal) for i in e.items)

        def flatten(values: list[Any]) -> list[Any]:
            flat: list[Any] = []
            for value in values:
                if isinstance(value, list):
                    flat.extend(value)
                else:
                    flat.append(value)
            return flat

        if e.op == "has_any":
            if constant:
                tests = [
                    _string_test("has", False, _to_str(v))
                    for v in flatten([fn({}) for fn in item_fns])
                ]
                return lambda row: any(t(_to_str(left(row))) for t in tests)
            return lambda row: any(
                _string_test("has", False, _to_str(v))(_to_str(left(row)))
                for v in flatten([fn(row) for fn in item_fns])
            )
        insensitive = e.op.endswith("~")
        negate = e.op.startswith("!")

        def members(values: list[Any]) -> set[Any]:
            if insensitive:
                return {_to_str(v).lower() for v in values}
            return {_hashable(v) for v in values if v is not None}

        if constant:
            fixed = members(flatten([fn({}) for fn in item_fns]))
            if insensitive:
                if negate:
                    return lambda row: _to_str(left(row)).lower() not in fixed
                return lambda row: _to_str(left(row)).lower() in fixed

            def in_fixed(row: Row) -> bool:
                value = left(row)
                if type(value) is str:
                    return (value in fixed) != negate
                if value is None:
                    return False
                return (_hashable(value) in fixed) != negate

            return in_fixed

        def in_dynamic(row: Row) -> bool:
            value = left(row)
            candidates = members(flatten([fn(row) for fn in item_fns]))
            if insensitive:
                return (_to_str(value).lower() in candidates) != negate
            if value is None:
                return False
            return (_hashable(value) in candidates) != negate

        return in_dynamic

    # -- naming ------------------------------------------------------------------------------

    def named(self, items: Sequence[NamedExpr], taken: set[str]) -> list[tuple[str, Fn]]:
        names = _output_names(items, taken)
        return [(name, self.expr(expr)) for name, (_, expr) in zip(names, items, strict=True)]

    # -- operators ---------------------------------------------------------------------------

    def query(self, q: Query) -> Callable[[Tables], list[Row]]:
        table, table_token = q.table, q.table_token
        stages = [self.operator(op) for op in q.operators]

        def run(tables: Tables) -> list[Row]:
            rows = _lookup_table(tables, table, table_token)
            current: list[Row] = list(rows)
            for stage in stages:
                current = stage(current, tables)
            return current

        return run

    def operator(self, op: Operator) -> Stage:
        if isinstance(op, Where):
            predicate = self.expr(op.predicate)
            return lambda rows, tables: [r for r in rows if predicate(r) is True]
        if isinstance(op, Project):
            items = self.named(op.items, set())
            names = [name for name, _ in items]
            if any(
                column.name in names[:i]
                for i, (_, expr) in enumerate(op.items)
                for column in _columns_in(expr)
            ):
                return lambda rows, tables: [_project_sequential(r, items) for r in rows]
            if all(isinstance(expr, Column) for _, expr in op.items):
                # Plain column lists (the console's usual projection): no closures per cell.
                sources = [expr.name for _, expr in op.items if isinstance(expr, Column)]
                return lambda rows, tables: [
                    dict(zip(names, map(r.get, sources), strict=True)) for r in rows
                ]
            fns = [fn for _, fn in items]
            return lambda rows, tables: [
                dict(zip(names, [fn(r) for fn in fns], strict=True)) for r in rows
            ]
        if isinstance(op, Extend):
            return self.extend(op)
        if isinstance(op, ProjectAway):
            patterns = op.patterns

            @lru_cache(maxsize=4096)
            def removed(column: str) -> bool:
                return any(fnmatch.fnmatchcase(column, p) for p in patterns)

            return lambda rows, tables: [
                {k: v for k, v in r.items() if not removed(k)} for r in rows
            ]
        if isinstance(op, ProjectRename):
            renames = {old.name: new for new, old in op.pairs}
            return lambda rows, tables: [{renames.get(k, k): v for k, v in r.items()} for r in rows]
        if isinstance(op, Sort):
            keys = self.sort_keys(op.keys)
            return lambda rows, tables: _sorted(rows, keys)
        if isinstance(op, Take):
            count = op.count
            return lambda rows, tables: rows[:count]
        if isinstance(op, Top):
            count = op.count
            keys = self.sort_keys(op.keys)
            return lambda rows, tables: _sorted(rows, keys)[:count]
        if isinstance(op, Distinct):
            return self.distinct(op)
        if isinstance(op, Count):
            return lambda rows, tables: [{"Count": len(rows)}]
        if isinstance(op, Summarize):
            return self.summarize(op)
        if isinstance(op, MvExpand):
            return self.mv_expand(op)
        return self.join(op)

    def extend(self, op: Extend) -> Stage:
        items = self.named(op.items, set())

        def extend(rows: list[Row], tables: Tables) -> list[Row]:
            out: list[Row] = []
            for r in rows:
                new = dict(r)
                for name, fn in items:
                    new[name] = fn(new)
                out.append(new)
            return out

        return extend

    def sort_keys(self, keys: Sequence[SortKey]) -> list[_SortSpec]:
        return [
            (
                self.expr(k.expr),
                k.expr.name if isinstance(k.expr, Column) else None,
                k.descending,
                k.nulls_first,
            )
            for k in keys
        ]

    def distinct(self, op: Distinct) -> Stage:
        items = None if op.items is None else self.named(op.items, set())

        def distinct(rows: list[Row], tables: Tables) -> list[Row]:
            seen: set[Any] = set()
            out: list[Row] = []
            for r in rows:
                if items is None:
                    new: Row = r
                    key: Any = tuple(sorted((k, _hashable(v)) for k, v in r.items()))
                else:
                    new = {name: fn(r) for name, fn in items}
                    key = tuple(_hashable(v) for v in new.values())
                if key not in seen:
                    seen.add(key)
                    out.append(new)
            return out

        return distinct

    def summarize(self, op: Summarize) -> Stage:
        taken: set[str] = set()
        by = self.named(op.by, taken)
        aggregates: list[tuple[str, Callable[[list[Row]], Any]]] = []
        for name, (_, call) in zip(_aggregate_names(op, taken), op.aggregates, strict=True):
            low, high, _prefix = _AGGREGATES[call.name]
            if not low <= len(call.args) <= high:
                raise _semantic_error(
                    f"function '{call.name}' expects {low}..{high} arguments, got {len(call.args)}",
                    call.token,
                )
            aggregates.append((name, self.aggregate(call)))
        by_names = [name for name, _ in by]
        by_fns = [fn for _, fn in by]

        def summarize(rows: list[Row], tables: Tables) -> list[Row]:
            groups: dict[tuple[Any, ...], list[Row]] = {}
            firsts: dict[tuple[Any, ...], tuple[Any, ...]] = {}
            for r in rows:
                values = tuple([fn(r) for fn in by_fns])
                try:
                    key = values
                    group = groups.get(key)
                except TypeError:  # a dynamic (dict/list) key: group by its JSON form
                    key = tuple(_hashable(v) for v in values)
                    group = groups.get(key)
                if group is None:
                    groups[key] = [r]
                    firsts[key] = values
                else:
                    group.append(r)
            if not by_fns and not groups:
                groups[()] = []
                firsts[()] = ()
            out: list[Row] = []
            for key, group in groups.items():
                result = dict(zip(by_names, firsts[key], strict=True))
                for name, aggregate in aggregates:
                    result[name] = aggregate(group)
                out.append(result)
            return out

        return summarize

    def aggregate(self, call: Call) -> Callable[[list[Row]], Any]:
        name = call.name
        args = [self.expr(a) for a in call.args]
        if name == "count":
            return len
        if name == "countif":
            pred = args[0]
            return lambda rows: sum(1 for r in rows if pred(r) is True)
        arg = args[0]
        if name in ("sum", "sumif"):
            condition = args[1] if name == "sumif" else None

            def total(rows: list[Row]) -> Any:
                result: Any = 0
                for r in rows:
                    if condition is not None and condition(r) is not True:
                        continue
                    value = arg(r)
                    if _is_number(value):
                        result += value
                return result

            return total
        if name in ("min", "max"):
            pick = min if name == "min" else max

            def extreme(rows: list[Row]) -> Any:
                values = [v for v in (arg(r) for r in rows) if v is not None]
                return pick(values, key=_sort_key) if values else None

            return extreme
        if name == "avg":

            def average(rows: list[Row]) -> Any:
                values = [v for v in (arg(r) for r in rows) if _is_number(v)]
                return sum(values) / len(values) if values else None

            return average
        if name == "dcount":
            return lambda rows: len({_hashable(v) for v in (arg(r) for r in rows) if v is not None})
        if name in ("make_list", "make_set"):
            limit = 1_048_576
            if len(call.args) == 2:
                if not (isinstance(call.args[1], Literal) and _is_number(call.args[1].value)):
                    raise _semantic_error(f"{name}() expects a constant size limit", call.token)
                limit = int(call.args[1].value)
            unique = name == "make_set"

            def collect(rows: list[Row]) -> list[Any]:
                if len(rows) == 1:
                    value = arg(rows[0])
                    return [] if value is None else [value]
                out: list[Any] = []
                seen: set[Any] = set()
                for r in rows:
                    value = arg(r)
                    if value is None:
                        continue
                    if unique:
                        key = _hashable(value)
                        if key in seen:
                            continue
                        seen.add(key)
                    out.append(value)
                    if len(out) >= limit:
                        break
                return out

            return collect
        # take_any / any
        return lambda rows: arg(rows[0]) if rows else None

    def mv_expand(self, op: MvExpand) -> Stage:
        names = _output_names(op.items, set(), unique=False)  # an existing column is replaced
        items = [(name, self.expr(expr)) for name, (_, expr) in zip(names, op.items, strict=True)]
        as_array = op.kind == "array"
        index_column, limit = op.index_column, op.limit

        def elements(value: Any) -> list[Any]:
            if value is None:
                return [None]
            if isinstance(value, list):
                return value
            if isinstance(value, Mapping):
                if as_array:
                    return [[k, v] for k, v in value.items()]
                return [{k: v} for k, v in value.items()]
            return [value]

        def expand(rows: list[Row], tables: Tables) -> list[Row]:
            out: list[Row] = []
            for r in rows:
                columns = [(name, elements(fn(r))) for name, fn in items]
                count = max((len(values) for _, values in columns), default=0)
                if limit is not None:
                    count = min(count, limit)
                for i in range(count):
                    new = dict(r)
                    for name, values in columns:
                        new[name] = values[i] if i < len(values) else None
                    if index_column is not None:
                        new[index_column] = i
                    out.append(new)
            return out

        return expand

    def join(self, op: Join) -> Stage:
        right_query = self.query(op.right)
        kind = op.kind
        left_keys = [k.name for k, _ in op.on]
        right_keys = [k.name for _, k in op.on]

        def key_of(row: Row, names: list[str]) -> tuple[Any, ...] | None:
            values = tuple(row.get(n) for n in names)
            if any(v is None for v in values):
                return None
            return tuple(_hashable(v) for v in values)

        def join(rows: list[Row], tables: Tables) -> list[Row]:
            right_rows = right_query(tables)
            index: dict[tuple[Any, ...], list[Row]] = {}
            for rr in right_rows:
                key = key_of(rr, right_keys)
                if key is not None:
                    index.setdefault(key, []).append(rr)
            if kind in ("leftsemi",):
                return [r for r in rows if key_of(r, left_keys) in index]
            if kind in ("leftanti", "anti", "leftantisemi"):
                return [r for r in rows if key_of(r, left_keys) not in index]
            left_columns = _columns_of(rows)
            taken = set(left_columns)
            renames: dict[str, str] = {}
            for column in _columns_of(right_rows):
                renamed = _unique(column, taken)
                taken.add(renamed)
                renames[column] = renamed
            left_rows = rows
            if kind == "innerunique":
                seen: set[tuple[Any, ...] | None] = set()
                left_rows = []
                for r in rows:
                    key = key_of(r, left_keys)
                    if key not in seen:
                        seen.add(key)
                        left_rows.append(r)
            out: list[Row] = []
            for r in left_rows:
                key = key_of(r, left_keys)
                matches = index.get(key, []) if key is not None else []
                if not matches:
                    if kind == "leftouter":
                        new = dict(r)
                        for renamed in renames.values():
                            new[renamed] = None
                        out.append(new)
                    continue
                for rr in matches:
                    new = dict(r)
                    for column, renamed in renames.items():
                        new[renamed] = rr.get(column)
                    out.append(new)
            return out

        return join


def _project_sequential(row: Row, items: list[tuple[str, Fn]]) -> Row:
    """``project a = 1, b = a + 1``: later items see the columns defined before them."""
    visible = dict(row)
    out: dict[str, Any] = {}
    for name, fn in items:
        out[name] = visible[name] = fn(visible)
    return out


def _equals(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    a, b = _coerce_pair(a, b)
    return bool(a == b)


def _not_equals(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    a, b = _coerce_pair(a, b)
    return bool(a != b)


def _ordering(op: str, left: Fn, right: Fn) -> Fn:
    compare: Callable[[Any, Any], Any] = {
        "<": _operator.lt,
        "<=": _operator.le,
        ">": _operator.gt,
        ">=": _operator.ge,
    }[op]

    def ordered(row: Row) -> bool:
        a, b = left(row), right(row)
        if a is None or b is None:
            return False
        a, b = _coerce_pair(a, b)
        if isinstance(a, str) != isinstance(b, str):
            return False
        try:
            return bool(compare(a, b))
        except TypeError:
            return False

    return ordered


_SortSpec = tuple[Fn, Union[str, None], bool, bool]  # (key, column name or None, desc, nulls 1st)


def _sorted(rows: list[Row], keys: list[_SortSpec]) -> list[Row]:
    """Stable multi-key sort: one pass per key, last key first."""
    result = list(rows)
    for fn, column, descending, nulls_first in reversed(keys):
        values: list[Any]
        if column is not None:
            values = [row.get(column) for row in result]
        else:
            values = [fn(row) for row in result]
        order = list(range(len(result)))
        if all(type(v) is str for v in values):  # the common case: plain string keys
            order.sort(key=values.__getitem__, reverse=descending)
        else:
            # Rank nulls so that, after the (possibly reversed) sort, they land where asked.
            null_rank = -1 if nulls_first != descending else 1
            ranked = [(null_rank, (0, 0)) if v is None else (0, _sort_key(v)) for v in values]
            order.sort(key=ranked.__getitem__, reverse=descending)
        result = [result[i] for i in order]
    return result


# --------------------------------------------------------------------------------------------
# Column resolution (Kusto rejects references to columns the input does not have)
# --------------------------------------------------------------------------------------------

ARG_COLUMNS = frozenset(
    {
        "id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId",
        "managedBy", "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation",
    }
)  # fmt: skip
"""The columns every Resource Graph table has, whether or not the emulator's rows carry them."""


class _Schema:
    """The columns visible at one point of a pipeline.

    Table rows are schemaless dicts, so a source table's columns are the standard Resource
    Graph columns plus any key of any row; rows are scanned lazily, only for names not already
    known.
    """

    def __init__(
        self,
        columns: Iterable[str],
        sources: Sequence[Sequence[Row]] = (),
        removed: Iterable[str] = (),
    ) -> None:
        self.columns = set(columns)
        self.sources = list(sources)
        self.removed = set(removed)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or name in self.removed:
            return False
        if name in self.columns:
            return True
        if any(name in row for rows in self.sources for row in rows):
            self.columns.add(name)
            return True
        return False

    def plus(self, names: Iterable[str]) -> _Schema:
        added = set(names)
        return _Schema(self.columns | added, self.sources, self.removed - added)

    def minus(self, names: Iterable[str]) -> _Schema:
        return _Schema(self.columns, self.sources, self.removed | set(names))

    def concrete(self) -> set[str]:
        """All column names (forces a full scan of the source rows)."""
        names = set(self.columns)
        for rows in self.sources:
            for row in rows:
                names.update(row)
        return names - self.removed


def _columns_in(expr: Expr) -> list[Column]:
    """Every column reference in ``expr`` (not member names: ``a.b`` references ``a``)."""
    if isinstance(expr, Column):
        return [expr]
    if isinstance(expr, (Member, Negate)):
        return _columns_in(expr.base if isinstance(expr, Member) else expr.operand)
    if isinstance(expr, Index):
        return _columns_in(expr.base) + _columns_in(expr.index)
    if isinstance(expr, Binary):
        return _columns_in(expr.left) + _columns_in(expr.right)
    if isinstance(expr, ListOp):
        return [c for e in (expr.left, *expr.items) for c in _columns_in(e)]
    if isinstance(expr, Call):
        return [c for e in expr.args for c in _columns_in(e)]
    return []


_OPERATOR_NAMES: dict[type, str] = {
    Where: "where",
    Project: "project",
    Extend: "extend",
    ProjectAway: "project-away",
    ProjectRename: "project-rename",
    Sort: "sort",
    Take: "take",
    Top: "top",
    Distinct: "distinct",
    Count: "count",
    Summarize: "summarize",
    MvExpand: "mv-expand",
    Join: "join",
}


def _resolve(schema: _Schema, exprs: Iterable[Expr], op: Operator) -> None:
    for expr in exprs:
        for column in _columns_in(expr):
            if column.name not in schema:
                raise _unresolved(column.name, column.token, op)


def _unresolved(name: str, tok: Token, op: Operator) -> KqlError:
    return KqlError(
        f"'{_OPERATOR_NAMES[type(op)]}' operator: Failed to resolve scalar expression named "
        f"'{name}'",
        line=tok.line,
        column=tok.column,
        token=name,
        code="SemanticError",
    )


def _check_columns(query: Query, tables: Tables) -> _Schema:
    """Resolve every column reference of ``query`` against ``tables``; the output schema."""
    rows = _lookup_table(tables, query.table, query.table_token)
    schema = _Schema(ARG_COLUMNS, [rows])
    for op in query.operators:
        if isinstance(op, Where):
            _resolve(schema, [op.predicate], op)
        elif isinstance(op, (Sort, Top)):
            _resolve(schema, [k.expr for k in op.keys], op)
        elif isinstance(op, (Project, Extend)):
            names = _output_names(op.items, set())
            visible = schema
            for name, (_, expr) in zip(names, op.items, strict=True):
                _resolve(visible, [expr], op)
                visible = visible.plus([name])  # later items may use earlier ones
            schema = visible if isinstance(op, Extend) else _Schema(names)
        elif isinstance(op, ProjectAway):
            patterns = op.patterns
            schema = schema.minus(
                c for c in schema.concrete() if any(fnmatch.fnmatchcase(c, p) for p in patterns)
            )
        elif isinstance(op, ProjectRename):
            _resolve(schema, [old for _, old in op.pairs], op)
            olds = [old.name for _, old in op.pairs]
            schema = schema.minus(olds).plus(new for new, _ in op.pairs)
        elif isinstance(op, Distinct):
            if op.items is not None:
                _resolve(schema, [e for _, e in op.items], op)
                schema = _Schema(_output_names(op.items, set()))
        elif isinstance(op, Count):
            schema = _Schema(["Count"])
        elif isinstance(op, Summarize):
            _resolve(schema, [e for _, e in op.by], op)
            _resolve(schema, [a for _, call in op.aggregates for a in call.args], op)
            taken: set[str] = set()
            by_names = _output_names(op.by, taken)
            schema = _Schema(by_names + _aggregate_names(op, taken))
        elif isinstance(op, MvExpand):
            _resolve(schema, [e for _, e in op.items], op)
            added = _output_names(op.items, set(), unique=False)
            schema = schema.plus(added + ([op.index_column] if op.index_column else []))
        elif isinstance(op, Join):
            right = _check_columns(op.right, tables)
            _resolve(schema, [left for left, _ in op.on], op)
            _resolve(right, [right_key for _, right_key in op.on], op)
            if op.kind not in ("leftsemi", "leftanti", "anti", "leftantisemi"):
                right_names = right.concrete()
                schema = schema.plus(right_names | {f"{n}1" for n in right_names})
    return schema


def _lookup_table(tables: Tables, name: str, tok: Token) -> Sequence[Row]:
    if name in tables:
        return tables[name]
    lowered = name.lower()
    for key, rows in tables.items():
        if key.lower() == lowered:
            return rows
    raise KqlError(
        f"Table {name} is invalid, unsupported or disallowed.",
        line=tok.line,
        column=tok.column,
        token=name,
        code="DisallowedLogicalTableName",
    )


def _builds_rows(op: Operator) -> bool | None:
    """True if ``op`` outputs new dicts, None if it passes its input rows through."""
    if isinstance(op, (Where, Sort, Take, Top)):
        return None
    if isinstance(op, Distinct):
        return None if op.items is None else True
    if isinstance(op, Join):
        return None if op.kind in ("leftsemi", "leftanti", "anti", "leftantisemi") else True
    return True


def _compile(query: str | Query) -> tuple[Query, Callable[[Tables], list[Row]], bool, bool]:
    """(query, program, temporal, fresh); fresh when output rows are new dicts, not input rows."""
    compiler = _Compiler()
    parsed = parse(query) if isinstance(query, str) else query
    program = compiler.query(parsed)
    fresh = any(_builds_rows(op) for op in parsed.operators)
    return parsed, program, compiler.temporal, fresh


_compile_text = lru_cache(maxsize=256)(_compile)


def run_query(query: str | Query, tables: Tables) -> list[dict[str, Any]]:
    """Evaluate ``query`` over ``tables`` (table name -> rows; names match case-insensitively).

    Returns new dicts (the input rows are never mutated); nested values are shared with the
    input. Datetimes and timespans computed by the query come back as ISO-8601 / ``[d.]hh:mm:ss``
    strings, as Resource Graph returns them. Raises :class:`KqlError`.
    """
    parsed, program, temporal, fresh = (
        _compile_text(query) if isinstance(query, str) else _compile(query)
    )
    _check_columns(parsed, tables)
    # Evaluation allocates many short-lived containers while the input rows keep a large
    # object graph alive: the cyclic collector would rescan it over and over for no gain.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        rows = program(tables)
        if temporal:
            return [{k: _jsonable(v) for k, v in row.items()} for row in rows]
        if fresh:  # already new dicts built by project/extend/summarize/...: no second copy
            return rows  # type: ignore[return-value]
        return [dict(row) for row in rows]
    finally:
        if gc_was_enabled:
            gc.enable()
