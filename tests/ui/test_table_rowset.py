"""RowSet, the table's sort/filter engine: checked against a plain reference."""

from __future__ import annotations

import random

import pytest

from btconsole.ui.filterquery import compile_terms, matcher, parse, word_pattern
from btconsole.ui.table import Column, Row, RowSet, _Haystack, _scan, _scan_words

COLUMNS = (
    Column("name", "Name", 20),
    Column("status", "Status", 12),
    Column("region", "Region", 12),
    Column("cpu", "CPU", 5, align="right"),
)
WORDS = ["web", "db", "edge", "Web", "WEST", "east", "prod", "test", "中文", "שלום", "a", "ab"]
STATUSES = ["Connected", "Disconnected", "Expired", "Error"]


def random_rows(count: int, seed: int) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        name = "-".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
        cpu = rng.choice([None, rng.randint(0, 100), rng.random() * 10])
        rows.append(
            Row(
                key=f"k{i}",
                cells=(name, rng.choice(STATUSES), rng.choice(["westeurope", "eastus"]), str(cpu)),
                sort_values=(name, None, None, cpu) if rng.random() < 0.8 else None,
            )
        )
    return rows


def reference(rows: list[Row], sort: int | None, reverse: bool, query: str) -> list[str]:
    ordered = rows
    if sort is not None:

        def key(row: Row) -> object:
            given = row.sort_values
            if given is not None and sort < len(given):
                return given[sort]
            return row.cells[sort].lower()

        present = [row for row in rows if key(row) is not None]
        missing = [row for row in rows if key(row) is None]
        if sort == 3:  # numbers only where given; text otherwise -> mixed

            def mixed(row: Row) -> tuple[int, object, str]:
                value = key(row)
                if isinstance(value, str):
                    return (1, 0, value.casefold())
                return (0, value, "")

            present.sort(key=mixed, reverse=reverse)
        else:
            present.sort(key=lambda row: str(key(row)).casefold(), reverse=reverse)
        ordered = present + missing
    match = matcher(parse(query), COLUMNS)
    return [row.key for row in ordered if match(row)]


QUERIES = [
    "",
    "w",
    "we",
    "web",
    "web-",
    "WEB-DB",
    "!web",
    "!a",
    "status:conn",
    "stat:disc !east",
    "region:west",
    "!region:west web",
    "a b",
    '"web-db"',
    "中",
    "שלום",
    "zzz",
    "cpu:5",
    '"unknown:web"',
    "status:c",
    "status:connected",
    "!status:connected",
    "!status:conn",
    "status:=connected",
    "!status:=error",
    "name:w",
    "name:web",
    "name:web-d",
    "name:db",
    "!name:w",
    "!name:we",
    "cpu>5",
    "cpu>=50",
    "cpu>=50 !name:web",
    "!cpu<3",
    "cpu<=2.5 name:web",
    "cpu:=none",
    "cpu:1",
    "10.0.0.1:80",
    "e",
    "!e",
    "!",
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_filter_and_sort_agree_with_the_reference(seed: int) -> None:
    rows = random_rows(600, seed)
    rowset = RowSet()
    rowset.set_columns(COLUMNS)
    rowset.set_rows(rows)
    for sort, reverse in [(None, False), (0, False), (0, True), (1, False), (3, False), (3, True)]:
        rowset.set_sort(sort, reverse)
        for query in QUERIES:  # in order: many narrow the previous query
            rowset.set_terms(compile_terms(parse(query), COLUMNS))
            shown = [rowset.sorted_rows[p].key for p in rowset.view]
            assert shown == reference(rows, sort, reverse, query), (sort, reverse, query)
        for query in reversed(QUERIES):  # widening, and answered from the cache
            rowset.set_terms(compile_terms(parse(query), COLUMNS))
            shown = [rowset.sorted_rows[p].key for p in rowset.view]
            assert shown == reference(rows, sort, reverse, query), (sort, reverse, query)


def test_scan_sparse_and_dense() -> None:
    texts = ["alpha", "beta", "gamma", "delta"] * 100
    haystack = _Haystack(texts)
    assert _scan("mm", haystack.big, haystack.starts, haystack.hay) == list(range(2, 400, 4))
    dense = _scan("a", haystack.big, haystack.starts, haystack.hay)
    assert dense == list(range(400))
    assert _scan("ta", haystack.big, haystack.starts, haystack.hay) == [
        i for i in range(400) if i % 4 in (1, 3)
    ]
    assert _scan("x", haystack.big, haystack.starts, haystack.hay) == []
    for needle in ("mm", "a", "ta", "x", "alpha"):
        matching = set(_scan(needle, haystack.big, haystack.starts, haystack.hay))
        assert _scan(needle, haystack.big, haystack.starts, haystack.hay, negate=True) == [
            i for i in range(400) if i not in matching
        ]
    empty = _Haystack([])
    assert _scan("a", empty.big, empty.starts, empty.hay) == []


def test_scan_words_sparse_and_dense() -> None:
    texts = ["connected", "disconnected", "web-db", "cobweb", "a web", "webweb"] * 100

    def scan(needle: str, *, negate: bool = False) -> list[int]:
        haystack = _Haystack(texts)
        return _scan_words(
            needle, word_pattern(needle), haystack.big, haystack.starts, haystack.hay, negate=negate
        )

    def expected(needle: str) -> list[int]:
        pattern = word_pattern(needle)
        return [i for i, text in enumerate(texts) if pattern.search(text)]

    for needle in ("connected", "conn", "web", "db", "eb", "a", "x", "webweb", "web-db"):
        assert scan(needle) == expected(needle), needle
        wanted = set(expected(needle))
        assert scan(needle, negate=True) == [i for i in range(600) if i not in wanted], needle
    # sparse: one word start in a thousand rows, many hits inside words before it
    rare = ["cobweb"] * 999 + ["web"]
    haystack = _Haystack(rare)
    found = _scan_words("web", word_pattern("web"), haystack.big, haystack.starts, haystack.hay)
    assert found == [999]
    empty = _Haystack([])
    assert _scan_words("a", word_pattern("a"), empty.big, empty.starts, empty.hay) == []


def test_rows_needing_cleaning_are_searched_as_shown() -> None:
    rows = [
        Row("1", ("\x1b[31mred\x1b[0m", "x")),
        Row("2", ("line\nbreak", "x")),
        Row("3", ("nul\x00byte", "x")),
        Row("4", ("plain", "x")),
    ]
    rowset = RowSet()
    rowset.set_columns(COLUMNS[:2])
    rowset.set_rows(rows)

    def keys(query: str) -> list[str]:
        rowset.set_terms(compile_terms(parse(query), COLUMNS[:2]))
        return [rowset.sorted_rows[p].key for p in rowset.view]

    assert keys("red") == ["1"]
    assert keys("31m") == []
    assert keys('"line break"') == ["2"]
    assert keys("nulbyte") == ["3"]
    assert keys("name:nulbyte") == ["3"]
    assert keys("x") == ["1", "2", "3", "4"]


def test_sort_values_of_mixed_and_odd_types_never_raise() -> None:
    values = [3, "b", None, 1.5, float("nan"), "A", (1, 2), True]
    rows = [Row(str(i), (str(v),), sort_values=(v,)) for i, v in enumerate(values)]
    rowset = RowSet()
    rowset.set_columns(COLUMNS[:1])
    rowset.set_rows(rows)
    rowset.set_sort(0, False)
    shown = [row.sort_values[0] for row in rowset.sorted_rows if row.sort_values]
    assert shown[:3] == [True, 1.5, 3]  # numbers first, numerically (True == 1)
    assert shown[3:5] == ["A", "b"]
    assert shown[5] == (1, 2)
    assert shown[6] is None and shown[7] != shown[7]  # None and NaN last, given order


def test_position_of_follows_sort_and_filter() -> None:
    rows = [Row(f"k{i}", (f"n{9 - i}", "s")) for i in range(10)]
    rowset = RowSet()
    rowset.set_columns(COLUMNS[:2])
    rowset.set_rows(rows)
    assert rowset.position_of("k3") == 3
    rowset.set_sort(0, False)
    assert rowset.position_of("k3") == 6  # n6
    rowset.set_terms(compile_terms(parse("!n5"), COLUMNS[:2]))
    assert rowset.position_of("k3") == 5
    assert rowset.position_of("k4") is None  # n5, filtered out
    assert rowset.position_of("nope") is None
    assert rowset.position_of(None) is None


def test_short_rows_and_no_rows() -> None:
    rowset = RowSet()
    rowset.set_columns(COLUMNS)
    rowset.set_rows([])
    rowset.set_terms(compile_terms(parse("x status:y"), COLUMNS))
    assert list(rowset.view) == []
    rowset.set_rows([Row("a", ("only-name",)), Row("b", ("x", "Connected", "west", "1"))])
    rowset.set_terms(compile_terms(parse("status:conn"), COLUMNS))
    assert [rowset.sorted_rows[p].key for p in rowset.view] == ["b"]
    rowset.set_sort(2, False)
    assert [row.key for row in rowset.sorted_rows] == ["a", "b"]  # "" sorts first


def test_arc_like_rows_agree_with_the_reference_for_every_kind_of_term() -> None:
    from btconsole.ui.table_bench import ARC_COLUMNS, arc_rows

    rows = arc_rows(3000)
    rowset = RowSet()
    rowset.set_columns(ARC_COLUMNS)
    rowset.set_rows(rows)
    queries = [
        "status:disc",
        "status:disconnected",
        "!status:connected",
        "status:=connected",
        "!status:=connected since>7d",
        "since>7d",
        "since>=30d",
        "since<=3d",
        "!since<1d",
        "name:cont",
        "name:cont status:conn",
        "fqdn:contoso",
        "fqdn:contoso !fqdn:example",
        "fqdn:contoso !name:cont-prod",
    ]
    for sort in (None, 0, 6):
        rowset.set_sort(sort, False)
        for query in queries:
            rowset.set_terms(compile_terms(parse(query), ARC_COLUMNS))
            match = matcher(parse(query), ARC_COLUMNS)
            shown = [rowset.sorted_rows[p].key for p in rowset.view]
            assert shown == [row.key for row in rowset.sorted_rows if match(row)], (sort, query)
