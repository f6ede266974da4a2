"""Truncation keeps identity: the panes' real columns in a ResourceTable, through Pilot.

Names and IDs are cut in the middle (two Frankfurt circuits stay apart), the agent's lag
stays visible from 100 columns, a column that is the same on every row is hidden, the
sort arrow leaves its label whole and points the way the values run.
"""

from __future__ import annotations

from textual.app import App, ComposeResult

from btconsole.ui.data import DomainState
from btconsole.ui.render import ARC_COLUMNS, CIRCUIT_COLUMNS, POLICY_COLUMNS
from btconsole.ui.table import ResourceTable, Row
from btconsole.ui.widgets import StatusBar
from tests.ui.test_table import TableApp, lines

WHY_DOWN = "provider state NotProvisioned, no BGP/ARP on any device"


def circuit(name: str, customer: str, why: str) -> Row:
    return Row(
        key=name,
        cells=(
            name,
            "down",
            "Frankfurt",
            "2 Gbps",
            customer,
            why,
            "NotProvisioned",
            "Premium MeteredData",
            "Enabled",
            "Private:Enabled",
        ),
        level="critical",
    )


CIRCUITS = [
    circuit("er-contr-frankfurt-001", "Contoso Retail", WHY_DOWN),
    circuit("er-contr-frankfurt-003", "Contoso Retail", "PrivatePeering: no device up"),
    circuit("er-fabrl-frankfurt-005", "Fabrikam Logistics", "-"),
]


async def test_two_frankfurt_circuits_tell_apart_at_80_and_120_columns() -> None:
    app = TableApp(CIRCUITS, CIRCUIT_COLUMNS)
    for width in (80, 120):
        async with app.run_test(size=(width, 24)) as pilot:
            await pilot.pause()
            shown = lines(app.query_one(ResourceTable))
            assert "frankfurt-001" in shown[1] and "frankfurt-003" in shown[2], shown
            # WHY says what is wrong, not "provider state N…"
            assert "provider state NotProvisioned" in shown[1], shown
        app = TableApp(CIRCUITS, CIRCUIT_COLUMNS)


def arc(name: str, agent: str, since: str, customer: str) -> Row:
    return Row(
        key=name,
        cells=(
            name,
            "Connected",
            since,
            agent,
            customer,
            "2",
            "11",
            "3d",
            "windows 10.0.20348.2966",
            "machine",
            "Production",
            "rg-contr-arc-servers-01",
            "uksouth",
            f"{name}.contr.corp",
        ),
    )


async def test_the_agent_lag_shows_from_100_columns() -> None:
    rows = [
        arc("contr-app00062", "1.44.02766.1699 (-5)", "2d", "Contoso Retail"),
        arc("contr-app00063", "1.49.02928.2047", "in 7974y", "Fabrikam Logistics"),
    ]
    for width in (100, 120, 200):
        app = TableApp(rows, ARC_COLUMNS)
        async with app.run_test(size=(width, 24)) as pilot:
            await pilot.pause()
            table = app.query_one(ResourceTable)
            shown = lines(table)
            assert "agent" in table.shown_columns
            assert "(-5)" in shown[1], shown
            assert "in 7974y" in shown[2], shown  # SINCE is wide enough for a future age
            # promised in full: the patch columns and the inventory go first
            assert table.shown_widths["agent"] == 20
            assert "1.44.02766.1699 (-5)" in shown[1]


async def test_a_column_constant_in_view_is_hidden() -> None:
    contoso = [CIRCUITS[0], CIRCUITS[1]]
    app = TableApp(contoso, CIRCUIT_COLUMNS)
    async with app.run_test(size=(200, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(ResourceTable)
        assert "customer" not in table.shown_columns
        assert "CUSTOMER" not in lines(table)[0]
        table.set_rows(CIRCUITS)  # a second customer: the column says something again
        await pilot.pause()
        assert "customer" in table.shown_columns
        assert "Fabrikam" in lines(table)[3]
        table.set_rows(CIRCUITS[:1])  # one row alone: nothing to compare, kept
        await pilot.pause()
        assert "customer" in table.shown_columns


def policy(name: str, noncompliant: int) -> Row:
    return Row(
        key=name,
        cells=(name, "Production", str(noncompliant), "50.0%", "Contoso Retail", "1"),
        sort_values=(name, "production", -noncompliant, 50.0, "contoso retail", -1),
    )


async def test_the_sort_arrow_keeps_the_label_and_points_the_way_values_run() -> None:
    rows = [policy("allowed-locations", 4), policy("audit-vms", 22), policy("tls", 11)]
    app = TableApp(rows, POLICY_COLUMNS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(ResourceTable)
        table.sort_by("noncompliant")
        await pilot.pause()
        shown = lines(table)
        assert [line.split()[2] for line in shown[1:4]] == ["22", "11", "4"]
        assert "NON-COMP ▼" in shown[0]  # the values run down
        table.sort_by("noncompliant")  # reversed
        await pilot.pause()
        shown = lines(table)
        assert [line.split()[2] for line in shown[1:4]] == ["4", "11", "22"]
        assert "NON-COMP ▲" in shown[0]
    app = TableApp([arc("a", "1", "2d", "x"), arc("b", "1", "3d", "y")], ARC_COLUMNS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(ResourceTable)
        table.sort_by("since")
        await pilot.pause()
        assert "SINCE ▲" in lines(table)[0]  # not "SI… ▲"


class BarApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar()


async def test_the_status_bar_keeps_help_visible_at_80_columns() -> None:
    app = BarApp()
    async with app.run_test(size=(80, 3)) as pilot:
        bar = app.query_one(StatusBar)
        states = [
            DomainState(domain, oldest_age=3 * 86400.0, errors=1, stale=1)
            for domain in ("arc", "circuits", "policy", "spend")
        ]
        bar.show(
            "Contoso Retail (retail-production)",
            states,
            refreshing=False,
            throttled=True,
            offline=False,
            listing_errors=2,
            unknown=1,
        )
        await pilot.pause()
        text = str(bar.render())
        assert text.endswith("? help"), text
        assert "…" in text  # the rest was cut to make room
        assert len(text) <= bar.content_region.width
