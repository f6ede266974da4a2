"""Truncation keeps identity in the console on the demo estate (medium, seed 1).

Through the real path: the estate served by the emulator, fetched by the engine into a
cache, the app on that cache. Two Frankfurt circuits of one customer stay apart at 80
and 120 columns; an agent five releases behind reads ``(-5)`` at 100; with one customer
in scope its CUSTOMER column is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from btconsole.cache import Cache
from btconsole.emulator.generate import generate
from btconsole.ui.app import BtConsoleApp
from btconsole.ui.panes import PaneScreen
from btconsole.ui.screens import CommandLine
from btconsole.ui.table import ResourceTable
from tests.ui.conftest import AS_OF, FIXED_NOW, Served, fill, make_app, serve, wait_for


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    estate = generate(seed=1, size="medium", as_of=AS_OF)
    with serve(estate, tmp_path_factory.mktemp("emulator")) as running:
        yield running


@pytest.fixture(scope="module")
def cache(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cache]:
    path: Path = tmp_path_factory.mktemp("cache") / "cache.sqlite3"
    with Cache.open(path) as opened:
        asyncio.run(fill(served, opened))
        yield opened


async def _pane(pilot: Any, key: str, name: str) -> ResourceTable:
    await pilot.press(key)
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "PANE", None) == name)
    await pilot.pause()
    return pilot.app.screen.query_one("#table", ResourceTable)


def _lines(table: ResourceTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


@pytest.mark.parametrize("width", [80, 120])
async def test_the_frankfurt_circuits_tell_apart(served: Served, cache: Cache, width: int) -> None:
    names = sorted(
        c.name for c in served.estate.circuits if c.name.startswith("er-contr-frankfurt")
    )
    assert len(names) >= 2  # the estate has the two the issue names
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(width, 30)) as pilot:
        table = await _pane(pilot, "3", "circuits")
        shown = [line for line in _lines(table)[1:] if "er-con" in line and "frankfurt" in line]
        firsts = [line.split()[0] for line in shown]
        assert len(firsts) == len(names) and len(set(firsts)) == len(names), shown
        for name in names:  # the number at the end, the thing that differs, survives
            assert any(first.endswith(name[-3:]) for first in firsts), (name, firsts)


async def test_the_agent_lag_shows_at_100_columns(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await _pane(pilot, "2", "arc")
        table.sort_by("agent")  # most releases behind first
        table.go_top()
        await pilot.pause()
        lagging = [r for r in table.visible_rows if r.cells[3].endswith(")")]
        assert lagging
        shown = _lines(table)[1:]
        for row, line in zip(table.visible_rows, shown, strict=False):
            if row.cells[3].endswith(")"):
                lag = row.cells[3].rsplit(" ", 1)[1]
                assert lag in line, (row.cells[3], line)


async def test_one_customer_in_scope_hides_the_customer_column(
    served: Served, cache: Cache
) -> None:
    app: BtConsoleApp = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(200, 40)) as pilot:
        table = await _pane(pilot, "2", "arc")
        assert "customer" in table.shown_columns
        await pilot.press("colon")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandLine))
        app.screen.query_one(Input).value = "customer contoso-retail"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PaneScreen))
        await wait_for(pilot, lambda: "customer" not in table.shown_columns)
        assert "CUSTOMER" not in _lines(table)[0]
