"""ExpressRoute circuits: listing, latest availability, and on-demand details.

Availability (BGP and ARP, per peering and device) comes from Azure Monitor metrics;
the listing attaches the latest values so that health can be judged from the records.
ARP tables and route tables are long-running POSTs per peering and device.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from btconsole.azure.common import (
    call,
    get,
    integer,
    iso,
    number,
    operation_result,
    resource_parts,
    rest_dict,
    rest_items,
    rest_json,
    text,
)
from btconsole.azure.session import AzureSession
from btconsole.records import (
    ArpEntryRecord,
    CircuitRecord,
    CircuitStatsRecord,
    DeviceAvailability,
    MetricPointRecord,
    PeeringRecord,
    RouteRecord,
    RouteSummaryRecord,
    tags_of,
)

AVAILABILITY_METRICS = ("BgpAvailability", "ArpAvailability")
TRAFFIC_METRICS = ("BitsInPerSecond", "BitsOutPerSecond")
DEVICES = ("primary", "secondary")
# What azure-mgmt-monitor's metrics.list and azure-mgmt-network's circuit listing send
# (neither client has one api-version for all its operations).
METRICS_API_VERSION = "2024-02-01"
NETWORK_API_VERSION = "2026-03-01"


def peering_record(data: Mapping[str, Any]) -> PeeringRecord:
    props = get(data, "properties") or data
    name = str(get(data, "name") or get(props, "peeringType") or "")
    return PeeringRecord(
        name=name,
        peering_type=text(get(props, "peeringType")) or name,
        state=text(get(props, "state")) or "Unknown",
        azure_asn=integer(get(props, "azureASN")),
        peer_asn=integer(get(props, "peerASN")),
        vlan_id=integer(get(props, "vlanId")),
        primary_prefix=text(get(props, "primaryPeerAddressPrefix")),
        secondary_prefix=text(get(props, "secondaryPeerAddressPrefix")),
        provisioning_state=text(get(props, "provisioningState")),
    )


def circuit_record(
    profile: str,
    data: Mapping[str, Any],
    availability: Sequence[DeviceAvailability] = (),
) -> CircuitRecord:
    """A circuit from its ARM JSON (SDK model or Resource Graph row)."""
    resource_id = str(get(data, "id") or "")
    subscription, group = resource_parts(resource_id)
    props = get(data, "properties") or {}
    provider = get(props, "serviceProviderProperties") or {}
    sku = get(data, "sku") or {}
    peerings = [peering_record(p) for p in get(props, "peerings") or [] if isinstance(p, Mapping)]
    return CircuitRecord(
        profile=profile,
        id=resource_id,
        name=str(get(data, "name") or resource_id.rsplit("/", 1)[-1]),
        subscription_id=subscription,
        resource_group=group,
        location=str(get(data, "location") or ""),
        provider=text(get(provider, "serviceProviderName")),
        peering_location=text(get(provider, "peeringLocation")),
        bandwidth_mbps=integer(get(provider, "bandwidthInMbps"))
        or _gbps_to_mbps(get(props, "bandwidthInGbps")),
        sku_tier=text(get(sku, "tier")),
        sku_family=text(get(sku, "family")),
        circuit_state=text(get(props, "circuitProvisioningState")),
        provider_state=text(get(props, "serviceProviderProvisioningState")),
        service_key=text(get(props, "serviceKey")),
        peerings=tuple(sorted(peerings, key=lambda p: p.name)),
        availability=tuple(availability),
        tags=tags_of(get(data, "tags")),
    )


def _gbps_to_mbps(value: Any) -> int | None:
    gbps = number(value)
    return None if gbps is None else int(gbps * 1000)


def device_of(value: str | None) -> str:
    """'primary' / 'secondary' from a metric dimension value such as 'Primary-IPv4'."""
    lowered = (value or "").lower()
    for device in DEVICES:
        if device in lowered:
            return device
    return lowered or "unknown"


def _dimension(series: Mapping[str, Any], name: str) -> str | None:
    for item in get(series, "metadatavalues") or []:
        if (text(get(item, "name", "value")) or "").lower() == name.lower():
            return text(get(item, "value"))
    return None


async def _metrics(
    session: AzureSession,
    circuit_id: str,
    names: Sequence[str],
    *,
    minutes: int,
    dimension_filter: str,
    aggregation: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    end = now or datetime.now(timezone.utc)
    start = end - timedelta(minutes=minutes)
    # The REST JSON through the SDK client's pipeline, not the Response model: building
    # it (and undoing it with rest_dict) cost more CPU than the request.
    client = session.client("monitor")
    params = {
        "timespan": f"{iso(start)}/{iso(end)}",
        "interval": "PT1M",
        "metricnames": ",".join(names),
        "aggregation": aggregation,
        "$filter": dimension_filter,
        "api-version": METRICS_API_VERSION,
    }

    async def run() -> Any:
        url = f"{circuit_id}/providers/Microsoft.Insights/metrics"
        return await rest_json(client, "GET", url, params=params)

    response = await call(f"reading metrics of {circuit_id.rsplit('/', 1)[-1]}", run)
    return response if isinstance(response, dict) else {}


async def availability(
    session: AzureSession, circuit_id: str, *, now: datetime | None = None
) -> tuple[DeviceAvailability, ...]:
    """Latest BGP and ARP availability per peering and device (last 15 minutes).

    Raises:
        AzureError: the metrics query failed.
    """
    data = await _metrics(
        session,
        circuit_id,
        AVAILABILITY_METRICS,
        minutes=15,
        dimension_filter="PeeringType eq '*' and Peer eq '*'",
        aggregation="Average",
        now=now,
    )
    return latest_availability(data)


def latest_availability(data: Mapping[str, Any]) -> tuple[DeviceAvailability, ...]:
    """The last BGP and ARP values per peering and device, from a metrics answer's JSON."""
    latest: dict[tuple[str, str], dict[str, float | None]] = {}
    for metric in get(data, "value") or []:
        name = text(get(metric, "name", "value")) or ""
        for series in get(metric, "timeseries") or []:
            peering = _dimension(series, "PeeringType") or "Unknown"
            device = device_of(_dimension(series, "Peer"))
            points = [
                number(get(p, "average"))
                for p in get(series, "data") or []
                if number(get(p, "average")) is not None
            ]
            value = points[-1] if points else None
            latest.setdefault((peering, device), {})[name] = value
    return tuple(
        DeviceAvailability(
            peering_type=peering,
            device=device,
            bgp=values.get("BgpAvailability"),
            arp=values.get("ArpAvailability"),
        )
        for (peering, device), values in sorted(latest.items())
    )


async def list_circuits(
    session: AzureSession, subscription_id: str, *, with_availability: bool = True
) -> list[CircuitRecord]:
    """Circuits of one subscription, each with its latest availability.

    A failed metrics query leaves that circuit's availability empty (health "unknown")
    rather than failing the subscription.

    Raises:
        AzureError: the circuit listing failed.
    """
    # REST JSON through the SDK client's pipeline, not its pager and models (a network
    # client per subscription was the most expensive SDK client to build).
    client = session.client("network")

    async def run() -> list[Any]:
        url = f"/subscriptions/{subscription_id}/providers/Microsoft.Network/expressRouteCircuits"
        return await rest_items(client, url, NETWORK_API_VERSION)

    found = await call(f"listing circuits in {subscription_id}", run)
    records = [circuit_record(session.profile.name, c) for c in found if isinstance(c, Mapping)]
    if with_availability and records:
        records = list(
            await asyncio.gather(*(with_latest_availability(session, r) for r in records))
        )
    return sorted(records, key=lambda r: r.id.lower())


async def with_latest_availability(session: AzureSession, record: CircuitRecord) -> CircuitRecord:
    """``record`` with its availability filled in (left empty if metrics fail)."""
    from btconsole.azure.errors import AzureError
    from btconsole.records import replace

    try:
        values = await availability(session, record.id)
    except AzureError:
        return record
    return replace(record, availability=values)


async def metric_series(
    session: AzureSession,
    circuit_id: str,
    *,
    minutes: int = 60,
    now: datetime | None = None,
) -> list[MetricPointRecord]:
    """Recent BitsIn/BitsOut (by device) and BGP/ARP availability series, per minute.

    Raises:
        AzureError: a metrics query failed.
    """
    points: list[MetricPointRecord] = []
    for names, dimension, aggregation in (
        (TRAFFIC_METRICS, "DeviceRole", "Average"),
        (AVAILABILITY_METRICS, "Peer", "Average"),
    ):
        data = await _metrics(
            session,
            circuit_id,
            names,
            minutes=minutes,
            dimension_filter=f"PeeringType eq '*' and {dimension} eq '*'",
            aggregation=aggregation,
            now=now,
        )
        for metric in get(data, "value") or []:
            name = text(get(metric, "name", "value")) or ""
            for series in get(metric, "timeseries") or []:
                peering = _dimension(series, "PeeringType")
                device = device_of(_dimension(series, dimension))
                for point in get(series, "data") or []:
                    points.append(
                        MetricPointRecord(
                            circuit_id=circuit_id,
                            metric=name,
                            peering_type=peering,
                            device=device,
                            timestamp=iso(get(point, "timeStamp")) or "",
                            value=number(get(point, "average")),
                        )
                    )
    return points


def _names(circuit_id: str) -> tuple[str, str, str]:
    subscription, group = resource_parts(circuit_id)
    return subscription, group, circuit_id.rstrip("/").rsplit("/", 1)[-1]


async def stats(
    session: AzureSession, circuit_id: str, peering: str | None = None
) -> CircuitStatsRecord:
    """Byte counters of the circuit (or of one peering).

    Raises:
        AzureError: the call failed.
    """
    subscription, group, name = _names(circuit_id)
    client = session.client("network", subscription)

    async def run() -> Any:
        if peering is None:
            return await client.express_route_circuits.get_stats(group, name)
        return await client.express_route_circuits.get_peering_stats(group, name, peering)

    data = rest_dict(await call(f"reading stats of {name}", run))
    return CircuitStatsRecord(
        circuit_id=circuit_id,
        peering=peering,
        primary_bytes_in=integer(get(data, "primarybytesIn")),
        primary_bytes_out=integer(get(data, "primarybytesOut")),
        secondary_bytes_in=integer(get(data, "secondarybytesIn")),
        secondary_bytes_out=integer(get(data, "secondarybytesOut")),
    )


async def _long_running(
    session: AzureSession, circuit_id: str, operation: str, peering: str, device: str
) -> list[Mapping[str, Any]]:
    subscription, group, name = _names(circuit_id)
    client = session.client("network", subscription)
    begin = getattr(client.express_route_circuits, operation)

    what = f"{operation.removeprefix('begin_').replace('_', ' ')} of {name} {peering} {device}"

    async def run() -> Any:
        poller = await begin(group, name, peering, device)
        return await operation_result(poller, what)

    result = rest_dict(await call(what, run))
    return [item for item in get(result, "value") or [] if isinstance(item, Mapping)]


async def arp_table(
    session: AzureSession, circuit_id: str, peering: str, device: str
) -> list[ArpEntryRecord]:
    """The ARP table of one peering on one device (a long-running operation).

    Raises:
        AzureError: the operation failed.
    """
    rows = await _long_running(session, circuit_id, "begin_list_arp_table", peering, device)
    return [
        ArpEntryRecord(
            peering=peering,
            device=device,
            ip_address=str(get(row, "ipAddress") or ""),
            mac_address=str(get(row, "macAddress") or ""),
            interface=text(get(row, "interface")),
            age=integer(get(row, "age")),
        )
        for row in rows
    ]


async def route_table(
    session: AzureSession, circuit_id: str, peering: str, device: str
) -> list[RouteRecord]:
    """The route table of one peering on one device (a long-running operation).

    Raises:
        AzureError: the operation failed.
    """
    rows = await _long_running(session, circuit_id, "begin_list_routes_table", peering, device)
    return [
        RouteRecord(
            peering=peering,
            device=device,
            network=str(get(row, "network") or ""),
            next_hop=text(get(row, "nextHop")),
            path=text(get(row, "path")),
            loc_prf=text(get(row, "locPrf")),
            weight=integer(get(row, "weight")),
        )
        for row in rows
    ]


async def route_summary(
    session: AzureSession, circuit_id: str, peering: str, device: str
) -> list[RouteSummaryRecord]:
    """The BGP neighbour summary of one peering on one device (long-running).

    Raises:
        AzureError: the operation failed.
    """
    rows = await _long_running(
        session, circuit_id, "begin_list_routes_table_summary", peering, device
    )
    return [
        RouteSummaryRecord(
            peering=peering,
            device=device,
            neighbor=str(get(row, "neighbor") or ""),
            asn=integer(get(row, "as")),
            up_down=text(get(row, "upDown")),
            state_or_prefixes=text(get(row, "statePfxRcd")),
            version=integer(get(row, "v")),
        )
        for row in rows
    ]
