"""Subscriptions, tenants and resource groups through the real async SDK clients."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from azure.mgmt.resource.subscriptions.aio import SubscriptionClient

from btconsole.emulator.estate import Customer
from btconsole.emulator.generate import MSP_NAME
from btconsole.emulator.server import RunningEmulator

ARM_SCOPE = "https://management.azure.com/.default"


def sdk(emulator: RunningEmulator) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "credential_scopes": [ARM_SCOPE],
        "connection_verify": str(emulator.ca_path),
    }


async def test_list_and_get_subscriptions(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    async with SubscriptionClient(aio_credential, **sdk(emulator)) as client:
        subs = [s async for s in client.subscriptions.list()]
        assert sorted(s.subscription_id for s in subs) == sorted(customer.subscription_ids)
        msp = next(t for t in emulator.estate.tenants if t.display_name == MSP_NAME)
        for s in subs:
            assert s.tenant_id == customer.tenant_id
            assert s.state == "Enabled"
            assert [m.tenant_id for m in s.managed_by_tenants] == [msp.tenant_id]
        one = await client.subscriptions.get(customer.subscription_ids[0])
        expected = emulator.estate.subscription(customer.subscription_ids[0])
        assert expected is not None
        assert one.display_name == expected.display_name
        tenants = [t async for t in client.tenants.list()]
        assert [t.tenant_id for t in tenants] == [customer.tenant_id]


async def test_subscription_paging(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    emulator.set_settings(page_size=1)
    async with SubscriptionClient(aio_credential, **sdk(emulator)) as client:
        subs = [s.subscription_id async for s in client.subscriptions.list()]
    assert sorted(subs) == sorted(customer.subscription_ids)
    assert emulator.route_count("subscriptions.list") == len(customer.subscription_ids)


async def test_invisible_subscription_is_403_and_unknown_404(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential
) -> None:
    other = emulator.estate.customers[1].subscription_ids[0]
    async with SubscriptionClient(aio_credential, **sdk(emulator)) as client:
        with pytest.raises(HttpResponseError) as info:
            await client.subscriptions.get(other)
        assert info.value.status_code == 403
        assert info.value.error is not None and info.value.error.code == "AuthorizationFailed"
        with pytest.raises(HttpResponseError) as missing:
            await client.subscriptions.get("00000000-0000-4000-8000-000000000000")
        assert missing.value.status_code == 404


async def test_resource_groups(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    sid = customer.subscription_ids[0]
    sub = emulator.estate.subscription(sid)
    assert sub is not None
    emulator.set_settings(page_size=2)
    async with ResourceManagementClient(aio_credential, sid, **sdk(emulator)) as client:
        groups = [g async for g in client.resource_groups.list()]
        assert [g.name for g in groups] == [rg.name for rg in sub.resource_groups]
        assert all(g.properties.provisioning_state == "Succeeded" for g in groups)
        first = await client.resource_groups.get(sub.resource_groups[0].name)
        assert first.location == sub.resource_groups[0].location
        assert first.id == f"/subscriptions/{sid}/resourceGroups/{first.name}"
        with pytest.raises(ResourceNotFoundError):
            await client.resource_groups.get("rg-does-not-exist")
    other = emulator.estate.customers[1].subscription_ids[0]
    async with ResourceManagementClient(aio_credential, other, **sdk(emulator)) as client:
        with pytest.raises(HttpResponseError) as info:
            [g async for g in client.resource_groups.list()]
        assert info.value.status_code == 403
