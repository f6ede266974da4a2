"""Arc machines, extensions and connected clusters through the real async SDK clients."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.hybridcompute.aio import HybridComputeManagementClient
from azure.mgmt.hybridkubernetes.aio import ConnectedKubernetesClient

from btconsole.emulator.estate import Customer, Estate
from btconsole.emulator.generate import MSP_NAME
from btconsole.emulator.server import RunningEmulator

ARM_SCOPE = "https://management.azure.com/.default"


def sdk(emulator: RunningEmulator) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "credential_scopes": [ARM_SCOPE],
        "connection_verify": str(emulator.ca_path),
    }


def _sub_with(estate: Estate, customer: Customer, attr: str) -> str:
    for sid in customer.subscription_ids:
        if getattr(estate, attr)(sid):
            return sid
    pytest.skip(f"customer has no subscription with {attr}")


async def test_machines_list_get_and_paging(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = _sub_with(est, customer, "machines_in")
    expected = est.machines_in(sid)
    emulator.set_settings(page_size=3)
    async with HybridComputeManagementClient(aio_credential, sid, **sdk(emulator)) as client:
        machines = [m async for m in client.machines.list_by_subscription()]
        assert [m.name for m in machines] == [m.name for m in expected]
        assert emulator.route_count("arc.machines.list_by_subscription") == -(-len(expected) // 3)
        by_name = {m.name: m for m in machines}
        for want in expected:
            got = by_name[want.name]
            assert got.type == "Microsoft.HybridCompute/machines"
            assert got.properties.status == want.status
            assert got.properties.agent_version == want.agent_version
            assert got.properties.os_sku == want.os_sku
            assert got.properties.machine_fqdn == want.fqdn
            assert got.properties.last_status_change is not None
            assert [e.code for e in got.properties.error_details or []] == [
                e.code for e in want.error_details
            ]
            assert got.tags == want.tags
        rg = expected[0].resource_group
        in_rg = [m async for m in client.machines.list_by_resource_group(rg)]
        assert {m.name for m in in_rg} == {m.name for m in expected if m.resource_group == rg}
        one = await client.machines.get(rg, expected[0].name)
        assert one.id == expected[0].id
        assert one.properties.vm_id == expected[0].vm_id
        with pytest.raises(ResourceNotFoundError):
            await client.machines.get(rg, "no-such-machine")
        with pytest.raises(ResourceNotFoundError):
            [m async for m in client.machines.list_by_resource_group("rg-missing")]


async def test_error_machine_has_error_details_for_the_msp(
    emulator: RunningEmulator,
) -> None:
    """The MSP tenant reaches every customer's machines through Lighthouse."""
    est = emulator.estate
    broken = next(m for m in est.machines if m.status == "Error")
    msp = next(t for t in est.tenants if t.display_name == MSP_NAME)
    async with (
        ClientSecretCredential(
            msp.tenant_id,
            msp.client_id,
            msp.client_secret,
            authority=emulator.authority,
            disable_instance_discovery=True,
            connection_verify=str(emulator.ca_path),
        ) as cred,
        HybridComputeManagementClient(cred, broken.subscription_id, **sdk(emulator)) as client,
    ):
        got = await client.machines.get(broken.resource_group, broken.name)
    assert got.properties.status == "Error"
    assert got.properties.error_details
    assert got.properties.error_details[0].message == broken.error_details[0].message


async def test_machine_extensions(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    machine = next(
        m for sid in customer.subscription_ids for m in est.machines_in(sid) if m.extensions
    )
    async with HybridComputeManagementClient(
        aio_credential, machine.subscription_id, **sdk(emulator)
    ) as client:
        exts = [
            e async for e in client.machine_extensions.list(machine.resource_group, machine.name)
        ]
        assert [e.name for e in exts] == [e.name for e in machine.extensions]
        for got, want in zip(exts, machine.extensions, strict=True):
            assert got.properties.publisher == want.publisher
            assert got.properties.type_handler_version == want.version
            assert got.properties.provisioning_state == want.status
        one = await client.machine_extensions.get(
            machine.resource_group, machine.name, machine.extensions[0].name
        )
        assert one.name == machine.extensions[0].name


async def test_connected_clusters(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = _sub_with(est, customer, "clusters_in")
    expected = est.clusters_in(sid)
    emulator.set_settings(page_size=1)
    async with ConnectedKubernetesClient(aio_credential, sid, **sdk(emulator)) as client:
        clusters = [c async for c in client.connected_cluster.list_by_subscription()]
        assert [c.name for c in clusters] == [c.name for c in expected]
        for got, want in zip(clusters, expected, strict=True):
            assert got.properties.connectivity_status == want.connectivity_status
            assert got.properties.agent_version == want.agent_version
            assert got.properties.kubernetes_version == want.kubernetes_version
            assert got.properties.distribution == want.distribution
            assert got.properties.total_node_count == want.total_node_count
        rg = expected[0].resource_group
        in_rg = [c async for c in client.connected_cluster.list_by_resource_group(rg)]
        assert {c.name for c in in_rg} == {c.name for c in expected if c.resource_group == rg}
        one = await client.connected_cluster.get(rg, expected[0].name)
        assert one.id == expected[0].id
        with pytest.raises(ResourceNotFoundError):
            await client.connected_cluster.get(rg, "no-such-cluster")


async def test_machines_of_invisible_subscription_are_403(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential
) -> None:
    other = emulator.estate.customers[1].subscription_ids[0]
    async with HybridComputeManagementClient(aio_credential, other, **sdk(emulator)) as client:
        with pytest.raises(HttpResponseError) as info:
            [m async for m in client.machines.list_by_subscription()]
    assert info.value.status_code == 403
