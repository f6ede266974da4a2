"""A pane's rows are built once per visit (Pilot, a cache the engine filled from the
emulator): Textual resumes a screen just mounted by ``switch_mode`` twice, and each
rebuild of a large pane (20,600 Arc machines) cost as much as the first build."""

from __future__ import annotations

from typing import Any

import pytest

from btconsole.cache import Cache
from btconsole.ui.panes import ArcPane, OverviewScreen, PaneScreen
from btconsole.ui.table import Row
from tests.ui.conftest import FIXED_NOW, Served, make_app, wait_for


async def test_a_pane_is_built_once_per_visit(
    served: Served, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[str] = []
    original = ArcPane.build_rows

    def counted(self: ArcPane, profiles: list[str]) -> list[Row]:
        builds.append(self.PANE)
        return original(self, profiles)

    monkeypatch.setattr(ArcPane, "build_rows", counted)
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        screen: Any = app.screen
        assert isinstance(screen, PaneScreen)
        await wait_for(pilot, lambda: screen.table.total_count > 0)
        await pilot.pause()
        await pilot.pause()
        assert builds == ["arc"]  # the first visit: one build, not two

        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        await pilot.pause()
        await pilot.pause()
        assert builds == ["arc", "arc"]  # coming back shows what the cache has now
