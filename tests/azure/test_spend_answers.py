"""Spend read as Cost Management answers it: the real wrappers and the engine, over
HTTPS against an emulator serving the hard answers of tests/spend_estate.py.

204 for the query and the forecast, the ``costmanagement_no_content`` fault, refunds,
currencies beyond GBP/EUR/USD (and never the profile's fallback), absurd amounts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.costmanagement.aio import CostManagementClient
from azure.mgmt.costmanagement.models import (
    ForecastAggregation,
    ForecastDataset,
    ForecastDefinition,
    ForecastTimePeriod,
    QueryAggregation,
    QueryDataset,
    QueryDefinition,
)

from btconsole import health
from btconsole.azure import spend
from btconsole.cache import Cache
from btconsole.config import load_config
from btconsole.emulator.serve import write_config
from btconsole.emulator.server import running_emulator
from btconsole.records import BudgetRecord, CostRecord, ForecastRecord, RejectedAmountRecord
from tests.azure.conftest import Emulated, _environ, run
from tests.azure.test_engine import make_engine
from tests.spend_estate import (
    ABSURD,
    FALLBACK,
    REFUND,
    absurd_subscription,
    no_usage_subscription,
    refunded_subscription,
    spend_estate,
    use_fallback_currency,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulated]:
    estate = spend_estate()
    with running_emulator(estate) as emulator:
        path = tmp_path_factory.mktemp("spend") / "config.toml"
        write_config(path, estate, emulator.base_url, Path(emulator.ca_path))
        text = use_fallback_currency(path.read_text(encoding="utf-8"), "fabrikam-logistics")
        path.write_text(text, encoding="utf-8")
        yield Emulated(emulator, load_config(path), _environ(estate))


@pytest.fixture
def served(site: Emulated) -> Emulated:
    site.emulator.reset()
    return site


def _read(emulated: Emulated, index: int, sub: str) -> tuple[list[Any], list[Any], list[Any]]:
    today = emulated.emulator.estate.as_of

    async def body() -> tuple[list[Any], list[Any], list[Any]]:
        async with emulated.session(emulated.profile(index)) as session:
            return (
                await spend.daily_costs(session, sub, today),
                await spend.month_forecast(session, sub, today),
                await spend.budgets(session, sub),
            )

    return run(body)


def _statuses(emulated: Emulated, route: str) -> dict[str, int]:
    return dict(emulated.emulator.stats()["by_route_status"].get(route, {}))


# --------------------------------------------------------------------------- 204


async def test_the_sdk_sees_204_for_a_scope_with_no_usage(served: Emulated) -> None:
    """The emulator answers as the spec documents: 204, no body (the SDK gives None)."""
    est = served.emulator.estate
    customer = est.customers[1]
    tenant = est.tenant(customer.tenant_id)
    assert tenant is not None
    scope = f"/subscriptions/{no_usage_subscription(est)}"
    first = est.as_of.replace(day=1)
    async with (
        ClientSecretCredential(
            tenant.tenant_id,
            tenant.client_id,
            tenant.client_secret,
            authority=served.emulator.authority,
            disable_instance_discovery=True,
            connection_verify=str(served.emulator.ca_path),
        ) as credential,
        CostManagementClient(
            credential,
            base_url=served.emulator.base_url,
            credential_scopes=["https://management.azure.com/.default"],
            connection_verify=str(served.emulator.ca_path),
        ) as client,
    ):
        query = await client.query.usage(
            scope,
            QueryDefinition(
                type="ActualCost",
                timeframe="MonthToDate",
                dataset=QueryDataset(
                    granularity="Daily",
                    aggregation={"totalCost": QueryAggregation(name="Cost", function="Sum")},
                ),
            ),
        )
        forecast = await client.forecast.usage(
            scope,
            ForecastDefinition(
                type="ActualCost",
                timeframe="Custom",
                time_period=ForecastTimePeriod(
                    from_property=dt.datetime.combine(first, dt.time(), dt.timezone.utc),
                    to=dt.datetime.combine(est.as_of, dt.time(), dt.timezone.utc),
                ),
                dataset=ForecastDataset(
                    granularity="Daily",
                    aggregation={"totalCost": ForecastAggregation(name="Cost", function="Sum")},
                ),
            ),
        )
    assert query is None and forecast is None


def test_no_usage_is_an_empty_answer_not_an_error(served: Emulated) -> None:
    sub = no_usage_subscription(served.emulator.estate)
    costs, forecasts, budgets = _read(served, 1, sub)
    assert costs == [] and forecasts == []  # no ForecastRecord at all: nothing invented
    assert [type(b) for b in budgets] == [BudgetRecord]  # the rest of the scope is read
    assert _statuses(served, "costs.query_subscription") == {"204": 1}
    assert _statuses(served, "costs.forecast_subscription") == {"204": 1}


def test_the_no_content_fault_gives_204_for_a_scope_with_usage(served: Emulated) -> None:
    sub = refunded_subscription(served.emulator.estate)
    served.emulator.add_fault(kind="costmanagement_no_content", subscriptions=[sub])
    costs, forecasts, budgets = _read(served, 1, sub)
    assert costs == [] and forecasts == []
    assert budgets and all(isinstance(b, BudgetRecord) for b in budgets)  # budgets.* untouched


def test_a_forecast_204_alone_leaves_the_forecast_unknown(served: Emulated) -> None:
    """Costs in EUR, the forecast answered 204: no forecast in GBP (the profile's
    fallback) or in anything else, and health says the forecast is unknown."""
    est = served.emulator.estate
    sub = refunded_subscription(est)
    served.emulator.add_fault(
        kind="costmanagement_no_content", route="costs.forecast_*", subscriptions=[sub]
    )
    costs, forecasts, budgets = _read(served, 1, sub)
    assert costs and {c.currency for c in costs} == {"EUR"}
    assert forecasts == []
    profile = served.profile(1)
    assert profile.currency == FALLBACK
    records = {"spend": [*costs, *forecasts, *budgets]}
    now = dt.datetime.combine(est.as_of, dt.time(12), dt.timezone.utc)
    summary = health.customer_summary(profile, records, now)
    assert dict(summary.spend_mtd).keys() == {"EUR"}
    assert summary.forecast == ()  # unknown, not 0.00 GBP
    rules = [f.rule for f in health.findings_for(profile, records, now)]
    assert "forecast-unknown/EUR" in rules


# --------------------------------------------------------------------------- currencies


def test_rows_carry_the_currency_their_answer_gave(served: Emulated) -> None:
    est = served.emulator.estate
    costs, forecasts, budgets = _read(served, 1, refunded_subscription(est))
    assert served.profile(1).currency == FALLBACK
    assert {c.currency for c in costs} == {"EUR"}
    assert [(type(f), f.currency) for f in forecasts] == [(ForecastRecord, "EUR")]
    assert {b.currency for b in budgets} == {"EUR"}
    costs, _, _ = _read(served, 0, absurd_subscription(est))
    assert {c.currency for c in costs if isinstance(c, CostRecord)} == {"JPY"}


# --------------------------------------------------------------------------- refunds


def test_refunds_are_kept_and_counted(served: Emulated) -> None:
    est = served.emulator.estate
    costs, forecasts, _ = _read(served, 1, refunded_subscription(est))
    refund_day = (est.as_of - dt.timedelta(days=3)).isoformat()
    refunds = [c for c in costs if c.service == "Storage" and c.date == refund_day]
    assert [c.amount for c in refunds] == [REFUND]
    (forecast,) = forecasts
    month = [c.amount for c in costs if c.date.startswith(est.as_of.strftime("%Y-%m"))]
    assert forecast.actual == pytest.approx(math.fsum(month), abs=0.05)
    mtd = health.spend_mtd(costs, est.as_of)
    assert mtd["EUR"] == pytest.approx(math.fsum(month))
    # a refund is no anomaly, and the day after it is compared with 0, not with -500
    anomalies = health.spend_anomalies(costs)
    assert not [a for a in anomalies if a.service == "Storage"]


# --------------------------------------------------------------------------- absurd


def test_absurd_amounts_are_dropped_per_row_with_the_reason(served: Emulated) -> None:
    est = served.emulator.estate
    costs, forecasts, budgets = _read(served, 0, absurd_subscription(est))
    rejected = [c for c in costs if isinstance(c, RejectedAmountRecord)]
    kept = [c for c in costs if isinstance(c, CostRecord)]
    yesterday = (est.as_of - dt.timedelta(days=1)).isoformat()
    assert [(r.kind, r.date, r.service, r.value, r.currency) for r in rejected] == [
        ("cost", yesterday, "Backup", repr(ABSURD), "JPY")
    ]
    assert "beyond 1e+15" in rejected[0].reason
    assert len(kept) == 60 * 6 - 1  # every other row of the subscription is kept
    assert all(abs(c.amount) < 1e15 for c in kept)
    # the forecast's rows are absurd too: no forecast, and rejections that say so
    assert not [f for f in forecasts if isinstance(f, ForecastRecord)]
    assert {r.kind for r in forecasts} == {"forecast"}
    assert {r.kind for r in budgets if isinstance(r, RejectedAmountRecord)} == {"budget"}


def test_the_engine_keeps_every_scope_and_health_names_the_dropped_rows(
    served: Emulated, tmp_path: Path
) -> None:
    """Both customers through the engine as the console refreshes them: every spend
    scope is fetched (the 204 one too), and the findings say what was dropped."""
    est = served.emulator.estate

    async def body() -> Any:
        with Cache.open(tmp_path / "cache.sqlite3") as cache:
            async with make_engine(served, cache) as engine:
                outcomes = await engine.refresh_all(domains=["spend"])
            return outcomes, {
                name: [r for e in cache.read(name, "spend") for r in e.records]
                for name in served.config.profiles
            }

    outcomes, records = run(body)
    assert {o.status for o in outcomes} == {"fetched"}
    assert len(outcomes) == 3
    now = dt.datetime.combine(est.as_of, dt.time(12), dt.timezone.utc)
    contoso = served.profile(0)
    findings = health.findings_for(contoso, {"spend": records[contoso.name]}, now)
    dropped = [f for f in findings if f.rule.startswith("rejected-amount/")]
    assert {f.rule for f in dropped} == {
        "rejected-amount/cost",
        "rejected-amount/forecast",
        "rejected-amount/budget",
    }
    cost = next(f for f in dropped if f.rule == "rejected-amount/cost")
    assert cost.severity == "warning"
    assert "1 cost row dropped" in cost.title
    assert "1e+308 JPY (beyond 1e+15 either way)" in cost.detail
    summary = health.customer_summary(contoso, {"spend": records[contoso.name]}, now)
    assert all(math.isfinite(a) and abs(a) < 1e15 for _, a in summary.spend_mtd)
    assert summary.forecast == ()  # JPY forecast unknown
    fabrikam = served.profile(1)
    rows = records[fabrikam.name]
    assert not [r for r in rows if getattr(r, "currency", None) == FALLBACK]
    assert [r.subscription_id for r in rows if isinstance(r, ForecastRecord)] == [
        refunded_subscription(est)
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (float("-inf"), "not a finite number"),
        (1e308, "beyond 1e+15 either way"),
        (-2e15, "beyond 1e+15 either way"),
        ("12,50", "not a number"),
        (True, "not a number"),
        ([1], "not a number"),
    ],
)
def test_amounts_that_are_not_believed(value: Any, reason: str) -> None:
    with pytest.raises(spend._Rejected) as info:
        spend.amount(value)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0.0), (-500, -500.0), ("12.5", 12.5), (1e15, 1e15), (-1e15, -1e15), (0, 0.0)],
)
def test_amounts_that_are(value: Any, expected: float) -> None:
    assert spend.amount(value) == expected
