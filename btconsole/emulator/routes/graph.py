"""Azure Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources``.

Builds Resource Graph's tables for the subscriptions a request may see —
``resources`` (Arc machines and clusters, ExpressRoute circuits),
``resourcecontainers`` (subscriptions and resource groups) and
``policyresources`` (latest policy states), ``managedservicesresources`` (Azure
Lighthouse registration definitions and assignments; the table name and its two types
as MicrosoftDocs/azure-docs articles/governance/resource-graph/reference/
supported-tables-resources.md lists them), and the incident tables of
``routes/incidents.py`` (``servicehealthresources``, ``healthresources``,
``alertsmanagementresources``, ``patchassessmentresources``) — runs the query with the KQL-subset
evaluator, and pages the result with ``$top``/``$skip``/``$skipToken``.

Each tenant has a user quota of ``QUOTA`` queries per ``QUOTA_WINDOW`` seconds, as
Resource Graph does; every answer carries ``x-ms-user-quota-remaining`` and
``x-ms-user-quota-resets-after``, and a query beyond the quota is answered 429.
"""

from __future__ import annotations

import base64
import binascii
import gc
import hashlib
import math
import uuid
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from btconsole.emulator import kql
from btconsole.emulator.estate import Estate
from btconsole.emulator.http import ArmError, Ctx, Router, TokenBucket, json_response
from btconsole.emulator.routes.arc import cluster_body, machine_body
from btconsole.emulator.routes.circuits import circuit_body
from btconsole.emulator.routes.common import estate
from btconsole.emulator.routes.incidents import graph_tables as incident_tables
from btconsole.emulator.routes.lighthouse import assignment_body, definition_body
from btconsole.emulator.routes.policy import evaluated_at, state_fields
from btconsole.emulator.routes.resources import resource_group_body, subscription_body

QUOTA = 15
QUOTA_WINDOW = 5.0
MAX_TOP = 1000
MAX_SUBSCRIPTIONS = 1000
POLICY_STATES = "Microsoft.PolicyInsights/policyStates"


# --------------------------------------------------------------------------- tables


def _arg_row(est: Estate, body: dict[str, Any], subscription_id: str, rg: str) -> dict[str, Any]:
    sub = est.subscription(subscription_id)
    return {
        "id": body["id"],
        "name": body["name"],
        "type": body["type"].lower(),
        "tenantId": sub.tenant_id if sub else "",
        "kind": body.get("kind") or "",
        "location": body.get("location", ""),
        "resourceGroup": rg.lower(),
        "subscriptionId": subscription_id,
        "managedBy": "",
        "sku": body.get("sku"),
        "plan": None,
        "properties": body.get("properties", {}),
        "tags": body.get("tags") or {},
        "identity": body.get("identity"),
        "zones": None,
        "extendedLocation": None,
    }


def resource_rows(est: Estate, subscription_id: str) -> list[dict[str, Any]]:
    """The ``resources`` rows of one subscription (cached on the estate)."""
    key = f"graph:resources:{subscription_id.lower()}"
    rows = est.memo.get(key)
    if rows is None:
        rows = []
        for m in est.machines_in(subscription_id):
            rows.append(_arg_row(est, machine_body(est, m), m.subscription_id, m.resource_group))
        for c in est.clusters_in(subscription_id):
            rows.append(_arg_row(est, cluster_body(est, c), c.subscription_id, c.resource_group))
        for e in est.circuits_in(subscription_id):
            rows.append(_arg_row(est, circuit_body(e), e.subscription_id, e.resource_group))
        est.memo[key] = rows
    return rows


def container_rows(est: Estate, subscription_id: str) -> list[dict[str, Any]]:
    """The ``resourcecontainers`` rows of one subscription: itself and its resource groups."""
    sub = est.subscription(subscription_id)
    if sub is None:
        return []
    body = subscription_body(est, sub)
    rows = [
        {
            "id": body["id"],
            "name": sub.subscription_id,
            "type": "microsoft.resources/subscriptions",
            "tenantId": sub.tenant_id,
            "kind": "",
            "location": "",
            "resourceGroup": "",
            "subscriptionId": sub.subscription_id,
            "managedBy": "",
            "sku": None,
            "plan": None,
            "properties": {
                "state": sub.state,
                "subscriptionPolicies": body["subscriptionPolicies"],
                "managementGroupAncestorsChain": [],
            },
            "tags": body["tags"],
            "identity": None,
            "zones": None,
            "extendedLocation": None,
        }
    ]
    for rg in sub.resource_groups:
        row = _arg_row(est, resource_group_body(sub, rg), sub.subscription_id, rg.name)
        row["type"] = "microsoft.resources/subscriptions/resourcegroups"  # as ARG names it
        rows.append(row)
    return rows


def policy_rows(est: Estate, subscription_id: str) -> list[dict[str, Any]]:
    """The ``policyresources`` rows (policy states) of one subscription (cached)."""
    key = f"graph:policy:{subscription_id.lower()}"
    cached: list[dict[str, Any]] | None = est.memo.get(key)
    if cached is not None:
        return cached
    sub = est.subscription(subscription_id)
    tenant_id = sub.tenant_id if sub else ""
    stamp = evaluated_at(est)
    rows: list[dict[str, Any]] = []
    for state in est.policy_states_in(subscription_id):
        props = state_fields(est, state)
        sid = props.pop("subscriptionId")
        props["timestamp"] = stamp
        props["policyDefinitionReferenceId"] = ""
        props["policySetDefinitionId"] = ""
        digest = hashlib.sha1(  # noqa: S324 - a name, not security
            f"{state.resource_id.lower()}|{props['policyAssignmentId'].lower()}".encode()
        ).hexdigest()
        rows.append(
            {
                "id": f"/subscriptions/{sid}/providers/{POLICY_STATES}/{digest}",
                "name": digest,
                "type": "microsoft.policyinsights/policystates",
                "tenantId": tenant_id,
                "kind": "",
                "location": props["resourceLocation"],
                "resourceGroup": props["resourceGroup"].lower(),
                "subscriptionId": sid,
                "properties": props,
            }
        )
    est.memo[key] = rows
    return rows


def managed_services_rows(est: Estate, subscription_id: str) -> list[dict[str, Any]]:
    """The ``managedservicesresources`` rows of one subscription: each delegation's
    registration definition (at subscription scope) and its assignment (at the
    subscription's or a resource group's), as ``Microsoft.ManagedServices`` serves them.
    Each row's ``tenantId`` is the customer's (the delegating) tenant."""
    rows: list[dict[str, Any]] = []
    sub = est.subscription(subscription_id)
    if sub is None:
        return rows
    for d in est.delegations_in(subscription_id):
        definition = definition_body(est, d)
        assignment = assignment_body(est, d, expand=True)
        for body, rg in ((definition, ""), (assignment, d.resource_group)):
            rows.append(
                {
                    "id": body["id"],
                    "name": body["name"],
                    "type": body["type"].lower(),
                    "tenantId": sub.tenant_id,
                    "kind": "",
                    "location": "",
                    "resourceGroup": rg.lower(),
                    "subscriptionId": sub.subscription_id,
                    "managedBy": "",
                    "sku": None,
                    "plan": None,
                    "properties": body["properties"],
                    "tags": {},
                    "identity": None,
                    "zones": None,
                    "extendedLocation": None,
                }
            )
    return rows


def build_tables(est: Estate, subscription_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Resource Graph's tables for these subscriptions (rows are built once per estate)."""
    resources: list[dict[str, Any]] = []
    containers: list[dict[str, Any]] = []
    policy: list[dict[str, Any]] = []
    managed: list[dict[str, Any]] = []
    # Building many small dicts while a large graph is alive makes the cyclic collector
    # rescan it over and over; these rows hold no cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for sid in subscription_ids:
            resources.extend(resource_rows(est, sid))
            containers.extend(container_rows(est, sid))
            policy.extend(policy_rows(est, sid))
            managed.extend(managed_services_rows(est, sid))
        incidents = incident_tables(est, subscription_ids)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        "resources": resources,
        "resourcecontainers": containers,
        "policyresources": policy,
        "managedservicesresources": managed,
        **incidents,
    }


# --------------------------------------------------------------------------- quota


def take_quota(ctx: Ctx) -> tuple[bool, dict[str, str], int]:
    """Spend one Resource Graph query of the caller's tenant.

    The quota is a token bucket of ``QUOTA`` queries refilled over ``QUOTA_WINDOW``
    seconds, kept with the core's buckets (so an emulator reset restores it). Returns
    (allowed, the quota headers, seconds until a query is allowed again).
    """
    key = (ctx.tenant_id, "resourcegraph", "user-quota")
    bucket = ctx.state.buckets.get(key)
    if bucket is None:
        bucket = TokenBucket(QUOTA, QUOTA / QUOTA_WINDOW)
        ctx.state.buckets[key] = bucket
    allowed = bucket.take()
    resets = (bucket.capacity - bucket.tokens) / bucket.rate
    headers = {
        "x-ms-user-quota-remaining": str(bucket.remaining),
        "x-ms-user-quota-resets-after": _resets_after(resets),
    }
    return allowed, headers, 0 if allowed else bucket.seconds_until_token()


def _resets_after(seconds: float) -> str:
    whole = max(0, math.ceil(seconds))
    return f"{whole // 3600:02d}:{(whole % 3600) // 60:02d}:{whole % 60:02d}"


# --------------------------------------------------------------------------- paging


def _skiptoken(offset: int) -> str:
    return base64.b64encode(f"arg:{offset}".encode()).decode()


def _offset_from(token: str) -> int:
    try:
        prefix, _, number = base64.b64decode(token, validate=True).decode().partition(":")
        if prefix != "arg" or int(number) < 0:
            raise ValueError(token)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ArmError(400, "BadRequest", f"The $skipToken '{token}' is not valid.") from None


def _int_option(options: dict[str, Any], name: str) -> int | None:
    value = options.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ArmError(400, "BadRequest", f"Invalid value for options.{name}: {value!r}.")
    return value


def _column_type(values: Sequence[Any]) -> str:
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return "boolean"
        if isinstance(v, int):
            return "integer"
        if isinstance(v, float):
            return "real"
        if isinstance(v, str):
            return "string"
        return "object"
    return "string"


def _as_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    names: list[str] = []
    for r in rows:
        for k in r:
            if k not in names:
                names.append(k)
    return {
        "columns": [{"name": n, "type": _column_type([r.get(n) for r in rows])} for n in names],
        "rows": [[r.get(n) for n in names] for r in rows],
    }


# --------------------------------------------------------------------------- facets


def _facet_error(expression: Any, code: str, message: str) -> dict[str, Any]:
    return {
        "expression": expression,
        "resultType": "FacetError",
        "errors": [{"code": code, "message": message}],
    }


def _count_key(group: dict[str, Any]) -> Any:
    return group["facet_count_"]


def _value_key(group: dict[str, Any]) -> str:
    return str([v for k, v in group.items() if k != "facet_count_"])


def facets(rows: list[dict[str, Any]], requested: Any) -> list[dict[str, Any]]:
    """Resource Graph facets: per requested expression, the distinct values of the query's
    result with their counts (``FacetResult``), or a ``FacetError``."""
    if not isinstance(requested, list):
        return []
    out: list[dict[str, Any]] = []
    for spec in requested:
        expression = spec.get("expression") if isinstance(spec, dict) else None
        options = (spec.get("options") or {}) if isinstance(spec, dict) else {}
        if not isinstance(expression, str) or not expression.strip():
            out.append(_facet_error(expression, "InvalidFacet", "A facet needs an expression."))
            continue
        if not isinstance(options, dict):
            out.append(_facet_error(expression, "InvalidFacet", "Facet options must be an object."))
            continue
        top = options.get("$top", 10)
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
            out.append(
                _facet_error(expression, "InvalidFacet", f"Facet $top must be 1..{MAX_TOP}.")
            )
            continue
        where = options.get("filter")
        query = "facetsource"
        if isinstance(where, str) and where.strip():
            query += f" | where {where}"
        query += f" | summarize facet_count_ = count() by {expression}"
        try:
            groups = kql.run_query(query, {"facetsource": rows})
        except kql.KqlError as err:
            out.append(_facet_error(expression, err.code, err.message))
            continue
        descending = str(options.get("sortOrder") or "desc").lower() != "asc"
        by_count = str(options.get("sortBy") or "count").lower() == "count"

        groups.sort(key=_count_key if by_count else _value_key, reverse=descending)
        data = [
            {**{k: v for k, v in g.items() if k != "facet_count_"}, "count": g["facet_count_"]}
            for g in groups[:top]
        ]
        out.append(
            {
                "expression": expression,
                "resultType": "FacetResult",
                "totalRecords": len(groups),
                "count": len(data),
                "data": data,
            }
        )
    return out


# --------------------------------------------------------------------------- handler


def make_handler() -> Any:
    async def resources(ctx: Ctx) -> web.StreamResponse:
        allowed, quota_headers, wait = take_quota(ctx)
        if not allowed:
            raise ArmError(
                429,
                "RateLimiting",
                "Please provide below info when asking for support: the request was throttled "
                "because the user quota of Resource Graph queries was exceeded.",
                {**quota_headers, "Retry-After": str(wait)},
            )
        body = await ctx.json()
        if not isinstance(body, dict):
            raise ArmError(
                400, "BadRequest", "The request body must be a JSON object.", quota_headers
            )
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ArmError(400, "BadRequest", "The 'query' property is required.", quota_headers)
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise ArmError(
                400, "BadRequest", "The 'options' property must be an object.", quota_headers
            )
        requested = body.get("subscriptions")
        if requested is not None and (
            not isinstance(requested, list) or not all(isinstance(s, str) for s in requested)
        ):
            raise ArmError(
                400, "BadRequest", "'subscriptions' must be an array of strings.", quota_headers
            )
        if requested is not None and len(requested) > MAX_SUBSCRIPTIONS:
            raise ArmError(
                400,
                "BadRequest",
                f"At most {MAX_SUBSCRIPTIONS} subscriptions can be queried at once.",
                quota_headers,
            )
        est = estate(ctx)
        if requested is None:
            scope = [
                s.subscription_id
                for s in est.subscriptions
                if s.subscription_id.lower() in ctx.visible
            ]
        else:
            seen: set[str] = set()
            scope = []
            for sid in requested:
                low = sid.lower()
                if low in ctx.visible and low not in seen and est.subscription(low) is not None:
                    seen.add(low)
                    sub = est.subscription(low)
                    assert sub is not None
                    scope.append(sub.subscription_id)
        # a subscription the caller may not read (no role, or a ``forbidden`` fault on
        # it) is left out of every table without an error, as Resource Graph does
        hidden = ctx.state.faults.hidden_subscriptions(ctx, scope)
        if hidden:
            scope = [sid for sid in scope if sid.lower() not in hidden]
        top = _int_option(options, "$top")
        skip = _int_option(options, "$skip") or 0
        token = options.get("$skipToken")
        if top is not None and top > MAX_TOP:
            raise ArmError(
                400, "BadRequest", f"options.$top must be at most {MAX_TOP}.", quota_headers
            )
        try:
            rows = kql.run_query(query, build_tables(est, scope))
        except kql.KqlError as err:
            correlation = ctx.request.headers.get("x-ms-correlation-request-id") or str(
                uuid.uuid4()
            )
            return json_response(kql.error_body(err, correlation), 400, quota_headers)
        size = top or min(ctx.state.settings.page_size, MAX_TOP)
        if ctx.page_size is not None:  # a page fault: Resource Graph cut the page short
            size = min(size, ctx.page_size)
        offset = _offset_from(token) if isinstance(token, str) and token else skip
        chunk = rows[offset : offset + size]
        result_format = str(options.get("resultFormat") or "objectArray")
        data: Any = _as_table(chunk) if result_format.lower() == "table" else chunk
        answer: dict[str, Any] = {
            "totalRecords": len(rows),
            "count": len(chunk),
            "data": data,
            "facets": facets(rows, body.get("facets")),
            "resultTruncated": "false",
        }
        if offset + size < len(rows):
            answer["$skipToken"] = _skiptoken(offset + size)
        return json_response(answer, headers=quota_headers)

    return resources


def register(router: Router) -> None:
    router.add(
        "POST",
        "/providers/Microsoft.ResourceGraph/resources",
        make_handler(),
        name="graph.resources",
    )
