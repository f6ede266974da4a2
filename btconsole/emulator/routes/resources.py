"""Subscriptions, tenants and resource groups (``Microsoft.Resources``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from btconsole.emulator.estate import Estate, ResourceGroup, Subscription, Tenant
from btconsole.emulator.http import Ctx, Router, json_response, page
from btconsole.emulator.routes.common import estate, resource_group, subscription_or_error


def subscription_body(est: Estate, sub: Subscription) -> dict[str, Any]:
    """A subscription as ``GET /subscriptions`` returns it."""
    return {
        "id": f"/subscriptions/{sub.subscription_id}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [{"tenantId": t} for t in est.managing_tenants(sub.subscription_id)],
        "subscriptionId": sub.subscription_id,
        "tenantId": sub.tenant_id,
        "displayName": sub.display_name,
        "state": sub.state,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "EnterpriseAgreement_2014-09-01",
            "spendingLimit": "Off",
        },
        "tags": {"customer": sub.customer},
    }


def resource_group_body(sub: Subscription, rg: ResourceGroup) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub.subscription_id}/resourceGroups/{rg.name}",
        "name": rg.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": rg.location,
        "tags": dict(rg.tags),
        "properties": {"provisioningState": "Succeeded"},
    }


async def list_subscriptions(ctx: Ctx) -> web.StreamResponse:
    est = estate(ctx)
    subs = [
        subscription_body(est, s)
        for s in est.subscriptions
        if s.subscription_id.lower() in ctx.visible
    ]
    return page(ctx, subs)


async def get_subscription(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    est = estate(ctx)
    sub = est.subscription(sid)
    assert sub is not None
    return json_response(subscription_body(est, sub))


def tenant_body(tenant: Tenant, category: str) -> dict[str, Any]:
    """A tenant as ``GET /tenants`` returns it (``TenantIdDescription``); ``displayName``
    and the domains are absent for a tenant without a display name, as the spec allows."""
    body: dict[str, Any] = {
        "id": f"/tenants/{tenant.tenant_id}",
        "tenantId": tenant.tenant_id,
        "tenantCategory": category,
        "country": "GB",
        "countryCode": "GB",
    }
    if tenant.display_name:
        domain = "".join(ch for ch in tenant.display_name.lower() if ch.isalnum())
        body["displayName"] = tenant.display_name
        body["domains"] = [f"{domain}.onmicrosoft.com"]
        body["defaultDomain"] = f"{domain}.onmicrosoft.com"
    body["tenantType"] = "AAD"
    return body


async def list_tenants(ctx: Ctx) -> web.StreamResponse:
    """The caller's home tenant, then (Lighthouse) every customer tenant that delegated a
    subscription or resource group to it, as ``ProjectedBy``."""
    est = estate(ctx)
    tenant = est.tenant(ctx.tenant_id)
    items = []
    if tenant is not None:
        items.append(tenant_body(tenant, "Home"))
        projected: list[str] = []
        for sid in tenant.delegated_subscription_ids:
            sub = est.subscription(sid)
            if sub is not None and sub.tenant_id not in projected:
                projected.append(sub.tenant_id)
        for tid in projected:
            customer_tenant = est.tenant(tid)
            if customer_tenant is not None and tid != tenant.tenant_id:
                items.append(tenant_body(customer_tenant, "ProjectedBy"))
    return page(ctx, items)


async def list_resource_groups(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    sub = estate(ctx).subscription(sid)
    assert sub is not None
    return page(ctx, [resource_group_body(sub, rg) for rg in sub.resource_groups])


async def get_resource_group(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    sub = estate(ctx).subscription(sid)
    assert sub is not None
    rg = resource_group(ctx, sid, ctx.params["resourceGroupName"])
    return json_response(resource_group_body(sub, rg))


def register(router: Router) -> None:
    router.add("GET", "/subscriptions", list_subscriptions, name="subscriptions.list")
    router.add("GET", "/tenants", list_tenants, name="tenants.list")
    router.add("GET", "/subscriptions/{subscriptionId}", get_subscription, name="subscriptions.get")
    router.add(
        "GET",
        "/subscriptions/{subscriptionId}/resourcegroups",
        list_resource_groups,
        name="resourcegroups.list",
    )
    router.add(
        "GET",
        "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}",
        get_resource_group,
        name="resourcegroups.get",
    )
