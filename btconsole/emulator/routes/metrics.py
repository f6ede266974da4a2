"""Azure Monitor metrics of ExpressRoute circuits (``Microsoft.Insights/metrics``).

Per-minute samples are derived from the circuit, so any time span can be asked
for: availability is 100 while a device is up and 0 while it is down (a
``flapping`` device has a short outage every hour); traffic follows a daily
curve scaled by the circuit's bandwidth and is 0 while its device is down.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from btconsole.emulator.estate import Circuit, Peering, format_time
from btconsole.emulator.http import ArmError, Ctx, Router, json_response
from btconsole.emulator.routes.circuits import CIRCUIT_TYPE, DEVICES, device_up
from btconsole.emulator.routes.common import (
    estate,
    mix,
    resource_group,
    resource_not_found,
    subscription_or_error,
)

PEERING_TYPES = {"AzurePrivatePeering": "PrivatePeering", "MicrosoftPeering": "MicrosoftPeering"}


class Metric:
    def __init__(
        self, name: str, display: str, unit: str, dims: tuple[str, ...], what: str
    ) -> None:
        self.name = name
        self.display = display
        self.unit = unit
        self.dims = dims
        self.description = what


METRICS = {
    m.name.lower(): m
    for m in (
        Metric(
            "ArpAvailability",
            "Arp Availability",
            "Percent",
            ("PeeringType", "Peer"),
            "ARP Availability from MSEE towards all peers.",
        ),
        Metric(
            "BgpAvailability",
            "Bgp Availability",
            "Percent",
            ("PeeringType", "Peer"),
            "BGP Availability from MSEE towards all peers.",
        ),
        Metric(
            "BitsInPerSecond",
            "BitsInPerSecond",
            "BitsPerSecond",
            ("PeeringType", "DeviceRole"),
            "Bits ingressing Azure per second",
        ),
        Metric(
            "BitsOutPerSecond",
            "BitsOutPerSecond",
            "BitsPerSecond",
            ("PeeringType", "DeviceRole"),
            "Bits egressing Azure per second",
        ),
    )
}

MAX_POINTS = 100_000


def _bad(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)


def parse_duration(text: str) -> dt.timedelta:
    """An ISO 8601 duration such as ``PT1M``, ``PT1H``, ``P1D``, ``P1DT12H``.

    Raises:
        ArmError: 400 for anything else.
    """
    m = re.fullmatch(
        r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text.strip().upper()
    )
    if not m or text.strip().upper() in ("P", "PT"):
        raise _bad(f"Invalid duration '{text}'.")
    d, h, mi, s = m.groups()
    return dt.timedelta(
        days=int(d or 0), hours=int(h or 0), minutes=int(mi or 0), seconds=float(s or 0)
    )


def _parse_instant(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"Invalid timespan value '{text}'.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def parse_timespan(text: str | None, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """``start/end``, ``start/duration``, ``duration/end`` or a bare duration ending now."""
    if not text:
        return now - dt.timedelta(hours=1), now
    if "/" in text:
        left, right = text.split("/", 1)
        if left.strip().upper().startswith("P"):
            end = _parse_instant(right)
            return end - parse_duration(left), end
        start = _parse_instant(left)
        if right.strip().upper().startswith("P"):
            return start, start + parse_duration(right)
        return start, _parse_instant(right)
    return now - parse_duration(text), now


def parse_filter(text: str | None, metric: Metric) -> dict[str, set[str] | None]:
    """Azure Monitor's dimension ``$filter``: ``A eq 'x' and B eq '*'`` (``or`` within one
    dimension). Returns {dimension: allowed values, or None for ``'*'`` (split only)}."""
    out: dict[str, set[str] | None] = {}
    if not text or not text.strip():
        return out
    known = {d.lower(): d for d in metric.dims}
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        clause = clause.strip()
        while clause.startswith("(") and clause.endswith(")"):
            clause = clause[1:-1].strip()
        for part in re.split(r"\s+or\s+", clause, flags=re.IGNORECASE):
            m = re.fullmatch(r"\(?\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*\)?", part.strip(), re.I)
            if not m:
                raise _bad(f"Invalid $filter '{text}': cannot parse '{part.strip()}'.")
            dim = known.get(m.group(1).lower())
            if dim is None:
                raise _bad(
                    f"Metric {metric.name} has no dimension '{m.group(1)}'. "
                    f"Valid dimensions: {', '.join(metric.dims)}."
                )
            value = m.group(2).replace("''", "'")
            if value == "*":
                out.setdefault(dim, None)
            else:
                current = out.get(dim)
                if current is None:
                    out[dim] = {value.lower()}
                else:
                    current.add(value.lower())
    return out


def _dim_value(dim: str, peering: Peering, device: str) -> str:
    if dim == "PeeringType":
        return PEERING_TYPES.get(peering.name, peering.name)
    if dim == "Peer":
        return f"{device.capitalize()}-IPv4"
    return device.capitalize()


def _sample_fn(
    metric: Metric, circuit: Circuit, peering: Peering, device: str
) -> Callable[[int], float]:
    name = metric.name
    if name in ("ArpAvailability", "BgpAvailability"):
        return lambda minute: 100.0 if device_up(circuit, peering, device, minute) else 0.0
    full = circuit.bandwidth_mbps * 1_000_000.0
    share = 0.3 if peering.name == "MicrosoftPeering" else 1.0
    outbound = name == "BitsOutPerSecond"

    def bits(minute: int) -> float:
        if not device_up(circuit, peering, device, minute):
            return 0.0
        hour = (minute % 1440) / 60.0
        daily = 0.5 + 0.5 * math.sin((hour - 8.0) / 24.0 * 2 * math.pi)
        noise = (mix(circuit.id, peering.name, device, name, minute) % 1000) / 1000.0
        level = (0.04 + 0.3 * daily + 0.06 * noise) * share * (0.7 if outbound else 1.0)
        return round(full * level / 2, 1)

    return bits


AGGREGATIONS = ("average", "minimum", "maximum", "total", "count")


def _aggregate(values: list[float], wanted: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    if not values:
        return out
    for agg in wanted:
        if agg == "average":
            out["average"] = round(sum(values) / len(values), 4)
        elif agg == "minimum":
            out["minimum"] = min(values)
        elif agg == "maximum":
            out["maximum"] = max(values)
        elif agg == "total":
            out["total"] = round(sum(values), 4)
        elif agg == "count":
            out["count"] = float(len(values))
    return out


def _iso_duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    out = "P" + (f"{days}D" if days else "")
    time_part = (
        (f"{hours}H" if hours else "")
        + (f"{minutes}M" if minutes else "")
        + (f"{secs}S" if secs else "")
    )
    return out + ("T" + time_part if time_part else "") if (days or time_part) else "PT0M"


async def list_metrics(ctx: Ctx) -> web.StreamResponse:
    sid, rg = ctx.params["subscriptionId"], ctx.params["resourceGroupName"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    resource_group(ctx, sid, rg)
    circuit = estate(ctx).find("circuits", sid, rg, ctx.params["circuitName"])
    if circuit is None:
        raise resource_not_found(CIRCUIT_TYPE, ctx.params["circuitName"], rg)
    assert isinstance(circuit, Circuit)

    namespace = ctx.q("metricnamespace")
    if namespace and namespace.lower() != CIRCUIT_TYPE.lower():
        raise _bad(f"Metric namespace '{namespace}' is not valid for this resource.")
    names = [n.strip() for n in (ctx.q("metricnames") or "BitsInPerSecond").split(",") if n.strip()]
    metrics = []
    for n in names:
        metric = METRICS.get(n.lower())
        if metric is None:
            raise _bad(
                f"Failed to find metric configuration for provider: Microsoft.Network, resource "
                f"Type: expressRouteCircuits, metric: {n}, Valid metrics: "
                f"{', '.join(m.name for m in METRICS.values())}"
            )
        metrics.append(metric)
    aggregations = [
        a.strip().lower() for a in (ctx.q("aggregation") or "average").split(",") if a.strip()
    ]
    for a in aggregations:
        if a not in AGGREGATIONS:
            raise _bad(
                f"Invalid aggregation '{a}'. Valid: Average, Minimum, Maximum, Total, Count."
            )

    now = dt.datetime.fromtimestamp(time.time(), tz=dt.timezone.utc)
    start, end = parse_timespan(ctx.q("timespan"), now)
    if end <= start:
        raise _bad(f"Invalid timespan '{ctx.q('timespan')}': the end must be after the start.")
    raw_interval = ctx.q("interval") or "PT1M"
    full = raw_interval.upper() == "FULL"
    interval = end - start if full else parse_duration(raw_interval)
    step = max(1, int(interval.total_seconds() // 60))
    first = int(start.timestamp() // 60)
    last = math.ceil(end.timestamp() / 60)
    minutes = last - first
    if minutes <= 0:
        minutes = 1
    if minutes * len(metrics) > MAX_POINTS:
        raise _bad(
            f"The requested time range holds too many data points ({minutes} minutes x "
            f"{len(metrics)} metrics); narrow the timespan."
        )
    raw_top = ctx.q("top") or "10"
    if not raw_top.isdigit() or int(raw_top) < 1:
        raise _bad(f"Invalid top '{raw_top}': expected a positive integer.")
    top = int(raw_top)

    values = []
    for metric in metrics:
        wanted = parse_filter(ctx.q("$filter"), metric)
        groups: dict[tuple[str, ...], list[Callable[[int], float]]] = {}
        split_dims = list(wanted)
        for p in circuit.peerings:
            for device in DEVICES:
                dims = {d: _dim_value(d, p, device) for d in metric.dims}
                if any(
                    allowed is not None and dims[d].lower() not in allowed
                    for d, allowed in wanted.items()
                ):
                    continue
                key = tuple(dims[d] for d in split_dims)
                groups.setdefault(key, []).append(_sample_fn(metric, circuit, p, device))
        timeseries = []
        for key in sorted(groups)[: top if split_dims else None]:
            fns = groups[key]
            total_series = metric.unit == "BitsPerSecond"
            data = []
            for bucket in range(first, first + minutes, step):
                samples = []
                for minute in range(bucket, min(bucket + step, first + minutes)):
                    per = [fn(minute) for fn in fns]
                    samples.append(sum(per) if total_series else sum(per) / len(per))
                point: dict[str, Any] = {
                    "timeStamp": format_time(
                        dt.datetime.fromtimestamp(bucket * 60, dt.timezone.utc)
                    )
                }
                point.update(_aggregate(samples, aggregations))
                data.append(point)
            timeseries.append(
                {
                    "metadatavalues": [
                        {"name": {"value": d.lower(), "localizedValue": d.lower()}, "value": v}
                        for d, v in zip(split_dims, key, strict=True)
                    ],
                    "data": data,
                }
            )
        values.append(
            {
                "id": f"{circuit.id}/providers/Microsoft.Insights/metrics/{metric.name}",
                "type": "Microsoft.Insights/metrics",
                "name": {"value": metric.name, "localizedValue": metric.display},
                "displayDescription": metric.description,
                "unit": metric.unit,
                "timeseries": timeseries,
                "errorCode": "Success",
            }
        )
    body = {
        "cost": minutes * len(metrics),
        "timespan": f"{format_time(start)}/{format_time(end)}",
        "interval": _iso_duration(dt.timedelta(minutes=step)),
        "value": values,
        "namespace": CIRCUIT_TYPE,
        "resourceregion": circuit.location,
    }
    return json_response(body)


def register(router: Router) -> None:
    router.add(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
        "/providers/Microsoft.Network/expressRouteCircuits/{circuitName}"
        "/providers/Microsoft.Insights/metrics",
        list_metrics,
        name="metrics.list",
    )
