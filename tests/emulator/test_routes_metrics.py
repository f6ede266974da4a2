"""Azure Monitor metrics of ExpressRoute circuits through the real async Monitor client."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.monitor.aio import MonitorManagementClient

from btconsole.emulator.estate import Circuit
from btconsole.emulator.generate import MSP_NAME, generate
from btconsole.emulator.routes.circuits import device_up
from btconsole.emulator.server import RunningEmulator

ARM_SCOPE = "https://management.azure.com/.default"
SPAN = "2026-11-20T10:00:00Z/2026-11-20T11:00:00Z"


def sdk(emulator: RunningEmulator) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "credential_scopes": [ARM_SCOPE],
        "connection_verify": str(emulator.ca_path),
    }


@pytest.fixture
async def monitor(emulator: RunningEmulator) -> AsyncIterator[MonitorManagementClient]:
    msp = next(t for t in emulator.estate.tenants if t.display_name == MSP_NAME)
    sid = emulator.estate.circuits[0].subscription_id
    async with (
        ClientSecretCredential(
            msp.tenant_id,
            msp.client_id,
            msp.client_secret,
            authority=emulator.authority,
            disable_instance_discovery=True,
            connection_verify=str(emulator.ca_path),
        ) as cred,
        MonitorManagementClient(cred, sid, **sdk(emulator)) as client,
    ):
        yield client


def _find(emulator: RunningEmulator, health: tuple[str, str]) -> Circuit:
    for c in emulator.estate.circuits:
        if any((p.primary, p.secondary) == health for p in c.peerings):
            return c
    pytest.skip(f"no circuit with {health}")


async def test_availability_split_by_peer_shows_the_down_device(
    emulator: RunningEmulator, monitor: MonitorManagementClient
) -> None:
    circuit = next(
        c
        for c in emulator.estate.circuits
        if any({p.primary, p.secondary} == {"up", "down"} for p in c.peerings)
    )
    peering = next(p for p in circuit.peerings if {p.primary, p.secondary} == {"up", "down"})
    result = await monitor.metrics.list(
        circuit.id,
        timespan=SPAN,
        interval="PT1M",
        metricnames="BgpAvailability,ArpAvailability",
        aggregation="Average",
        filter="PeeringType eq 'PrivatePeering' and Peer eq '*'",
    )
    assert result.interval == "PT1M"
    assert result.namespace == "Microsoft.Network/expressRouteCircuits"
    assert [m.name.value for m in result.value] == ["BgpAvailability", "ArpAvailability"]
    for metric in result.value:
        assert metric.unit == "Percent"
        series = {
            {md.name.value: md.value for md in ts.metadatavalues}["peer"]: ts
            for ts in metric.timeseries
        }
        assert set(series) == {"Primary-IPv4", "Secondary-IPv4"}
        for device in ("primary", "secondary"):
            points = series[f"{device.capitalize()}-IPv4"].data
            assert len(points) == 60
            expected = 0.0 if getattr(peering, device) == "down" else 100.0
            assert {p.average for p in points} == {expected}
    # Not split by Peer, availability is the mean over the devices; a dimension named in
    # the filter comes back as metadata, as Azure Monitor does.
    whole = await monitor.metrics.list(
        circuit.id,
        timespan=SPAN,
        interval="PT5M",
        metricnames="BgpAvailability",
        aggregation="Average,Minimum",
        filter="PeeringType eq 'PrivatePeering'",
    )
    (ts,) = whole.value[0].timeseries
    assert [(m.name.value, m.value) for m in ts.metadatavalues] == [
        ("peeringtype", "PrivatePeering")
    ]
    assert len(ts.data) == 12
    assert {p.average for p in ts.data} == {50.0}
    assert {p.minimum for p in ts.data} == {50.0}


async def test_outage_and_flapping(
    emulator: RunningEmulator, monitor: MonitorManagementClient
) -> None:
    est = generate(seed=1, size="small")
    assert est.circuits[0].id == emulator.estate.circuits[0].id
    outage = next(
        (
            c
            for c in est.circuits
            if any((p.primary, p.secondary) == ("down", "down") for p in c.peerings)
        ),
        None,
    )
    if outage is not None:
        result = await monitor.metrics.list(
            outage.id,
            timespan=SPAN,
            interval="PT1M",
            metricnames="BgpAvailability,BitsInPerSecond",
            aggregation="Maximum",
            filter="PeeringType eq 'PrivatePeering'",
        )
        for metric in result.value:
            assert {p.maximum for p in metric.timeseries[0].data} == {0.0}
    flapping = next(
        (c for c in est.circuits for p in c.peerings if "flapping" in (p.primary, p.secondary)),
        None,
    )
    if flapping is None:
        pytest.skip("no flapping circuit in the small estate")
    peering = next(p for p in flapping.peerings if "flapping" in (p.primary, p.secondary))
    device = "primary" if peering.primary == "flapping" else "secondary"
    start = int(dt.datetime(2026, 11, 20, 10, tzinfo=dt.timezone.utc).timestamp() // 60)
    down = [m for m in range(start, start + 180) if not device_up(flapping, peering, device, m)]
    assert down, "a flapping device has outages"
    result = await monitor.metrics.list(
        flapping.id,
        timespan="2026-11-20T10:00:00Z/PT3H",
        interval="PT1M",
        metricnames="ArpAvailability",
        aggregation="Average",
        filter=f"Peer eq '{device.capitalize()}-IPv4' and PeeringType eq 'PrivatePeering'",
    )
    (ts,) = result.value[0].timeseries
    zeros = [int(p.time_stamp.timestamp() // 60) for p in ts.data if p.average == 0.0]
    assert zeros == down


async def test_traffic_by_device_role(
    emulator: RunningEmulator, monitor: MonitorManagementClient
) -> None:
    circuit = _find(emulator, ("up", "up"))
    result = await monitor.metrics.list(
        circuit.id,
        timespan=SPAN,
        interval="PT1M",
        metricnames="BitsInPerSecond,BitsOutPerSecond",
        aggregation="Average",
        filter="DeviceRole eq '*'",
    )
    for metric in result.value:
        assert metric.unit == "BitsPerSecond"
        roles = sorted(
            {md.name.value: md.value for md in ts.metadatavalues}["devicerole"]
            for ts in metric.timeseries
        )
        assert roles == ["Primary", "Secondary"]
        for ts in metric.timeseries:
            values = [p.average for p in ts.data]
            assert all(0 < v <= circuit.bandwidth_mbps * 1e6 for v in values)


async def test_bad_metric_and_filter_are_400(
    emulator: RunningEmulator, monitor: MonitorManagementClient
) -> None:
    circuit = emulator.estate.circuits[0]
    with pytest.raises(HttpResponseError) as info:
        await monitor.metrics.list(circuit.id, timespan=SPAN, metricnames="Nope")
    assert info.value.status_code == 400
    with pytest.raises(HttpResponseError) as bad_dim:
        await monitor.metrics.list(
            circuit.id, timespan=SPAN, metricnames="BgpAvailability", filter="DeviceRole eq '*'"
        )
    assert bad_dim.value.status_code == 400
