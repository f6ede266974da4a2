"""Bad requests to the estate routes get ARM-shaped 4xx answers, never a 500."""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
import pytest

from btconsole.emulator.estate import Customer
from btconsole.emulator.server import RunningEmulator

CM = "providers/Microsoft.CostManagement"
PI = "providers/Microsoft.PolicyInsights/policyStates"


async def _call(
    emulator: RunningEmulator, token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(emulator.ca_path))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = body if isinstance(body, str) else (None if body is None else json.dumps(body))
    sep = "&" if "?" in path else "?"
    url = f"{emulator.base_url}{path}{sep}api-version=2099-01-01"
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=data, headers=headers, ssl=context) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


MTD = {"type": "ActualCost", "timeframe": "MonthToDate", "dataset": {"granularity": "Daily"}}


def _cases(sid: str, circuit: str, rg: str) -> list[tuple[str, str, Any, int]]:
    sub = f"/subscriptions/{sid}"
    er = f"{sub}/resourceGroups/{rg}/providers/Microsoft.Network/expressRouteCircuits/{circuit}"
    metrics = f"{er}/providers/Microsoft.Insights/metrics"
    return [
        ("POST", f"{sub}/{CM}/query", [], 400),
        ("POST", f"{sub}/{CM}/query", "{not json", 400),
        ("POST", f"{sub}/{CM}/query", {**MTD, "timeframe": "Yesterday"}, 400),
        ("POST", f"{sub}/{CM}/query", {**MTD, "type": "Bogus"}, 400),
        ("POST", f"{sub}/{CM}/query", {**MTD, "timeframe": "Custom"}, 400),
        (
            "POST",
            f"{sub}/{CM}/query",
            {**MTD, "timeframe": "Custom", "timePeriod": {"from": "x", "to": "y"}},
            400,
        ),
        ("POST", f"{sub}/{CM}/query", {**MTD, "dataset": {"granularity": "Hourly"}}, 400),
        ("POST", f"{sub}/{CM}/query", {**MTD, "dataset": {"filter": {"tags": {}}}}, 400),
        (
            "POST",
            f"{sub}/{CM}/query",
            {**MTD, "dataset": {"aggregation": {"x": {"name": "Cost", "function": "Avg"}}}},
            400,
        ),
        ("POST", f"{sub}/{CM}/query?$skiptoken=%%%", MTD, 400),
        (
            "POST",
            f"{sub}/{CM}/forecast",
            {**MTD, "dataset": {"grouping": [{"type": "Dimension", "name": "ServiceName"}]}},
            400,
        ),
        ("POST", f"{sub}/resourceGroups/rg-missing/{CM}/query", MTD, 404),
        ("GET", f"{sub}/providers/Microsoft.Consumption/budgets/nope", None, 404),
        ("GET", f"{metrics}?timespan=yesterday", None, 400),
        ("GET", f"{metrics}?interval=PT1X", None, 400),
        ("GET", f"{metrics}?top=abc", None, 400),
        ("GET", f"{metrics}?aggregation=median", None, 400),
        ("GET", f"{metrics}?timespan=2026-01-01T00:00:00Z/P90D", None, 400),
        ("GET", f"{metrics}?metricnamespace=Microsoft.Compute/virtualMachines", None, 400),
        ("GET", f"{metrics}?$filter=PeeringType%20ne%20'x'", None, 400),
        ("POST", f"{sub}/{PI}/latest/queryResults?$filter=ComplianceState%20eq", None, 400),
        ("POST", f"{sub}/{PI}/latest/queryResults?$filter=(a%20eq%20'b'", None, 400),
        ("POST", f"{sub}/{PI}/latest/queryResults?$top=-1", None, 400),
        ("POST", f"{sub}/{PI}/earliest/summarize", None, 400),
        (
            "POST",
            f"{sub}/providers/Microsoft.Authorization/policyAssignments/nope/{PI}/latest/queryResults",
            None,
            404,
        ),
        ("POST", f"{er}/peerings/AzurePrivatePeering/arpTables/tertiary", None, 400),
        ("POST", f"{er}/peerings/NoSuchPeering/routeTables/primary", None, 404),
        (
            "GET",
            f"{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/x/extensions/y",
            None,
            404,
        ),
        ("POST", "/providers/Microsoft.ResourceGraph/resources", {}, 400),
        ("POST", "/providers/Microsoft.ResourceGraph/resources", [1], 400),
        (
            "POST",
            "/providers/Microsoft.ResourceGraph/resources",
            {"query": "resources", "options": {"$top": 5000}},
            400,
        ),
        (
            "POST",
            "/providers/Microsoft.ResourceGraph/resources",
            {"query": "resources", "options": {"$skipToken": "!!"}},
            400,
        ),
        (
            "POST",
            "/providers/Microsoft.ResourceGraph/resources",
            {"query": "resources", "subscriptions": "all"},
            400,
        ),
    ]


async def test_bad_requests_are_answered_in_arm_shape(
    emulator: RunningEmulator, arm_token: str, customer: Customer
) -> None:
    est = emulator.estate
    circuit = est.circuits[0]
    # The customer's own subscription for everything but the circuit routes, which need
    # a visible circuit: use one of the customer's if it has any, else expect 403 there.
    sid = customer.subscription_ids[0]
    rg = est.subscription(sid).resource_groups[0].name  # type: ignore[union-attr]
    own = [c for s in customer.subscription_ids for c in est.circuits_in(s)]
    target = own[0] if own else circuit
    failures = []
    for method, path, body, expected in _cases(sid, target.name, target.resource_group):
        if "/expressRouteCircuits/" in path:
            path = path.replace(
                f"/subscriptions/{sid}/", f"/subscriptions/{target.subscription_id}/"
            )
            if not own:
                expected = 403
        elif "/machines/x/" in path:
            path = path.replace(
                f"/resourceGroups/{target.resource_group}/", f"/resourceGroups/{rg}/"
            )
        status, answer = await _call(emulator, arm_token, method, path, body)
        ok = status == expected and isinstance(answer, dict) and answer.get("error", {}).get("code")
        if not ok:
            failures.append((method, path, expected, status, answer))
    assert not failures, failures
    assert emulator.stats() is not None


@pytest.mark.parametrize("page_size", [1, 4])
async def test_cost_next_link_is_stable_across_pages(
    emulator: RunningEmulator, arm_token: str, customer: Customer, page_size: int
) -> None:
    emulator.set_settings(page_size=page_size)
    sid = customer.subscription_ids[0]
    body = {
        "type": "ActualCost",
        "timeframe": "WeekToDate",
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": "PreTaxCost", "function": "Sum"}},
        },
    }
    status, answer = await _call(
        emulator, arm_token, "POST", f"/subscriptions/{sid}/{CM}/query", body
    )
    assert status == 200
    rows = list(answer["properties"]["rows"])
    link = answer["properties"]["nextLink"]
    while link:
        path = link.removeprefix(emulator.base_url)
        path, _, query = path.partition("?")
        token = next(p for p in query.split("&") if p.startswith("$skiptoken="))
        status, answer = await _call(emulator, arm_token, "POST", f"{path}?{token}", body)
        assert status == 200
        rows += answer["properties"]["rows"]
        link = answer["properties"]["nextLink"]
    est = emulator.estate
    days = est.as_of.weekday() + 1
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    assert len(rows) == days
