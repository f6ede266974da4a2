"""The console with one Lighthouse profile: its discovered customers are rows of the
overview like configured ones, refreshed by the real refresh process (which builds
the same customers from the discovery in the cache) with the provider's credential."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from btconsole.cache import Cache
from btconsole.config import load_config
from btconsole.emulator.serve import secret_environment, write_config
from btconsole.lighthouse import discover, effective_config
from btconsole.ui.app import BtConsoleApp
from tests.ui.conftest import AS_OF, FIXED_NOW, Served, wait_for
from tests.ui.test_refresh_process import LONG, SIZE, overview_cells


async def test_discovered_customers_are_refreshed_and_shown_like_configured_ones(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served.emulator.reset()
    path = tmp_path / "lighthouse.toml"
    emulator = served.emulator
    write_config(path, served.estate, emulator.base_url, Path(emulator.ca_path), lighthouse=True)
    for name, value in secret_environment(served.estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    config = load_config(path)
    assert config.profiles == {}
    with Cache.open(tmp_path / "cache.sqlite3") as cache:
        # what `btconsole` does before the console starts
        problems = await asyncio.get_running_loop().run_in_executor(
            None, lambda: asyncio.run(discover(config, cache))
        )
        assert problems == []
        effective = effective_config(config, cache)
        tenants = {p.tenant_id for p in effective.profiles.values()}
        assert tenants == {c.tenant_id for c in served.estate.customers}
        app = BtConsoleApp(
            effective,
            cache,
            environ={},
            refresh_interval=3600,
            clock=lambda: FIXED_NOW,
            refresher_environ=dict(os.environ),
            refresher_args=("--today", AS_OF.isoformat(), "--now", FIXED_NOW.isoformat()),
        )
        done: list[str] = []
        app.data.add_customer_listener(done.append)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: set(done) >= set(effective.profiles), tries=LONG)
            await wait_for(pilot, lambda: not app.data.refreshing, tries=LONG)
            await wait_for(pilot, lambda: not any("?" in " ".join(c) for c in overview_cells(app)))
            rows = overview_cells(app)
            assert len(rows) == len(effective.profiles)
            shown = " ".join(" ".join(r) for r in rows)
            for profile in effective.profiles.values():
                assert profile.display_name[:12] in shown
