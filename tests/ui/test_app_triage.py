"""Triage in five seconds (Pilot, the small estate through the real engine): the worst
customer and the down circuit first, reached in three keys; `w` switches the customers
between worst first and the config's order."""

from __future__ import annotations

from btconsole.cache import Cache
from btconsole.health import Finding
from btconsole.records import CircuitRecord
from btconsole.ui.details import CircuitDetails
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
        first = attention.visible_rows[0].payload
        assert isinstance(first, Finding)
        assert (first.domain, first.impact_class) == ("circuits", "outage")
        assert first.title.endswith("circuit down")
        await pilot.press("tab")  # 1: the attention list
        await wait_for(pilot, lambda: attention.has_focus)
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
