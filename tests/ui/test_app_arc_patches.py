"""The Arc pane's patch columns (CRIT, SEC, ASSESSED) in the console, on the demo estate.

Through the real path: the small estate served by the emulator, fetched by the engine
(Resource Graph's patchassessmentresources among the health domain's tables) into a
cache, the app offline on that cache with a fixed clock. What each cell must say is
worked out here from the estate itself (its patches by classification, its assessment
times), not from the console's code.

The layout promise: the agent version is never narrower than its 20 cells; as the
terminal narrows, the inventory and then the patch columns are dropped first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from textual.widgets import Input

from btconsole.cache import PATCHES_DOMAIN, Cache, CacheKey
from btconsole.digest import Digester
from btconsole.emulator.estate import Estate
from btconsole.records import PatchAssessmentRecord
from btconsole.ui.app import BtConsoleApp
from btconsole.ui.panes import PaneScreen
from btconsole.ui.render import ARC_COLUMNS
from btconsole.ui.screens import CommandLine
from btconsole.ui.table import ResourceTable, Row
from tests.ui.conftest import FIXED_NOW, Served, make_app, wait_for

AGENT_WIDTH = next(c.width for c in ARC_COLUMNS if c.key == "agent")


def _expected(estate: Estate) -> dict[str, tuple[str, str, dt.datetime]]:
    """Per lower-case machine ID: (critical, security, last assessed), from the estate."""
    windows = {m.id.lower() for m in estate.machines if m.os_type == "windows"}
    out = {}
    for a in estate.patch_assessments:
        critical = sum(1 for p in a.patches if p.classification == "Critical")
        security = sum(1 for p in a.patches if p.classification == "Security")
        when = dt.datetime.fromisoformat(a.last_modified.replace("Z", "+00:00"))
        if a.machine_id.lower() in windows:
            out[a.machine_id.lower()] = (str(critical), str(security), when)
        else:  # Linux classifies Security and Other only: no CRIT to count
            out[a.machine_id.lower()] = ("-", str(critical + security), when)
    return out


async def _arc(pilot: Any) -> ResourceTable:
    await pilot.press("2")
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "PANE", None) == "arc")
    await pilot.pause()
    return pilot.app.screen.query_one("#table", ResourceTable)


def _lines(table: ResourceTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


def _assert_agent_whole(table: ResourceTable) -> None:
    """The promise: AGENT keeps its width and every version that fits it is shown whole."""
    assert table.shown_widths["agent"] >= AGENT_WIDTH, table.shown_widths
    shown = _lines(table)[1:]
    rows = table.visible_rows
    start = table.scroll_offset.y
    for row, line in zip(rows[start:], shown, strict=False):
        if len(row.cells[3]) <= AGENT_WIDTH:
            assert row.cells[3] in line, (row.cells[3], line)


async def _customer(app: BtConsoleApp, pilot: Any, name: str) -> None:
    """``:customer NAME``, or ``:all`` without a name."""
    await pilot.press("colon")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandLine))
    app.screen.query_one(Input).value = f"customer {name}" if name else "all"
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, PaneScreen))


async def test_at_80x24_crit_stays_with_every_customer_and_all_three_with_one(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _arc(pilot)
        # every customer: who it is comes before the patch state; SEC, ASSESSED and the
        # inventory are dropped, the agent version is not shrunk
        assert table.shown_columns == ["name", "status", "since", "agent", "customer", "critical"]
        assert "CRIT" in _lines(table)[0]
        _assert_agent_whole(table)
        # one customer: CUSTOMER is hidden, and its room holds SEC and ASSESSED
        name = next(iter(served.config.profiles))
        await _customer(app, pilot, name)
        await wait_for(pilot, lambda: "customer" not in table.shown_columns)
        assert table.shown_columns == [
            "name",
            "status",
            "since",
            "agent",
            "critical",
            "security",
            "assessed",
        ]
        _assert_agent_whole(table)
        # sorted by the oldest assessment: the column the rows are in order of stays in
        # view (its arrow needs two more cells: SEC goes instead), the agent stays whole
        table.sort_by("assessed")
        await pilot.pause()
        assert "assessed" in table.shown_columns
        assert "ASSESSED ▼" in _lines(table)[0]
        _assert_agent_whole(table)
        # with every customer back, sorted by SEC: it shows in place of CRIT
        await _customer(app, pilot, "")
        table.sort_by("security")
        await pilot.pause()
        await wait_for(pilot, lambda: "customer" in table.shown_columns)
        assert "security" in table.shown_columns and "SEC ▼" in _lines(table)[0]
        _assert_agent_whole(table)


async def test_at_100x30_and_200x50_the_inventory_goes_before_anything_promised(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await _arc(pilot)
        shown = table.shown_columns
        assert shown[:8] == [
            "name",
            "status",
            "since",
            "agent",
            "customer",
            "critical",
            "security",
            "assessed",
        ]
        assert "os" not in shown and "fqdn" not in shown
        _assert_agent_whole(table)
        table.sort_by("agent")  # most releases behind first: the lag must read whole
        table.go_top()
        await pilot.pause()
        assert any(r.cells[3].endswith(")") for r in table.visible_rows[:20])
        _assert_agent_whole(table)
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(200, 50)) as pilot:
        table = await _arc(pilot)
        assert table.shown_columns == [c.key for c in ARC_COLUMNS]  # everything fits
        _assert_agent_whole(table)
        table.sort_by("agent")
        table.go_top()
        await pilot.pause()
        _assert_agent_whole(table)


def _by_id(table: ResourceTable) -> dict[str, Row]:
    return {row.key.lower(): row for row in table.visible_rows}


async def test_the_cells_say_what_the_estate_holds(served: Served, cache: Cache) -> None:
    expected = _expected(served.estate)
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(200, 50)) as pilot:
        table = await _arc(pilot)
        rows = _by_id(table)
        machines = [m for m in served.estate.machines if m.id.lower() in rows]
        assert machines
        checked = unassessed = 0
        for machine in machines:
            cells = rows[machine.id.lower()].cells[5:8]
            found = expected.get(machine.id.lower())
            if found is None:  # none within Resource Graph's 30 days: counts unknown
                assert cells == ("?", "?", ">30d"), (machine.name, cells)
                unassessed += 1
                continue
            critical, security, when = found
            assert cells[:2] == (critical, security), (machine.name, cells)
            hours = (FIXED_NOW - when).total_seconds() / 3600
            if hours >= 48:
                assert cells[2] == f"{int(hours // 24)}d", (machine.name, cells, when)
            checked += 1
        assert checked and unassessed  # the estate has both kinds
        clusters = [r for r in rows.values() if r.cells[9] == "cluster"]
        assert clusters and all(r.cells[5:8] == ("-", "-", "-") for r in clusters)
        # what an engineer sorts and filters by: most critical updates first, the
        # unknown last, and a filter on the counts
        table.sort_by("critical")
        await pilot.pause()
        counts = [r.cells[5] for r in table.visible_rows]
        numbers = [int(c) for c in counts if c.isdigit()]
        assert numbers == sorted(numbers, reverse=True) and numbers[0] > 0
        assert all(not c.isdigit() for c in counts[len(numbers) :])  # ? and - after
        assert "CRIT ▼" in _lines(table)[0]
        table.set_filter("crit>0")
        await pilot.pause()
        assert table.visible_rows and all(int(r.cells[5]) > 0 for r in table.visible_rows)
        assert table.filtered_count == sum(1 for c in counts if c.isdigit() and int(c) > 0)
        table.set_filter("assessed>7d")
        await pilot.pause()
        old = [r.cells[7] for r in table.visible_rows]
        assert old and all(text.endswith("d") and int(text[:-1]) > 7 for text in old)


async def test_a_subscription_whose_health_was_never_read_shows_unknown_not_zero(
    served: Served, cache: Cache
) -> None:
    expected = _expected(served.estate)
    # a subscription with assessed servers whose health scope failed and never held data
    target = next(m for m in served.estate.machines if m.id.lower() in expected)
    sub = target.id.split("/")[2]
    profile = next(
        e.key.profile for e in cache.read_domain("health") if e.key.scope.lower() == sub.lower()
    )
    keep = [s for s in cache.scopes(profile, "health") if s.lower() != sub.lower()]
    cache.delete_scopes(profile, "health", keep)
    cache.put_error(CacheKey(profile, "health", sub), "ResourceGraph: 403 Forbidden")
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(200, 50)) as pilot:
        table = await _arc(pilot)
        rows = _by_id(table)
        mine = [
            row
            for key, row in rows.items()
            if key.split("/")[2] == sub.lower() and row.cells[9] == "machine"
        ]
        others = [
            row for key, row in rows.items() if key.split("/")[2] != sub.lower() and key in expected
        ]
        assert mine and others
        assert all(row.cells[5:8] == ("?", "?", "?") for row in mine), [r.cells for r in mine]
        assert all(row.cells[6].isdigit() for row in others)
        # the line on screen says ? too (never 0 for what was not read)
        table.select_key(mine[0].key)
        await pilot.pause()
        line = next(t for t in _lines(table) if mine[0].cells[0] in t)
        assert " ?    ?        ? " in line, line


async def test_a_health_refresh_that_lands_shows_in_the_columns(
    served: Served, cache: Cache
) -> None:
    """The pane keeps what it decoded of the health domain while nothing changed; a new
    fetch of a health scope is shown at the next rebuild."""
    expected = _expected(served.estate)
    target = next(m for m in served.estate.machines if m.id.lower() in expected)
    sub = target.id.split("/")[2]
    entry = next(e for e in cache.read_domain("health") if e.key.scope.lower() == sub.lower())
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(200, 50)) as pilot:
        table = await _arc(pilot)
        assert _by_id(table)[target.id.lower()].cells[6] == expected[target.id.lower()][1]
        fresh = PatchAssessmentRecord(
            profile=entry.key.profile,
            subscription_id=sub,
            machine_id=target.id,
            last_modified="2026-11-20T11:00:00Z",
            os_type="Windows",
            critical=0,
            security=42,
        )
        others = [
            r
            for r in entry.records
            if not (
                isinstance(r, PatchAssessmentRecord) and r.machine_id.lower() == target.id.lower()
            )
        ]
        cache.put(entry.key, [*others, fresh], ttl=entry.ttl)
        pane = app.screen
        assert isinstance(pane, PaneScreen)
        pane.reload()
        await pilot.pause()
        row = _by_id(table)[target.id.lower()]
        assert row.cells[5:8] == ("0", "42", "1h"), row.cells


async def test_the_pane_reads_the_figures_kept_with_the_digests_not_the_health_records(
    served: Served, cache: Cache, monkeypatch: Any
) -> None:
    """The health records (every assessment with its patch list) are decoded where
    the digests are made; the pane reads each customer's small ``patches`` entry."""
    Digester(served.config, cache, FIXED_NOW).read(list(served.config.profiles))
    domains: list[str] = []
    read_domain = cache.read_domain

    def spy(domain: str, profiles: Any = None) -> Any:
        domains.append(domain)
        return read_domain(domain, profiles)

    def spy_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a read of one customer's domain: {args}")

    expected = _expected(served.estate)
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        monkeypatch.setattr(cache, "read_domain", spy)
        monkeypatch.setattr(cache, "read", spy_read)
        table = await _arc(pilot)
        await wait_for(pilot, lambda: table.total_count > 0)
        assert "health" not in domains and PATCHES_DOMAIN in domains, domains
        rows = _by_id(table)
        shown = [m for m in expected if m in rows]
        assert shown
        assert all(rows[m].cells[5:7] == expected[m][:2] for m in shown)
