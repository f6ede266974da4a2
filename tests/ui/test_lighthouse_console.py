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


async def test_the_refresh_process_discovers_again_when_stale_and_marks_gone_customers(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import time

    from btconsole.engine import Engine
    from btconsole.lighthouse import DISCOVERY_TTL, TenantRecord, discovery_key
    from btconsole.records import SubscriptionRecord
    from btconsole.refresher import _Child

    emulator = served.emulator
    emulator.reset()
    path = tmp_path / "lighthouse.toml"
    write_config(path, served.estate, emulator.base_url, Path(emulator.ca_path), lighthouse=True)
    for name, value in secret_environment(served.estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    config = load_config(path)
    gone = "99999999-8888-7777-6666-555555555555"
    sid = "99999999-0000-0000-0000-000000000001"
    with Cache.open(tmp_path / "cache.sqlite3") as cache:
        # an old discovery (over its TTL) that knew a customer no longer delegated
        cache.put(
            discovery_key("msp"),
            [
                TenantRecord("msp", gone, "departed", "Departed Ltd"),
                SubscriptionRecord("msp", sid, "old", "Enabled", gone),
            ],
            ttl=DISCOVERY_TTL,
            now=time.time() - 2 * DISCOVERY_TTL,
        )
        effective = effective_config(config, cache)
        assert not effective.profiles["departed"].delegation_gone
        async with Engine(effective, cache) as engine:
            child = _Child(effective, cache, io.StringIO(), engine)
            await child._rediscover()
            assert engine.config is child.config
        now = child.config.profiles
        assert now["departed"].delegation_gone and now["departed"].subscriptions == (sid,)
        assert {p.tenant_id for p in now.values() if not p.delegation_gone} == {
            c.tenant_id for c in served.estate.customers
        }
        # fresh now: the next refresh does not discover again
        emulator.reset()
        await child._rediscover()
        assert emulator.stats()["by_route"].get("tenants.list") is None
