"""Triage in five seconds (Pilot, the small estate through the real engine): the worst
customer first, Azure's own service issue at the top of the attention list and the
event behind the degraded circuits three keys away; the down circuit first among the
circuits; `w` switches the customers between worst first and the config's order."""

from __future__ import annotations

from btconsole.cache import Cache
from btconsole.health import Finding
from btconsole.records import CircuitRecord
from btconsole.ui.details import CircuitDetails, EventDetails
from btconsole.ui.table import ResourceTable
from tests.ui.conftest import Served, make_app, wait_for

SIZE = (80, 24)


async def test_the_down_circuit_is_three_keys_from_the_first_screen(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        attention = app.screen.query_one("#attention", ResourceTable)
        await wait_for(pilot, lambda: bool(attention.visible_rows))
        rows = [r.payload for r in attention.visible_rows]
        assert all(isinstance(f, Finding) for f in rows)
        first = next(f for f in rows if f.domain == "circuits")  # type: ignore[union-attr]
        assert isinstance(first, Finding) and first.impact_class == "outage"
        assert first.title.endswith("circuit down")
        await pilot.press("tab")  # 1: the attention list
        await wait_for(pilot, lambda: attention.has_focus)
        while attention.cursor_row.payload is not first:  # type: ignore[union-attr]
            await pilot.press("down")
        await pilot.press("enter")  # 2: the circuit's row in its pane
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "circuits")
        table = app.screen.query_one("#table", ResourceTable)
        await wait_for(pilot, lambda: table.cursor_row is not None)
        await wait_for(pilot, lambda: table.cursor_row.key == first.resource_id)  # type: ignore[union-attr]
        await pilot.press("enter")  # 3: its details
        await wait_for(pilot, lambda: isinstance(app.screen, CircuitDetails))
        record = app.screen.record  # type: ignore[attr-defined]
        assert isinstance(record, CircuitRecord) and record.id == first.resource_id


async def test_w_switches_between_worst_first_and_config_order(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    config_order = list(served.config.profiles)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        await wait_for(pilot, lambda: len(table.visible_rows) == len(config_order))

        def keys() -> list[str]:
            return [r.key for r in table.visible_rows]

        worst = keys()
        counts = [r.payload.critical for r in table.visible_rows]  # type: ignore[union-attr]
        assert counts == sorted(counts, reverse=True)
        assert worst != config_order  # the small estate's worst is not its first customer
        assert "CRIT/WARN" in str(app.screen.query_one("#table", ResourceTable).render_line(0))
        await pilot.press("w")
        await wait_for(pilot, lambda: keys() == config_order)
        await pilot.press("w")
        await wait_for(pilot, lambda: keys() == worst)


async def test_the_service_issue_behind_a_degraded_circuit_is_on_the_first_screen(
    served: Served, cache: Cache
) -> None:
    """Is it Azure or us? The degraded circuits say Azure, and the ExpressRoute service
    issue reaching the customer is the first row: enter opens it in the Health pane
    (6), enter again its update timeline and the circuits it impacts."""
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=(160, 48)) as pilot:
        attention = app.screen.query_one("#attention", ResourceTable)
        await wait_for(pilot, lambda: bool(attention.visible_rows))
        issue = attention.visible_rows[0].payload
        assert isinstance(issue, Finding)
        assert (issue.domain, issue.severity, issue.impact_class) == (
            "health",
            "critical",
            "outage",
        )
        assert issue.title == "Azure service issue: ExpressRoute in UK South"
        degraded = [
            r
            for r in attention.visible_rows
            if isinstance(r.payload, Finding)
            and r.payload.domain == "circuits"
            and "service issue in UK South" in r.payload.azure_cause
        ]
        assert degraded  # the circuit findings in UK South: the region's issue
        for row in degraded:
            assert "| Azure: ExpressRoute service issue in UK South since " in row.cells[3]
        await pilot.press("tab")  # 1: the attention list, at the service issue
        await wait_for(pilot, lambda: attention.has_focus)
        await pilot.press("enter")  # 2: its row in the Health pane
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "health")
        table = app.screen.query_one("#table", ResourceTable)
        await wait_for(pilot, lambda: table.cursor_row is not None)
        await wait_for(
            pilot,
            lambda: (
                table.cursor_row.key  # type: ignore[union-attr]
                == f"event:{issue.profile}:{issue.rule.removeprefix('event/')}".lower()
            ),
        )
        await pilot.press("enter")  # 3: the event's details
        await wait_for(pilot, lambda: isinstance(app.screen, EventDetails))
        detail = app.screen.query_one("#detail", ResourceTable)
        await wait_for(pilot, lambda: bool(detail.visible_rows))
        impacted = {r.key for r in detail.visible_rows if r.cells[0] == "impacted"}
        # the resources the event names are circuits whose rows said "Azure"
        assert impacted and impacted <= {r.payload.resource_id for r in degraded}
        updates = [r for r in detail.visible_rows if r.cells[0] != "impacted"]
        assert updates and all(r.cells[1] == "ExpressRoute / UK South" for r in updates)
