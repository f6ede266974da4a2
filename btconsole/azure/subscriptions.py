"""Subscriptions visible to a profile's credential."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from btconsole.azure.common import call, collect, get, rest_dict, text
from btconsole.azure.session import AzureSession
from btconsole.records import SubscriptionRecord


def subscription_record(profile: str, data: Mapping[str, Any]) -> SubscriptionRecord:
    """A subscription from its REST JSON."""
    return SubscriptionRecord(
        profile=profile,
        subscription_id=str(get(data, "subscriptionId") or "").lower(),
        display_name=str(get(data, "displayName") or get(data, "subscriptionId") or ""),
        state=text(get(data, "state")) or "Unknown",
        tenant_id=(text(get(data, "tenantId")) or "").lower() or None,
    )


async def list_subscriptions(session: AzureSession) -> list[SubscriptionRecord]:
    """Every subscription the profile can see, narrowed to its ``subscriptions`` list.

    Raises:
        AzureError: the listing failed.
    """
    client = session.client("subscriptions")

    async def run() -> list[Any]:
        return await collect(client.subscriptions.list())

    found = await call("listing subscriptions", run)
    records = [subscription_record(session.profile.name, rest_dict(s)) for s in found]
    wanted = session.profile.subscriptions
    if wanted is not None:
        records = [r for r in records if r.subscription_id in wanted]
    return sorted(records, key=lambda r: r.subscription_id)


async def list_all_subscriptions(session: AzureSession) -> list[SubscriptionRecord]:
    """Every subscription the credential sees, whatever its tenant (Lighthouse: the
    provider's own and every delegated one, each with its ``tenantId``), not narrowed.

    Raises:
        AzureError: the listing failed.
    """
    client = session.client("subscriptions")

    async def run() -> list[Any]:
        return await collect(client.subscriptions.list())

    found = await call("listing subscriptions", run)
    records = [subscription_record(session.profile.name, rest_dict(s)) for s in found]
    return sorted(records, key=lambda r: r.subscription_id)


async def list_tenants(session: AzureSession) -> list[dict[str, Any]]:
    """``GET /tenants``: the caller's home tenant and (Lighthouse) every tenant that
    delegated to it, as REST JSON (``tenantId``, ``tenantCategory``, ``displayName``).

    Raises:
        AzureError: the listing failed.
    """
    client = session.client("subscriptions")

    async def run() -> list[Any]:
        return await collect(client.tenants.list())

    found = await call("listing tenants", run)
    return [rest_dict(t) for t in found]
