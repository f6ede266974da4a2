"""Spend: month to date, forecasts, budgets, anomalies and rejected amounts."""

from __future__ import annotations

import datetime as dt
import functools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from btconsole.config import Profile
from btconsole.health.base import (
    ANOMALY_FACTOR,
    ANOMALY_FLOOR,
    ANOMALY_LOOKBACK_DAYS,
    ANOMALY_MIN_HISTORY_DAYS,
    ANOMALY_WINDOW_DAYS,
    BudgetStatus,
    Finding,
    Severity,
)
from btconsole.records import (
    BudgetRecord,
    CostRecord,
    ForecastRecord,
    RejectedAmountRecord,
)

# --------------------------------------------------------------------------- spend

Money = dict[str, float]


def _month(today: dt.date) -> str:
    return f"{today.year:04d}-{today.month:02d}"


def _cost_date(r: CostRecord) -> dt.date | None:
    return _parse_day(r.date)


@functools.lru_cache(maxsize=4096)
def _parse_day(text: str) -> dt.date | None:
    # a few hundred distinct days across 100,000 cost rows: parse each once
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _in_month(r: CostRecord, today: dt.date) -> bool:
    day = _cost_date(r)
    return (
        day is not None and day.year == today.year and day.month == today.month and (day <= today)
    )


def _money(pairs: Iterable[tuple[str, float]]) -> Money:
    parts: dict[str, list[float]] = defaultdict(list)
    for currency, amount in pairs:
        parts[currency].append(amount)
    return {currency: math.fsum(amounts) for currency, amounts in sorted(parts.items())}


def spend_mtd(costs: Iterable[CostRecord], today: dt.date) -> Money:
    """Month-to-date actual cost per currency (records dated this month, up to today)."""
    return _money((r.currency, r.amount) for r in costs if _in_month(r, today))


def spend_mtd_by_subscription(costs: Iterable[CostRecord], today: dt.date) -> dict[str, Money]:
    """Month-to-date actual cost per subscription, per currency."""
    by_sub: dict[str, list[CostRecord]] = defaultdict(list)
    for r in costs:
        by_sub[r.subscription_id].append(r)
    result = {sub: spend_mtd(records, today) for sub, records in sorted(by_sub.items())}
    return {sub: money for sub, money in result.items() if money}


#: The ``subscription_id`` of a forecast read at a billing customer's scope (the
#: whole customer's: Cost Management cannot split a forecast per subscription).
CUSTOMER_FORECAST = ""


def effective_forecasts(forecasts: Iterable[ForecastRecord]) -> list[ForecastRecord]:
    """The forecasts that count, each once.

    A customer whose spend is read at its billing account's customer scope keeps the
    customer's forecast (``subscription_id`` :data:`CUSTOMER_FORECAST`) with every
    subscription's records: it counts once per (customer, month, currency). It counts
    only where no subscription of that customer has a forecast of its own in that
    currency (the path changed and a subscription still holds the other path's
    records: the per-subscription forecasts are kept, and a subscription without one
    is a gap), and only when its copies agree (copies that differ come from a refresh
    that failed for some subscription: which one is current is unknown).
    """
    mine = list(forecasts)
    own = {(f.profile, f.month, f.currency) for f in mine if f.subscription_id != CUSTOMER_FORECAST}
    copies: dict[tuple[str, str, str], set[tuple[float, float]]] = defaultdict(set)
    first: dict[tuple[str, str, str], ForecastRecord] = {}
    for f in mine:
        if f.subscription_id == CUSTOMER_FORECAST:
            key = (f.profile, f.month, f.currency)
            copies[key].add((f.actual, f.forecast))
            first.setdefault(key, f)
    kept = [f for f in mine if f.subscription_id != CUSTOMER_FORECAST]
    kept += [f for key, f in first.items() if key not in own and len(copies[key]) == 1]
    return kept


def forecast_total(
    forecasts: Iterable[ForecastRecord],
    today: dt.date,
    costs: Iterable[CostRecord] | None = None,
) -> Money:
    """End-of-month forecast per currency, from this month's forecast records.

    ``ForecastRecord.forecast`` is taken as the projected total for the month
    (actual so far plus the forecast of the rest); a customer-scope forecast counts
    once (:func:`effective_forecasts`). With ``costs``, a currency is left out
    (unknown) when a subscription spent in it this month but no forecast covers it
    (:func:`forecast_gaps`): a sum that misses a subscription is not a forecast.
    """
    month = _month(today)
    mine = effective_forecasts(f for f in forecasts if f.month == month)
    total = _money((f.currency, f.forecast) for f in mine)
    if costs is not None:
        for _, currency in forecast_gaps(costs, mine, today):
            total.pop(currency, None)
    return total


def forecast_gaps(
    costs: Iterable[CostRecord], forecasts: Iterable[ForecastRecord], today: dt.date
) -> list[tuple[str, str]]:
    """(subscription, currency) pairs with spend this month but no forecast for it.

    A subscription's spend is covered by its own forecast in that currency, or by its
    customer's (:func:`effective_forecasts`). Cost Management gave no forecast (a 204,
    no rows, or a rejected amount): the forecast is unknown, never zero.
    """
    month = _month(today)
    mine = effective_forecasts(f for f in forecasts if f.month == month)
    forecast = {(f.subscription_id, f.currency) for f in mine}
    customer = {(f.profile, f.currency) for f in mine if f.subscription_id == CUSTOMER_FORECAST}
    # ISO dates compare as text: _in_month's test, without a call per row (100,000 rows)
    last = today.isoformat()
    spent = {
        (r.subscription_id, r.currency)
        for r in costs
        if r.date[:7] == month and r.date[:10] <= last and (r.profile, r.currency) not in customer
    }
    return sorted(spent - forecast)


def _fmt(amount: float, currency: str) -> str:
    if not math.isfinite(amount):  # never printed as inf or nan: unknown
        return f"{currency} unknown".strip()
    return f"{currency} {amount:,.2f}".strip()


def forecast_gap_findings(
    profile: str,
    costs: Iterable[CostRecord],
    forecasts: Iterable[ForecastRecord],
    today: dt.date,
    names: Mapping[str, str] | None = None,
    *,
    billed: bool = False,
) -> list[Finding]:
    """One info finding per subscription and currency spent this month with no forecast.

    ``billed``: the customer's spend is read at its billing account's customer scope,
    whose forecast is the customer's, not a subscription's: a missing one is one
    finding per currency (naming how many subscriptions it leaves without), not one
    per subscription.
    """
    names = names or {}
    costs = list(costs)
    # what lacks a forecast: (currency, its subscriptions, whose forecast it was)
    units: list[tuple[str, list[str], str | None]] = []
    if billed:
        by_currency: dict[str, list[str]] = defaultdict(list)
        for gap, currency in forecast_gaps(costs, forecasts, today):
            by_currency[currency].append(gap)
        units = [(currency, subs, None) for currency, subs in sorted(by_currency.items())]
    else:
        units = [(currency, [gap], gap) for gap, currency in forecast_gaps(costs, forecasts, today)]
    findings = []
    for currency, subs, sub in units:
        mine = set(subs)
        spent = spend_mtd([r for r in costs if r.subscription_id in mine], today).get(currency)
        to_date = f"month to date {_fmt(spent, currency)}" if spent is not None else ""
        if sub is None:
            title = "billing customer: forecast unknown"
            counted = ", ".join(p for p in (f"{len(subs)} subscription(s)", to_date) if p)
            detail = (
                "Cost Management gave no forecast for this month at the billing customer's "
                f"scope ({counted})"
            )
        else:
            title = f"subscription {names.get(sub) or sub}: forecast unknown"
            detail = "Cost Management gave no forecast for this month" + (
                f" ({to_date})" if to_date else ""
            )
        findings.append(
            Finding(
                severity="info",
                domain="spend",
                profile=profile,
                rule=f"forecast-unknown/{currency}",
                title=title,
                subscription_id=sub,
                resource_id=f"/subscriptions/{sub}" if sub else None,
                detail=detail,
            )
        )
    return findings


#: How many rejected rows a finding names; the rest are counted.
REJECTED_SHOWN = 3


def _rejected_text(r: RejectedAmountRecord) -> str:
    where = " ".join(part for part in (r.date, r.service) if part)
    amount = f"{r.value} {r.currency}".strip()
    return f"{where + ': ' if where else ''}{amount} ({r.reason})"


def _where(sub: str, names: Mapping[str, str]) -> str:
    if sub == CUSTOMER_FORECAST:
        return "billing customer (every subscription)"
    return f"subscription {names.get(sub) or sub}"


def rejected_amount_findings(
    rejected: Iterable[RejectedAmountRecord], names: Mapping[str, str] | None = None
) -> list[Finding]:
    """One warning per subscription and kind of row whose amount was not believed.

    Those rows are left out of every total, so the figures that depend on them are
    incomplete: the finding says which rows and why.
    """
    names = names or {}
    grouped: dict[tuple[str, str, str], list[RejectedAmountRecord]] = defaultdict(list)
    for r in rejected:
        grouped[(r.profile, r.subscription_id, r.kind)].append(r)
    findings = []
    for (profile, sub, kind), items in sorted(grouped.items()):
        if sub == CUSTOMER_FORECAST:  # the customer's, kept with every subscription: once
            items = list(dict.fromkeys(items))
        items.sort(key=lambda r: (r.date, r.service, r.value))
        texts = [_rejected_text(r) for r in items]
        shown = list(dict.fromkeys(texts))[:REJECTED_SHOWN]  # the same row once
        rest = sum(1 for text in texts if text not in shown)
        more = f"; {rest} more" if rest else ""
        what = {"cost": "cost row", "forecast": "forecast row", "budget": "budget"}.get(
            kind, f"{kind} row"
        )
        plural = "s" if len(items) != 1 else ""
        findings.append(
            Finding(
                severity="warning",
                domain="spend",
                profile=profile,
                rule=f"rejected-amount/{kind}",
                title=(
                    f"{_where(sub, names)}: {len(items)} {what}{plural} "
                    "dropped (amount not believable)"
                ),
                subscription_id=sub or None,
                resource_id=f"/subscriptions/{sub}" if sub else None,
                detail="left out of every total: " + "; ".join(shown) + more,
            )
        )
    return findings


@dataclass(frozen=True)
class BudgetCheck:
    """A customer's month-to-date spend and forecast against its monthly budget."""

    status: BudgetStatus
    budget: float | None
    currency: str
    actual: float | None  # in ``currency``; None when there is no such spend
    forecast: float | None
    used_percent: float | None
    uncompared: Money = field(default_factory=dict)  # spend in other currencies


def budget_check(profile: Profile, actual: Money, forecast: Money) -> BudgetCheck:
    """Compare the spend in ``profile.currency`` with ``profile.monthly_budget``.

    over (actual > budget), else forecast over (forecast > budget), else under.
    "cannot compare" when the only spend is in other currencies; spend in other
    currencies is kept apart in ``uncompared`` and never converted.
    """
    currency = profile.currency
    budget = profile.monthly_budget
    uncompared = {c: a for c, a in actual.items() if c != currency and a}
    other_forecast = any(c != currency and a for c, a in forecast.items())
    mine = actual.get(currency)
    projected = forecast.get(currency)
    status: BudgetStatus
    if budget is None:
        status = "no budget"
    elif mine is None and projected is None and (uncompared or other_forecast):
        status = "cannot compare"
    elif (mine or 0.0) > budget:
        status = "over"
    elif projected is not None and projected > budget:
        status = "forecast over"
    else:
        status = "under"
    used = (mine or 0.0) * 100.0 / budget if budget and status != "cannot compare" else None
    return BudgetCheck(status, budget, currency, mine, projected, used, uncompared)


def budget_findings(profile: Profile, check: BudgetCheck) -> list[Finding]:
    """over budget critical, forecast over budget warning, other currencies info."""
    findings: list[Finding] = []
    subject = f"profile/{profile.name}"
    if check.budget is not None and check.status in ("over", "forecast over"):
        actual = _fmt(check.actual or 0.0, check.currency)
        budget = _fmt(check.budget, check.currency)
        if check.status == "over":
            severity: Severity = "critical"
            title = f"{profile.display_name}: over monthly budget"
            detail = f"month to date {actual} against a budget of {budget}"
        else:
            severity = "warning"
            title = f"{profile.display_name}: forecast over monthly budget"
            detail = (
                f"forecast {_fmt(check.forecast or 0.0, check.currency)} against a budget "
                f"of {budget} (month to date {actual})"
            )
        findings.append(
            Finding(severity, "spend", profile.name, "budget", title, None, subject, detail)
        )
    if check.budget is not None and (check.uncompared or check.status == "cannot compare"):
        other = ", ".join(_fmt(a, c) for c, a in check.uncompared.items()) or "the forecast"
        findings.append(
            Finding(
                "info",
                "spend",
                profile.name,
                "budget-currency",
                f"{profile.display_name}: spend in other currencies cannot be compared",
                None,
                subject,
                f"{other} not counted against the {check.currency} budget",
            )
        )
    return findings


def consumption_budget_finding(b: BudgetRecord) -> Finding | None:
    """A Consumption budget: current spend over it critical, forecast over it warning."""
    budget = _fmt(b.amount, b.currency)
    severity: Severity
    if b.current_spend is not None and b.current_spend > b.amount:
        severity = "critical"
        title = f"budget {b.name}: over"
        detail = f"spent {_fmt(b.current_spend, b.currency)} of {budget}"
    elif b.forecast_spend is not None and b.forecast_spend > b.amount:
        severity = "warning"
        title = f"budget {b.name}: forecast over"
        detail = f"forecast {_fmt(b.forecast_spend, b.currency)} against {budget}"
        if b.current_spend is not None:
            detail += f" (spent {_fmt(b.current_spend, b.currency)})"
    else:
        return None
    return Finding(
        severity=severity,
        domain="spend",
        profile=b.profile,
        rule="consumption-budget",
        title=title,
        subscription_id=b.subscription_id,
        resource_id=(
            f"/subscriptions/{b.subscription_id}/providers/Microsoft.Consumption/budgets/{b.name}"
        ),
        detail=f"{detail} ({b.time_grain})",
    )


@dataclass(frozen=True)
class Anomaly:
    """One day whose cost stands out against the trailing median of its series."""

    profile: str
    subscription_id: str
    service: str
    currency: str
    date: str  # YYYY-MM-DD
    amount: float
    median: float
    factor: float | None  # amount / median; None when the median is 0


def spend_anomalies(
    costs: Iterable[CostRecord],
    factor: float = ANOMALY_FACTOR,
    floor: float = ANOMALY_FLOOR,
    window: int = ANOMALY_WINDOW_DAYS,
    min_history: int = ANOMALY_MIN_HISTORY_DAYS,
) -> list[Anomaly]:
    """Days that cost more than ``factor`` x the trailing median *and* the median + floor.

    Series are per (profile, subscription, service, currency), summed over resource
    groups per day. Days inside the data's date range with no record cost 0. The
    median is over the ``window`` days before the day (the day itself excluded), only
    days inside the data range, and needs at least ``min_history`` of them. Both
    comparisons are strict. A median below 0 (refunds, credits) counts as 0: after a
    refund, a normal day is compared with nothing spent, not with a negative figure.
    A day that costs less than nothing is never an anomaly. Sorted by date,
    subscription, service, currency.
    """
    series: dict[tuple[str, str, str, str], dict[dt.date, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    first: dt.date | None = None
    last: dt.date | None = None
    for r in costs:
        day = _cost_date(r)
        if day is None:
            continue
        series[(r.profile, r.subscription_id, r.service, r.currency)][day].append(r.amount)
        first = day if first is None or day < first else first
        last = day if last is None or day > last else last
    if first is None or last is None:
        return []
    span = (last - first).days + 1
    days = [first + dt.timedelta(days=i) for i in range(span)]
    found: list[Anomaly] = []
    for (profile, sub, service, currency), by_day in series.items():
        totals = [math.fsum(by_day.get(day, ())) for day in days]
        for index in range(span):
            history = totals[max(0, index - window) : index]
            if len(history) < max(1, min_history):
                continue
            median = max(statistics.median(history), 0.0)
            amount = totals[index]
            if amount > factor * median and amount - median > floor:
                found.append(
                    Anomaly(
                        profile=profile,
                        subscription_id=sub,
                        service=service,
                        currency=currency,
                        date=days[index].isoformat(),
                        amount=amount,
                        median=median,
                        factor=amount / median if median > 0 else None,
                    )
                )
    found.sort(key=lambda a: (a.date, a.subscription_id, a.service, a.currency))
    return found


def anomaly_findings(
    anomalies: Iterable[Anomaly],
    today: dt.date,
    lookback_days: int = ANOMALY_LOOKBACK_DAYS,
) -> list[Finding]:
    """One warning per series with an anomaly in the last ``lookback_days`` (incl. today).

    The finding names the latest anomalous day; the detail counts the others.
    """
    start = today - dt.timedelta(days=max(1, lookback_days) - 1)
    recent: dict[tuple[str, str, str, str], list[Anomaly]] = defaultdict(list)
    for a in anomalies:
        day = dt.date.fromisoformat(a.date)
        if start <= day <= today:
            recent[(a.profile, a.subscription_id, a.service, a.currency)].append(a)
    findings: list[Finding] = []
    for (profile, sub, service, currency), items in sorted(recent.items()):
        latest = max(items, key=lambda a: a.date)
        times = f"{latest.factor:.1f}x" if latest.factor is not None else "new spend"
        detail = (
            f"{_fmt(latest.amount, currency)} on {latest.date} against a "
            f"{ANOMALY_WINDOW_DAYS}-day median of {_fmt(latest.median, currency)}"
        )
        if len(items) > 1:
            detail += f"; {len(items)} anomalous days since {start.isoformat()}"
        findings.append(
            Finding(
                severity="warning",
                domain="spend",
                profile=profile,
                rule=f"anomaly/{service}/{currency}",
                title=f"{service}: cost spike ({times})",
                subscription_id=sub,
                resource_id=f"/subscriptions/{sub}",
                detail=detail,
                since=latest.date,
            )
        )
    return findings
