"""The REST fallback routes of the incidents: Resource Health events and availability
statuses, Azure Monitor alerts (listed by subscription, paged, in the specs' REST form)."""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
import pytest

from btconsole.azure import incidents
from btconsole.emulator.estate import Customer
from btconsole.emulator.routes.graph import build_tables
from btconsole.emulator.server import RunningEmulator


@pytest.fixture
def customer(emulator: RunningEmulator) -> Customer:
    """Fabrikam Logistics: the small estate's service issue, alerts and degraded circuits."""
    return emulator.estate.customers[1]


async def _get_all(emulator: RunningEmulator, token: str, path: str) -> tuple[int, list[Any], int]:
    """(status, every item over all pages, pages)."""
    context = ssl.create_default_context(cafile=str(emulator.ca_path))
    headers = {"Authorization": f"Bearer {token}"}
    url: str | None = f"{emulator.base_url}{path}?api-version=2024-02-01"
    items: list[Any] = []
    pages = 0
    async with aiohttp.ClientSession() as session:
        while url:
            async with session.get(url, headers=headers, ssl=context) as resp:
                body = json.loads(await resp.text())
                if resp.status != 200:
                    return resp.status, [body], pages
            pages += 1
            items.extend(body["value"])
            url = body.get("nextLink")
    return 200, items, pages


def _sub_with_most(emulator: RunningEmulator, customer: Customer) -> str:
    est = emulator.estate
    return max(customer.subscription_ids, key=lambda s: len(est.machines_in(s)))


async def test_events_in_rest_form(
    emulator: RunningEmulator, arm_token: str, customer: Customer
) -> None:
    est = emulator.estate
    sid = next(
        s
        for e in est.service_events
        if e.event_type == "ServiceIssue" and e.status == "Active"
        for s in e.subscription_ids()
        if s in customer.subscription_ids
    )
    status, events, _ = await _get_all(
        emulator, arm_token, f"/subscriptions/{sid}/providers/Microsoft.ResourceHealth/events"
    )
    assert status == 200
    expected = [e for e in est.service_events if sid in e.subscription_ids()]
    assert [e["name"] for e in events] == [e.tracking_id for e in expected]
    for got, want in zip(events, expected, strict=True):
        props = got["properties"]
        assert props["eventType"] == want.event_type and props["status"] == want.status
        assert props["impactStartTime"] == want.impact_start  # ISO 8601 in REST
        for impact in props["impact"]:
            for region in impact["impactedRegions"]:
                assert region["impactedSubscriptions"] == [sid]
    # the REST JSON gives the same records as the Resource Graph rows
    rows = build_tables(est, [sid])["servicehealthresources"]
    by_graph = incidents.events_from_rows("p", rows, [sid])[sid.lower()]
    by_rest = incidents.events_from_rows("p", events, [sid])[sid.lower()]
    assert [dataclass_without_resources(e) for e in by_rest] == [
        dataclass_without_resources(e) for e in by_graph
    ]


def dataclass_without_resources(event: Any) -> Any:
    from btconsole.records import replace

    return replace(event, impacted_resources=())


async def test_availability_statuses_paged_and_alerts(
    emulator: RunningEmulator, arm_token: str, customer: Customer
) -> None:
    est = emulator.estate
    sid = _sub_with_most(emulator, customer)
    emulator.set_settings(page_size=4)
    provider = f"/subscriptions/{sid}/providers"
    status, statuses, pages = await _get_all(
        emulator, arm_token, f"{provider}/Microsoft.ResourceHealth/availabilityStatuses"
    )
    resources = len(est.machines_in(sid)) + len(est.clusters_in(sid)) + len(est.circuits_in(sid))
    assert status == 200 and len(statuses) == resources and pages == -(-resources // 4) > 1
    rest = {r.resource_id: r for r in (incidents.health_record("p", s) for s in statuses)}
    graph = {
        r.resource_id: r
        for r in (
            incidents.health_record("p", row) for row in build_tables(est, [sid])["healthresources"]
        )
    }
    assert rest == graph  # "occuredTime" in REST, "occurredTime" in Resource Graph
    status, alerts, _ = await _get_all(
        emulator, arm_token, f"{provider}/Microsoft.AlertsManagement/alerts"
    )
    assert status == 200 and alerts
    assert {incidents.alert_record("p", a) for a in alerts} == {
        incidents.alert_record("p", row)
        for row in build_tables(est, [sid])["alertsmanagementresources"]
    }


async def test_another_tenants_subscription_is_refused(
    emulator: RunningEmulator, arm_token: str, customer: Customer
) -> None:
    other = next(
        s.subscription_id
        for s in emulator.estate.subscriptions
        if s.subscription_id not in customer.subscription_ids
    )
    status, body, _ = await _get_all(
        emulator, arm_token, f"/subscriptions/{other}/providers/Microsoft.AlertsManagement/alerts"
    )
    assert status in (403, 404) and body[0]["error"]["code"]
