"""Records into rows: the pure functions behind every pane, without a terminal."""

from __future__ import annotations

import datetime as dt

import pytest

from btconsole import health
from btconsole.records import (
    ArcRecord,
    BudgetRecord,
    CircuitRecord,
    ComplianceRecord,
    CostRecord,
    DeviceAvailability,
    ForecastRecord,
    PeeringRecord,
    PolicyAssignmentRecord,
    ResourceHealthRecord,
)
from btconsole.ui import render
from btconsole.ui.data import PatchCounts
from btconsole.ui.table import Row

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
SUB = "11111111-1111-1111-1111-111111111111"
HOSTILE = "[bold red]x[/] \x1b[31mred\x1b]52;c;aGk=\x07\x1b[2J"


def arc(name: str = "vm-1", status: str = "Connected", **kw: object) -> ArcRecord:
    fields: dict[str, object] = {
        "profile": "contoso",
        "id": f"/subscriptions/{SUB}/resourceGroups/rg-a/providers/Microsoft.HybridCompute/"
        f"machines/{name}",
        "name": name,
        "kind": "machine",
        "subscription_id": SUB,
        "resource_group": "rg-a",
        "location": "uksouth",
        "status": status,
        "last_status_change": "2026-11-20T09:00:00Z",
        "agent_version": "1.45.0",
        "os_name": "linux",
        "os_version": "6.8",
    }
    fields.update(kw)
    return ArcRecord(**fields)  # type: ignore[arg-type]


def visible(row: Row) -> str:
    return " ".join(row.cells)


# --------------------------------------------------------------------------- small helpers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (-5, "0s"),
        (45, "45s"),
        (60, "1m"),
        (3599, "59m"),
        (7200, "2h"),
        (86400 * 3, "3d"),
    ],
)
def test_age_text(seconds: float | None, text: str) -> None:
    assert render.age_text(seconds) == text


def test_money_and_percent() -> None:
    assert render.money(None) == "-"
    assert render.money(1234.5, "GBP") == "1,234 GBP"
    assert render.money(12.345, "EUR") == "12.35 EUR"
    assert render.percent(None) == "-"
    assert render.percent(84.44) == "84.4%"
    assert render.money(-1234.5, "GBP") == "-1,234 GBP"  # a refund or credit
    for bad in (float("inf"), float("-inf"), float("nan")):
        assert render.money(bad, "GBP") == "? GBP"
        assert render.percent(bad) == "?"


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (None, "-"),
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.00 kB"),
        (12_345, "12.3 kB"),
        (999_999, "1.00 MB"),
        (7_134_545_073_000, "7.13 TB"),
        (5 * 10**18, "5.00 EB"),
    ],
)
def test_bytes_text(count: int | None, text: str) -> None:
    assert render.bytes_text(count) == text


@pytest.mark.parametrize(
    ("mbps", "text"),
    [(None, "-"), (50, "50 Mbps"), (1000, "1 Gbps"), (10000, "10 Gbps"), (1500, "1500 Mbps")],
)
def test_bandwidth_text(mbps: int | None, text: str) -> None:
    assert render.bandwidth_text(mbps) == text


@pytest.mark.parametrize(
    ("resource_id", "short"),
    [
        (f"/subscriptions/{SUB}/resourceGroups/rg-a/providers/NS.X/machines/vm-1", "rg-a/vm-1"),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg-a/providers/NS.X/c/er-1/peerings/P",
            "rg-a/er-1/P",
        ),
        (f"/subscriptions/{SUB}/resourceGroups/rg-a", "rg-a"),
        (f"/subscriptions/{SUB}", SUB),
        (f"/subscriptions/{SUB}/providers/Microsoft.Consumption/budgets/monthly", "monthly"),
        ("profile/contoso", "profile/contoso"),
        ("-", "-"),
        (f"/subscriptions/{SUB}/resourceGroups/rg\x1b[2J/providers/N/t/n\x07", "rg/n"),
    ],
)
def test_short_resource_id_keeps_what_tells_rows_apart(resource_id: str, short: str) -> None:
    assert render.short_resource_id(resource_id) == short


def test_resource_group_of() -> None:
    assert render.resource_group_of(f"/subscriptions/{SUB}/resourceGroups/rg-a/p/N/t/x") == "rg-a"
    assert render.resource_group_of(f"/subscriptions/{SUB}/resourceGroups/rg-a") == "rg-a"
    assert render.resource_group_of(f"/subscriptions/{SUB}/providers/N/budgets/b") == "-"
    assert render.resource_group_of(f"/subscriptions/{SUB}/resourceGroups") == "-"


def test_short_resource_id_never_passes_control_characters() -> None:
    text = render.short_resource_id(f"/subscriptions/{SUB}/resourceGroups/{HOSTILE}")
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


# --------------------------------------------------------------------------- Arc


def test_arc_rows_levels_cells_and_sort_values() -> None:
    records = [
        arc("ok-1"),
        arc("gone-1", "Disconnected"),
        arc("old-1", "Expired", agent_version="1.40.0"),
        arc("bad-1", "Error"),
        arc("stale-1", "Error", last_status_change="2026-10-01T00:00:00Z"),
    ]
    rows = render.arc_rows(
        records, customers={"contoso": "Contoso Retail"}, subscriptions={SUB: "Prod"}, now=NOW
    )
    by_name = {r.cells[0]: r for r in rows}
    assert by_name["ok-1"].level == "ok"
    assert by_name["gone-1"].level == "warning"
    # expired is hygiene (never critical, as its finding); a recent error is an outage
    assert by_name["old-1"].level == "warning" and by_name["bad-1"].level == "critical"
    assert by_name["stale-1"].level == "warning"  # in error for 50 days: backlog
    assert by_name["old-1"].cells[3] == "1.40.0 (-5)"  # five release lines behind 1.45
    assert by_name["ok-1"].cells[2] == "3h"  # since 09:00, now 12:00
    assert by_name["ok-1"].cells[4] == "Contoso Retail"
    assert by_name["ok-1"].cells[10] == "Prod"
    assert by_name["ok-1"].key == records[0].id and by_name["ok-1"].payload is records[0]
    assert all(len(r.cells) == len(render.ARC_COLUMNS) == len(r.sort_values or ()) for r in rows)
    # status sorts worst first
    ranks = sorted(rows, key=lambda r: (r.sort_values or ())[1])
    assert [r.cells[1] for r in ranks][-1] == "Connected"


def test_arc_rows_show_hostile_text_as_inert_single_line_text() -> None:
    record = arc(HOSTILE, HOSTILE, fqdn="a\nb", tags=(("k", HOSTILE),))
    (row,) = render.arc_rows([record], customers={}, subscriptions={}, now=NOW)
    for cell in row.cells:
        assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in cell), repr(cell)
    assert row.cells[0] == "[bold red]x[/] red"  # markup stays literal; escapes go
    assert "\n" not in row.cells[10]


# --------------------------------------------------------------------------- circuits


def circuit(
    name: str, bgp: tuple[float, float], provider_state: str = "Provisioned"
) -> CircuitRecord:
    return CircuitRecord(
        profile="contoso",
        id=f"/subscriptions/{SUB}/resourceGroups/rg-c/providers/Microsoft.Network/"
        f"expressRouteCircuits/{name}",
        name=name,
        subscription_id=SUB,
        resource_group="rg-c",
        location="uksouth",
        provider="British Telecom",
        peering_location="London",
        bandwidth_mbps=1000,
        sku_tier="Standard",
        sku_family="MeteredData",
        circuit_state="Enabled",
        provider_state=provider_state,
        peerings=(PeeringRecord("AzurePrivatePeering", "AzurePrivatePeering", "Enabled"),),
        availability=(
            DeviceAvailability("AzurePrivatePeering", "primary", bgp[0], bgp[0]),
            DeviceAvailability("AzurePrivatePeering", "secondary", bgp[1], bgp[1]),
        ),
    )


def test_circuit_rows_health_and_why() -> None:
    rows = render.circuit_rows(
        [
            circuit("er-ok", (100, 100)),
            circuit("er-half", (100, 0)),
            circuit("er-down", (0, 0)),
            circuit("er-prov", (100, 100), "NotProvisioned"),
        ],
        customers={"contoso": "Contoso"},
    )
    health_of = {r.cells[0]: (r.cells[1], r.level) for r in rows}
    assert health_of == {
        "er-ok": ("healthy", "ok"),
        "er-half": ("degraded", "warning"),
        "er-down": ("down", "critical"),
        "er-prov": ("down", "critical"),
    }
    why = {r.cells[0]: r.cells[5] for r in rows}
    assert why["er-ok"] == "-" and "NotProvisioned" in why["er-prov"]
    assert {r.cells[3] for r in rows} == {"1 Gbps"}
    assert rows[0].cells[9] == "Private:Enabled"


# --------------------------------------------------------------------------- policy


def test_policy_rows_judge_against_the_profile_threshold() -> None:
    def assignment(name: str, sub: str, bad: int) -> PolicyAssignmentRecord:
        return PolicyAssignmentRecord("contoso", sub, f"/a/{name}", name, bad, 1 if bad else 0)

    compliance = [
        ComplianceRecord("contoso", "s-low", 10, 90, 100, 3),  # 10%: critical (< 90 - 20)
        ComplianceRecord("contoso", "s-mid", 80, 20, 100, 1),  # 80%: warning
        ComplianceRecord("contoso", "s-ok", 99, 1, 100, 1),  # 99%: info
    ]
    rows = render.policy_rows(
        [
            assignment("a-low", "s-low", 90),
            assignment("a-mid", "s-mid", 20),
            assignment("a-ok", "s-ok", 1),
            assignment("a-clean", "s-ok", 0),
        ],
        compliance,
        customers={},
        subscriptions={"s-low": "Low"},
        thresholds={"contoso": 90.0},
    )
    level = {r.cells[0]: r.level for r in rows}
    assert level == {"a-low": "critical", "a-mid": "warning", "a-ok": "info", "a-clean": "muted"}
    low = next(r for r in rows if r.cells[0] == "a-low")
    assert low.cells[1:4] == ("Low", "90", "10.0%")
    # NON-COMP sorts most first
    assert sorted(rows, key=lambda r: (r.sort_values or ())[2])[0].cells[0] == "a-low"


# --------------------------------------------------------------------------- spend


def test_spend_rows_never_sum_currencies_and_flag_budgets() -> None:
    today = dt.date(2026, 11, 20)
    costs = [
        CostRecord("contoso", SUB, "2026-11-19", "VMs", "rg", 600.0, "GBP"),
        CostRecord("contoso", SUB, "2026-11-20", "VMs", "rg", 500.0, "GBP"),
        CostRecord("contoso", SUB, "2026-11-20", "VMs", "rg", 70.0, "EUR"),
        CostRecord("contoso", SUB, "2026-10-31", "VMs", "rg", 9999.0, "GBP"),  # last month
        CostRecord("contoso", "sub-2", "2026-11-20", "VMs", "rg", 10.0, "GBP"),
    ]
    rows = render.spend_rows(
        costs,
        [ForecastRecord("contoso", SUB, "2026-11", 1100.0, 1500.0, "GBP")],
        [BudgetRecord("contoso", SUB, "monthly", 1000.0, 1100.0, 1500.0, "GBP")],
        customers={"contoso": "Contoso Retail"},
        subscriptions={SUB: "Contoso Retail - Production", "sub-2": "Dev"},
        today=today,
    )
    by_key = {r.key: r for r in rows}
    gbp = by_key[f"contoso|{SUB}|GBP"]
    assert gbp.cells[:5] == ("Production", "1,100 GBP", "1,500 GBP", "1,000 GBP", "110.0%")
    assert gbp.level == "critical"  # over budget
    eur = by_key[f"contoso|{SUB}|EUR"]
    assert eur.cells[1] == "70.00 EUR" and eur.cells[3] == "-"
    assert eur.cells[2] == "? EUR"  # spent in EUR, Azure gave no EUR forecast
    assert by_key["contoso|sub-2|GBP"].level == "ok"
    assert all(r.cells[6] == "Contoso Retail" for r in rows)
    assert [c.key for c in render.SPEND_COLUMNS][-1] == "customer"


def test_spend_columns_keep_the_customer_at_80_columns() -> None:
    from btconsole.ui.table import layout_columns

    kept = [render.SPEND_COLUMNS[i].key for i, _ in layout_columns(render.SPEND_COLUMNS, 80)]
    assert "customer" in kept and "subscription" in kept and "mtd" in kept


# --------------------------------------------------------------------------- overview, attention


def test_overview_and_attention_rows() -> None:
    summary = health.CustomerSummary(
        profile="contoso",
        display_name=HOSTILE,
        machines=health.ArcCounts(connected=5, disconnected=1),
        clusters=health.ArcCounts(expired=1),
        circuits=health.CircuitCounts(healthy=2, down=1),
        compliance_percent=84.44,
        compliance_by_subscription=(),
        spend_mtd=(("GBP", 3017.0), ("EUR", 12.0)),
        forecast=(("GBP", 4500.0),),
        budget=health.BudgetCheck("ok", 6750.0, "GBP", 3017.0, 4500.0, 44.7),
        critical=2,
        warning=3,
    )
    (row,) = render.overview_rows([summary])
    assert row.cells[1:] == (
        "5/1/1/0",
        "2/0/1",
        "84.4%",
        "3,017 GBP, 12.00 EUR",
        "6,750 GBP",
        "2/3",
        "4,500 GBP, ? EUR",  # EUR spent, no EUR forecast: unknown, not left out
    )
    assert row.level == "critical" and row.key == "contoso"
    assert "\x1b" not in row.cells[0] and "[bold red]x[/]" in row.cells[0]

    resource = f"/subscriptions/{SUB}/resourceGroups/rg-a/providers/NS/machines/vm-1"
    findings = [
        health.Finding(
            "critical",
            "arc",
            "contoso",
            "status",
            "vm-1: Arc server expired",
            SUB,
            resource,
            since="2026-11-18T12:00:00Z",
        ),
        health.Finding("warning", "spend", "contoso", "budget", "over budget", SUB),
    ]
    rows = render.attention_rows(findings, customers={"contoso": "Contoso"}, now=NOW)
    assert rows[0].cells == (
        "CRIT",
        "arc",
        "Contoso",
        "vm-1: Arc server expired",
        "2d",
        "rg-a/vm-1",
    )
    assert rows[1].cells[0] == "WARN" and rows[1].cells[4] == "-" and rows[1].cells[5] == SUB
    assert rows[0].payload is findings[0]


def test_details_lines_are_cleaned_and_skip_nested_records() -> None:
    record = arc(HOSTILE, tags=(("owner", "ops"), ("x", HOSTILE)))
    lines = dict(render.details_lines(record))
    assert lines["tags"].startswith("owner=ops, x=")
    assert lines["kubernetes version"] == "-"
    for value in lines.values():
        assert not any(ord(ch) < 32 for ch in value)
    c = circuit("er-1", (100, 100))
    names = [name for name, _ in render.details_lines(c)]
    assert "peerings" not in names and "availability" not in names
    assert render.details_lines("plain\x1b[2J") == [("value", "plain")]


def test_a_finding_dated_by_day_shows_an_age_not_a_date() -> None:
    # spend findings carry the day of the anomaly: SINCE is "3d", never "2026…"
    findings = [
        health.Finding(
            "warning", "spend", "contoso", "anomaly/vm", "VMs x3.0", SUB, since="2026-11-17"
        ),
        health.Finding(
            "warning", "spend", "contoso", "anomaly/sql", "SQL x2.0", SUB, since="not a date"
        ),
    ]
    rows = render.attention_rows(findings, customers={"contoso": "Contoso"}, now=NOW)
    assert rows[0].cells[4] == "3d"
    assert rows[1].cells[4] == "not a date"  # unknown text shown as it is, not as zero


def test_the_panes_cut_names_in_the_middle_and_free_text_at_the_end() -> None:
    middle = {c.key for c in render.CIRCUIT_COLUMNS if c.cut == "middle"}
    assert "name" in middle and "why" not in middle
    assert {c.key for c in render.ARC_COLUMNS if c.cut == "middle"} >= {"name", "agent"}
    for columns in (
        render.ARC_COLUMNS,
        render.CIRCUIT_COLUMNS,
        render.POLICY_COLUMNS,
        render.SPEND_COLUMNS,
        render.ATTENTION_COLUMNS,
    ):
        customer = next(c for c in columns if c.key == "customer")
        assert customer.hide_when_constant
        since = [c for c in columns if c.key == "since"]
        assert all(c.min_width >= len("in 7974y") for c in since)


def test_a_customer_forecast_has_its_own_row_once() -> None:
    """Spend read at the billing account's customer scope: the customer's forecast is
    kept with every subscription's records; it shows once, on a row of its own with
    the customer's month to date, and each subscription's forecast is unknown."""
    today = dt.date(2026, 11, 20)
    costs = [
        CostRecord("contoso", SUB, "2026-11-20", "VMs", "?", 600.0, "GBP"),
        CostRecord("contoso", "sub-2", "2026-11-20", "VMs", "?", 10.0, "GBP"),
    ]
    customer = ForecastRecord("contoso", "", "2026-11", 610.0, 900.0, "GBP")
    rows = render.spend_rows(
        costs,
        [customer, customer],  # one copy per subscription
        [],
        customers={"contoso": "Contoso Retail"},
        subscriptions={SUB: "Contoso Retail - Production", "sub-2": "Dev"},
        today=today,
    )
    by_key = {r.key: r for r in rows}
    assert len(rows) == 3
    assert by_key["contoso||GBP"].cells[:3] == ("all subscriptions", "610 GBP", "900 GBP")
    assert by_key[f"contoso|{SUB}|GBP"].cells[2] == "? GBP"
    assert by_key["contoso|sub-2|GBP"].cells[2] == "? GBP"


# --------------------------------------------------------------------------- Arc patches


def _assessment(machine: ArcRecord, **kw: object) -> tuple[str, PatchCounts]:
    fields: dict[str, object] = {
        "last_modified": "2026-11-10T08:00:00Z",
        "os_type": "Windows",
        "critical": 2,
        "security": 5,
    }
    fields.update(kw)
    return machine.id.lower(), PatchCounts(**fields)  # type: ignore[arg-type]


def test_arc_patch_cells_known_unknown_and_not_applicable() -> None:
    windows, linux, unassessed, blank = arc("win-1"), arc("lin-1"), arc("new-1"), arc("odd-1")
    cluster = arc("k8s-1", kind="cluster")
    other_sub = arc("far-1", subscription_id="22222222-2222-2222-2222-222222222222")
    assessments = dict(
        (
            _assessment(windows),
            _assessment(linux, os_type="Linux", critical=None, security=3),
            _assessment(blank, critical=None, security=None, last_modified=None),
        )
    )
    state = render.PatchState(assessments, frozenset({SUB}), {"contoso": 7})
    records = [windows, linux, unassessed, blank, cluster, other_sub]
    rows = render.arc_rows(records, customers={}, subscriptions={}, now=NOW, patches=state)
    cells = {r.cells[0]: r.cells[5:8] for r in rows}
    assert cells["win-1"] == ("2", "5", "10d")
    assert cells["lin-1"] == ("-", "3", "10d")  # Linux has no Critical class
    assert cells["new-1"] == ("?", "?", ">30d")  # none within Resource Graph's 30 days
    assert cells["odd-1"] == ("?", "?", "?")  # an assessment without figures: unknown
    assert cells["k8s-1"] == ("-", "-", "-")
    assert cells["far-1"] == ("?", "?", "?")  # its subscription's health was never read
    by_name = {r.cells[0]: r for r in rows}
    levels = by_name["win-1"].cell_levels or ()
    assert levels[5] == "warning" and levels[7] == "warning"  # 10 days > 7
    # never 0 for what is not known, whatever was read: nothing read at all
    (row,) = render.arc_rows([windows], customers={}, subscriptions={}, now=NOW)
    assert row.cells[5:8] == ("?", "?", "?")
    # sorting: most pending first, the oldest assessment first, unknown last
    sorts = {r.cells[0]: (r.sort_values or ())[5:8] for r in rows}
    assert sorts["win-1"][0] == -2 and sorts["far-1"] == (None, None, None)
    assert sorts["new-1"][2] < sorts["win-1"][2]  # >30d sorts before 10d


def test_health_rows_say_why_and_azure_caused_resources_rank_first() -> None:
    def resource(
        name: str, platform: bool | None, state: str = "Unavailable"
    ) -> ResourceHealthRecord:
        return ResourceHealthRecord(
            profile="contoso",
            subscription_id=SUB,
            resource_id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/X/y/{name}",
            availability_state=state,
            title=state,
            summary=f"{name} summary",
            occurred_time="2026-11-20T10:00:00Z" if name != "new" else "2026-11-20T11:00:00Z",
            platform_initiated=platform,
        )

    records = [resource("mine", False), resource("new", False), resource("azure", True)]
    rows = render.health_rows(
        [],
        [],
        records,
        customers={},
        subscriptions={},
        now=NOW,  # type: ignore[arg-type]
    )
    ranked = sorted(rows, key=render.health_rank)
    assert [r.cells[2] for r in ranked] == ["azure", "new", "mine"]
    assert ranked[0].cells[:2] == ("Unavailable", "platform: azure summary")
    assert ranked[1].cells[1] == "user: new summary"  # the title only repeated the state


def test_event_kinds_fit_the_kind_column_at_80_columns() -> None:
    from btconsole.records import EventImpactRecord, ServiceHealthEvent

    def event(kind: str) -> health.CustomerEvent:
        e = ServiceHealthEvent(
            profile="contoso",
            subscription_id=SUB,
            tracking_id=f"T-{kind}",
            event_type=kind,
            status="Active",
            title=f"{kind} in UK South",
            impact_start="2026-11-20T09:00:00Z",
            impacts=(EventImpactRecord(service="ExpressRoute", region="UK South"),),
        )
        return health.CustomerEvent(e, (SUB,), ())

    kinds = ("ServiceIssue", "PlannedMaintenance", "HealthAdvisory", "SecurityAdvisory", "New")
    rows = render.health_rows(
        [event(k) for k in kinds],
        [],
        [],
        customers={},
        subscriptions={},
        now=NOW,  # type: ignore[arg-type]
    )
    labels = [r.cells[0] for r in rows]
    assert labels == ["service issue", "maintenance", "advisory", "security adv", "New"]
    # none longer than "service issue", which the 80x24 snapshot shows whole
    assert max(len(label) for label in labels) == len("service issue")
