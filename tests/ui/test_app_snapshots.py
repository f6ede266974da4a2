"""Snapshots (SVG) of every screen at 80x24, 120x40, 160x48 and 200x50, and of every
shipped theme.

Deterministic by construction: a fixed estate (seed 1, small, a fixed date, no
flapping devices), fetched once through the engine and stored in a cache as fetched at
a fixed moment; the app offline (no refresh, no timers that change text) with a fixed
clock for ages in rows and in the status bar.

Regenerate after an intended change: ``pytest tests/ui/test_app_snapshots.py
--snapshot-update``, then look at the SVGs in ``__snapshots__``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from btconsole.cache import Cache
from btconsole.ui.app import BtConsoleApp
from btconsole.ui.details import ArcDetails, CircuitDetails
from btconsole.ui.screens import HelpScreen
from btconsole.ui.table import ResourceTable
from tests.ui.conftest import (
    FIXED_EPOCH,
    FIXED_NOW,
    Served,
    copy_entries,
    fill,
    wait_for,
)

SIZES = [(80, 24), (120, 40), (160, 48), (200, 50)]
# "bt", the default, is in every test_screen snapshot
THEMES = ["bt-light", "high-contrast", "monochrome"]
FETCHED_AT = FIXED_EPOCH - 5 * 60  # every figure in the status bar is "5m" old


@pytest.fixture(scope="module")
def snapshot_cache(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the estate as fetched at ``FETCHED_AT`` (TTL 1 h: nothing stale)."""
    directory = tmp_path_factory.mktemp("snapshot-cache")
    with Cache.open(directory / "fetched.sqlite3") as fetched:
        asyncio.run(fill(served, fetched))
        path = directory / "cache.sqlite3"
        with Cache.open(path) as cache:
            assert copy_entries(fetched, cache, now=FETCHED_AT, ttl=3600.0) > 0
    return path


@pytest.fixture
def make(served: Served, snapshot_cache: Path) -> Iterator[Callable[..., BtConsoleApp]]:
    """Build the offline, fixed-clock app (its cache closed after the test)."""
    caches: list[Cache] = []

    def build(**kwargs: Any) -> BtConsoleApp:
        cache = Cache.open(snapshot_cache, readonly=True)
        caches.append(cache)
        return BtConsoleApp(
            served.config,
            cache,
            offline=True,
            environ={},
            clock=lambda: FIXED_NOW,
            data_clock=lambda: FIXED_EPOCH,
            **kwargs,
        )

    yield build
    for cache in caches:
        cache.close()


def _pane(key: str, name: str) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press(key)
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "PANE", None) == name)

    return run_before


async def _circuit_details(pilot: Pilot[Any]) -> None:
    await _pane("3", "circuits")(pilot)
    await pilot.press("down", "down", "enter")  # a degraded circuit: more to see
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CircuitDetails))


async def _arc_details(pilot: Pilot[Any]) -> None:
    await _pane("2", "arc")(pilot)
    table = pilot.app.screen.query_one(ResourceTable)
    # a machine in error: its code and message must show without scrolling
    failed = next(row for row in table.visible_rows if row.payload.error_codes)
    assert table.select_key(failed.key)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ArcDetails))


async def _help(pilot: Pilot[Any]) -> None:
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))


SCREENS: dict[str, Callable[[Pilot[Any]], Any]] = {
    "overview": _pane("1", "overview"),
    "arc": _pane("2", "arc"),
    "circuits": _pane("3", "circuits"),
    "policy": _pane("4", "policy"),
    "spend": _pane("5", "spend"),
    "health": _pane("6", "health"),
    "arc-details": _arc_details,
    "circuit-details": _circuit_details,
    "help": _help,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    snap_compare: Any, make: Callable[..., BtConsoleApp], screen: str, size: Any
) -> None:
    assert snap_compare(make(), terminal_size=size, run_before=SCREENS[screen])


@pytest.mark.parametrize("theme", THEMES)
def test_theme(snap_compare: Any, make: Callable[..., BtConsoleApp], theme: str) -> None:
    assert snap_compare(make(theme=theme), terminal_size=(80, 24), run_before=SCREENS["arc"])
