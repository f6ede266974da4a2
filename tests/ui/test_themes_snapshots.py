"""Snapshots (SVG) of the overview at 80x24 in every shipped theme and under NO_COLOR,
with the customers focused and again with the attention list focused (so the focus
marker of both tables is on record).

Deterministic as tests/ui/test_app_snapshots.py is: a fixed estate stored in a cache
as fetched at a fixed moment, the app offline with a fixed clock. Regenerate after an
intended change with ``--snapshot-update``, then look at the SVGs in ``__snapshots__``.
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
from btconsole.ui.themes import load_themes, shipped_theme_dir
from tests.ui.conftest import (
    FIXED_EPOCH,
    FIXED_NOW,
    Served,
    copy_entries,
    fill,
    wait_for,
)

SIZE = (80, 24)
LOOKS = [*sorted(load_themes(shipped_theme_dir()).themes), "NO_COLOR"]
FETCHED_AT = FIXED_EPOCH - 5 * 60


@pytest.fixture(scope="module")
def snapshot_cache(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("snapshot-cache")
    with Cache.open(directory / "fetched.sqlite3") as fetched:
        asyncio.run(fill(served, fetched))
        path = directory / "cache.sqlite3"
        with Cache.open(path) as cache:
            assert copy_entries(fetched, cache, now=FETCHED_AT, ttl=3600.0) > 0
    return path


@pytest.fixture
def make(
    served: Served, snapshot_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], BtConsoleApp]]:
    """The offline, fixed-clock app in a theme, or under NO_COLOR (config asks for bt)."""
    caches: list[Cache] = []

    def build(look: str) -> BtConsoleApp:
        cache = Cache.open(snapshot_cache, readonly=True)
        caches.append(cache)
        environ = {}
        if look == "NO_COLOR":
            monkeypatch.setenv("NO_COLOR", "1")  # Textual's monochrome filter
            environ = {"NO_COLOR": "1"}  # btconsole's monochrome theme
        else:
            monkeypatch.delenv("NO_COLOR", raising=False)
        return BtConsoleApp(
            served.config,
            cache,
            offline=True,
            environ=environ,
            theme="bt" if look == "NO_COLOR" else look,
            clock=lambda: FIXED_NOW,
            data_clock=lambda: FIXED_EPOCH,
        )

    yield build
    for cache in caches:
        cache.close()


async def _overview(pilot: Pilot[Any]) -> None:
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "PANE", None) == "overview")


async def _attention(pilot: Pilot[Any]) -> None:
    await _overview(pilot)
    await pilot.press("tab")
    await wait_for(pilot, lambda: getattr(pilot.app.focused, "id", None) == "attention")


@pytest.mark.parametrize("focus", ["customers", "attention"])
@pytest.mark.parametrize("look", LOOKS)
def test_overview(
    snap_compare: Any, make: Callable[[str], BtConsoleApp], look: str, focus: str
) -> None:
    run_before = _overview if focus == "customers" else _attention
    assert snap_compare(make(look), terminal_size=SIZE, run_before=run_before)
