"""The console's refresh in a process of its own, for real: the child is
``python -m btconsole.refresher`` with the real engine and SDK clients over HTTPS to the
emulator; the console hears each landed scope and each finished customer over its pipe.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from btconsole.cache import Cache
from btconsole.digest import Digester
from btconsole.refresher import RefreshProcess
from btconsole.ui.app import BtConsoleApp
from btconsole.ui.panes import OverviewScreen
from tests.ui.conftest import AS_OF, FIXED_NOW, Notes, Served, wait_for

SIZE = (100, 30)
LONG = 6000  # pauses of 10 ms: a minute at most (the child imports the SDK first)


def process_app(served: Served, cache: Cache) -> BtConsoleApp:
    """The app as the CLI builds it, refreshing through the child (no engine_factory);
    the child gets the profiles' secrets and the estate's date, as a user's shell would
    give it the secrets."""
    return BtConsoleApp(
        served.config,
        cache,
        environ={},
        refresh_interval=3600,
        clock=lambda: FIXED_NOW,
        refresher_environ={**os.environ, **served.environ},
        refresher_args=("--today", AS_OF.isoformat(), "--now", FIXED_NOW.isoformat()),
    )


def overview_cells(app: BtConsoleApp) -> list[tuple[str, ...]]:
    screen = app.screen
    assert isinstance(screen, OverviewScreen)
    return [tuple(str(c) for c in row.cells) for row in screen.table.visible_rows]


async def test_a_cold_refresh_runs_in_its_own_process_and_lands_customer_by_customer(
    served: Served, tmp_path: Path
) -> None:
    served.emulator.reset()
    profiles = list(served.config.profiles)
    with Cache.open(tmp_path / "cache.sqlite3") as cache:
        app = process_app(served, cache)
        done: list[str] = []
        app.data.add_customer_listener(done.append)
        async with app.run_test(size=SIZE) as pilot:
            # empty cache: every customer unknown until its refresh is done
            assert all("?" in " ".join(cells) for cells in overview_cells(app))
            await wait_for(pilot, lambda: set(done) >= set(profiles), tries=LONG)
            await wait_for(pilot, lambda: not app.data.refreshing, tries=LONG)
            refresher = app.data.refresher
            assert isinstance(refresher, RefreshProcess) and refresher.running
            process: Any = refresher._process
            # the console ran no engine of its own: the refresh was the child's
            assert app.data._engine is None
            assert served.emulator.stats()["total"] > 0
            # every row now shows data read by the child, none is unknown
            await wait_for(pilot, lambda: not any("?" in " ".join(c) for c in overview_cells(app)))
            # the child made each customer's digest as it finished: current, nothing to redo
            digester = Digester(served.config, cache, FIXED_NOW)
            digester.read(profiles)
            assert digester.recomputed == []
        # quitting the console ends the child
        assert process.returncode is not None


async def test_a_refresh_process_that_dies_is_reported_and_started_again(
    served: Served, tmp_path: Path
) -> None:
    served.emulator.reset()
    profiles = list(served.config.profiles)
    with Cache.open(tmp_path / "cache.sqlite3") as cache:
        app = process_app(served, cache)
        notes = Notes(app)
        done: list[str] = []
        app.data.add_customer_listener(done.append)
        # every request waits long enough for the child to be killed in the middle
        served.emulator.add_fault(kind="latency", ms=3000)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: bool(app.data.refreshing), tries=LONG)
            refresher = app.data.refresher
            assert isinstance(refresher, RefreshProcess)
            await wait_for(pilot, lambda: refresher.running, tries=LONG)
            await wait_for(pilot, lambda: refresher.in_flight > 0, tries=LONG)
            first: Any = refresher._process
            os.kill(first.pid, signal.SIGKILL)
            await wait_for(pilot, lambda: "the refresh process ended" in notes, tries=LONG)
            title, _message, severity = notes.find("the refresh process ended")  # type: ignore[misc]
            assert "refresh failed" in title and severity == "error"
            assert not app.data.refreshing
            assert done == []  # no customer was claimed done
            served.emulator.reset()
            await pilot.press("R")  # asked again: a new child
            await wait_for(pilot, lambda: set(done) >= set(profiles), tries=LONG)
            assert refresher._process is not first and refresher.running
