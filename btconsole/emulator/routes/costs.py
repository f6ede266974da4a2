"""Cost Management ``query`` and ``forecast``, and Consumption ``budgets``.

Costs come from the estate's daily series (one per subscription, resource group
and service) which end on the estate's ``as_of`` date; that date is "today" for
``MonthToDate`` and the other relative time frames.

Shaped on the specs named in docs/dev/emulator-contract.md ("Cost Management and
Consumption"): a scope with no usage data (no cost series in the estate) answers the
query and the forecast with ``204 No Content`` and no body, as both operations
document; a valid request is checked first (a bad one is still a 400). Amounts are
served as the estate holds them: negative days (refunds, credits) and absurd ones
alike. Every row carries its customer's currency.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from btconsole.emulator.estate import Budget, CostSeries, Estate
from btconsole.emulator.http import ArmError, Ctx, Router, TokenBucket, json_response, page
from btconsole.emulator.routes.common import (
    estate,
    resource_group,
    stable_guid,
    subscription_or_error,
)

MEASURES = {
    "pretaxcost": "PreTaxCost",
    "cost": "Cost",
    "costusd": "CostUSD",
    "pretaxcostusd": "PreTaxCostUSD",
}
DIMENSIONS = {
    "servicename": "ServiceName",
    "metercategory": "MeterCategory",
    "resourcegroupname": "ResourceGroupName",
    "resourcegroup": "ResourceGroup",
    "subscriptionid": "SubscriptionId",
    "subscriptionname": "SubscriptionName",
}
TIMEFRAMES = (
    "MonthToDate",
    "BillingMonthToDate",
    "TheLastMonth",
    "TheLastBillingMonth",
    "WeekToDate",
    "Custom",
)


#: Cost Management's query quotas, per tenant (MicrosoftDocs/azure-docs
#: articles/cost-management-billing/costs/manage-automation.md, "QPU quotas"), with
#: the names the ``...-qpu-remaining`` header gives them.
QPU_QUOTAS = (
    ("QueriesPer10Sec", 10.0, 12),
    ("QueriesPer1Min", 60.0, 60),
    ("QueriesPer1Hour", 3600.0, 600),
)
QPU = "x-ms-ratelimit-microsoft.costmanagement-qpu"


def _bad(message: str, code: str = "BadRequest") -> ArmError:
    return ArmError(400, code, message)


# --------------------------------------------------------------------------- request parsing


def _parse_date(value: Any, path: str) -> dt.date:
    if not isinstance(value, str):
        raise _bad(f"Invalid {path}: expected a date-time string.")
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        raise _bad(f"Invalid {path}: '{value}' is not a date-time.") from None


def _period(body: dict[str, Any], as_of: dt.date, *, forecast: bool) -> tuple[dt.date, dt.date]:
    timeframe = body.get("timeframe")
    if not isinstance(timeframe, str):
        raise _bad("Invalid query definition: 'timeframe' is required.")
    tf = {t.lower(): t for t in TIMEFRAMES}.get(timeframe.lower())
    if tf is None:
        raise _bad(f"Invalid timeframe '{timeframe}'. Valid values: {', '.join(TIMEFRAMES)}.")
    first = as_of.replace(day=1)
    if tf == "Custom":
        tp = body.get("timePeriod")
        if not isinstance(tp, dict):
            raise _bad("Invalid query definition: 'timePeriod' is required for a Custom timeframe.")
        start, end = (
            _parse_date(tp.get("from"), "timePeriod.from"),
            _parse_date(tp.get("to"), "timePeriod.to"),
        )
        if end < start:
            raise _bad("Invalid timePeriod: 'to' must not be before 'from'.")
        if (end - start).days > 366:
            raise _bad("Invalid timePeriod: the time period must not exceed one year.")
        return start, end
    if tf in ("MonthToDate", "BillingMonthToDate"):
        if forecast:
            last = calendar.monthrange(as_of.year, as_of.month)[1]
            return first, as_of.replace(day=last)
        return first, as_of
    if tf in ("TheLastMonth", "TheLastBillingMonth"):
        end = first - dt.timedelta(days=1)
        return end.replace(day=1), end
    return as_of - dt.timedelta(days=as_of.weekday()), as_of


def _measures(dataset: dict[str, Any]) -> list[str]:
    agg = dataset.get("aggregation") or {}
    if not isinstance(agg, dict):
        raise _bad("Invalid dataset.aggregation: expected an object.")
    names = []
    for alias, spec in agg.items():
        if not isinstance(spec, dict):
            raise _bad(f"Invalid dataset.aggregation.{alias}: expected an object.")
        function = str(spec.get("function", "")).lower()
        if function != "sum":
            raise _bad(
                f"Invalid aggregation function '{spec.get('function')}'; only 'Sum' is supported."
            )
        name = MEASURES.get(str(spec.get("name", "")).lower())
        if name is None:
            raise _bad(
                f"Invalid aggregation column '{spec.get('name')}'. "
                f"Valid: {', '.join(MEASURES.values())}."
            )
        names.append(name)
    return names


def _groupings(dataset: dict[str, Any]) -> list[str]:
    groups = dataset.get("grouping") or []
    if not isinstance(groups, list):
        raise _bad("Invalid dataset.grouping: expected an array.")
    if len(groups) > 2:
        raise _bad("Invalid dataset.grouping: at most 2 groupings are allowed.")
    names = []
    for g in groups:
        if not isinstance(g, dict) or str(g.get("type", "")).lower() != "dimension":
            raise _bad("Invalid grouping: only type 'Dimension' is supported.")
        name = DIMENSIONS.get(str(g.get("name", "")).lower())
        if name is None:
            raise _bad(
                f"Invalid dataset grouping: '{g.get('name')}'. "
                f"Valid: {', '.join(DIMENSIONS.values())}."
            )
        names.append(name)
    return names


def _dimension(est: Estate, series: CostSeries, name: str) -> str:
    if name in ("ServiceName", "MeterCategory"):
        return series.service_name
    if name in ("ResourceGroupName", "ResourceGroup"):
        return series.resource_group.lower()
    if name == "SubscriptionId":
        return series.subscription_id
    sub = est.subscription(series.subscription_id)
    return sub.display_name if sub else ""


def _filter(est: Estate, spec: Any, path: str = "dataset.filter") -> Callable[[CostSeries], bool]:
    if not isinstance(spec, dict):
        raise _bad(f"Invalid {path}: expected an object.")
    for key in ("and", "or"):
        if key in spec:
            parts = spec[key]
            if not isinstance(parts, list) or len(parts) < 2:
                raise _bad(f"Invalid {path}.{key}: expected at least 2 expressions.")
            preds = [_filter(est, p, f"{path}.{key}[{i}]") for i, p in enumerate(parts)]
            if key == "and":
                return lambda s: all(p(s) for p in preds)
            return lambda s: any(p(s) for p in preds)
    if "not" in spec:
        inner = _filter(est, spec["not"], f"{path}.not")
        return lambda s: not inner(s)
    dims = spec.get("dimensions") or spec.get("dimension")
    if isinstance(dims, dict):
        name = DIMENSIONS.get(str(dims.get("name", "")).lower())
        if name is None:
            raise _bad(f"Invalid {path}.dimensions.name: '{dims.get('name')}'.")
        if str(dims.get("operator", "In")).lower() != "in":
            raise _bad(f"Invalid {path}.dimensions.operator: only 'In' is supported.")
        values = dims.get("values")
        if not isinstance(values, list) or not values:
            raise _bad(f"Invalid {path}.dimensions.values: expected a non-empty array.")
        wanted = {str(v).lower() for v in values}
        return lambda s: _dimension(est, s, name).lower() in wanted
    raise _bad(f"Invalid {path}: expected 'and', 'or', 'not' or 'dimensions'.")


# --------------------------------------------------------------------------- paging


def _skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"cm:{offset}".encode()).decode().rstrip("=")


def _offset(ctx: Ctx) -> int:
    token = ctx.q("$skiptoken")
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "cm" or int(number) < 0:
            raise ValueError(token)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad(f"The skip token '{token}' is not valid.", "InvalidSkipToken") from None


def _result(
    ctx: Ctx,
    kind: str,
    body: dict[str, Any],
    columns: list[dict[str, str]],
    rows: list[list[Any]],
    headers: dict[str, str],
) -> web.Response:
    offset = _offset(ctx)
    size = ctx.state.settings.page_size
    chunk = rows[offset : offset + size]
    next_link = None
    if offset + size < len(rows):
        api = quote(ctx.q("api-version") or "", safe="")
        path = ctx.request.raw_path.split("?", 1)[0]
        next_link = f"{ctx.base_url}{path}?api-version={api}&$skiptoken={_skiptoken(offset + size)}"
    scope = ctx.request.path.split("/providers/Microsoft.CostManagement", 1)[0].lstrip("/")
    name = stable_guid(kind, scope.lower(), json.dumps(body, sort_keys=True))
    return json_response(
        {
            "id": f"{scope}/providers/Microsoft.CostManagement/{kind}/{name}",
            "name": name,
            "type": f"Microsoft.CostManagement/{kind}",
            "location": None,
            "sku": None,
            "eTag": None,
            "properties": {"nextLink": next_link, "columns": columns, "rows": chunk},
        },
        headers=headers,
    )


def _scope_series(ctx: Ctx) -> tuple[Estate, list[CostSeries], str] | web.Response:
    """The cost series and currency of the request's scope, or ARM's refusal.

    A subscription or resource group scope: its series, in its customer's currency. A
    billing customer's scope (``/providers/Microsoft.Billing/billingAccounts/{a}/
    customers/{c}``, readable by the partner's tenant only): the series of every
    subscription of the customer's tenant, in the customer's billing currency.
    """
    est = estate(ctx)
    if "billingAccountName" in ctx.params:
        from btconsole.emulator.routes.lighthouse import readable_account

        account = readable_account(ctx, ctx.params["billingAccountName"])
        if isinstance(account, web.Response):
            return account
        billed = account.customer(ctx.params["customerName"])
        if billed is None:
            raise ArmError(
                404, "NotFound", f"The customer '{ctx.params['customerName']}' was not found."
            )
        owner = est.customer_for_tenant(billed.tenant_id)
        if owner is None:  # validated away for estate files; kept for hand-built estates
            return est, [], "USD"
        series = [s for sid in owner.subscription_ids for s in est.costs_in(sid)]
        return est, series, owner.currency
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    series = est.costs_in(sid)
    rg = ctx.params.get("resourceGroupName")
    if rg is not None:
        resource_group(ctx, sid, rg)
        series = [s for s in series if s.resource_group.lower() == rg.lower()]
    customer = est.customer_of(sid)
    return est, series, customer.currency if customer else "USD"


def qpu_of(start: dt.date, end: dt.date) -> int:
    """QPU of a query over ``start..end``: one per month of data queried (the docs'
    "QPU calculation"), counting every calendar month the period touches."""
    return (end.year * 12 + end.month) - (start.year * 12 + start.month) + 1


def spend_qpu(ctx: Ctx, qpu: int) -> dict[str, str]:
    """Spend ``qpu`` of the caller tenant's Cost Management quotas; the QPU headers.

    Raises:
        ArmError: 429 with ``...-qpu-retry-after`` when the quotas are enforced
            (setting ``cost_qpu_per_10s``) and one of them lacks ``qpu``.
    """
    scale = ctx.state.settings.cost_qpu_per_10s
    enforce = scale > 0
    buckets = []
    for name, window, documented in QPU_QUOTAS:
        capacity = documented if not enforce else scale * documented // 12
        key = (ctx.tenant_id.lower(), "costmanagement-qpu", f"{name}:{capacity}")
        bucket = ctx.state.buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(capacity, capacity / window)
            ctx.state.buckets[key] = bucket
        buckets.append((name, bucket))
    if enforce:
        short = [b for _, b in buckets if b.remaining < qpu]
        if short:
            wait = max(max(1, math.ceil((qpu - b.tokens) / b.rate)) for b in short)
            raise ArmError(
                429,
                "429",
                "Too many requests. Please retry after the time given in the "
                f"{QPU}-retry-after header (the tenant's query processing units are spent).",
                {f"{QPU}-retry-after": str(wait), f"{QPU}-consumed": "0", **_remaining(buckets)},
            )
    for _, bucket in buckets:
        bucket.take_many(qpu, enforce=False)
    ctx.state.stats.qpu_consumed(ctx.tenant_id, qpu)
    return {f"{QPU}-consumed": str(qpu), **_remaining(buckets)}


def _remaining(buckets: list[tuple[str, TokenBucket]]) -> dict[str, str]:
    text = ", ".join(f"{name}:{bucket.remaining}" for name, bucket in buckets)
    return {f"{QPU}-remaining": text}


async def _body(ctx: Ctx) -> dict[str, Any]:
    body = await ctx.json()
    if not isinstance(body, dict):
        raise _bad("Invalid query definition: expected a JSON object.")
    dataset = body.get("dataset") or {}
    if not isinstance(dataset, dict):
        raise _bad("Invalid query definition: 'dataset' must be an object.")
    kind = body.get("type")
    if not isinstance(kind, str) or kind.lower() not in ("actualcost", "amortizedcost", "usage"):
        raise _bad(
            f"Invalid query definition: type '{kind}' is not one of ActualCost, "
            "AmortizedCost, Usage."
        )
    return body


def no_content(headers: dict[str, str] | None = None) -> web.Response:
    """``204 No Content``: the documented answer of a query or forecast with no usage."""
    return web.Response(status=204, headers=headers)


def _yyyymmdd(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


async def query(ctx: Ctx) -> web.StreamResponse:
    scoped = _scope_series(ctx)
    if isinstance(scoped, web.Response):
        return scoped
    body = await _body(ctx)
    dataset: dict[str, Any] = body.get("dataset") or {}
    est, series, currency = scoped
    used = bool(series)
    start, end = _period(body, est.as_of, forecast=False)
    measures = _measures(dataset)
    groups = _groupings(dataset)
    granularity = str(dataset.get("granularity") or "None").lower()
    if granularity not in ("daily", "monthly", "none"):
        raise _bad(f"Invalid granularity '{dataset.get('granularity')}'. Valid: Daily, Monthly.")
    if "filter" in dataset and dataset["filter"] is not None:
        pred = _filter(est, dataset["filter"])
        series = [s for s in series if pred(s)]
    headers = spend_qpu(ctx, qpu_of(start, end))
    if not used:
        return no_content(headers)

    dates = est.cost_dates()
    sums: dict[tuple[Any, ...], float] = {}
    for s in series:
        key_groups = tuple(_dimension(est, s, g) for g in groups)
        for i, day in enumerate(dates):
            if not start <= day <= end:
                continue
            if granularity == "daily":
                period: Any = _yyyymmdd(day)
            elif granularity == "monthly":
                period = f"{day.year:04d}-{day.month:02d}-01T00:00:00"
            else:
                period = None
            key = (period, *key_groups)
            sums[key] = sums.get(key, 0.0) + s.daily[i]

    columns = [{"name": m, "type": "Number"} for m in measures]
    if granularity == "daily":
        columns.append({"name": "UsageDate", "type": "Number"})
    elif granularity == "monthly":
        columns.append({"name": "BillingMonth", "type": "Datetime"})
    columns += [{"name": g, "type": "String"} for g in groups]
    columns.append({"name": "Currency", "type": "String"})

    rows: list[list[Any]] = []
    for key in sorted(sums, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        period, *group_values = key
        row: list[Any] = [round(sums[key], 6) for _ in measures]
        if granularity != "none":
            row.append(period)
        row += group_values
        row.append(currency)
        rows.append(row)
    return _result(ctx, "query", body, columns, rows, headers)


async def forecast(ctx: Ctx) -> web.StreamResponse:
    scoped = _scope_series(ctx)
    if isinstance(scoped, web.Response):
        return scoped
    body = await _body(ctx)
    dataset: dict[str, Any] = body.get("dataset") or {}
    est, series, currency = scoped
    used = bool(series)
    start, end = _period(body, est.as_of, forecast=True)
    measures = _measures(dataset) or ["Cost"]
    if dataset.get("grouping"):
        raise _bad("Grouping is not supported for forecast queries.")
    granularity = str(dataset.get("granularity") or "None").lower()
    if granularity not in ("daily", "none"):
        raise _bad(
            f"Invalid granularity '{dataset.get('granularity')}' for forecast. Valid: Daily."
        )
    if "filter" in dataset and dataset["filter"] is not None:
        pred = _filter(est, dataset["filter"])
        series = [s for s in series if pred(s)]
    headers = spend_qpu(ctx, qpu_of(start, end))
    if not used:
        return no_content(headers)
    include_actual = body.get("includeActualCost", True) is not False

    dates = est.cost_dates()
    actual = {d: sum(s.daily[i] for s in series) for i, d in enumerate(dates)}
    recent = [actual[d] for d in dates if d <= est.as_of][-7:]
    per_day = sum(recent) / len(recent) if recent else 0.0

    points: list[tuple[dt.date, str, float]] = []
    day = start
    while day <= end:
        if day <= est.as_of:
            if include_actual and day in actual:
                points.append((day, "Actual", actual[day]))
        else:
            points.append((day, "Forecast", per_day))
        day += dt.timedelta(days=1)

    columns = [{"name": m, "type": "Number"} for m in measures]
    if granularity == "daily":
        columns.append({"name": "UsageDate", "type": "Number"})
    columns += [{"name": "CostStatus", "type": "String"}, {"name": "Currency", "type": "String"}]
    rows: list[list[Any]] = []
    if granularity == "daily":
        for d, status, value in points:
            rows.append([*(round(value, 6) for _ in measures), _yyyymmdd(d), status, currency])
    else:
        for status in ("Actual", "Forecast"):
            total = sum(v for _, s, v in points if s == status)
            if any(s == status for _, s, _ in points):
                rows.append([*(round(total, 6) for _ in measures), status, currency])
    return _result(ctx, "forecast", body, columns, rows, headers)


# --------------------------------------------------------------------------- budgets


def budget_body(est: Estate, b: Budget) -> dict[str, Any]:
    customer = est.customer_of(b.subscription_id)
    currency = customer.currency if customer else "USD"
    slug = customer.slug if customer else "customer"
    start = b.start_date or est.as_of.replace(day=1).isoformat()
    start_date = dt.date.fromisoformat(start)
    end_date = start_date.replace(year=start_date.year + 2) - dt.timedelta(days=1)
    notifications = {
        f"Actual_GreaterThan_{int(t)}_Percent": {
            "enabled": True,
            "operator": "GreaterThan",
            "threshold": t,
            "contactEmails": [f"azure-ops@{slug}.example"],
            "contactRoles": ["Owner"],
            "contactGroups": [],
            "thresholdType": "Actual",
            "locale": "en-gb",
        }
        for t in b.thresholds
    }
    return {
        "id": b.id,
        "name": b.name,
        "type": "Microsoft.Consumption/budgets",
        "eTag": f'"{stable_guid("budget", b.id.lower(), str(b.amount))[:15]}"',
        "properties": {
            "category": "Cost",
            "amount": b.amount,
            "timeGrain": b.time_grain,
            "timePeriod": {
                "startDate": f"{start_date.isoformat()}T00:00:00Z",
                "endDate": f"{end_date.isoformat()}T00:00:00Z",
            },
            "filter": {},
            "currentSpend": {"amount": est.month_to_date_cost(b.subscription_id), "unit": currency},
            "forecastSpend": {
                "amount": est.forecast_month_cost(b.subscription_id),
                "unit": currency,
            },
            "notifications": notifications,
        },
    }


async def list_budgets(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    est = estate(ctx)
    rg = ctx.params.get("resourceGroupName")
    if rg is not None:
        resource_group(ctx, sid, rg)
        return page(ctx, [])  # the estate's budgets are all at subscription scope
    return page(ctx, [budget_body(est, b) for b in est.budgets_in(sid)])


async def get_budget(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    est = estate(ctx)
    name = ctx.params["budgetName"]
    for b in est.budgets_in(sid):
        if b.name.lower() == name.lower():
            return json_response(budget_body(est, b))
    raise ArmError(
        404, "NotFound", f"Budget '{name}' was not found in scope '/subscriptions/{sid}'."
    )


def register(router: Router) -> None:
    sub = "/subscriptions/{subscriptionId}"
    rg = sub + "/resourceGroups/{resourceGroupName}"
    cm = "/providers/Microsoft.CostManagement"
    for scope, label in ((sub, "subscription"), (rg, "resource_group")):
        router.add("POST", scope + cm + "/query", query, name=f"costs.query_{label}")
        router.add("POST", scope + cm + "/forecast", forecast, name=f"costs.forecast_{label}")
    customer = (
        "/providers/Microsoft.Billing/billingAccounts/{billingAccountName}/customers/{customerName}"
    )
    router.add("POST", customer + cm + "/query", query, name="costs.query_billing_customer")
    router.add(
        "POST", customer + cm + "/forecast", forecast, name="costs.forecast_billing_customer"
    )
    budgets = sub + "/providers/Microsoft.Consumption/budgets"
    router.add("GET", budgets, list_budgets, name="budgets.list")
    router.add("GET", budgets + "/{budgetName}", get_budget, name="budgets.get")
    router.add(
        "GET",
        rg + "/providers/Microsoft.Consumption/budgets",
        list_budgets,
        name="budgets.list_resource_group",
    )
