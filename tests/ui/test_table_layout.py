"""layout_columns: which columns fit and how wide, without a terminal."""

from __future__ import annotations

from btconsole.ui.table import GAP, LEFT_PAD, Column, layout_columns


def used(layout: list[tuple[int, int]]) -> int:
    return LEFT_PAD + sum(w for _, w in layout) + GAP * (len(layout) - 1)


ARC = [
    Column("name", "Name", 24, min_width=12, priority=0),
    Column("customer", "Customer", 14, min_width=8, priority=1),
    Column("status", "Status", 12, min_width=10, priority=0),
    Column("since", "Since", 6, min_width=5, align="right", priority=2),
    Column("location", "Location", 12, min_width=8, priority=3),
    Column("fqdn", "FQDN", 30, min_width=12, priority=4),
]


def test_wide_terminal_spreads_spare_width_up_to_twice_preferred() -> None:
    layout = layout_columns(ARC, 200)
    assert [i for i, _ in layout] == [0, 1, 2, 3, 4, 5]
    widths = dict(layout)
    # every left-aligned column may grow to twice its preferred width, no further
    for index in (0, 1, 2, 4, 5):
        assert ARC[index].width <= widths[index] <= 2 * ARC[index].width
    assert widths[3] == 6  # right-aligned figures keep their width
    assert used(layout) <= 200
    # here the spare width is enough for every column to reach its cap
    assert widths == {0: 48, 1: 28, 2: 24, 3: 6, 4: 24, 5: 60}


def test_moderate_spare_goes_to_the_most_important_columns_first() -> None:
    base = LEFT_PAD + 98 + 5 * GAP
    widths = dict(layout_columns(ARC, base + 3))
    assert widths[0] == 25 and widths[2] == 13 and widths[1] == 15  # priority 0, 0, then 1
    assert widths[5] == 30


def test_80_columns_shrinks_before_dropping() -> None:
    layout = layout_columns(ARC, 80)
    assert [i for i, _ in layout] == [0, 1, 2, 3, 4, 5]
    assert used(layout) == 80
    for index, width in layout:
        assert ARC[index].min_width <= width <= ARC[index].width


def test_narrow_drops_highest_priority_number_first() -> None:
    layout = layout_columns(ARC, 60)
    assert [i for i, _ in layout] == [0, 1, 2, 3, 4]  # FQDN (priority 4) dropped
    assert used(layout) <= 60
    layout = layout_columns(ARC, 39)  # mins of name..since: 1 + 35 + 3 gaps
    assert [i for i, _ in layout] == [0, 1, 2, 3]
    layout = layout_columns(ARC, 38)
    assert [i for i, _ in layout] == [0, 1, 2]
    assert used(layout) <= 38


def test_never_drop_columns_stay_even_when_too_narrow() -> None:
    layout = layout_columns(ARC, 10)
    assert [i for i, _ in layout] == [0, 2]
    assert dict(layout) == {0: 12, 2: 10}


def test_equal_priorities_drop_rightmost_first() -> None:
    columns = [Column(str(i), str(i), 10, min_width=10) for i in range(5)]
    assert [i for i, _ in layout_columns(columns, 34)] == [0, 1, 2]


def test_no_columns() -> None:
    assert layout_columns([], 80) == []


def test_hidden_columns_are_left_out() -> None:
    layout = layout_columns(ARC, 200, hidden=frozenset({1}))
    assert [i for i, _ in layout] == [0, 2, 3, 4, 5]


def test_the_sorted_column_gets_room_for_its_label_and_arrow() -> None:
    # "Since" in 5 or 6 cells would read "Si… ▲"; sorted, it gets 5 + 2
    narrow = 1 + 12 + 1 + 10 + 1 + 5 + 1 + 8  # name, status, since, location at their minimum
    assert dict(layout_columns(ARC, narrow))[3] < 7
    assert dict(layout_columns(ARC, 200, sorted_column=3))[3] >= len("Since") + 2
    layout = dict(layout_columns(ARC, narrow + 2, sorted_column=3))
    assert layout[3] >= len("Since") + 2


def test_a_column_promised_in_full_never_shrinks_lower_priorities_drop_first() -> None:
    columns = [
        Column("name", "Name", 24, min_width=12, priority=0),
        Column("agent", "Agent", 20, min_width=4, priority=1, full=True),
        Column("crit", "Crit", 4, min_width=4, align="right", priority=2),
        Column("fqdn", "FQDN", 30, min_width=12, priority=3),
    ]
    # everything fits at the minimums (12 + 20 + 4 + 12 + 1 + 3): the others shrink
    layout = layout_columns(columns, 52)
    assert [i for i, _ in layout] == [0, 1, 2, 3] and dict(layout)[1] == 20
    # one cell less: FQDN goes, not a cell of the promised agent
    layout = layout_columns(columns, 51)
    assert [i for i, _ in layout] == [0, 1, 2] and dict(layout)[1] == 20
    assert used(layout) <= 51
    # without the promise the agent would have shrunk instead of FQDN going
    loose = [columns[0], Column("agent", "Agent", 20, min_width=4, priority=1), *columns[2:]]
    assert dict(layout_columns(loose, 51))[1] < 20
    # too narrow for it whole: it is dropped, never shown cut
    assert 1 not in dict(layout_columns(columns, 30))


def test_the_sorted_column_is_dropped_last() -> None:
    # at 60 FQDN (priority 4) goes first; sorted by it, LOCATION and SINCE go instead
    assert 5 not in dict(layout_columns(ARC, 60))
    layout = dict(layout_columns(ARC, 60, sorted_column=5))
    assert 5 in layout and layout[5] >= len("FQDN") + 2
    assert used(list(layout.items())) <= 60
    assert 4 not in layout  # the next highest number went in its place
    # narrower than the never-drop columns and it: it goes too, they stay
    layout = dict(layout_columns(ARC, 30, sorted_column=5))
    assert 5 not in layout and {0, 2} <= set(layout)
