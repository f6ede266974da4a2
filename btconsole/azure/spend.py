"""Spend: daily actual cost, the month-end forecast, and Consumption budgets.

Cost Management does not page by itself in the SDK: a ``nextLink`` is POSTed again
with the same body, here. Its throttling answers carry only its own
``x-ms-ratelimit-microsoft.costmanagement-*-retry-after`` headers, which
:mod:`btconsole.azure.errors` reads.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from btconsole.azure.common import call, get, number, rest_items, rest_json, text
from btconsole.azure.session import AzureSession
from btconsole.records import BudgetRecord, CostRecord, ForecastRecord

COST_DAYS = 60


def _scope(subscription_id: str) -> str:
    return f"/subscriptions/{subscription_id}"


def _columns(properties: Mapping[str, Any]) -> dict[str, int]:
    return {str(get(c, "name")).lower(): i for i, c in enumerate(get(properties, "columns") or [])}


def _cost_column(columns: dict[str, int]) -> int:
    for name in ("cost", "pretaxcost", "costusd", "pretaxcostusd", "totalcost"):
        if name in columns:
            return columns[name]
    raise ValueError("no cost column in the Cost Management answer")


def _usage_date(value: Any) -> str:
    raw = str(int(value)) if isinstance(value, (int, float)) else str(value)
    if len(raw) == 8 and raw.isdigit():
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    return raw[:10]


async def _query_pages(
    session: AzureSession, operation: str, subscription_id: str, body: dict[str, Any]
) -> list[Mapping[str, Any]]:
    """Every page of a Cost Management query/forecast (properties of each)."""
    client = session.client("costmanagement")
    scope = _scope(subscription_id)

    async def first() -> Any:
        # The REST answer through the same client and pipeline, as the next pages: the
        # SDK's QueryResult model (built, then undone by rest_dict) cost more CPU than
        # the rest of the query (docs/performance.md).
        url = f"{scope}/providers/Microsoft.CostManagement/{operation}"
        params = {"api-version": client._config.api_version}
        return await rest_json(client, "POST", url, params=params, body=body)

    pages = [get(await call(f"cost {operation} of {subscription_id}", first), "properties") or {}]
    seen = 0
    while (link := get(pages[-1], "nextLink")) and seen < 1000:
        seen += 1

        async def next_page(url: str = str(link)) -> Any:
            return await rest_json(client, "POST", url, body=body)

        pages.append(
            get(
                await call(f"cost {operation} of {subscription_id} (next page)", next_page),
                "properties",
            )
            or {}
        )
    return pages


async def daily_costs(
    session: AzureSession, subscription_id: str, today: date, *, days: int = COST_DAYS
) -> list[CostRecord]:
    """Actual cost per day, service and resource group for the last ``days`` days.

    Raises:
        AzureError: the query failed.
    """
    start = today - timedelta(days=days - 1)
    body = {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {
            "from": f"{start.isoformat()}T00:00:00Z",
            "to": f"{today.isoformat()}T23:59:59Z",
        },
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
            "grouping": [
                {"type": "Dimension", "name": "ServiceName"},
                {"type": "Dimension", "name": "ResourceGroupName"},
            ],
        },
    }
    records: list[CostRecord] = []
    profile = session.profile.name
    dates: dict[Any, str] = {}  # a page repeats each day once per service and group
    for page in await _query_pages(session, "query", subscription_id, body):
        columns = _columns(page)
        cost = _cost_column(columns)
        day, service, group, currency = (
            columns["usagedate"],
            columns["servicename"],
            columns["resourcegroupname"],
            columns["currency"],
        )
        for row in get(page, "rows") or []:
            raw = row[day]
            date = dates.get(raw)
            if date is None:
                date = dates[raw] = _usage_date(raw)
            records.append(
                CostRecord(
                    profile=profile,
                    subscription_id=subscription_id,
                    date=date,
                    service=str(row[service] or ""),
                    resource_group=str(row[group] or "").lower(),
                    amount=float(row[cost] or 0.0),
                    currency=str(row[currency] or ""),
                )
            )
    return sorted(records, key=lambda r: (r.date, r.service, r.resource_group))


async def month_forecast(
    session: AzureSession, subscription_id: str, today: date
) -> ForecastRecord:
    """Actual cost so far this month and the forecast for the whole month.

    Raises:
        AzureError: the query failed.
    """
    first = today.replace(day=1)
    last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    body = {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {
            "from": f"{first.isoformat()}T00:00:00Z",
            "to": f"{last.isoformat()}T23:59:59Z",
        },
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
        },
        "includeActualCost": True,
        "includeFreshPartialCost": False,
    }
    actual = 0.0
    projected = 0.0
    currency = ""
    for page in await _query_pages(session, "forecast", subscription_id, body):
        columns = _columns(page)
        cost = _cost_column(columns)
        status = columns.get("coststatus")
        for row in get(page, "rows") or []:
            amount = float(row[cost] or 0.0)
            currency = str(row[columns["currency"]]) if "currency" in columns else currency
            if status is not None and str(row[status]).lower() == "actual":
                actual += amount
            else:
                projected += amount
    return ForecastRecord(
        profile=session.profile.name,
        subscription_id=subscription_id,
        month=today.strftime("%Y-%m"),
        actual=round(actual, 2),
        forecast=round(actual + projected, 2),
        currency=currency or session.profile.currency,
    )


def budget_record(profile: str, subscription_id: str, data: Mapping[str, Any]) -> BudgetRecord:
    props = get(data, "properties") or {}
    current = get(props, "currentSpend") or {}
    forecast = get(props, "forecastSpend") or {}
    return BudgetRecord(
        profile=profile,
        subscription_id=subscription_id,
        name=str(get(data, "name") or ""),
        amount=number(get(props, "amount")) or 0.0,
        current_spend=number(get(current, "amount")),
        forecast_spend=number(get(forecast, "amount")),
        currency=text(get(current, "unit")) or text(get(forecast, "unit")) or "",
        time_grain=text(get(props, "timeGrain")) or "Monthly",
    )


async def budgets(session: AzureSession, subscription_id: str) -> list[BudgetRecord]:
    """Consumption budgets of one subscription.

    Raises:
        AzureError: the listing failed.
    """
    # REST JSON through the SDK client's pipeline, not its pager and Budget models; the
    # URL names the subscription, so one client serves them all.
    client = session.client("consumption")

    async def run() -> list[Any]:
        url = f"{_scope(subscription_id)}/providers/Microsoft.Consumption/budgets"
        return await rest_items(client, url, client._config.api_version)

    found = await call(f"listing budgets of {subscription_id}", run)
    records = [
        budget_record(session.profile.name, subscription_id, b)
        for b in found
        if isinstance(b, Mapping)
    ]
    return sorted(records, key=lambda r: r.name)
