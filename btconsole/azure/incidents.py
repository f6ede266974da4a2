"""Is it Azure or us? Service Health, Resource Health, fired alerts and Arc patch state.

One Resource Graph table each, queried through the SDK's Resource Graph client with
:func:`btconsole.azure.graph.query` (batched by subscriptions, paged by ``$skipToken``,
throttling and errors mapped like every other query):

========================  ===================================================  =========
function                  table and types                                      records
========================  ===================================================  =========
list_service_health       servicehealthresources: events, events/impacted...   ServiceHealthEvent
list_resource_health      healthresources: availabilitystatuses                ResourceHealthRecord
list_alerts               alertsmanagementresources: alerts                    AlertRecord
list_patch_assessments    patchassessmentresources: hybridcompute machines'    PatchAssessmentRecord
                          patchassessmentresults (+ critical softwarepatches)
========================  ===================================================  =========

Each takes the session and subscription IDs and returns ``{subscription: [records]}``
with every requested subscription present (an empty list: the query answered and the
table holds nothing for it). The row -> record functions accept REST JSON as well
(camelCase where Resource Graph writes PascalCase, ISO times where it writes epoch
seconds), tolerate absent optional fields (None, never a healthy default) and keep
enumeration values they do not know as Azure sent them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from btconsole.azure.common import get, integer, iso, resource_parts, text
from btconsole.azure.graph import query
from btconsole.azure.session import AzureSession
from btconsole.records import (
    AlertRecord,
    EventImpactRecord,
    EventUpdateRecord,
    PatchAssessmentRecord,
    PatchRecord,
    ResourceHealthRecord,
    ServiceHealthEvent,
)

EVENT_TYPE = "microsoft.resourcehealth/events"
IMPACTED_TYPE = "microsoft.resourcehealth/events/impactedresources"
STATUS_TYPE = "microsoft.resourcehealth/availabilitystatuses"
ALERT_TYPE = "microsoft.alertsmanagement/alerts"
ASSESSMENT_TYPE = "microsoft.hybridcompute/machines/patchassessmentresults"
PATCH_TYPE = "microsoft.hybridcompute/machines/patchassessmentresults/softwarepatches"

SERVICE_HEALTH_QUERY = f"""servicehealthresources
| where type in~ ('{EVENT_TYPE}', '{IMPACTED_TYPE}')
| project id, name, type, subscriptionId, properties
| order by id asc"""

# Only what is not Available: a resource absent from a successful answer is Available.
RESOURCE_HEALTH_QUERY = f"""healthresources
| where type =~ '{STATUS_TYPE}'
| where tostring(properties.availabilityState) != 'Available'
| project id, subscriptionId, location, properties
| order by id asc"""

RESOURCE_HEALTH_ALL_QUERY = f"""healthresources
| where type =~ '{STATUS_TYPE}'
| project id, subscriptionId, location, properties
| order by id asc"""

ALERTS_QUERY = f"""alertsmanagementresources
| where type =~ '{ALERT_TYPE}'
| project id, name, subscriptionId, properties
| order by id asc"""

# Assessments of Arc machines, and of their pending patches only the critical ones (how
# long they have waited); the per-class counts come with the assessment.
PATCH_QUERY = f"""patchassessmentresources
| where type =~ '{ASSESSMENT_TYPE}'
    or (type =~ '{PATCH_TYPE}' and tostring(properties.classifications) has 'Critical')
| project id, type, subscriptionId, properties
| order by id asc"""


# --------------------------------------------------------------------------- helpers


def when(value: Any) -> str | None:
    """A time as ISO 8601 UTC: from epoch seconds (Resource Graph's Service Health times,
    as a number or digits; milliseconds when too large for seconds), an ISO string or a
    datetime. None for absent, zero or negative values; text that is no time is kept."""
    if value is None or isinstance(value, bool):
        return None
    seconds: float | None = None
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        seconds = float(value.strip())
    if seconds is not None:
        if seconds <= 0:
            return None
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        try:
            moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
        return iso(moment)
    return iso(value) or None


def _subscription(row: Mapping[str, Any]) -> str:
    sub = text(get(row, "subscriptionId"))
    if sub:
        return sub.lower()
    return resource_parts(str(get(row, "id") or ""))[0]


def _kind(row: Mapping[str, Any]) -> str:
    return (text(get(row, "type")) or "").lower().lstrip("/")


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if v is not None)


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _grouped(records: Iterable[Any], subscriptions: Sequence[str]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {s.lower(): [] for s in subscriptions}
    for record in records:
        grouped.setdefault(record.subscription_id, []).append(record)
    return grouped


# --------------------------------------------------------------------------- Service Health


def _update(data: Any) -> EventUpdateRecord | None:
    if not isinstance(data, Mapping):
        return None
    return EventUpdateRecord(
        time=when(get(data, "UpdateDateTime")), summary=text(get(data, "Summary")) or ""
    )


def _impacts(raw: Any) -> tuple[EventImpactRecord, ...]:
    impacts: list[EventImpactRecord] = []
    for service in raw if isinstance(raw, list) else []:
        if not isinstance(service, Mapping):
            continue
        name = text(get(service, "ImpactedService")) or "?"
        regions = get(service, "ImpactedRegions")
        for region in regions if isinstance(regions, list) else []:
            if not isinstance(region, Mapping):
                continue
            raw_updates = get(region, "Updates")
            updates = [_update(u) for u in raw_updates] if isinstance(raw_updates, list) else []
            kept = sorted(
                (u for u in updates if u is not None), key=lambda u: u.time or "", reverse=True
            )
            impacts.append(
                EventImpactRecord(
                    service=name,
                    region=text(get(region, "ImpactedRegion")) or "?",
                    status=text(get(region, "Status")),
                    subscriptions=tuple(
                        s.lower() for s in _strings(get(region, "ImpactedSubscriptions"))
                    ),
                    last_update=when(get(region, "LastUpdateTime")),
                    updates=tuple(kept),
                )
            )
    return tuple(impacts)


def event_record(
    profile: str, row: Mapping[str, Any], impacted: Sequence[str] = ()
) -> ServiceHealthEvent:
    """A Service Health event from its Resource Graph row (or REST JSON)."""
    props = get(row, "properties") or {}
    name = text(get(row, "name")) or str(get(row, "id") or "").rsplit("/", 1)[-1]
    return ServiceHealthEvent(
        profile=profile,
        subscription_id=_subscription(row),
        tracking_id=text(get(props, "TrackingId")) or name,
        event_type=text(get(props, "EventType")),
        status=text(get(props, "Status")),
        title=text(get(props, "Title")) or name,
        summary=text(get(props, "Summary")),
        level=text(get(props, "Level")) or text(get(props, "EventLevel")),
        priority=integer(get(props, "Priority")),
        impact_start=when(get(props, "ImpactStartTime")),
        impact_mitigation=when(get(props, "ImpactMitigationTime")),
        last_update=when(get(props, "LastUpdateTime")),
        impacts=_impacts(get(props, "Impact")),
        impacted_resources=tuple(impacted),
    )


def _event_of_impacted(row: Mapping[str, Any]) -> str:
    """``.../events/{trackingId}/impactedResources/{name}`` -> (lower) ``{trackingId}``."""
    parts = str(get(row, "id") or "").split("/")
    lowered = [p.lower() for p in parts]
    if "events" in lowered:
        index = lowered.index("events")
        if index + 1 < len(parts):
            return parts[index + 1].lower()
    return ""


def events_from_rows(
    profile: str, rows: Iterable[Mapping[str, Any]], subscriptions: Sequence[str]
) -> dict[str, list[ServiceHealthEvent]]:
    """Events per subscription, each with its impacted resources in that subscription."""
    events: list[Mapping[str, Any]] = []
    impacted: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        kind = _kind(row)
        if kind == IMPACTED_TYPE:
            target = text(get(row, "properties", "targetResourceId"))
            if target:
                key = (_subscription(row), _event_of_impacted(row))
                impacted.setdefault(key, []).append(target)
        elif kind == EVENT_TYPE:
            events.append(row)
    records = []
    for row in events:
        props = get(row, "properties") or {}
        tracking = (text(get(props, "TrackingId")) or text(get(row, "name")) or "").lower()
        targets = sorted(impacted.get((_subscription(row), tracking), []), key=str.lower)
        records.append(event_record(profile, row, targets))
    grouped = _grouped(records, subscriptions)
    return {
        sub: sorted(items, key=lambda e: (e.impact_start or "", e.tracking_id), reverse=True)
        for sub, items in grouped.items()
    }


async def list_service_health(
    session: AzureSession, subscriptions: Sequence[str]
) -> dict[str, list[ServiceHealthEvent]]:
    """Service Health events (active and resolved) per subscription, newest first.

    Raises:
        AzureError: a page failed (ThrottledError when Resource Graph's quota is spent).
    """
    rows = await query(session, SERVICE_HEALTH_QUERY, subscriptions)
    return events_from_rows(session.profile.name, rows, subscriptions)


# --------------------------------------------------------------------------- Resource Health


def platform_initiated(context: str | None, reason_type: str | None) -> bool | None:
    """True for a platform (Azure) cause, False for a user or customer one, else None."""
    for value in (context, reason_type):
        low = (value or "").lower()
        if "platform" in low:
            return True
        if "user" in low or "customer" in low:
            return False
    return None


def health_record(profile: str, row: Mapping[str, Any]) -> ResourceHealthRecord:
    """A resource's availability status from its Resource Graph row (or REST JSON)."""
    props = get(row, "properties") or {}
    status_id = str(get(row, "id") or "")
    target = text(get(props, "targetResourceId"))
    if not target:
        low = status_id.lower()
        cut = low.find("/providers/microsoft.resourcehealth/")
        target = status_id[:cut] if cut > 0 else status_id
    context = text(get(props, "context"))
    reason = text(get(props, "reasonType"))
    return ResourceHealthRecord(
        profile=profile,
        subscription_id=_subscription(row) or resource_parts(target)[0],
        resource_id=target,
        availability_state=text(get(props, "availabilityState")) or "Unknown",
        resource_type=text(get(props, "targetResourceType")),
        reason_type=reason,
        context=context,
        category=text(get(props, "category")),
        title=text(get(props, "title")),
        summary=text(get(props, "summary")),
        # the REST API spells it "occuredTime"
        occurred_time=iso(get(props, "occurredTime") or get(props, "occuredTime")),
        platform_initiated=platform_initiated(context, reason),
    )


async def list_resource_health(
    session: AzureSession, subscriptions: Sequence[str], *, include_available: bool = False
) -> dict[str, list[ResourceHealthRecord]]:
    """Resource Health per subscription, by resource ID.

    Without ``include_available`` only resources that are not Available (Unavailable,
    Degraded, Unknown, anything newer or absent) come back: a resource missing from a
    successful answer is Available.

    Raises:
        AzureError: a page failed.
    """
    kql = RESOURCE_HEALTH_ALL_QUERY if include_available else RESOURCE_HEALTH_QUERY
    rows = await query(session, kql, subscriptions)
    records = [health_record(session.profile.name, row) for row in rows]
    grouped = _grouped(records, subscriptions)
    return {
        sub: sorted(items, key=lambda r: r.resource_id.lower()) for sub, items in grouped.items()
    }


# --------------------------------------------------------------------------- alerts


def alert_record(profile: str, row: Mapping[str, Any]) -> AlertRecord:
    """A fired (or resolved) Azure Monitor alert from its Resource Graph row or REST JSON."""
    essentials = get(row, "properties", "essentials") or {}
    alert_id = str(get(row, "id") or "")
    target = text(get(essentials, "targetResource"))
    if not target:  # older alerts name their targets in a list
        targets = _strings(get(essentials, "targetResourceIds"))
        target = targets[0] if targets else None
    return AlertRecord(
        profile=profile,
        subscription_id=_subscription(row),
        id=alert_id,
        name=text(get(row, "name")) or alert_id.rsplit("/", 1)[-1],
        severity=text(get(essentials, "severity")),
        monitor_condition=text(get(essentials, "monitorCondition")),
        alert_state=text(get(essentials, "alertState")),
        target_resource=target,
        target_resource_type=text(get(essentials, "targetResourceType")),
        monitor_service=text(get(essentials, "monitorService")),
        signal_type=text(get(essentials, "signalType")),
        start_time=iso(get(essentials, "startDateTime") or get(essentials, "firedDateTime")),
        last_modified=iso(get(essentials, "lastModifiedDateTime")),
        resolved_time=iso(get(essentials, "monitorConditionResolvedDateTime")),
        description=text(get(essentials, "description")),
    )


def severity_rank(severity: str | None) -> int | None:
    """0 for Sev0 (the worst) .. 4 for Sev4; None for an absent or unknown severity."""
    low = (severity or "").strip().lower()
    if low.startswith("sev") and low[3:].isdigit():
        return int(low[3:])
    return None


async def list_alerts(
    session: AzureSession, subscriptions: Sequence[str]
) -> dict[str, list[AlertRecord]]:
    """Azure Monitor alerts per subscription, worst severity first, then newest.

    Raises:
        AzureError: a page failed.
    """
    rows = await query(session, ALERTS_QUERY, subscriptions)
    records = [alert_record(session.profile.name, row) for row in rows]

    def order(a: AlertRecord) -> tuple[int, str, str]:
        rank = severity_rank(a.severity)
        newest = "".join(chr(0x10FFFF - ord(c)) for c in a.start_time or "")
        return (9 if rank is None else rank, newest, a.id.lower())

    grouped = _grouped(records, subscriptions)
    return {sub: sorted(items, key=order) for sub, items in grouped.items()}


# --------------------------------------------------------------------------- patches


def _machine_of(row: Mapping[str, Any]) -> str:
    rid = str(get(row, "id") or "")
    cut = rid.lower().find("/patchassessmentresults")
    return rid[:cut] if cut > 0 else rid


def patch_record(row: Mapping[str, Any]) -> PatchRecord:
    props = get(row, "properties") or {}
    return PatchRecord(
        name=text(get(props, "patchName")) or str(get(row, "name") or "?"),
        classifications=_strings(get(props, "classifications")),
        published=iso(get(props, "publishedDateTime")),
        kb_id=text(get(props, "kbId")),
        version=text(get(props, "version")),
        msrc_severity=text(get(props, "msrcSeverity")),
    )


def assessment_record(
    profile: str, row: Mapping[str, Any], critical: Sequence[PatchRecord] = ()
) -> PatchAssessmentRecord:
    """A machine's latest patch assessment from its Resource Graph row."""
    props = get(row, "properties") or {}
    counts = get(props, "availablePatchCountByClassification")
    counts = counts if isinstance(counts, Mapping) else None
    os_type = text(get(props, "osType"))
    security = integer(get(counts, "security")) if counts is not None else None
    other: int | None = None
    if counts is not None:
        # everything that is neither critical nor security ("other" on Linux)
        rest = [
            integer(v) for k, v in counts.items() if str(k).lower() not in ("critical", "security")
        ]
        known = [v for v in rest if v is not None]
        other = sum(known) if known else None
    published = [p.published for p in critical if p.published]
    return PatchAssessmentRecord(
        profile=profile,
        subscription_id=_subscription(row),
        machine_id=_machine_of(row),
        status=text(get(props, "status")),
        last_modified=iso(get(props, "lastModifiedDateTime")),
        os_type=os_type,
        started_by=text(get(props, "startedBy")),
        reboot_pending=_flag(get(props, "rebootPending")),
        critical=integer(get(counts, "critical")) if counts is not None else None,
        security=security,
        other=other,
        critical_patches=tuple(critical),
        oldest_critical_published=min(published) if published else None,
    )


def assessments_from_rows(
    profile: str, rows: Iterable[Mapping[str, Any]], subscriptions: Sequence[str]
) -> dict[str, list[PatchAssessmentRecord]]:
    assessments: list[Mapping[str, Any]] = []
    critical: dict[str, list[PatchRecord]] = {}
    for row in rows:
        kind = _kind(row)
        if kind == PATCH_TYPE:
            critical.setdefault(_machine_of(row).lower(), []).append(patch_record(row))
        elif kind == ASSESSMENT_TYPE:
            assessments.append(row)
    records = [
        assessment_record(
            profile,
            row,
            sorted(
                critical.get(_machine_of(row).lower(), []),
                key=lambda p: (p.published or "", p.name),
            ),
        )
        for row in assessments
    ]
    grouped = _grouped(records, subscriptions)
    return {
        sub: sorted(items, key=lambda r: r.machine_id.lower()) for sub, items in grouped.items()
    }


async def list_patch_assessments(
    session: AzureSession, subscriptions: Sequence[str]
) -> dict[str, list[PatchAssessmentRecord]]:
    """The latest patch assessment of each Arc machine, per subscription (a machine never
    assessed has none).

    Raises:
        AzureError: a page failed.
    """
    rows = await query(session, PATCH_QUERY, subscriptions)
    return assessments_from_rows(session.profile.name, rows, subscriptions)
