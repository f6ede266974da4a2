"""Records: what the Azure wrappers return and the cache keeps.

Frozen dataclasses of plain types (str, int, float, bool, None, tuples of those and of
other records). No SDK object ever crosses this line. Every record type is registered
by name so the cache can store records as JSON and give back the same objects.

This module imports neither Textual nor any Azure SDK.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

Tags = tuple[tuple[str, str], ...]

T = TypeVar("T")

RECORD_TYPES: dict[str, type[Any]] = {}


def record(cls: type[T]) -> type[T]:
    """Register a record class (already a frozen dataclass) under its name."""
    RECORD_TYPES[cls.__name__] = cls
    return cls


def tags_of(raw: Mapping[str, Any] | None) -> Tags:
    """Tags as a sorted tuple of (name, value) pairs; values as strings."""
    if not raw:
        return ()
    return tuple(sorted((str(k), "" if v is None else str(v)) for k, v in raw.items()))


@record
@dataclass(frozen=True)
class SubscriptionRecord:
    profile: str
    subscription_id: str
    display_name: str
    state: str
    tenant_id: str | None = None


@record
@dataclass(frozen=True)
class ArcRecord:
    """An Arc-enabled server (kind "machine") or Kubernetes cluster (kind "cluster")."""

    profile: str
    id: str
    name: str
    kind: str
    subscription_id: str
    resource_group: str
    location: str
    status: str
    last_status_change: str | None = None
    agent_version: str | None = None
    os_name: str | None = None
    os_type: str | None = None
    os_version: str | None = None
    fqdn: str | None = None
    kubernetes_version: str | None = None
    distribution: str | None = None
    error_codes: tuple[str, ...] = ()
    error_messages: tuple[str, ...] = ()
    tags: Tags = ()
    # (name, message) of each extension whose instance view reports level Error
    failed_extensions: tuple[tuple[str, str], ...] = ()


@record
@dataclass(frozen=True)
class PeeringRecord:
    name: str
    peering_type: str
    state: str
    azure_asn: int | None = None
    peer_asn: int | None = None
    vlan_id: int | None = None
    primary_prefix: str | None = None
    secondary_prefix: str | None = None
    provisioning_state: str | None = None


@record
@dataclass(frozen=True)
class DeviceAvailability:
    """Latest BGP/ARP availability (percent) of one peering on one device."""

    peering_type: str
    device: str
    bgp: float | None
    arp: float | None


@record
@dataclass(frozen=True)
class CircuitRecord:
    profile: str
    id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str
    provider: str | None
    peering_location: str | None
    bandwidth_mbps: int | None
    sku_tier: str | None
    sku_family: str | None
    circuit_state: str | None
    provider_state: str | None
    service_key: str | None = None
    peerings: tuple[PeeringRecord, ...] = ()
    availability: tuple[DeviceAvailability, ...] = ()
    tags: Tags = ()


@record
@dataclass(frozen=True)
class PolicyAssignmentRecord:
    """Compliance of one policy assignment in one subscription."""

    profile: str
    subscription_id: str
    assignment_id: str
    assignment_name: str
    non_compliant_resources: int
    non_compliant_policies: int
    definition_ids: tuple[str, ...] = ()


@record
@dataclass(frozen=True)
class ComplianceRecord:
    """Compliance summary of one subscription."""

    profile: str
    subscription_id: str
    compliant_resources: int
    non_compliant_resources: int
    total_resources: int
    non_compliant_policies: int


@record
@dataclass(frozen=True)
class PolicyStateRecord:
    """One non-compliant resource under one assignment (the drill-down)."""

    profile: str
    subscription_id: str
    resource_id: str
    assignment_id: str
    definition_id: str
    compliance_state: str
    timestamp: str | None = None
    resource_type: str | None = None
    resource_location: str | None = None


@record
@dataclass(frozen=True)
class CostRecord:
    """Cost of one day (or a period), one subscription, service and resource group."""

    profile: str
    subscription_id: str
    date: str  # YYYY-MM-DD
    service: str
    resource_group: str
    amount: float
    currency: str


@record
@dataclass(frozen=True)
class BudgetRecord:
    profile: str
    subscription_id: str
    name: str
    amount: float
    current_spend: float | None
    forecast_spend: float | None
    currency: str
    time_grain: str = "Monthly"


@record
@dataclass(frozen=True)
class ForecastRecord:
    """Forecast cost to the end of the month for one subscription."""

    profile: str
    subscription_id: str
    month: str  # YYYY-MM
    actual: float
    forecast: float
    currency: str


@record
@dataclass(frozen=True)
class RejectedAmountRecord:
    """An amount Azure sent that btconsole would not use (not finite, or absurd).

    Kept with the spend records so the spend rules can say which row was dropped and
    why. ``kind`` is ``cost``, ``forecast`` or ``budget``; ``value`` is the amount as
    Azure sent it, as text (a float such as ``inf`` does not survive JSON).
    """

    profile: str
    subscription_id: str
    kind: str
    value: str
    reason: str
    date: str = ""  # YYYY-MM-DD, or YYYY-MM for a forecast, when the row had one
    service: str = ""  # the service of a cost row, the name of a budget
    currency: str = ""


# --------------------------------------------------------------------------- JSON

_TYPE_KEY = "__record__"


def to_plain(value: Any) -> Any:
    """A record (or tuple of records) as JSON-able data, tagged with its type name."""
    if is_dataclass(value) and not isinstance(value, type):
        data: dict[str, Any] = {_TYPE_KEY: type(value).__name__}
        for item in fields(value):
            data[item.name] = to_plain(getattr(value, item.name))
        return data
    if isinstance(value, tuple):
        return [to_plain(item) for item in value]
    return value


def from_plain(data: Any, extra: Mapping[str, type[Any]] | None = None) -> Any:
    """Rebuild a record from :func:`to_plain` output.

    ``extra`` names dataclasses that are not records (not kept in the cache on their
    own) but may be rebuilt here, e.g. the health summaries a digest keeps as JSON.

    Raises:
        ValueError: unknown record type or fields that do not fit it.
    """
    if not isinstance(data, dict) or _TYPE_KEY not in data:
        raise ValueError("not a record")
    name = data[_TYPE_KEY]
    cls = RECORD_TYPES.get(name) or (extra or {}).get(name)
    if cls is None:
        raise ValueError(f"unknown record type {name!r}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for item in fields(cls):
        if item.name in data:
            kwargs[item.name] = _rebuild(data[item.name], hints[item.name], extra)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad {cls.__name__}: {exc}") from None


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _rebuild(value: Any, hint: Any, extra: Mapping[str, type[Any]] | None = None) -> Any:
    if isinstance(value, dict) and _TYPE_KEY in value:
        return from_plain(value, extra)
    if isinstance(value, list):
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is tuple and args:
            inner = args[0]
            return tuple(_rebuild(item, inner, extra) for item in value)
        if origin in (typing.Union, types.UnionType):
            for arg in args:
                if typing.get_origin(arg) is tuple:
                    return _rebuild(value, arg, extra)
        return tuple(_rebuild(item, Any, extra) for item in value)
    return value


def replace(obj: T, **changes: Any) -> T:
    """``dataclasses.replace`` with the record's type kept for the checker."""
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]


def records_to_plain(records: Iterable[Any]) -> list[Any]:
    """Many records as JSON-able data."""
    return [to_plain(item) for item in records]


def records_from_plain(data: Iterable[Any]) -> list[Any]:
    """Many records back from JSON-able data.

    Raises:
        ValueError: any item is not a known record.
    """
    return [from_plain(item) for item in data]


# --------------------------------------------------------------------------- details
# Fetched on demand for one selected resource; cached like the rest.


@record
@dataclass(frozen=True)
class ExtensionRecord:
    """An extension installed on an Arc machine."""

    machine_id: str
    name: str
    publisher: str | None
    extension_type: str | None
    version: str | None
    provisioning_state: str | None
    status: str | None = None


@record
@dataclass(frozen=True)
class ArpEntryRecord:
    peering: str
    device: str
    ip_address: str
    mac_address: str
    interface: str | None = None
    age: int | None = None


@record
@dataclass(frozen=True)
class RouteRecord:
    peering: str
    device: str
    network: str
    next_hop: str | None
    path: str | None
    loc_prf: str | None = None
    weight: int | None = None


@record
@dataclass(frozen=True)
class RouteSummaryRecord:
    peering: str
    device: str
    neighbor: str
    asn: int | None
    up_down: str | None
    state_or_prefixes: str | None
    version: int | None = None


@record
@dataclass(frozen=True)
class CircuitStatsRecord:
    circuit_id: str
    peering: str | None  # None: the whole circuit
    primary_bytes_in: int | None
    primary_bytes_out: int | None
    secondary_bytes_in: int | None
    secondary_bytes_out: int | None


@record
@dataclass(frozen=True)
class MetricPointRecord:
    circuit_id: str
    metric: str
    peering_type: str | None
    device: str | None
    timestamp: str
    value: float | None


# --------------------------------------------------------------------------- incidents
# Service Health, Resource Health, fired alerts and Arc patch state (Resource Graph's
# servicehealthresources, healthresources, alertsmanagementresources and
# patchassessmentresources). Values Azure did not send stay None: unknown, never healthy.


@record
@dataclass(frozen=True)
class EventUpdateRecord:
    """One entry of a Service Health event's timeline."""

    time: str | None
    summary: str


@record
@dataclass(frozen=True)
class EventImpactRecord:
    """A Service Health event's impact on one service in one region."""

    service: str
    region: str  # as Service Health writes it: "UK South", or "Global"
    status: str | None = None
    subscriptions: tuple[str, ...] = ()  # lower-case IDs
    last_update: str | None = None
    updates: tuple[EventUpdateRecord, ...] = ()  # newest first


@record
@dataclass(frozen=True)
class ServiceHealthEvent:
    """A Service Health event as one subscription sees it (``microsoft.resourcehealth/events``).

    ``event_type`` is ServiceIssue, PlannedMaintenance, HealthAdvisory, SecurityAdvisory or
    a value Azure added later; ``status`` Active or Resolved (None when absent).
    """

    profile: str
    subscription_id: str
    tracking_id: str
    event_type: str | None
    status: str | None
    title: str
    summary: str | None = None
    level: str | None = None
    priority: int | None = None
    impact_start: str | None = None
    impact_mitigation: str | None = None
    last_update: str | None = None
    impacts: tuple[EventImpactRecord, ...] = ()
    #: ARM IDs of this subscription's resources the event impacts (impactedresources)
    impacted_resources: tuple[str, ...] = ()


@record
@dataclass(frozen=True)
class ResourceHealthRecord:
    """The current Resource Health of one resource (``availabilitystatuses``).

    ``availability_state`` is Available, Unavailable, Degraded, Unknown or a newer value;
    "Unknown" when Azure sent none. ``platform_initiated`` is True for a platform
    (Azure) cause, False for a user or customer one, None when Azure did not say.
    """

    profile: str
    subscription_id: str
    resource_id: str
    availability_state: str
    resource_type: str | None = None
    reason_type: str | None = None
    context: str | None = None
    category: str | None = None
    title: str | None = None
    summary: str | None = None
    occurred_time: str | None = None
    platform_initiated: bool | None = None


@record
@dataclass(frozen=True)
class AlertRecord:
    """An Azure Monitor alert (``microsoft.alertsmanagement/alerts``).

    ``severity`` is Sev0 (worst) .. Sev4 or a newer value; ``monitor_condition`` Fired or
    Resolved; ``alert_state`` New, Acknowledged or Closed. None when absent.
    """

    profile: str
    subscription_id: str
    id: str
    name: str
    severity: str | None = None
    monitor_condition: str | None = None
    alert_state: str | None = None
    target_resource: str | None = None
    target_resource_type: str | None = None
    monitor_service: str | None = None
    signal_type: str | None = None
    start_time: str | None = None
    last_modified: str | None = None
    resolved_time: str | None = None
    description: str | None = None


@record
@dataclass(frozen=True)
class PatchRecord:
    """A pending update found by an assessment (``patchassessmentresults/softwarepatches``)."""

    name: str
    classifications: tuple[str, ...] = ()
    published: str | None = None
    kb_id: str | None = None
    version: str | None = None
    msrc_severity: str | None = None


@record
@dataclass(frozen=True)
class PatchAssessmentRecord:
    """The latest Azure Update Manager assessment of an Arc machine.

    Counts are None when the assessment did not give them (unknown, not zero).
    ``critical_patches`` are the pending patches classified Critical (Windows) and
    ``oldest_critical_published`` the publication time of the oldest of them: how long
    critical updates have been waiting.
    """

    profile: str
    subscription_id: str
    machine_id: str
    status: str | None = None
    last_modified: str | None = None
    os_type: str | None = None
    started_by: str | None = None
    reboot_pending: bool | None = None
    critical: int | None = None
    security: int | None = None
    other: int | None = None
    critical_patches: tuple[PatchRecord, ...] = ()
    oldest_critical_published: str | None = None
