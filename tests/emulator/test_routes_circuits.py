"""ExpressRoute circuits, peerings, stats and the long-running table POSTs through the
real async Network SDK client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.network.aio import NetworkManagementClient

from btconsole.emulator.estate import Circuit, Customer, link_addresses
from btconsole.emulator.generate import MSP_NAME
from btconsole.emulator.server import RunningEmulator

ARM_SCOPE = "https://management.azure.com/.default"


def sdk(emulator: RunningEmulator) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "credential_scopes": [ARM_SCOPE],
        "connection_verify": str(emulator.ca_path),
    }


@pytest.fixture
async def msp_credential(emulator: RunningEmulator) -> AsyncIterator[ClientSecretCredential]:
    msp = next(t for t in emulator.estate.tenants if t.display_name == MSP_NAME)
    async with ClientSecretCredential(
        msp.tenant_id,
        msp.client_id,
        msp.client_secret,
        authority=emulator.authority,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_path),
    ) as cred:
        yield cred


def _circuit(emulator: RunningEmulator, health: tuple[str, str] | None = None) -> Circuit:
    for c in emulator.estate.circuits:
        for p in c.peerings:
            if health is None or (p.primary, p.secondary) == health:
                return c
    pytest.skip(f"no circuit with a peering in health {health}")


async def test_list_all_list_and_get(
    emulator: RunningEmulator, msp_credential: ClientSecretCredential
) -> None:
    est = emulator.estate
    sid = max(est.subscriptions, key=lambda s: len(est.circuits_in(s.subscription_id)))
    sid = sid.subscription_id
    emulator.set_settings(page_size=1)
    async with NetworkManagementClient(msp_credential, sid, **sdk(emulator)) as client:
        got = [c async for c in client.express_route_circuits.list_all()]
        want = est.circuits_in(sid)
        assert [c.name for c in got] == [c.name for c in want]
        assert emulator.route_count("circuits.list_all") == len(want)
        for g, w in zip(got, want, strict=True):
            sp = g.service_provider_properties
            assert sp.service_provider_name == "British Telecom"
            assert sp.peering_location == w.peering_location
            assert sp.bandwidth_in_mbps == w.bandwidth_mbps
            assert g.sku.tier == w.sku_tier and g.sku.family == w.sku_family
            assert g.service_provider_provisioning_state == w.service_provider_provisioning_state
            assert g.circuit_provisioning_state == w.circuit_provisioning_state
            assert [p.name for p in g.peerings] == [p.name for p in w.peerings]
        rg = want[0].resource_group
        in_rg = [c async for c in client.express_route_circuits.list(rg)]
        assert {c.name for c in in_rg} == {c.name for c in want if c.resource_group == rg}
        one = await client.express_route_circuits.get(rg, want[0].name)
        assert one.id == want[0].id and one.service_key == want[0].service_key
        with pytest.raises(ResourceNotFoundError):
            await client.express_route_circuits.get(rg, "no-such-circuit")


async def test_peerings_and_stats(
    emulator: RunningEmulator, msp_credential: ClientSecretCredential
) -> None:
    circuit = _circuit(emulator, ("up", "up"))
    rg = circuit.resource_group
    async with NetworkManagementClient(
        msp_credential, circuit.subscription_id, **sdk(emulator)
    ) as client:
        peerings = [p async for p in client.express_route_circuit_peerings.list(rg, circuit.name)]
        assert [p.name for p in peerings] == [p.name for p in circuit.peerings]
        for got, want in zip(peerings, circuit.peerings, strict=True):
            assert got.peering_type == want.name
            assert got.azure_asn == 12076
            assert got.peer_asn == want.peer_asn
            assert got.vlan_id == want.vlan_id
            assert got.primary_peer_address_prefix == want.primary_prefix
            assert got.secondary_peer_address_prefix == want.secondary_prefix
            assert got.state == want.state
        first = circuit.peerings[0]
        one = await client.express_route_circuit_peerings.get(rg, circuit.name, first.name)
        assert one.id == f"{circuit.id}/peerings/{first.name}"
        with pytest.raises(ResourceNotFoundError):
            await client.express_route_circuit_peerings.get(rg, circuit.name, "NoSuchPeering")

        stats = await client.express_route_circuits.get_stats(rg, circuit.name)
        peering_stats = await client.express_route_circuits.get_peering_stats(
            rg, circuit.name, first.name
        )
        assert peering_stats.primarybytes_in > 0 and peering_stats.secondarybytes_in > 0
        assert stats.primarybytes_in >= peering_stats.primarybytes_in
        assert stats.secondarybytes_out >= peering_stats.secondarybytes_out


async def test_arp_route_table_and_summary_lros_on_a_healthy_peering(
    emulator: RunningEmulator, msp_credential: ClientSecretCredential
) -> None:
    circuit = _circuit(emulator, ("up", "up"))
    peering = next(p for p in circuit.peerings if (p.primary, p.secondary) == ("up", "up"))
    args = (circuit.resource_group, circuit.name, peering.name, "primary")
    customer_ip, microsoft_ip = link_addresses(peering.primary_prefix)
    async with NetworkManagementClient(
        msp_credential, circuit.subscription_id, **sdk(emulator)
    ) as client:
        ops = client.express_route_circuits
        arp = await (await ops.begin_list_arp_table(*args)).result()
        assert {(e.interface, e.ip_address) for e in arp.value} == {
            ("On-Prem", customer_ip),
            ("Microsoft", microsoft_ip),
        }
        assert all(e.mac_address for e in arp.value)
        routes = await (await ops.begin_list_routes_table(*args)).result()
        assert [r.network for r in routes.value] == peering.routes
        assert {r.next_hop for r in routes.value} == {customer_ip}
        assert {r.path for r in routes.value} == {str(peering.peer_asn)}
        summary = await (await ops.begin_list_routes_table_summary(*args)).result()
        (row,) = summary.value
        assert row.neighbor == customer_ip
        assert row.as_property == peering.peer_asn
        assert row.state_pfx_rcd == str(len(peering.routes))
    assert emulator.route_count("lro.poll") >= 3


async def test_tables_of_a_down_device(
    emulator: RunningEmulator, msp_credential: ClientSecretCredential
) -> None:
    circuit = next(
        (
            c
            for c in emulator.estate.circuits
            for p in c.peerings
            if "down" in (p.primary, p.secondary)
        ),
        None,
    )
    if circuit is None:
        pytest.skip("no circuit with a device down")
    peering = next(p for p in circuit.peerings if "down" in (p.primary, p.secondary))
    device = "primary" if peering.primary == "down" else "secondary"
    args = (circuit.resource_group, circuit.name, peering.name, device)
    async with NetworkManagementClient(
        msp_credential, circuit.subscription_id, **sdk(emulator)
    ) as client:
        ops = client.express_route_circuits
        arp = await (await ops.begin_list_arp_table(*args)).result()
        assert [e.interface for e in arp.value] == ["Microsoft"]
        routes = await (await ops.begin_list_routes_table(*args)).result()
        assert routes.value == []
        summary = await (await ops.begin_list_routes_table_summary(*args)).result()
        assert summary.value[0].state_pfx_rcd == "Active"


async def test_bad_device_path_and_invisible_subscription(
    emulator: RunningEmulator,
    aio_credential: ClientSecretCredential,
    msp_credential: ClientSecretCredential,
    customer: Customer,
) -> None:
    circuit = _circuit(emulator)
    async with NetworkManagementClient(
        msp_credential, circuit.subscription_id, **sdk(emulator)
    ) as client:
        with pytest.raises(HttpResponseError) as info:
            await client.express_route_circuits.begin_list_arp_table(
                circuit.resource_group, circuit.name, circuit.peerings[0].name, "tertiary"
            )
        assert info.value.status_code == 400
    other = next(
        c.subscription_id
        for c in emulator.estate.circuits
        if c.subscription_id not in customer.subscription_ids
    )
    async with NetworkManagementClient(aio_credential, other, **sdk(emulator)) as client:
        with pytest.raises(HttpResponseError) as denied:
            [c async for c in client.express_route_circuits.list_all()]
        assert denied.value.status_code == 403
