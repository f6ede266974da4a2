"""table_bench runs (tiny sizes) so the benchmark harness cannot rot."""

from __future__ import annotations

from btconsole.ui.table_bench import ARC_COLUMNS, arc_rows, measure


def test_arc_rows_fit_the_columns() -> None:
    rows = arc_rows(50)
    assert len({row.key for row in rows}) == 50
    assert all(len(row.cells) == len(ARC_COLUMNS) for row in rows)
    assert arc_rows(5) == arc_rows(5)  # seeded


def test_measure_quick() -> None:
    results = measure(rows=500, runs=2)
    assert set(results) == {
        "set_rows",
        "filter",
        "filter_erase",
        "sort",
        "page_down",
        "filter_frame",
    }
    for figure, values in results.items():
        assert len(values) == 2, figure
        assert all(value >= 0 for value in values)
