"""The console with one Lighthouse profile: its discovered customers are rows of the
overview like configured ones, refreshed by the real refresh process (which builds
the same customers from the discovery in the cache) with the provider's credential."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from btconsole.cache import Cache
from btconsole.config import Config, load_config
from btconsole.emulator.serve import secret_environment, write_config
from btconsole.lighthouse import discover, effective_config
from btconsole.ui.app import BtConsoleApp
from tests.ui.conftest import AS_OF, FIXED_NOW, Served, wait_for
from tests.ui.test_refresh_process import LONG, SIZE, overview_cells


def _console(config: Config, cache: Cache) -> BtConsoleApp:
    """The console on the discovered customers, its refresh process on the estate's day."""
    return BtConsoleApp(
        config,
        cache,
        environ={},
        refresh_interval=3600,
        clock=lambda: FIXED_NOW,
        refresher_environ=dict(os.environ),
        refresher_args=("--today", AS_OF.isoformat(), "--now", FIXED_NOW.isoformat()),
    )


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
        app = _console(effective, cache)
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
            out = io.StringIO()
            child = _Child(cache, out, engine)
            await child.rediscover()
            assert engine.config is child.config
            # the console is told its customers changed (one is marked gone now)
            assert out.getvalue() == '{"event":"customers","problems":[]}\n'
        now = child.config.profiles
        assert now["departed"].delegation_gone and now["departed"].subscriptions == (sid,)
        assert {p.tenant_id for p in now.values() if not p.delegation_gone} == {
            c.tenant_id for c in served.estate.customers
        }
        # fresh now: the next refresh does not discover again
        emulator.reset()
        await child.rediscover()
        assert emulator.stats()["by_route"].get("tenants.list") is None


async def test_customers_that_come_and_go_show_without_a_restart(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer delegates while the console runs: ``R`` discovers again (in the
    refresh process), its row appears and is refreshed, and every pane knows it. A
    customer removes its delegation: its row stays, marked, with its last data."""
    from btconsole.ui.panes import OverviewScreen, PaneScreen
    from btconsole.ui.table import ResourceTable

    emulator = served.emulator
    emulator.reset()
    arriving, leaving = served.estate.customers[0], served.estate.customers[1]
    emulator.revoke_delegations([arriving.tenant_id])  # not delegated yet
    try:
        path = tmp_path / "lighthouse.toml"
        write_config(
            path, served.estate, emulator.base_url, Path(emulator.ca_path), lighthouse=True
        )
        for name, value in secret_environment(served.estate, lighthouse=True).items():
            monkeypatch.setenv(name, value)
        config = load_config(path)
        with Cache.open(tmp_path / "cache.sqlite3") as cache:
            problems = await asyncio.get_running_loop().run_in_executor(
                None, lambda: asyncio.run(discover(config, cache))
            )
            assert problems == []
            effective = effective_config(config, cache)
            assert arriving.tenant_id not in {p.tenant_id for p in effective.profiles.values()}
            app = _console(effective, cache)
            done: list[str] = []
            app.data.add_customer_listener(done.append)

            def named(tenant: str) -> str | None:
                found = [n for n, p in app.config.profiles.items() if p.tenant_id == tenant]
                return found[0] if found else None

            def row_of(name: str) -> tuple[str, ...] | None:
                label = app.config.profiles[name].display_name[:12]
                rows = [cells for cells in overview_cells(app) if label in cells[0]]
                return rows[0] if rows else None

            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: set(done) >= set(effective.profiles), tries=LONG)
                await wait_for(pilot, lambda: not app.data.refreshing, tries=LONG)
                assert len(overview_cells(app)) == len(effective.profiles)

                # the customer delegates its subscriptions; the user refreshes all
                emulator.revoke_delegations([])
                done.clear()
                await pilot.press("R")
                await wait_for(pilot, lambda: named(arriving.tenant_id) is not None, tries=LONG)
                new = named(arriving.tenant_id)
                assert new is not None and app.data.config is app.config
                assert isinstance(app.screen, OverviewScreen)
                await wait_for(pilot, lambda: row_of(new) is not None)
                # refreshed (not only listed): its row has data, not "?"
                await wait_for(pilot, lambda: new in done, tries=LONG)
                await wait_for(pilot, lambda: not app.data.refreshing, tries=LONG)
                await wait_for(pilot, lambda: "?" not in " ".join(row_of(new) or "?"))
                assert len(overview_cells(app)) == len(effective.profiles) + 1
                # every pane and the command line know it
                assert new in app.command_grammar().arguments["customer"]
                await pilot.press("2")
                await wait_for(pilot, lambda: isinstance(app.screen, PaneScreen))
                arc = app.screen
                assert isinstance(arc, PaneScreen)
                await wait_for(
                    pilot,
                    lambda: any(
                        getattr(r.payload, "profile", None) == new for r in arc.table.visible_rows
                    ),
                )

                # another customer removes its delegation
                gone = named(leaving.tenant_id)
                assert gone is not None
                emulator.revoke_delegations([leaving.tenant_id])
                await pilot.press("1")
                await pilot.press("R")
                await wait_for(pilot, lambda: app.config.profiles[gone].delegation_gone, tries=LONG)
                await wait_for(pilot, lambda: not app.data.refreshing, tries=LONG)
                # still shown, with its last data, and marked in the attention list
                kept = row_of(gone)
                assert kept is not None and "?" not in " ".join(kept)
                assert len(overview_cells(app)) == len(effective.profiles) + 1
                screen = app.screen
                assert isinstance(screen, OverviewScreen)
                attention = screen.query_one("#attention", ResourceTable)
                label = app.config.profiles[gone].display_name[:12]

                def marked() -> bool:
                    for row in attention.visible_rows:
                        text = " ".join(str(c) for c in row.cells)
                        if "delegation gone" in text and label in text:
                            return True
                    return False

                await wait_for(pilot, marked)

                # it delegates again: the same customer, unmarked and refreshed
                emulator.revoke_delegations([])
                done.clear()
                await pilot.press("R")
                await wait_for(
                    pilot, lambda: not app.config.profiles[gone].delegation_gone, tries=LONG
                )
                await wait_for(pilot, lambda: gone in done, tries=LONG)
                await wait_for(pilot, lambda: not app.data.refreshing, tries=LONG)
                await wait_for(pilot, lambda: not marked())
                assert named(leaving.tenant_id) == gone
    finally:
        emulator.reset()


async def test_a_discovery_that_keeps_failing_keeps_the_customers_and_says_why(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresh process's discovery fails after its retries: every customer stays,
    the console notifies the reason once and its status bar counts the failure."""
    from btconsole.ui.widgets import StatusBar
    from tests.ui.conftest import Notes

    emulator = served.emulator
    emulator.reset()
    path = tmp_path / "lighthouse.toml"
    write_config(path, served.estate, emulator.base_url, Path(emulator.ca_path), lighthouse=True)
    for name, value in secret_environment(served.estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    config = load_config(path)
    try:
        with Cache.open(tmp_path / "cache.sqlite3") as cache:
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: asyncio.run(discover(config, cache))
            )
            effective = effective_config(config, cache)
            app = _console(effective, cache)
            notes = Notes(app)
            done: list[str] = []
            app.data.add_customer_listener(done.append)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: set(done) >= set(effective.profiles), tries=LONG)
                await wait_for(pilot, lambda: not app.data.refreshing, tries=LONG)
                emulator.add_fault(kind="server_error", status=503, route="subscriptions.list")
                await pilot.press("R")
                await wait_for(pilot, lambda: "Lighthouse discovery" in notes, tries=LONG)
                _title, message, severity = notes.find("Lighthouse discovery")  # type: ignore[misc]
                assert severity == "warning"
                assert message.startswith("msp: Lighthouse discovery failed (Azure failed)")
                assert f"showing the {len(effective.profiles)} customer(s)" in message
                await wait_for(pilot, lambda: not app.data.refreshing, tries=LONG)
                assert app.config.profiles == effective.profiles  # nobody dropped
                assert len(overview_cells(app)) == len(effective.profiles)
                app.screen.update_bars()  # type: ignore[attr-defined]
                assert " 1 err" in str(app.screen.query_one(StatusBar).render())
                # told once: a second failing discovery does not notify again
                count = len(notes.items)
                tried = emulator.route_count("subscriptions.list")
                done.clear()
                await pilot.press("R")  # forced: discovers again (and fails again)
                await wait_for(
                    pilot,
                    lambda: emulator.route_count("subscriptions.list") >= tried + 3,
                    tries=LONG,
                )
                await wait_for(pilot, lambda: set(done) >= set(effective.profiles), tries=LONG)
                await wait_for(pilot, lambda: not app.data.refreshing, tries=LONG)
                assert [n for n in notes.items[count:] if n[0] == "Lighthouse discovery"] == []
    finally:
        emulator.reset()
