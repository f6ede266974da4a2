"""The Health pane (6) as a user drives it, on the small demo estate through the real
path (emulator, engine, cache; the app offline with a fixed clock).

What was wrong when it was tried in tmux, and is tested here: the status bar said
nothing of the health domain's own age; a resource's WHAT repeated its state
("Unavailable") and who caused it was cut off in KIND at 80 columns; an alert's or a
resource's details were titled ``Details []  0/0`` over an empty table; an event's
subscriptions were bare GUIDs.
"""

from __future__ import annotations

from typing import Any

from btconsole.cache import Cache
from btconsole.records import AlertRecord, ResourceHealthRecord
from btconsole.ui.details import EventDetails, HealthRecordDetails
from btconsole.ui.panes import HealthPane
from btconsole.ui.table import ResourceTable
from btconsole.ui.widgets import StatusBar, TitleBar
from tests.ui.conftest import FIXED_NOW, Served, make_app, wait_for


def _text(widget: Any) -> str:
    return str(widget.render())


async def _health(pilot: Any) -> ResourceTable:
    await pilot.press("6")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HealthPane))
    await pilot.pause()
    return pilot.app.screen.query_one("#table", ResourceTable)


async def test_the_health_pane_at_80x24_says_why_and_who(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _health(pilot)
        assert "hea " in _text(app.screen.query_one(StatusBar))  # its own data's age
        rows = table.visible_rows
        resources = [r for r in rows if isinstance(r.payload, ResourceHealthRecord)]
        assert resources
        for row in resources:
            record = row.payload
            assert row.cells[0] == record.availability_state  # whole, not "Unavailable …"
            cause = {True: "platform: ", False: "user: "}.get(record.platform_initiated, "")
            assert row.cells[1].startswith(cause)
            assert row.cells[1] != cause + record.availability_state  # says why
        lines = [table.render_line(y).text for y in range(1, table.size.height)]
        shown = {r.key: line for r, line in zip(rows, lines, strict=False)}
        assert any(" user: " in line or " platform: " in line for line in shown.values())
        # within a level: events, then alerts, then Azure-caused resources, then the rest
        kinds = []
        for r in rows:
            if isinstance(r.payload, AlertRecord):
                kinds.append((r.level, 1))
            elif isinstance(r.payload, ResourceHealthRecord):
                kinds.append((r.level, 2 if r.payload.platform_initiated else 3))
            else:
                kinds.append((r.level, 0))
        rank = {"critical": 0, "warning": 1, "info": 2}
        assert kinds == sorted(kinds, key=lambda k: (rank.get(k[0], 3), k[1]))


async def test_details_of_a_resource_and_of_an_event(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _health(pilot)
        resource = next(
            r for r in table.visible_rows if isinstance(r.payload, ResourceHealthRecord)
        )
        assert table.select_key(resource.key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthRecordDetails))
        await pilot.pause()
        title = _text(app.screen.query_one(TitleBar))
        name = resource.payload.resource_id.rsplit("/", 1)[-1]
        assert title.startswith(f"Resource Health  [{name}]"), title
        assert "0/0" not in title  # no table of rows to count
        assert not app.screen.query_one("#detail", ResourceTable).display
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthPane))
        event = next(r for r in table.visible_rows if r.key.startswith("event:"))
        assert table.select_key(event.key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EventDetails))
        await pilot.pause()
        shown = _text(app.screen.query_one("#props-text"))
        # a long value wraps under itself, never under the names
        assert "\n" + " " * 22 in shown  # the subscriptions do not fit in 80 columns
        assert all(
            line.startswith(" " * 22) or not line.startswith(" ") for line in shown.splitlines()
        )
        props = shown.replace("\n" + " " * 22, "")
        names = app.data.subscription_names([event.payload.event.profile])
        for sub in event.payload.subscriptions:
            assert f"{names[sub]} ({sub})" in props, props
