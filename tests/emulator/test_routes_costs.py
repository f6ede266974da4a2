"""Cost Management query/forecast and Consumption budgets through the real async clients."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.consumption.aio import ConsumptionManagementClient
from azure.mgmt.costmanagement.aio import CostManagementClient
from azure.mgmt.costmanagement.models import (
    ForecastAggregation,
    ForecastDataset,
    ForecastDefinition,
    ForecastTimePeriod,
    QueryAggregation,
    QueryDataset,
    QueryDefinition,
    QueryGrouping,
    QueryTimePeriod,
)

from btconsole.emulator.estate import Customer, Estate
from btconsole.emulator.server import RunningEmulator

ARM_SCOPE = "https://management.azure.com/.default"


def sdk(emulator: RunningEmulator) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "credential_scopes": [ARM_SCOPE],
        "connection_verify": str(emulator.ca_path),
    }


def _daily_by(
    est: Estate, sid: str, start: dt.date, end: dt.date, key: str
) -> dict[tuple[int, str], float]:
    out: dict[tuple[int, str], float] = defaultdict(float)
    for series in est.costs_in(sid):
        group = series.service_name if key == "service" else series.resource_group.lower()
        for day, value in zip(est.cost_dates(), series.daily, strict=True):
            if start <= day <= end:
                out[(int(day.strftime("%Y%m%d")), group)] += value
    return out


def _mtd(
    granularity: str | None, grouping: str | None, name: str = "PreTaxCost"
) -> QueryDefinition:
    return QueryDefinition(
        type="ActualCost",
        timeframe="MonthToDate",
        dataset=QueryDataset(
            granularity=granularity,
            aggregation={"totalCost": QueryAggregation(name=name, function="Sum")},
            grouping=[QueryGrouping(type="Dimension", name=grouping)] if grouping else None,
        ),
    )


async def test_month_to_date_daily_by_service_with_paging(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = customer.subscription_ids[0]
    scope = f"/subscriptions/{sid}"
    expected = _daily_by(est, sid, est.as_of.replace(day=1), est.as_of, "service")
    emulator.set_settings(page_size=25)
    definition = _mtd("Daily", "ServiceName")
    async with CostManagementClient(aio_credential, **sdk(emulator)) as client:
        first = await client.query.usage(scope, definition)
        assert first is not None and first.properties is not None
        props = first.properties
        assert [(c.name, c.type) for c in props.columns] == [
            ("PreTaxCost", "Number"),
            ("UsageDate", "Number"),
            ("ServiceName", "String"),
            ("Currency", "String"),
        ]
        rows = list(props.rows)
        link = props.next_link
        pages = 1
        while link:
            request = HttpRequest("POST", link, json=definition.as_dict())
            response = await client.send_request(request)
            response.raise_for_status()
            page = response.json()["properties"]
            rows += page["rows"]
            link = page["nextLink"]
            pages += 1
    assert pages == -(-len(expected) // 25) and pages > 1
    got = {(r[1], r[2]): r[0] for r in rows}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6)
    assert {r[3] for r in rows} == {customer.currency}
    assert all(
        isinstance(r[1], int) and r[1] // 100 == est.as_of.year * 100 + est.as_of.month
        for r in rows
    )


async def test_totals_custom_period_groupings_and_filter(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = customer.subscription_ids[0]
    scope = f"/subscriptions/{sid}"
    start, end = est.as_of - dt.timedelta(days=20), est.as_of - dt.timedelta(days=10)
    by_rg = _daily_by(est, sid, start, end, "rg")
    totals: dict[str, float] = defaultdict(float)
    for (_, rg), v in by_rg.items():
        totals[rg] += v
    async with CostManagementClient(aio_credential, **sdk(emulator)) as client:
        result = await client.query.usage(
            scope,
            QueryDefinition(
                type="ActualCost",
                timeframe="Custom",
                time_period=QueryTimePeriod(
                    from_property=dt.datetime(
                        start.year, start.month, start.day, tzinfo=dt.timezone.utc
                    ),
                    to=dt.datetime(
                        end.year, end.month, end.day, 23, 59, 59, tzinfo=dt.timezone.utc
                    ),
                ),
                dataset=QueryDataset(
                    aggregation={"totalCost": QueryAggregation(name="Cost", function="Sum")},
                    grouping=[QueryGrouping(type="Dimension", name="ResourceGroupName")],
                ),
            ),
        )
        assert result is not None and result.properties is not None
        cols = [c.name for c in result.properties.columns]
        assert cols == ["Cost", "ResourceGroupName", "Currency"]
        got = {r[1]: r[0] for r in result.properties.rows}
        assert got.keys() == totals.keys()
        for rg, value in totals.items():
            assert got[rg] == pytest.approx(value, abs=1e-6)

        rg = sorted(totals)[0]
        filtered = await client.query.usage(
            scope,
            {
                "type": "ActualCost",
                "timeframe": "TheLastMonth",
                "dataset": {
                    "aggregation": {"totalCost": {"name": "PreTaxCost", "function": "Sum"}},
                    "grouping": [{"type": "Dimension", "name": "SubscriptionId"}],
                    "filter": {
                        "dimensions": {
                            "name": "ResourceGroupName",
                            "operator": "In",
                            "values": [rg],
                        }
                    },
                },
            },
        )
        assert filtered is not None and filtered.properties is not None
        first = est.as_of.replace(day=1)
        last_month_end = first - dt.timedelta(days=1)
        want = sum(
            v
            for (day, group), v in _daily_by(
                est, sid, last_month_end.replace(day=1), last_month_end, "rg"
            ).items()
            if group == rg
        )
        (row,) = filtered.properties.rows
        assert row[1] == sid and row[0] == pytest.approx(want, abs=1e-6)

        rg_scoped = await client.query.usage(
            f"{scope}/resourceGroups/{rg}", _mtd(None, "ServiceName")
        )
        assert rg_scoped is not None and rg_scoped.properties is not None
        services = {s.service_name for s in est.costs_in(sid) if s.resource_group.lower() == rg}
        assert {r[1] for r in rg_scoped.properties.rows} == services

        with pytest.raises(HttpResponseError) as bad:
            await client.query.usage(scope, _mtd("Daily", "Colour"))
        assert bad.value.status_code == 400


async def test_forecast(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = customer.subscription_ids[0]
    start = est.as_of - dt.timedelta(days=2)
    end = est.as_of + dt.timedelta(days=5)
    async with CostManagementClient(aio_credential, **sdk(emulator)) as client:
        result = await client.forecast.usage(
            f"/subscriptions/{sid}",
            ForecastDefinition(
                type="ActualCost",
                timeframe="Custom",
                time_period=ForecastTimePeriod(
                    from_property=dt.datetime(
                        start.year, start.month, start.day, tzinfo=dt.timezone.utc
                    ),
                    to=dt.datetime(end.year, end.month, end.day, tzinfo=dt.timezone.utc),
                ),
                dataset=ForecastDataset(
                    granularity="Daily",
                    aggregation={"totalCost": ForecastAggregation(name="Cost", function="Sum")},
                ),
                include_actual_cost=True,
                include_fresh_partial_cost=False,
            ),
        )
    assert result is not None and result.properties is not None
    assert [c.name for c in result.properties.columns] == [
        "Cost",
        "UsageDate",
        "CostStatus",
        "Currency",
    ]
    rows = result.properties.rows
    assert [r[2] for r in rows] == ["Actual"] * 3 + ["Forecast"] * 5
    assert [r[1] for r in rows] == [
        int((start + dt.timedelta(days=i)).strftime("%Y%m%d")) for i in range(8)
    ]
    daily = [sum(s.daily[i] for s in est.costs_in(sid)) for i in range(est.cost_days)]
    assert rows[2][0] == pytest.approx(daily[-1], abs=1e-6)
    assert rows[3][0] == pytest.approx(sum(daily[-7:]) / 7, abs=1e-6)


async def test_resource_group_forecast_for_the_month(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = customer.subscription_ids[0]
    rg = est.costs_in(sid)[0].resource_group
    series = [s for s in est.costs_in(sid) if s.resource_group == rg]
    async with CostManagementClient(aio_credential, **sdk(emulator)) as client:
        result = await client.forecast.usage(
            f"/subscriptions/{sid}/resourceGroups/{rg}",
            {
                "type": "ActualCost",
                "timeframe": "MonthToDate",
                "dataset": {"aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}}},
                "includeActualCost": True,
            },
        )
    assert result is not None and result.properties is not None
    assert [c.name for c in result.properties.columns] == ["Cost", "CostStatus", "Currency"]
    totals = {r[1]: r[0] for r in result.properties.rows}
    first = est.as_of.replace(day=1)
    actual = sum(
        v
        for s in series
        for day, v in zip(est.cost_dates(), s.daily, strict=True)
        if first <= day <= est.as_of
    )
    assert totals["Actual"] == pytest.approx(actual, abs=1e-6)
    days_left = calendar.monthrange(first.year, first.month)[1] - est.as_of.day
    recent = sum(sum(s.daily[-7:]) for s in series) / 7
    assert totals["Forecast"] == pytest.approx(recent * days_left, abs=1e-6)


async def test_budgets(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = customer.subscription_ids[0]
    (budget,) = est.budgets_in(sid)
    async with ConsumptionManagementClient(aio_credential, sid, **sdk(emulator)) as client:
        listed = [b async for b in client.budgets.list(f"/subscriptions/{sid}")]
        assert [b.name for b in listed] == [budget.name]
        got = await client.budgets.get(f"/subscriptions/{sid}", budget.name)
        rg = est.costs_in(sid)[0].resource_group
        scoped = f"/subscriptions/{sid}/resourceGroups/{rg}"
        assert [b async for b in client.budgets.list(scoped)] == []
    # The Consumption models carry amounts as Decimal.
    assert float(got.amount) == budget.amount
    assert got.time_grain == "Monthly"
    assert float(got.current_spend.amount) == pytest.approx(est.month_to_date_cost(sid))
    assert got.current_spend.unit == customer.currency
    assert float(got.forecast_spend.amount) == pytest.approx(est.forecast_month_cost(sid))
    assert got.forecast_spend.amount >= got.current_spend.amount


async def test_some_budgets_are_over_and_cost_is_refused_for_invisible_subscriptions(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential
) -> None:
    est = emulator.estate
    assert any(est.forecast_month_cost(b.subscription_id) > b.amount for b in est.budgets)
    other = est.customers[1].subscription_ids[0]
    async with CostManagementClient(aio_credential, **sdk(emulator)) as client:
        with pytest.raises(HttpResponseError) as info:
            await client.query.usage(f"/subscriptions/{other}", _mtd("Daily", None))
    assert info.value.status_code == 403


async def test_no_content_fault_answers_204_for_the_query_and_the_forecast_only(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    """``costmanagement_no_content``: the documented 204 (no body) of both operations;
    without a ``route`` it leaves every other route alone (budgets here)."""
    sid = customer.subscription_ids[0]
    scope = f"/subscriptions/{sid}"
    emulator.add_fault(kind="costmanagement_no_content", subscriptions=[sid])
    async with CostManagementClient(aio_credential, **sdk(emulator)) as client:
        query = await client.query.usage(scope, _mtd("Daily", "ServiceName"))
        forecast = await client.forecast.usage(
            scope,
            ForecastDefinition(
                type="ActualCost",
                timeframe="MonthToDate",
                dataset=ForecastDataset(
                    granularity="Daily",
                    aggregation={"totalCost": ForecastAggregation(name="Cost", function="Sum")},
                ),
            ),
        )
    assert query is None and forecast is None
    async with ConsumptionManagementClient(aio_credential, sid, **sdk(emulator)) as consumption:
        budgets = [b async for b in consumption.budgets.list(scope)]
    assert budgets
    stats = emulator.stats()["by_route_status"]
    assert stats["costs.query_subscription"] == {"204": 1}
    assert stats["costs.forecast_subscription"] == {"204": 1}
    assert stats["budgets.list"] == {"200": 1}
