"""The demo's first frame shows the estate (issue 12, point 11): before the first paint
:func:`btconsole.ui.launch.prefill` reads what was never read, through the real engine
and SDK clients over HTTPS from the emulator, into the demo's own cache."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from btconsole.cache import Cache, default_cache_path
from btconsole.errors import UsageError
from btconsole.ui.data import PANE_DOMAINS
from btconsole.ui.launch import _Progress, demo_cache_path, demo_dir, prefill, unread
from btconsole.ui.table import ResourceTable
from tests.ui.conftest import FIXED_NOW, Served, make_app, wait_for

SIZE = (80, 24)


def test_the_first_frame_after_prefill_shows_every_customer(served: Served, tmp_path: Path) -> None:
    # not a coroutine: prefill runs its own event loop, before the app's (as the CLI does)
    served.emulator.reset()
    profiles = list(served.config.profiles)
    with Cache.open(tmp_path / "cache.sqlite3") as cache:
        assert unread(served.config, cache) == [(p, d) for p in profiles for d in PANE_DOMAINS]

        landed: list[tuple[int, int]] = []
        outcomes = prefill(
            served.config,
            cache,
            now=FIXED_NOW,
            engine_factory=served.engine_factory(),
            progress=lambda done, total: landed.append((done, total)),
        )

        assert outcomes and all(o.status == "fetched" for o in outcomes), outcomes
        assert {o.key.profile for o in outcomes} == set(profiles)
        assert {o.key.domain for o in outcomes} == set(PANE_DOMAINS)
        assert unread(served.config, cache) == []
        assert landed == [(n, len(profiles)) for n in range(1, len(profiles) + 1)]
        # read, not invented: every record came from the emulator's answers
        assert served.emulator.stats()["total"] > 0

        # offline: nothing refreshes, so what the first frame shows is what prefill read
        asyncio.run(_first_frame(served, cache, profiles))


async def _first_frame(served: Served, cache: Cache, profiles: list[str]) -> None:
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.first_paint is not None)
        table = app.screen.query_one("#table", ResourceTable)
        rows = {row.key: row.cells for row in table.visible_rows}
        assert set(rows) == set(profiles)
        for cells in rows.values():
            assert "?" not in cells[1:5], cells
            assert cells[1] != "0/0/0/0", cells
        attention = app.screen.query_one("#attention", ResourceTable)
        assert not any("not read yet" in r.cells[3] for r in attention.visible_rows)


def test_prefill_reads_nothing_already_read(served: Served, tmp_path: Path) -> None:
    with Cache.open(tmp_path / "cache.sqlite3") as cache:
        factory = served.engine_factory()
        assert prefill(served.config, cache, now=FIXED_NOW, engine_factory=factory)
        before = served.emulator.stats()["total"]
        assert prefill(served.config, cache, now=FIXED_NOW, engine_factory=factory) == []
        assert served.emulator.stats()["total"] == before


def test_the_progress_line_off_a_terminal_is_written_once() -> None:
    stream = io.StringIO()
    progress = _Progress(stream)
    progress(1, 2)
    progress(2, 2)
    assert stream.getvalue() == "btconsole demo: reading the demo estate…\n"


def test_the_demo_cache_is_never_the_users_cache() -> None:
    path = demo_cache_path(demo_dir() / "small-1")
    assert path != default_cache_path()
    assert demo_dir() in path.parents
    with pytest.raises(UsageError, match="console's own cache"):
        demo_cache_path(default_cache_path().parent)
