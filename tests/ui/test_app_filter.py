"""The ``/`` filter through the real app (Pilot, a cache the engine filled from the
emulator): word-start and exact matches, comparisons of ages, a bad query that keeps
the last valid filter, the attention list filtered on its own, and a change of scope
that starts every table at its top."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Static

from btconsole.cache import Cache
from btconsole.ui.app import BtConsoleApp
from btconsole.ui.filterquery import cell_value
from btconsole.ui.panes import ArcPane, OverviewScreen, PaneScreen
from btconsole.ui.screens import CommandLine
from btconsole.ui.table import ResourceTable, Row
from btconsole.ui.widgets import TitleBar
from tests.ui.conftest import (
    FIXED_NOW,
    Served,
    make_app,
    wait_for,
)

SIZE = (80, 24)
WEEK = 7 * 86400


def pane(app: BtConsoleApp) -> PaneScreen:
    screen = app.screen
    assert isinstance(screen, PaneScreen), screen
    return screen


def title(app: BtConsoleApp) -> str:
    return str(app.screen.query_one(TitleBar).render())


def all_rows(table: ResourceTable) -> list[Row]:
    return list(table._set.rows)


async def open_filter(app: BtConsoleApp, pilot: Any) -> Input:
    await pilot.press("slash")
    box = app.screen.query_one("#filter", Input)
    await wait_for(pilot, lambda: box.has_focus)
    return box


async def query(pilot: Any, box: Input, table: ResourceTable, text: str) -> None:
    box.value = text  # as typed: each change posts Input.Changed to the pane
    await wait_for(pilot, lambda: table.filter_text == text)


def age(cell: str) -> float | None:
    value = cell_value(cell.lower())
    return value[1] if value is not None and value[0] == "age" else None


async def test_not_status_connected_keeps_disconnected_machines(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        table = pane(app).table
        statuses = [row.cells[1] for row in all_rows(table)]
        assert {"Connected", "Disconnected"} <= set(statuses)

        box = await open_filter(app, pilot)
        await query(pilot, box, table, "!status:connected")
        shown = [row.cells[1] for row in table.visible_rows]
        assert "Connected" not in shown
        assert "Disconnected" in shown
        assert len(shown) == sum(status != "Connected" for status in statuses)
        assert f"{len(shown)}/{len(statuses)}" in title(app)

        await query(pilot, box, table, "status:=disconnected")
        assert {row.cells[1] for row in table.visible_rows} == {"Disconnected"}
        assert table.filtered_count == statuses.count("Disconnected")

        # a key that names no column: a one-line hint, and the last valid filter stays
        hint = app.screen.query_one("#filter-hint", Static)
        await query(pilot, box, table, "status:=disconnected nope:x")
        await wait_for(pilot, lambda: hint.has_class("-visible"))
        assert "no column 'nope'" in str(hint.render())
        assert {row.cells[1] for row in table.visible_rows} == {"Disconnected"}
        assert "/status:=disconnected" in title(app) and "nope" not in title(app)
        # enter keeps the filter in force, not the bad text
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.has_focus)
        assert table.filter_text == "status:=disconnected"
        assert not hint.has_class("-visible")
        assert table.filtered_count == statuses.count("Disconnected")

        # "/" again shows the query in force, the cursor at its end: typing refines it
        box = await open_filter(app, pilot)
        assert box.value == "status:=disconnected"
        await pilot.pause()
        await pilot.press("space", "k", "i", "n", "d", "colon", "m")
        await pilot.pause()
        await wait_for(pilot, lambda: table.filter_text == "status:=disconnected kind:m")
        assert {row.cells[9] for row in table.visible_rows} == {"machine"}


async def test_since_compares_ages_not_text(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        table = pane(app).table
        ages = [age(row.cells[2]) for row in all_rows(table)]
        older = sum(a is not None and a > WEEK for a in ages)
        assert 0 < older < len(ages)

        box = await open_filter(app, pilot)
        await query(pilot, box, table, "since>7d")
        assert table.filtered_count == older
        assert all((age(row.cells[2]) or 0) > WEEK for row in table.visible_rows)
        # "since>7d" with a week of 7 days, and in hours: the same rows
        await query(pilot, box, table, "since>168h")
        assert table.filtered_count == older
        await query(pilot, box, table, "!since>7d")
        assert table.filtered_count == len(ages) - older
        # a word start: "since:1d" is 1d, never 11d or 91d
        await query(pilot, box, table, "since:1d")
        ones = [row.cells[2] for row in all_rows(table) if row.cells[2] == "1d"]
        assert ones and table.filtered_count == len(ones)
        assert any(row.cells[2].endswith("1d") and row.cells[2] != "1d" for row in all_rows(table))
        await query(pilot, box, table, "!since>7d")

        # a number against a column of ages is a hint, never a text comparison
        await query(pilot, box, table, "since>7")
        hint = app.screen.query_one("#filter-hint", Static)
        await wait_for(pilot, lambda: hint.has_class("-visible"))
        assert "SINCE holds ages" in str(hint.render())
        assert table.filtered_count == len(ages) - older  # the last valid filter


async def test_slash_filters_the_attention_list_when_it_has_focus(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        screen = app.screen
        customers = screen.query_one("#table", ResourceTable)
        attention = screen.query_one("#attention", ResourceTable)
        await wait_for(pilot, lambda: attention.total_count > 0)
        total = attention.total_count
        critical = sum(row.cells[0] == "CRIT" for row in all_rows(attention))
        assert 0 < critical < total

        await pilot.press("tab")
        await wait_for(pilot, lambda: attention.has_focus)
        assert f"{total}/{total}" in title(app)  # the title counts the focused table
        box = await open_filter(app, pilot)
        await query(pilot, box, attention, "sev:=crit")
        assert attention.filtered_count == critical
        assert {row.cells[0] for row in attention.visible_rows} == {"CRIT"}
        assert customers.filter_text == ""
        assert customers.filtered_count == customers.total_count
        assert f"{critical}/{total}" in title(app) and "/sev:=crit" in title(app)

        await pilot.press("enter")
        await wait_for(pilot, lambda: attention.has_focus)
        assert attention.filtered_count == critical

        # the customers' own filter, from the customer table
        await pilot.press("tab")
        await wait_for(pilot, lambda: customers.has_focus)
        box = await open_filter(app, pilot)
        assert box.value == ""
        await pilot.press("escape")
        await wait_for(pilot, lambda: customers.has_focus)
        assert attention.filtered_count == critical  # escape cleared only the customers'

        await pilot.press("tab")
        await wait_for(pilot, lambda: attention.has_focus)
        await pilot.press("escape")
        await wait_for(pilot, lambda: attention.filter_text == "")
        assert attention.filtered_count == total


async def _command(app: BtConsoleApp, pilot: Any, text: str) -> None:
    await pilot.press("colon")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandLine))
    app.screen.query_one(Input).value = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, PaneScreen))


async def test_a_change_of_scope_starts_the_tables_at_their_top(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=SIZE) as pilot:
        # the overview's attention list, scrolled to its end
        attention = app.screen.query_one("#attention", ResourceTable)
        await wait_for(pilot, lambda: attention.total_count > 20)
        attention.focus()
        await pilot.press("G")
        await wait_for(pilot, lambda: attention.scroll_offset.y > 0)

        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        table = pane(app).table
        await pilot.press("G")
        await wait_for(pilot, lambda: table.scroll_offset.y > 0)
        last = table.cursor_row
        assert last is not None
        profile = last.payload.profile  # the customer of the last row: its rows stay

        await _command(app, pilot, f"customer {profile}")
        await wait_for(pilot, lambda: app.scope == profile)
        await wait_for(pilot, lambda: table.cursor_index == 0)
        assert table.scroll_offset.y == 0
        first = table.visible_rows[0]
        assert table.cursor_row == first
        assert first.cells[0][:8] in table.render_line(1).text  # drawn right under the header

        # a pane not in view when the scope changed starts at its top too
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await wait_for(pilot, lambda: attention.scroll_offset.y == 0)
        assert attention.cursor_index == 0
