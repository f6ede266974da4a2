"""The console driven through Textual's Pilot against the emulator: every key flow.

One emulator (small estate) per module; each test gets its own copy of a cache the
engine filled once, and the app built as the CLI builds it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from platformdirs import user_log_path
from textual import events
from textual.command import CommandList, CommandPalette
from textual.widgets import Input, Static

from btconsole.cache import Cache, CacheKey
from btconsole.records import ArcRecord, PolicyAssignmentRecord
from btconsole.ui.app import BtConsoleApp
from btconsole.ui.details import ArcDetails, ConfirmScreen, PolicyDetails
from btconsole.ui.panes import ArcPane, PaneScreen
from btconsole.ui.screens import CommandLine, HelpScreen
from btconsole.ui.table import ResourceTable
from btconsole.ui.widgets import StatusBar, TitleBar
from tests.ui.conftest import (
    Notes,
    Served,
    fill,
    make_app,
    type_text,
    wait_for,
)

SIZE = (80, 24)


@pytest.fixture(scope="module")
def filled(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache file the engine filled once from the emulator (closed; copy it to use it)."""
    path = tmp_path_factory.mktemp("filled") / "cache.sqlite3"
    with Cache.open(path) as cache:
        asyncio.run(fill(served, cache))
    return path


@pytest.fixture
def fresh(served: Served) -> Served:
    """The module's emulator back at its startup state (no faults, stats zeroed)."""
    served.emulator.reset()
    return served


def pane(app: BtConsoleApp) -> PaneScreen:
    screen = app.screen
    assert isinstance(screen, PaneScreen), screen
    return screen


def bar_text(app: BtConsoleApp, widget: type[Static]) -> str:
    return str(app.screen.query_one(widget).render())


# --------------------------------------------------------------------------- panes


async def test_number_keys_switch_panes_and_every_pane_has_rows(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        assert pane(app).PANE == "overview"
        for key, name in (("2", "arc"), ("3", "circuits"), ("4", "policy"), ("5", "spend")):
            await pilot.press(key)
            await wait_for(pilot, lambda name=name: getattr(app.screen, "PANE", None) == name)
            assert app.current_mode == name
            assert pane(app).table.total_count > 0, name
        await pilot.press("1")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "overview")
        assert pane(app).table.total_count == len(served.config.profiles)


async def test_an_empty_cache_paints_at_once_then_streams_in_the_refresh(
    fresh: Served, tmp_path: Path
) -> None:
    with Cache.open(tmp_path / "cache.sqlite3") as cache:
        app = make_app(fresh, cache)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
            await wait_for(pilot, lambda: pane(app).table.total_count > 0, tries=1500)
            machines = len(fresh.estate.machines) + len(fresh.estate.clusters)
            await wait_for(pilot, lambda: pane(app).table.total_count == machines, tries=1500)
        assert fresh.emulator.stats()["total"] > 0


# --------------------------------------------------------------------------- command line


async def _command(app: BtConsoleApp, pilot: Any, text: str, key: str = "enter") -> Input:
    """``:`` then ``text`` in the command line (set at once: typing is slow), then ``key``."""
    await pilot.press("colon")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandLine))
    box = app.screen.query_one(Input)
    box.value = text
    box.cursor_position = len(text)
    if key:
        await pilot.press(key)
    return box


async def test_command_line_switches_panes_scopes_and_themes(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandLine))
        await type_text(pilot, "arc")
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "arc")

        # "customer fa" + tab completes the name; enter scopes every pane to it
        box = await _command(app, pilot, "customer fa", key="")
        await type_text(pilot, "b")
        await wait_for(pilot, lambda: box._suggestion != "")
        await pilot.press("tab")
        assert box.value == "customer fabrikam-logistics"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.scope == "fabrikam-logistics")
        await wait_for(pilot, lambda: "Fabrikam Logistics" in bar_text(app, TitleBar))
        rows = pane(app).table.visible_rows
        assert rows and {r.payload.profile for r in rows} == {"fabrikam-logistics"}

        await _command(app, pilot, "all")
        await wait_for(pilot, lambda: app.scope is None)
        await wait_for(pilot, lambda: "all customers (3)" in bar_text(app, TitleBar))
        assert len({r.payload.profile for r in pane(app).table.visible_rows}) > 1

        await _command(app, pilot, "theme high-contrast")
        await wait_for(pilot, lambda: app.theme == "high-contrast")

        await _command(app, pilot, "frobnicate now")
        await wait_for(pilot, lambda: "unknown command: frobnicate now" in notes)
        assert notes.find("unknown command")[2] == "error"  # type: ignore[index]

        await _command(app, pilot, "customer nobody")
        await wait_for(pilot, lambda: "no single customer matches 'nobody'" in notes)
        assert app.scope is None

        # escape leaves the command line without doing anything
        await _command(app, pilot, "spend", key="escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PaneScreen))
        assert app.current_mode == "arc"


# --------------------------------------------------------------------------- filter, sort


async def test_filter_plain_key_value_negation_and_escape(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        table = pane(app).table
        total = table.total_count
        machines = [m for m in served.estate.machines if m.name.startswith("fabrl")]
        assert machines

        await pilot.press("slash")
        box = app.screen.query_one("#filter", Input)
        await wait_for(pilot, lambda: box.has_focus)
        await type_text(pilot, "fab")
        assert 0 < table.filtered_count < total
        assert all("fab" in " ".join(r.cells).lower() for r in table.visible_rows)
        assert "/fab" in bar_text(app, TitleBar)

        box.value = "status:disconnected"
        await wait_for(pilot, lambda: table.filter_text == "status:disconnected")
        statuses = {r.cells[1] for r in table.visible_rows}
        assert statuses == {"Disconnected"}
        disconnected = table.filtered_count

        box.value = "!status:disconnected"
        await wait_for(pilot, lambda: table.filter_text == "!status:disconnected")
        assert "Disconnected" not in {r.cells[1] for r in table.visible_rows}
        assert table.filtered_count == total - disconnected

        # enter keeps the filter and gives the keys back to the table
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.has_focus)
        assert table.filtered_count == total - disconnected
        # escape clears it
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.filter_text == "")
        assert table.filtered_count == total
        assert not box.has_class("-visible")


def burst(app: BtConsoleApp, *keys: str) -> None:
    """Keys as one read from the terminal delivers them: all queued before any is handled."""
    for key in keys:
        char = {"slash": "/", "colon": ":", "space": " "}.get(key, key if len(key) == 1 else None)
        app.post_message(events.Key(key, char))


async def test_typing_straight_after_slash_goes_into_the_filter(
    served: Served, cache: Cache
) -> None:
    """k9s habit: ``/text`` typed in one go; no key may reach the table meanwhile."""
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        table = pane(app).table
        sort_before = (table.sort_key, table.sort_reverse)
        burst(app, "slash", "d", "i", "s", "c")
        await wait_for(pilot, lambda: table.filter_text == "disc")
        assert (table.sort_key, table.sort_reverse) == sort_before
        burst(app, "slash", "colon", "x")  # in the filter box, "/" and ":" are text
        await wait_for(pilot, lambda: table.filter_text == "disc/:x")
        assert isinstance(app.screen, ArcPane)


async def test_typing_straight_after_colon_goes_into_the_command_line(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        burst(app, "colon", "s", "p", "e", "n", "d", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "spend")
        burst(app, "colon", "a", "r", "c")  # "r" must not refresh: it is text here
        await wait_for(pilot, lambda: isinstance(app.screen, CommandLine))
        box = app.screen.query_one(Input)
        await wait_for(pilot, lambda: box.value == "arc")
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "arc")
        assert "offline: serving the cache only" not in notes
        # ":" on the help screen does not open the command line over it
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("colon")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_sort_keys_move_and_reverse_the_sort_column(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        table = pane(app).table
        assert table.sort_key == "status"
        await pilot.press("greater_than_sign")
        assert table.sort_key == "since"
        since = [r.sort_values[2] for r in table.visible_rows]
        assert since == sorted(since)
        await pilot.press("s")
        assert table.sort_reverse
        since = [r.sort_values[2] for r in table.visible_rows]
        assert since == sorted(since, reverse=True)
        await pilot.press("less_than_sign", "less_than_sign")
        assert table.sort_key == "name"
        names = [r.sort_values[0] for r in table.visible_rows]
        assert names in (sorted(names), sorted(names, reverse=True))
        header = app.screen.query_one(ResourceTable).render_line(0).text
        assert "NAME" in header and ("▲" in header or "▼" in header)


# --------------------------------------------------------------------------- details


async def test_enter_opens_details_with_fetched_extensions_and_escape_goes_back(
    fresh: Served, cache: Cache
) -> None:
    app = make_app(fresh, cache)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        table = pane(app).table
        table.set_filter("kind:machine status:connected")
        await pilot.pause()
        row = table.cursor_row
        assert row is not None and isinstance(row.payload, ArcRecord)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcDetails))
        assert row.payload.name in bar_text(app, TitleBar)
        props = str(app.screen.query_one("#props-text", Static).render())
        assert row.payload.id.rsplit("/", 1)[-1] in props
        detail = app.screen.query_one("#detail", ResourceTable)
        machine = next(m for m in fresh.estate.machines if m.name == row.payload.name)
        await wait_for(pilot, lambda: detail.total_count == len(machine.extensions), tries=1500)
        assert {r.cells[0] for r in detail.visible_rows} == {e.name for e in machine.extensions}
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        assert pane(app).table.cursor_row is not None
        assert pane(app).table.cursor_row.key == row.key  # type: ignore[union-attr]


async def test_enter_on_a_customer_opens_its_arc_pane(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        first = pane(app).table.cursor_row
        assert first is not None
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "arc")
        assert app.scope == first.key
        assert {r.payload.profile for r in pane(app).table.visible_rows} == {first.key}


# --------------------------------------------------------------------------- refresh


async def test_r_refreshes_the_pane_and_shift_r_everything(fresh: Served, cache: Cache) -> None:
    app = make_app(fresh, cache)
    profile = next(iter(fresh.config.profiles))
    sub = fresh.estate.customers[0].subscription_ids[0].lower()
    arc_key = CacheKey(profile, "arc", sub)
    spend_key = CacheKey(profile, "spend", sub)
    health_key = CacheKey(profile, "health", sub)

    def fetched(key: CacheKey) -> float:
        entry = cache.get(key)
        assert entry is not None and entry.fetched_at is not None
        return entry.fetched_at

    arc_before, spend_before = fetched(arc_key), fetched(spend_key)
    health_before = fetched(health_key)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        await pilot.pause()
        assert fresh.emulator.stats()["total"] == 0  # fresh cache: nothing was due
        await pilot.press("r")
        await wait_for(pilot, lambda: fetched(arc_key) > arc_before, tries=1500)
        # and the health domain, whose patch state the Arc pane shows
        await wait_for(pilot, lambda: fetched(health_key) > health_before, tries=1500)
        assert fetched(spend_key) == spend_before  # r is this pane's domains only
        assert fresh.emulator.stats()["total"] > 0
        await pilot.press("R")
        await wait_for(pilot, lambda: fetched(spend_key) > spend_before, tries=1500)
        await wait_for(pilot, lambda: not app.data.refreshing, tries=1500)


async def test_refresh_offline_says_so(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: "offline: serving the cache only" in notes)
        assert "OFFLINE" in bar_text(app, StatusBar)


async def test_a_failed_refresh_shows_a_notice_and_keeps_the_rows(
    fresh: Served, cache: Cache
) -> None:
    app = make_app(fresh, cache)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        table = pane(app).table
        before = [r.key for r in table.visible_rows]
        total = table.total_count
        fresh.emulator.add_fault(kind="forbidden")
        await pilot.press("r")

        # the Arc pane's r refreshes arc and health (its patch columns): both fail
        def failed() -> tuple[str, str, str] | None:
            return next((n for n in notes.items if n[0].endswith(": refresh failed")), None)

        await wait_for(pilot, lambda: failed() is not None, tries=1500)
        title, message, severity = failed()  # type: ignore[misc]
        assert set(title.removesuffix(": refresh failed").split(", ")) == {"arc", "health"}
        assert "showing the last good data" in message
        assert severity == "warning"
        await wait_for(pilot, lambda: " err" in bar_text(app, StatusBar))
        assert table.total_count == total
        assert [r.key for r in table.visible_rows] == before


async def test_stale_data_is_visibly_stale(served: Served, filled: Path, tmp_path: Path) -> None:
    with Cache.open(tmp_path / "cache.sqlite3") as cache, Cache.open(filled) as source:
        two_hours_ago = time.time() - 7200
        for domain in ("subscriptions", "arc", "circuits", "policy", "spend", "health"):
            for entry in source.read_domain(domain):
                cache.put(entry.key, entry.records, ttl=300, now=two_hours_ago)
        app = make_app(served, cache, offline=True)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
            bar = app.screen.query_one(StatusBar)
            status = bar.render()
            text = str(status)
            assert "arc 2h" in text and "STALE" in text
            assert "hea 2h" in text  # Azure's own health is a domain like the others
            spans = {text[s.start : s.end]: str(s.style) for s in status.spans}  # type: ignore[attr-defined]
            # styled as stale (the theme's warning colour), not plain
            assert spans.get("arc 2h") == str(bar.get_component_rich_style("status-bar--warning"))


# --------------------------------------------------------------------------- copy, link


async def test_y_copies_the_resource_id_and_o_shows_the_portal_link(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        row = pane(app).table.cursor_row
        assert row is not None
        await pilot.press("y")
        assert app.clipboard == row.payload.id
        await pilot.press("o")
        profile = served.config.profile(row.payload.profile)
        link = f"{profile.cloud.portal}#@{profile.tenant_id}/resource{row.payload.id}"
        assert app.clipboard == link  # copied; shown on one line (tests/ui/test_app_cmdline.py)


# --------------------------------------------------------------------------- help, palette, quit


async def test_help_lists_every_binding_with_its_description(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=(80, 60)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one("#help-text", Static).render())
        rows = app.key_map()
        assert len(rows) > 20
        for _where, key, description in rows:
            assert description, key
            assert re.search(rf"  {re.escape(key)}  +{re.escape(description)}\n", text), key
        for group in ("global", "pane", "table", "details", "circuit details", "policy details"):
            assert f"\n{group}\n" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PaneScreen))


def test_every_binding_has_a_description_and_an_id() -> None:
    from textual.binding import Binding

    from btconsole.ui import details, panes, screens, table

    classes: list[type[Any]] = [BtConsoleApp, table.ResourceTable, screens.HelpScreen]
    classes += [screens.CommandLine, details.ConfirmScreen, *panes.PANES.values()]
    classes += [details.DetailsScreen, details.CircuitDetails, details.PolicyDetails]
    for cls in classes:
        for binding in cls.BINDINGS:
            assert isinstance(binding, Binding), (cls, binding)
            assert binding.description and binding.id, (cls, binding)


async def test_ctrl_p_opens_the_palette_and_runs_a_command(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await type_text(pilot, "go to spend")
        options = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: options.option_count > 0, tries=800)
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "spend")


async def test_q_quits_with_exit_code_zero(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert app.return_value is None


# --------------------------------------------------------------------------- actions


async def _open_policy_details(app: BtConsoleApp, pilot: Any) -> PolicyAssignmentRecord:
    await pilot.press("4")
    await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "policy")
    row = pane(app).table.cursor_row
    assert row is not None and isinstance(row.payload, PolicyAssignmentRecord)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, PolicyDetails))
    return row.payload


async def test_policy_evaluation_is_refused_without_allow_actions(
    fresh: Served, cache: Cache
) -> None:
    app = make_app(fresh, cache)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        record = await _open_policy_details(app, pilot)
        # the drill-down: the assignment's non-compliant resources, by name and group
        detail = app.screen.query_one("#detail", ResourceTable)
        await wait_for(pilot, lambda: detail.total_count > 0, tries=1500)
        assert detail.total_count == record.non_compliant_resources
        for row in detail.visible_rows:
            assert row.cells[0] == row.key.rsplit("/", 1)[-1]
            assert f"/resourceGroups/{row.cells[2]}/".lower() in row.key.lower()
            assert row.cells[4] == "NonCompliant"
            # when evaluated: an age (the emulator's timestamps are in the past), no date
            assert re.fullmatch(r"\d+[smhdy]", row.cells[5]), row.cells[5]
        await pilot.pause()
        # the state whole on screen, not "NonCompli…"
        assert "NonCompliant" in detail.render_line(1).text
        await pilot.press("e")
        await wait_for(pilot, lambda: "is read-only: set allow_actions = true" in notes)
        assert f"profile {record.profile} is read-only" in notes
        await pilot.pause()
        assert isinstance(app.screen, PolicyDetails)  # no confirmation asked
    assert fresh.emulator.route_count("policy.trigger_evaluation") == 0


@pytest.fixture
def audit_file() -> Iterator[Path]:
    """The audit log the CLI sets up (in the isolated home), removed afterwards."""
    from btconsole.ui.launch import _audit_handler

    audit = logging.getLogger("btconsole.audit")
    before = list(audit.handlers)
    _audit_handler()
    yield user_log_path("btconsole") / "audit.log"
    for handler in audit.handlers[:]:
        if handler not in before:
            audit.removeHandler(handler)
            handler.close()


async def test_policy_evaluation_with_allow_actions_is_confirmed_and_audit_logged(
    fresh: Served, cache: Cache, tmp_path: Path, audit_file: Path
) -> None:
    config = fresh.config_with(tmp_path, allow_actions="true")
    app = make_app(fresh, cache, config=config)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        record = await _open_policy_details(app, pilot)
        # escape on the confirmation does nothing
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen
        assert isinstance(question, ConfirmScreen)
        assert record.subscription_id in question.question
        assert config.profile(record.profile).display_name in question.question
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PolicyDetails))
        # y runs it
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "evaluation finished" in notes, tries=2000)
    lines = audit_file.read_text(encoding="utf-8").splitlines()
    target = f"/subscriptions/{record.subscription_id}"
    assert len(lines) == 2
    assert all("action=policy.triggerEvaluation" in line for line in lines)
    assert all(f"profile={record.profile} target={target}" in line for line in lines)
    assert lines[0].endswith("result=started") and lines[1].endswith("result=succeeded")
    calls = fresh.emulator.stats()["by_route"]
    assert any("trigger" in name.lower() and n >= 1 for name, n in calls.items()), calls


# --------------------------------------------------------------------------- status bar


def test_domain_states_from_the_summary_match_the_entries(served: Served, cache: Cache) -> None:
    from dataclasses import replace

    from btconsole.ui.data import DataSource

    cache.put_error(CacheKey("contoso-retail", "arc", "not-a-sub"), "boom", ttl=60)
    later = time.time() + 600
    data = DataSource(served.config, cache, offline=True, clock=lambda: later)
    profiles = list(served.config.profiles)
    domains = ("arc", "circuits", "policy", "spend")
    expected = [
        replace(data.domain_state(d, cache.read_domain(d, profiles)), last_error=None)
        for d in domains
    ]
    assert data.domain_states(domains, profiles) == expected
    assert expected[0].errors == 1 and expected[0].never == 1
    assert data.domain_states(domains, ["nobody"])[0].scopes == 0


async def test_status_bar_ages_keep_counting_between_refreshes(
    served: Served, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    from btconsole.ui import panes

    monkeypatch.setattr(panes, "BARS_EVERY", 0.05)
    now = [time.time()]
    app = make_app(served, cache, offline=True, data_clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        text = bar_text(app, StatusBar)
        assert "arc 2h" not in text and "STALE" not in text
        now[0] += 7200
        await wait_for(pilot, lambda: "arc 2h" in bar_text(app, StatusBar))
        assert "STALE" in bar_text(app, StatusBar)


async def test_circuit_details_fetch_arp_routes_stats_and_metrics(
    fresh: Served, cache: Cache
) -> None:
    from textual.widgets import Sparkline

    from btconsole.ui.details import CircuitDetails

    app = make_app(fresh, cache)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "circuits")
        table = pane(app).table
        assert table.select_key(
            next(c.id for c in fresh.estate.circuits if c.name == "er-fabrl-london-002")
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CircuitDetails))
        detail = app.screen.query_one("#detail", ResourceTable)

        def header() -> str:
            return detail.render_line(0).text

        # availability (at once, from the listing): both devices of the one peering
        assert [r.cells[1] for r in detail.visible_rows] == ["primary", "secondary"]
        for key, label in (("a", "IP ADDRESS"), ("t", "NEIGHBOR"), ("s", "PRIMARY IN")):
            await pilot.press(key)
            await wait_for(pilot, lambda label=label: label in header(), tries=1500)
            await wait_for(pilot, lambda: detail.total_count > 0, tries=1500)
        assert all(cell.endswith("B") for r in detail.visible_rows for cell in r.cells[1:])
        # m: an hour of traffic as sparklines, and the minutes the secondary was down
        await pilot.press("m")
        spark = app.screen.query_one("#spark-in", Sparkline)
        await wait_for(pilot, lambda: bool(spark.data), tries=1500)
        await wait_for(pilot, lambda: "UTC" in header())
        dips = detail.visible_rows
        assert dips and {r.cells[2] for r in dips} == {"secondary"}
        assert all(len(r.cells[0]) == 5 and r.cells[0][2] == ":" for r in dips)  # HH:MM
        times = [r.cells[0] for r in dips]
        assert len(set(times)) == len(times)  # BGP and ARP of a minute share a row
        await pilot.press("v")
        await wait_for(pilot, lambda: "UTC" not in header())
        assert detail.total_count == 2


def test_no_screen_key_is_shadowed_by_the_focused_table() -> None:
    """A key bound by the table (which has focus) and by its screen reaches the table only."""
    from textual.binding import Binding

    from btconsole.ui import details, panes

    def keys(bindings: list[Any], *, priority: bool | None = None) -> set[str]:
        found = set()
        for binding in bindings:
            assert isinstance(binding, Binding)
            if priority is None or binding.priority == priority:
                found.update(k.strip() for k in binding.key.split(","))
        return found

    table_keys = keys(ResourceTable.BINDINGS)
    screens: list[type[Any]] = [BtConsoleApp, *panes.PANES.values()]
    screens += [details.DetailsScreen, details.CircuitDetails, details.PolicyDetails]
    for cls in screens:
        for klass in cls.__mro__:
            shadowed = keys(klass.__dict__.get("BINDINGS", []), priority=False) & table_keys
            assert not shadowed, (klass.__name__, shadowed)


# --------------------------------------------------------------------------- themes


async def test_no_color_selects_monochrome(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True, environ={"NO_COLOR": "1"})
    async with app.run_test(size=SIZE):
        assert app.theme == "monochrome"


async def test_a_bad_user_theme_gives_one_notice_and_a_good_one_is_used(
    served: Served, cache: Cache
) -> None:
    from btconsole.ui.themes import user_theme_dir

    themes = user_theme_dir()  # in the test's own HOME
    themes.mkdir(parents=True)
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "purple"\n')
    (themes / "night.toml").write_text('name = "night"\nprimary = "#3A6EA5"\ndark = true\n')
    app = make_app(served, cache, offline=True, theme="night")
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "night"
        problems = [n for n in notes.items if n[0] == "Theme"]
        assert len(problems) == 1 and "broken.toml" in problems[0][1], notes.items
        assert "is not a #RRGGBB colour" in problems[0][1]
    app = make_app(served, cache, offline=True, theme="nope")
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "bt"
        assert "theme 'nope' not found; using 'bt'" in notes


async def test_enter_on_a_finding_opens_its_pane_at_its_row(served: Served, cache: Cache) -> None:
    from btconsole.health import Finding

    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab")
        attention = app.screen.query_one("#attention", ResourceTable)
        await wait_for(pilot, lambda: attention.has_focus)
        # worst first: outages; Azure's service issue, then the small estate's down circuit
        while attention.cursor_row.payload.domain != "circuits":  # type: ignore[union-attr]
            await pilot.press("down")
        finding = attention.cursor_row.payload  # type: ignore[union-attr]
        assert isinstance(finding, Finding) and finding.domain == "circuits"
        assert finding.impact_class == "outage" and finding.severity == "critical"
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "circuits")
        await pilot.pause()
        assert app.scope == finding.profile
        assert pane(app).table.cursor_row.key == finding.resource_id  # type: ignore[union-attr]


async def test_every_kind_of_finding_opens_a_row_not_an_empty_table(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        attention = app.screen.query_one("#attention", ResourceTable)
        kinds = {}
        for row in attention.visible_rows:
            kinds.setdefault((row.payload.domain, row.payload.rule.split("/")[0]), row.payload)
        assert {domain for domain, _ in kinds} >= {"arc", "circuits", "policy", "spend"}
        for finding in kinds.values():
            app.show_finding(finding)
            await wait_for(pilot, lambda f=finding: getattr(app.screen, "PANE", None) == f.domain)
            await pilot.pause()
            table = pane(app).table
            assert table.filtered_count > 0, finding
            cursor = table.cursor_row
            assert cursor is not None
            if finding.subscription_id:
                from btconsole.ui.app import _subscription_of

                assert _subscription_of(cursor.payload).lower() == finding.subscription_id.lower()
            await pilot.press("1")
            await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "overview")


# --------------------------------------------------------------------------- digests


async def test_overview_shows_the_last_digests_at_once_then_makes_them_current(
    served: Served, cache: Cache
) -> None:
    import datetime as dt

    from btconsole.digest import Digester
    from btconsole.health import CustomerSummary
    from tests.ui.conftest import FIXED_NOW

    names = list(served.config.profiles)
    Digester(served.config, cache, FIXED_NOW - dt.timedelta(days=1)).read(names)  # yesterday's
    before = Digester(served.config, cache, FIXED_NOW)
    before.read(names, stale_ok=True)
    assert before.outdated == names and before.recomputed == []
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.table.total_count == len(names))
        await wait_for(pilot, lambda: "health" not in app.data.refreshing)
        await pilot.pause()
        shown = [row.payload for row in app.screen.table._set.rows]
    after = Digester(served.config, cache, FIXED_NOW)
    current = after.read(names)
    assert after.recomputed == [] and after.outdated == []  # the worker kept them
    assert all(isinstance(s, CustomerSummary) for s in shown)
    assert {s.profile: s for s in shown} == {n: c.summary for n, c in current.items()}
