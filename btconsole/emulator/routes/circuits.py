"""ExpressRoute circuits (``Microsoft.Network/expressRouteCircuits``): circuits,
peerings, stats, and the long-running ARP / route-table / route-summary POSTs."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from aiohttp import web

from btconsole.emulator.estate import Circuit, Estate, Peering, link_addresses, parse_time
from btconsole.emulator.http import ArmError, Ctx, Router, json_response, page, start_lro
from btconsole.emulator.routes.common import (
    estate,
    etag,
    mix,
    resource_group,
    resource_not_found,
    stable_guid,
    subscription_or_error,
    unit,
)

CIRCUIT_TYPE = "Microsoft.Network/expressRouteCircuits"
AZURE_ASN = 12076
DEVICES = ("primary", "secondary")


# --------------------------------------------------------------------------- health


def device_up(circuit: Circuit, peering: Peering, device: str, minute: int) -> bool:
    """Whether a peering's device (``primary``/``secondary``) is up in epoch minute ``minute``.

    ``up`` and ``down`` devices are so all the time; a ``flapping`` device has one
    outage of 3-12 minutes in every hour, at an offset derived from the circuit.
    """
    health = peering.primary if device == "primary" else peering.secondary
    if peering.state != "Enabled" or health == "down":
        return False
    if health == "up":
        return True
    block = minute // 60
    length = 3 + mix(circuit.id, peering.name, device, block) % 10
    start = mix(circuit.id, peering.name, device, block, "offset") % (60 - length)
    return not start <= minute % 60 < start + length


def current_minute() -> int:
    return int(time.time() // 60)


def _mac(*parts: object) -> str:
    digits = f"{mix('mac', *parts) & 0xFFFFFFFFFFFF:012x}"
    return f"{digits[0:4]}.{digits[4:8]}.{digits[8:12]}"


def _updown(circuit: Circuit, peering: Peering, device: str, now: dt.datetime) -> str:
    """BGP "Up/Down" column: time in the current state, as a router prints it."""
    since = parse_time(peering.last_change) if peering.last_change else now - dt.timedelta(days=7)
    if peering.primary == "flapping" or peering.secondary == "flapping":
        seconds = 60 + mix(circuit.id, device, "updown") % 3000
    else:
        seconds = max(60, int((now - since).total_seconds()))
    if seconds < 86400:
        h, rem = divmod(seconds, 3600)
        return f"{h:02d}:{rem // 60:02d}:{rem % 60:02d}"
    days, rem = divmod(seconds, 86400)
    if days < 7:
        return f"{days}d{rem // 3600:02d}h"
    return f"{days // 7}w{days % 7}d"


# --------------------------------------------------------------------------- bodies


def _port(circuit: Circuit, role: str) -> str:
    site = "".join(ch for ch in circuit.peering_location.upper() if ch.isalpha())[:3]
    n = 1 + mix(circuit.id, "port") % 4
    return f"BT-{site}-06GMR-CIS-{n}-{role}-A"


def peering_body(circuit: Circuit, p: Peering) -> dict[str, Any]:
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "peeringType": p.name,
        "azureASN": AZURE_ASN,
        "peerASN": p.peer_asn,
        "primaryPeerAddressPrefix": p.primary_prefix,
        "secondaryPeerAddressPrefix": p.secondary_prefix,
        "primaryAzurePort": _port(circuit, "PRI"),
        "secondaryAzurePort": _port(circuit, "SEC"),
        "state": p.state,
        "vlanId": p.vlan_id,
        "gatewayManagerEtag": "",
        "lastModifiedBy": "Customer",
        "connections": [],
        "peeredConnections": [],
    }
    if p.name == "MicrosoftPeering":
        props["microsoftPeeringConfig"] = {
            "advertisedPublicPrefixes": list(p.advertised_public_prefixes),
            "advertisedCommunities": [],
            "advertisedPublicPrefixesState": "Configured",
            "customerASN": 0,
            "legacyMode": 0,
            "routingRegistryName": "RIPENCC",
        }
    return {
        "name": p.name,
        "id": f"{circuit.id}/peerings/{p.name}",
        "etag": etag(circuit.id, p.name),
        "type": f"{CIRCUIT_TYPE}/peerings",
        "properties": props,
    }


def circuit_body(circuit: Circuit) -> dict[str, Any]:
    """A circuit as the Network RP returns it."""
    tier = circuit.sku_tier
    return {
        "name": circuit.name,
        "id": circuit.id,
        "etag": etag(circuit.id),
        "type": CIRCUIT_TYPE,
        "location": circuit.location,
        "tags": dict(circuit.tags),
        "sku": {"name": f"{tier}_{circuit.sku_family}", "tier": tier, "family": circuit.sku_family},
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": stable_guid("circuit", circuit.id.lower()),
            "peerings": [peering_body(circuit, p) for p in circuit.peerings],
            "authorizations": [],
            "serviceProviderProperties": {
                "serviceProviderName": circuit.service_provider_name,
                "peeringLocation": circuit.peering_location,
                "bandwidthInMbps": circuit.bandwidth_mbps,
            },
            "circuitProvisioningState": circuit.circuit_provisioning_state,
            "allowClassicOperations": False,
            "serviceKey": circuit.service_key,
            "serviceProviderProvisioningState": circuit.service_provider_provisioning_state,
            "gatewayManagerEtag": "",
            "globalReachEnabled": False,
            "stag": 2 + mix(circuit.id, "stag") % 4000,
        },
    }


def peering_stats(est: Estate, circuit: Circuit, p: Peering) -> dict[str, int]:
    """Byte counters of a peering since its last state change (derived, stable)."""
    now = est.now
    since = parse_time(p.last_change) if p.last_change else now - dt.timedelta(days=30)
    seconds = max(60.0, min((now - since).total_seconds(), 90 * 86400.0))
    full = circuit.bandwidth_mbps * 125_000  # bytes per second at line rate
    out: dict[str, int] = {}
    for device in DEVICES:
        health = p.primary if device == "primary" else p.secondary
        share = 0.0 if health == "down" else 0.05 + 0.3 * unit(circuit.id, p.name, device, "util")
        if p.name == "MicrosoftPeering":
            share *= 0.3
        bytes_in = int(full * share * seconds)
        out[f"{device}bytesIn"] = bytes_in
        out[f"{device}bytesOut"] = int(bytes_in * (0.4 + 0.5 * unit(circuit.id, p.name, device)))
    return out


# --------------------------------------------------------------------------- lookups


def _circuit(ctx: Ctx) -> Circuit:
    sid, rg = ctx.params["subscriptionId"], ctx.params["resourceGroupName"]
    resource_group(ctx, sid, rg)
    c = estate(ctx).find("circuits", sid, rg, ctx.params["circuitName"])
    if c is None:
        raise resource_not_found(CIRCUIT_TYPE, ctx.params["circuitName"], rg)
    assert isinstance(c, Circuit)
    return c


def _peering(ctx: Ctx, circuit: Circuit) -> Peering:
    name = ctx.params["peeringName"]
    p = circuit.peering(name)
    if p is None:
        raise ArmError(404, "NotFound", f"Resource {circuit.id}/peerings/{name} not found.")
    return p


def _device(ctx: Ctx) -> str:
    device = ctx.params["devicePath"].lower()
    if device not in DEVICES:
        raise ArmError(
            400,
            "InvalidDevicePath",
            f"Device path '{ctx.params['devicePath']}' is not valid; use 'primary' or 'secondary'.",
        )
    return device


# --------------------------------------------------------------------------- handlers


async def list_circuits(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    rg_name = ctx.params.get("resourceGroupName")
    if rg_name is not None:
        resource_group(ctx, sid, rg_name)
    items = [
        circuit_body(c)
        for c in estate(ctx).circuits_in(sid)
        if rg_name is None or c.resource_group.lower() == rg_name.lower()
    ]
    return page(ctx, items)


async def get_circuit(ctx: Ctx) -> web.StreamResponse:
    refused = subscription_or_error(ctx, ctx.params["subscriptionId"])
    if refused is not None:
        return refused
    return json_response(circuit_body(_circuit(ctx)))


async def circuit_stats(ctx: Ctx) -> web.StreamResponse:
    refused = subscription_or_error(ctx, ctx.params["subscriptionId"])
    if refused is not None:
        return refused
    c = _circuit(ctx)
    totals = {f"{d}bytes{x}": 0 for d in DEVICES for x in ("In", "Out")}
    for p in c.peerings:
        for key, value in peering_stats(estate(ctx), c, p).items():
            totals[key] += value
    return json_response(totals)


async def get_peering_stats(ctx: Ctx) -> web.StreamResponse:
    refused = subscription_or_error(ctx, ctx.params["subscriptionId"])
    if refused is not None:
        return refused
    c = _circuit(ctx)
    return json_response(peering_stats(estate(ctx), c, _peering(ctx, c)))


async def list_peerings(ctx: Ctx) -> web.StreamResponse:
    refused = subscription_or_error(ctx, ctx.params["subscriptionId"])
    if refused is not None:
        return refused
    c = _circuit(ctx)
    return page(ctx, [peering_body(c, p) for p in c.peerings])


async def get_peering(ctx: Ctx) -> web.StreamResponse:
    refused = subscription_or_error(ctx, ctx.params["subscriptionId"])
    if refused is not None:
        return refused
    c = _circuit(ctx)
    return json_response(peering_body(c, _peering(ctx, c)))


def arp_table(circuit: Circuit, p: Peering, device: str, minute: int) -> list[dict[str, Any]]:
    prefix = p.primary_prefix if device == "primary" else p.secondary_prefix
    customer_ip, microsoft_ip = link_addresses(prefix)
    rows = []
    if device_up(circuit, p, device, minute):
        rows.append(
            {
                "age": int(mix(circuit.id, p.name, device, "age") % 20),
                "interface": "On-Prem",
                "ipAddress": customer_ip,
                "macAddress": _mac(circuit.id, p.name, device, "customer"),
            }
        )
    rows.append(
        {
            "age": 0,
            "interface": "Microsoft",
            "ipAddress": microsoft_ip,
            "macAddress": _mac(circuit.id, p.name, device, "microsoft"),
        }
    )
    return rows


def route_table(circuit: Circuit, p: Peering, device: str, minute: int) -> list[dict[str, Any]]:
    if not device_up(circuit, p, device, minute):
        return []
    prefix = p.primary_prefix if device == "primary" else p.secondary_prefix
    customer_ip, _ = link_addresses(prefix)
    return [
        {"network": net, "nextHop": customer_ip, "locPrf": "", "weight": 0, "path": str(p.peer_asn)}
        for net in p.routes
    ]


def route_summary(
    est: Estate, circuit: Circuit, p: Peering, device: str, minute: int
) -> list[dict[str, Any]]:
    prefix = p.primary_prefix if device == "primary" else p.secondary_prefix
    customer_ip, _ = link_addresses(prefix)
    up = device_up(circuit, p, device, minute)
    return [
        {
            "neighbor": customer_ip,
            "v": 4,
            "as": p.peer_asn,
            "upDown": _updown(circuit, p, device, est.now) if up else "never",
            "statePfxRcd": str(len(p.routes)) if up else "Active",
        }
    ]


def _table_lro(kind: str) -> Any:
    async def handler(ctx: Ctx) -> web.StreamResponse:
        refused = subscription_or_error(ctx, ctx.params["subscriptionId"])
        if refused is not None:
            return refused
        c = _circuit(ctx)
        p = _peering(ctx, c)
        device = _device(ctx)
        est = estate(ctx)

        async def result() -> web.Response:
            minute = current_minute()
            if kind == "arp":
                rows = arp_table(c, p, device, minute)
            elif kind == "routes":
                rows = route_table(c, p, device, minute)
            else:
                rows = route_summary(est, c, p, device, minute)
            return json_response({"value": rows})

        return start_lro(ctx, result)

    return handler


def register(router: Router) -> None:
    sub = "/subscriptions/{subscriptionId}"
    rg = sub + "/resourceGroups/{resourceGroupName}"
    er = "/providers/Microsoft.Network/expressRouteCircuits"
    one = rg + er + "/{circuitName}"
    peering = one + "/peerings/{peeringName}"
    router.add("GET", sub + er, list_circuits, name="circuits.list_all")
    router.add("GET", rg + er, list_circuits, name="circuits.list")
    router.add("GET", one, get_circuit, name="circuits.get")
    router.add("GET", one + "/stats", circuit_stats, name="circuits.stats")
    router.add("GET", one + "/peerings", list_peerings, name="circuits.peerings.list")
    router.add("GET", peering, get_peering, name="circuits.peerings.get")
    router.add("GET", peering + "/stats", get_peering_stats, name="circuits.peerings.stats")
    router.add(
        "POST", peering + "/arpTables/{devicePath}", _table_lro("arp"), name="circuits.arp_table"
    )
    router.add(
        "POST",
        peering + "/routeTables/{devicePath}",
        _table_lro("routes"),
        name="circuits.route_table",
    )
    router.add(
        "POST",
        peering + "/routeTablesSummary/{devicePath}",
        _table_lro("summary"),
        name="circuits.route_table_summary",
    )
