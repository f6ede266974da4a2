"""The spend rules over a customer whose spend is read at its partner billing account's
customer scope: its forecast (``subscription_id`` "") is kept with every subscription's
records and counts once; a missing one is unknown, never zero."""

from __future__ import annotations

import datetime as dt

from btconsole import health
from btconsole.records import CostRecord, ForecastRecord, RejectedAmountRecord

TODAY = dt.date(2026, 11, 20)
SUBS = ("sub-a", "sub-b", "sub-c")


def costs(currency: str = "GBP") -> list[CostRecord]:
    return [
        CostRecord("contoso", sub, "2026-11-19", "VMs", "?", 100.0 + i, currency)
        for i, sub in enumerate(SUBS)
    ]


def customer(forecast: float = 1000.0, currency: str = "GBP") -> ForecastRecord:
    return ForecastRecord("contoso", "", "2026-11", 303.0, forecast, currency)


def test_the_customer_forecast_counts_once_and_covers_every_subscription() -> None:
    copies = [customer() for _ in SUBS]  # one per subscription's entry
    assert health.forecast_total(copies, TODAY, costs()) == {"GBP": 1000.0}
    assert health.forecast_gaps(costs(), copies, TODAY) == []
    assert health.forecast_gap_findings("contoso", costs(), copies, TODAY) == []


def test_no_customer_forecast_is_unknown_never_zero() -> None:
    assert health.forecast_total([], TODAY, costs()) == {}  # unknown, not {"GBP": 0}
    gaps = health.forecast_gaps(costs(), [], TODAY)
    assert gaps == [(sub, "GBP") for sub in SUBS]
    findings = health.forecast_gap_findings("contoso", costs(), [], TODAY)
    assert [f.rule for f in findings] == ["forecast-unknown/GBP"] * 3
    # read at the billing customer's scope, the forecast missing is the customer's:
    # one finding per currency, naming how many subscriptions it leaves without
    (billed,) = health.forecast_gap_findings("contoso", costs(), [], TODAY, billed=True)
    assert billed.rule == "forecast-unknown/GBP" and billed.severity == "info"
    assert billed.title == "billing customer: forecast unknown"
    assert "(3 subscription(s), month to date GBP 303.00)" in billed.detail
    assert billed.subscription_id is None


def test_a_customer_forecast_in_another_currency_leaves_the_spend_uncovered() -> None:
    copies = [customer(currency="EUR") for _ in SUBS]
    assert health.forecast_total(copies, TODAY, costs("GBP")) == {"EUR": 1000.0}
    assert len(health.forecast_gaps(costs("GBP"), copies, TODAY)) == 3


def test_copies_that_disagree_leave_the_forecast_unknown() -> None:
    # a subscription whose refresh failed still holds an older copy: which is current
    # cannot be told
    copies = [customer(1000.0), customer(1000.0), customer(990.0)]
    assert health.effective_forecasts(copies) == []
    assert health.forecast_total(copies, TODAY, costs()) == {}


def test_own_forecasts_win_over_a_leftover_customer_copy() -> None:
    # back on the per-subscription path; sub-c's refresh failed and kept its old copy
    own = [
        ForecastRecord("contoso", "sub-a", "2026-11", 100.0, 300.0, "GBP"),
        ForecastRecord("contoso", "sub-b", "2026-11", 101.0, 310.0, "GBP"),
    ]
    records = [*own, customer()]
    assert health.effective_forecasts(records) == own
    assert health.forecast_gaps(costs(), records, TODAY) == [("sub-c", "GBP")]
    assert health.forecast_total(records, TODAY, costs()) == {}  # a sum missing sub-c


def test_a_rejected_customer_forecast_is_one_finding() -> None:
    rejected = [
        RejectedAmountRecord("contoso", "", "forecast", "inf", "not a finite number", "2026-11")
        for _ in SUBS
    ]
    (finding,) = health.rejected_amount_findings(rejected)
    assert finding.title.startswith("billing customer (every subscription): 1 forecast row")
    assert finding.subscription_id is None and finding.resource_id is None


def test_a_billed_customer_without_its_forecast_gets_one_finding() -> None:
    import dataclasses

    from tests.test_health import profile

    now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc)
    billed = dataclasses.replace(
        profile(), billing_scope="/providers/Microsoft.Billing/billingAccounts/a/customers/c"
    )
    rules = [f.rule for f in health.findings_for(billed, {"spend": costs()}, now)]
    assert rules.count("forecast-unknown/GBP") == 1
    own = [f.rule for f in health.findings_for(profile(), {"spend": costs()}, now)]
    assert own.count("forecast-unknown/GBP") == 3  # per subscription, as before
