"""Spend: daily actual cost, the month-end forecast, and Consumption budgets.

Cost Management does not page by itself in the SDK: a ``nextLink`` is POSTed again
with the same body, here. Its throttling answers carry only its own
``x-ms-ratelimit-microsoft.costmanagement-*-retry-after`` headers, which
:mod:`btconsole.azure.errors` reads.

Read as Azure answers (docs/health.md, "Spend"):

- ``204 No Content`` is a documented answer of both the usage query and the forecast
  when a scope has no usage data: an empty answer (no rows), never an error.
- Every row carries the currency its answer gave; nothing is ever filled in from the
  profile's ``currency``. No forecast answer means no :class:`ForecastRecord` (the
  forecast is unknown), never a zero.
- An amount that is not a finite number, or beyond :data:`MAX_AMOUNT` either way, is
  dropped with a :class:`RejectedAmountRecord` saying which row and why; negative
  amounts (refunds, credits) are kept as they are.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from btconsole.azure.common import call, get, rest_items, rest_json, text
from btconsole.azure.errors import BadResponseError
from btconsole.azure.session import AzureSession
from btconsole.records import BudgetRecord, CostRecord, ForecastRecord, RejectedAmountRecord

COST_DAYS = 60
#: Larger amounts (either way) are not believed: no subscription costs 10^15 a day, and
#: beyond it sums and two-decimal formatting stop being exact.
MAX_AMOUNT = 1e15


class _Rejected(Exception):
    """An amount that is not used: ``value`` as sent, ``reason`` why."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason

    def record(
        self, profile: str, subscription_id: str, kind: str, **where: str
    ) -> RejectedAmountRecord:
        """The rejection as a record (``where``: date, service, currency)."""
        return RejectedAmountRecord(
            profile=profile,
            subscription_id=subscription_id,
            kind=kind,
            value=self.value,
            reason=self.reason,
            **where,
        )


def amount(value: Any) -> float:
    """An amount from an answer: a finite float within :data:`MAX_AMOUNT`.

    ``None`` is 0 (a cost row with no value costs nothing).

    Raises:
        _Rejected: not a number, not finite, or absurdly large.
    """
    if value is None:
        return 0.0
    if isinstance(value, bool):
        raise _Rejected(str(value).lower(), "not a number")
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        raise _Rejected(_shown(value), "not a number") from None
    if not math.isfinite(result):
        raise _Rejected(_shown(value), "not a finite number")
    if abs(result) > MAX_AMOUNT:
        raise _Rejected(_shown(value), f"beyond {MAX_AMOUNT:g} either way")
    return result


def _optional(value: Any) -> float | None:
    """:func:`amount`, with ``None`` kept as unknown (a budget's spend not given)."""
    return None if value is None else amount(value)


def _shown(value: Any) -> str:
    """``value`` as text for a rejection, short (Azure text is cleaned where shown)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)[:40]


def _scope(subscription_id: str) -> str:
    return f"/subscriptions/{subscription_id}"


def billing_customer_scope(account: str, customer: str) -> str:
    """The Cost Management scope of a partner billing account's customer."""
    return f"/providers/Microsoft.Billing/billingAccounts/{account}/customers/{customer}"


def _columns(properties: Mapping[str, Any]) -> dict[str, int]:
    return {str(get(c, "name")).lower(): i for i, c in enumerate(get(properties, "columns") or [])}


def _cost_column(columns: dict[str, int], what: str) -> int:
    """The index of the cost column.

    Raises:
        BadResponseError: an answer with rows but no cost column.
    """
    for name in ("cost", "pretaxcost", "costusd", "pretaxcostusd", "totalcost"):
        if name in columns:
            return columns[name]
    raise BadResponseError(f"{what}: no cost column in the Cost Management answer")


def _currency_column(columns: dict[str, int]) -> int | None:
    """The index of the currency column (``Currency``; ``BillingCurrency`` as billing
    scopes may name it), or ``None``: the currency is then unknown (""), not assumed."""
    for name in ("currency", "billingcurrency"):
        if name in columns:
            return columns[name]
    return None


def _column(columns: dict[str, int], name: str, what: str) -> int:
    """The index of a column the request asked for.

    Raises:
        BadResponseError: the answer has rows but not that column.
    """
    if name not in columns:
        raise BadResponseError(f"{what}: no {name} column in the Cost Management answer")
    return columns[name]


def _cell(row: Any, index: int | None) -> Any:
    if index is None or not isinstance(row, (list, tuple)) or index >= len(row):
        return None
    return row[index]


def _rows(page: Mapping[str, Any], what: str) -> list[Any]:
    """The rows of a page (an array of arrays).

    Raises:
        BadResponseError: ``rows`` or one of them is not an array.
    """
    rows = get(page, "rows") or []
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise BadResponseError(f"{what}: the Cost Management rows are not arrays")
    return rows


def _usage_date(value: Any) -> str:
    whole = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    raw = str(int(value)) if whole else str(value)
    if len(raw) == 8 and raw.isdigit():
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    return raw[:10]


async def _query_pages(
    session: AzureSession,
    operation: str,
    subject: str,
    body: dict[str, Any],
    *,
    scope: str | None = None,
) -> list[Mapping[str, Any]]:
    """Every page of a Cost Management query/forecast (properties of each) at
    ``scope`` (default: the subscription ``subject``; ``subject`` names it in errors).

    A ``204 No Content`` answer (no usage data in the scope) gives no pages.

    Raises:
        AzureError: a request failed; BadResponseError for an answer that is not a
            Cost Management result.
    """
    client = session.client("costmanagement")
    scope = scope or _scope(subject)

    async def first() -> Any:
        # The REST answer through the same client and pipeline, as the next pages: the
        # SDK's QueryResult model (built, then undone by rest_dict) cost more CPU than
        # the rest of the query (docs/performance.md).
        url = f"{scope}/providers/Microsoft.CostManagement/{operation}"
        params = {"api-version": client._config.api_version}
        return await rest_json(client, "POST", url, params=params, body=body)

    what = f"cost {operation} of {subject}"
    answer = await call(what, first)
    if answer is None:  # 204 No Content: the scope has no usage data
        return []
    if not isinstance(answer, Mapping):
        raise BadResponseError(f"{what}: the answer is not a Cost Management result")
    pages = [get(answer, "properties") or {}]
    seen = 0
    while (link := get(pages[-1], "nextLink")) and seen < 1000:
        seen += 1

        async def next_page(url: str = str(link)) -> Any:
            return await rest_json(client, "POST", url, body=body)

        pages.append(
            get(
                await call(f"cost {operation} of {subject} (next page)", next_page),
                "properties",
            )
            or {}
        )
    return pages


def _cost_body(
    today: date, days: int, grouping: Sequence[str], subscriptions: Sequence[str] = ()
) -> dict[str, Any]:
    """A query of the actual cost per day for the last ``days`` days, grouped by the
    ``grouping`` dimensions (two at most); narrowed to ``subscriptions`` when given."""
    start = today - timedelta(days=days - 1)
    dataset: dict[str, Any] = {
        "granularity": "Daily",
        "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
        "grouping": [{"type": "Dimension", "name": name} for name in grouping],
    }
    if subscriptions:
        dataset["filter"] = _subscription_filter(subscriptions)
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {
            "from": f"{start.isoformat()}T00:00:00Z",
            "to": f"{today.isoformat()}T23:59:59Z",
        },
        "dataset": dataset,
    }


def _cost_records(
    pages: Sequence[Mapping[str, Any]],
    what: str,
    profile: str,
    *,
    subscription: str | None = None,
    spelled: Mapping[str, str] | None = None,
) -> tuple[list[CostRecord], list[RejectedAmountRecord]]:
    """The cost rows of a query's ``pages``: of ``subscription`` with their resource
    group (a subscription's query), or of the subscription each row names, one of
    ``spelled`` (lower-case id -> id; other rows are left out), with the resource group
    unknown (a billing customer's query)."""
    records: list[CostRecord] = []
    rejected: list[RejectedAmountRecord] = []
    dates: dict[Any, str] = {}  # a page repeats each day once per service and group
    for page in pages:
        rows = _rows(page, what)
        if not rows:
            continue
        columns = _columns(page)
        cost = _cost_column(columns, what)
        day = _column(columns, "usagedate", what)
        service = _column(columns, "servicename", what)
        currency = _currency_column(columns)
        if subscription is None:
            named = _column(columns, "subscriptionid", what)
            group = None
        else:
            group = _column(columns, "resourcegroupname", what)
        for row in rows:
            if subscription is None:
                sub = (spelled or {}).get(str(_cell(row, named) or "").lower())
                if sub is None:
                    continue
            else:
                sub = subscription
            raw = _cell(row, day)
            date = dates.get(raw)
            if date is None:
                date = dates[raw] = _usage_date(raw)
            name = str(_cell(row, service) or "")
            unit = str(_cell(row, currency) or "")
            try:
                value = amount(_cell(row, cost))
            except _Rejected as exc:
                rejected.append(
                    exc.record(profile, sub, "cost", date=date, service=name, currency=unit)
                )
                continue
            records.append(
                CostRecord(
                    profile=profile,
                    subscription_id=sub,
                    date=date,
                    service=name,
                    resource_group=(
                        UNKNOWN_GROUP if group is None else str(_cell(row, group) or "").lower()
                    ),
                    amount=value,
                    currency=unit,
                )
            )
    return records, rejected


async def daily_costs(
    session: AzureSession, subscription_id: str, today: date, *, days: int = COST_DAYS
) -> list[CostRecord | RejectedAmountRecord]:
    """Actual cost per day, service and resource group for the last ``days`` days.

    A row whose amount cannot be believed is a :class:`RejectedAmountRecord` instead;
    no usage data (204, or no rows) gives an empty list.

    Raises:
        AzureError: the query failed, or its answer lacks a column it asked for.
    """
    body = _cost_body(today, days, ("ServiceName", "ResourceGroupName"))
    pages = await _query_pages(session, "query", subscription_id, body)
    records, rejected = _cost_records(
        pages,
        f"cost query of {subscription_id}",
        session.profile.name,
        subscription=subscription_id,
    )
    records.sort(key=lambda r: (r.date, r.service, r.resource_group))
    rejected.sort(key=lambda r: (r.date, r.service, r.value))
    return [*records, *rejected]


def _forecast_body(today: date, subscriptions: Sequence[str] = ()) -> dict[str, Any]:
    """The month's forecast (actual so far included); narrowed to ``subscriptions``
    when given (a ``ForecastFilter`` on the ``SubscriptionId`` dimension)."""
    first = today.replace(day=1)
    last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    dataset: dict[str, Any] = {
        "granularity": "Daily",
        "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
    }
    if subscriptions:
        dataset["filter"] = _subscription_filter(subscriptions)
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {
            "from": f"{first.isoformat()}T00:00:00Z",
            "to": f"{last.isoformat()}T23:59:59Z",
        },
        "dataset": dataset,
        "includeActualCost": True,
        "includeFreshPartialCost": False,
    }


def _subscription_filter(subscriptions: Sequence[str]) -> dict[str, Any]:
    return {
        "dimensions": {
            "name": "SubscriptionId",
            "operator": "In",
            "values": sorted(subscriptions),
        }
    }


def _forecast_records(
    pages: Sequence[Mapping[str, Any]], profile: str, subscription_id: str, month: str, what: str
) -> list[ForecastRecord | RejectedAmountRecord]:
    """One :class:`ForecastRecord` per currency of the forecast's pages (see
    :func:`month_forecast`), for ``subscription_id`` (``""``: a billing customer)."""
    actual: dict[str, list[float]] = {}
    projected: dict[str, list[float]] = {}
    rejected: list[RejectedAmountRecord] = []
    for page in pages:
        rows = _rows(page, what)
        if not rows:
            continue
        columns = _columns(page)
        cost = _cost_column(columns, what)
        status = columns.get("coststatus")
        currency = _currency_column(columns)
        for row in rows:
            unit = str(_cell(row, currency) or "")
            try:
                value = amount(_cell(row, cost))
            except _Rejected as exc:
                rejected.append(
                    exc.record(profile, subscription_id, "forecast", date=month, currency=unit)
                )
                continue
            actual.setdefault(unit, [])
            kind = str(_cell(row, status) or "").lower()
            (actual if kind == "actual" else projected).setdefault(unit, []).append(value)
    unknown = {r.currency for r in rejected}
    forecasts: list[ForecastRecord | RejectedAmountRecord] = []
    for unit in sorted(actual):
        if unit in unknown:
            continue
        so_far = math.fsum(actual[unit])
        forecasts.append(
            ForecastRecord(
                profile=profile,
                subscription_id=subscription_id,
                month=month,
                actual=round(so_far, 2),
                forecast=round(so_far + math.fsum(projected.get(unit, ())), 2),
                currency=unit,
            )
        )
    return [*forecasts, *rejected]


async def month_forecast(
    session: AzureSession, subscription_id: str, today: date
) -> list[ForecastRecord | RejectedAmountRecord]:
    """Actual cost so far this month and the forecast for the whole month.

    One :class:`ForecastRecord` per currency the answer gave; none when Azure has no
    forecast (204, or no rows): the forecast is then unknown, not zero. When any row's
    amount cannot be believed, that currency's forecast is unknown too, and a
    :class:`RejectedAmountRecord` says why.

    Raises:
        AzureError: the forecast failed, or its answer lacks its cost column.
    """
    pages = await _query_pages(session, "forecast", subscription_id, _forecast_body(today))
    what = f"cost forecast of {subscription_id}"
    return _forecast_records(
        pages, session.profile.name, subscription_id, today.strftime("%Y-%m"), what
    )


# --------------------------------------------------------------------------- billing customer

#: The resource group of a cost read at a billing customer's scope: unknown. A query
#: takes at most two groupings (``QueryDataset.grouping``, ``maxItems: 2``), and that
#: scope needs ``SubscriptionId`` and ``ServiceName``.
UNKNOWN_GROUP = "?"
#: The ``subscription_id`` of a forecast read at a billing customer's scope: the
#: forecast of every subscription of the customer together (``ForecastDataset`` has no
#: grouping, so Cost Management cannot split it per subscription).
CUSTOMER_SCOPE = ""


async def customer_daily_costs(
    session: AzureSession,
    scope: str,
    subscriptions: Sequence[str],
    today: date,
    *,
    days: int = COST_DAYS,
) -> dict[str, list[CostRecord | RejectedAmountRecord]]:
    """Actual cost per day, subscription and service of ``subscriptions`` for the last
    ``days`` days, in ONE query at a billing customer's ``scope``, split per
    subscription (every one of ``subscriptions`` is a key; no usage: an empty list).

    The resource group is :data:`UNKNOWN_GROUP`: a query takes two groupings at most.
    Rows of a subscription not asked for are left out (the filter names them all).

    Raises:
        AzureError: the query failed, or its answer lacks a column it asked for.
    """
    body = _cost_body(today, days, ("SubscriptionId", "ServiceName"), subscriptions)
    pages = await _query_pages(session, "query", scope, body, scope=scope)
    records, rejected = _cost_records(
        pages,
        f"cost query of {scope}",
        session.profile.name,
        spelled={sub.lower(): sub for sub in subscriptions},
    )
    records.sort(key=lambda r: (r.date, r.service))
    rejected.sort(key=lambda r: (r.date, r.service, r.value))
    out: dict[str, list[CostRecord | RejectedAmountRecord]] = {sub: [] for sub in subscriptions}
    for r in records:
        out[r.subscription_id].append(r)
    for x in rejected:
        out[x.subscription_id].append(x)
    return out


async def customer_month_forecast(
    session: AzureSession, scope: str, subscriptions: Sequence[str], today: date
) -> list[ForecastRecord | RejectedAmountRecord]:
    """The month's forecast of ``subscriptions`` together, at a billing customer's
    ``scope``: records with ``subscription_id`` :data:`CUSTOMER_SCOPE` (one per
    currency; none when Azure has no forecast: unknown, never zero).

    Raises:
        AzureError: the forecast failed, or its answer lacks its cost column.
    """
    body = _forecast_body(today, subscriptions)
    pages = await _query_pages(session, "forecast", scope, body, scope=scope)
    what = f"cost forecast of {scope}"
    return _forecast_records(
        pages, session.profile.name, CUSTOMER_SCOPE, today.strftime("%Y-%m"), what
    )


def budget_record(
    profile: str, subscription_id: str, data: Mapping[str, Any]
) -> BudgetRecord | RejectedAmountRecord:
    """A Consumption budget; a :class:`RejectedAmountRecord` when an amount is absurd."""
    props = get(data, "properties") or {}
    current = get(props, "currentSpend") or {}
    forecast = get(props, "forecastSpend") or {}
    name = str(get(data, "name") or "")
    currency = text(get(current, "unit")) or text(get(forecast, "unit")) or ""
    try:
        limit = amount(get(props, "amount"))
        spent = _optional(get(current, "amount"))
        projected = _optional(get(forecast, "amount"))
    except _Rejected as exc:
        return exc.record(profile, subscription_id, "budget", service=name, currency=currency)
    return BudgetRecord(
        profile=profile,
        subscription_id=subscription_id,
        name=name,
        amount=limit,
        current_spend=spent,
        forecast_spend=projected,
        currency=currency,
        time_grain=text(get(props, "timeGrain")) or "Monthly",
    )


async def budgets(
    session: AzureSession, subscription_id: str
) -> list[BudgetRecord | RejectedAmountRecord]:
    """Consumption budgets of one subscription (a budget with an absurd amount is a
    :class:`RejectedAmountRecord`).

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
    return sorted(records, key=lambda r: (isinstance(r, RejectedAmountRecord), _name(r)))


def _name(record: BudgetRecord | RejectedAmountRecord) -> str:
    return record.name if isinstance(record, BudgetRecord) else record.service
