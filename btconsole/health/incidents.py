"""Is it Azure or us? Service Health, Resource Health, fired alerts and Arc patch state.

The rules of the ``health`` domain (``docs/health.md``, "Azure health"):

- an **active service issue** reaching the customer is a critical outage (one finding
  per event, whatever the number of its subscriptions); planned maintenance and
  advisories are shown in the Health pane, not as findings;
- a resource **Unavailable** is critical, **Degraded** a warning, **Unknown** (Azure
  cannot tell) ``info``: never healthy;
- a **fired alert** by its severity: Sev0 critical, Sev1 and Sev2 warnings, the rest
  ``info``; a closed or resolved alert is no finding;
- **Arc patch state** of a connected Arc server: no assessment within
  ``thresholds.patch_assessment_days`` (or none at all: Resource Graph keeps 30 days)
  and critical updates pending longer than ``thresholds.critical_patch_days``.

**Correlation** (:func:`azure_cause`): a circuit or Arc finding whose resource is
named by an active event, or whose region and service an active service issue
impacts, or whose Resource Health is Unavailable or Degraded for a platform-initiated
reason, carries that cause in :attr:`Finding.azure_cause` (``Azure: ExpressRoute
service issue in UK South since 09:12``); the resource's own Resource Health finding
is then folded into it rather than listed twice.

Pure functions: no I/O, no clock (``now`` is given), neither Textual nor the SDK.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from btconsole.health.base import Finding, Severity, _iso, _utc, parse_time
from btconsole.records import (
    AlertRecord,
    ArcRecord,
    CircuitRecord,
    PatchAssessmentRecord,
    ResourceHealthRecord,
    ServiceHealthEvent,
)

DOMAIN = "health"
#: records_by_domain key of the subscriptions whose health scope was read (strings):
#: without it an Arc machine with no assessment cannot be told from one not read.
HEALTH_SCOPES = "health-scopes"

SERVICE_ISSUE = "serviceissue"
_EVENT_LABELS = {
    "serviceissue": "service issue",
    "plannedmaintenance": "planned maintenance",
    "healthadvisory": "health advisory",
    "securityadvisory": "security advisory",
}


# --------------------------------------------------------------------------- helpers


def region_key(region: str | None) -> str:
    """``UK South`` and ``uksouth`` alike: lower case, no spaces, dashes or underscores."""
    return "".join(ch for ch in (region or "").lower() if ch.isalnum())


def event_label(event: ServiceHealthEvent) -> str:
    kind = (event.event_type or "").lower()
    return _EVENT_LABELS.get(kind, event.event_type or "event")


def is_active(event: ServiceHealthEvent, now: dt.datetime) -> bool:
    """Active: status Active, or no status and not mitigated yet (unknown is not over).

    Planned maintenance is active from its start; an event dated to begin later is
    upcoming, not active. Times compare by day (UTC), so a customer's findings hold
    for the day (:mod:`btconsole.digest` keeps them per day): an event with no status
    mitigated today is still counted active until tomorrow.
    """
    status = (event.status or "").strip().lower()
    if status == "resolved":
        return False
    if status and status != "active":
        return False
    today = _utc(now).date()
    mitigated = parse_time(event.impact_mitigation)
    if not status and mitigated is not None and mitigated.date() < today:
        return False
    start = parse_time(event.impact_start)
    return not (
        (event.event_type or "").lower() == "plannedmaintenance"
        and start is not None
        and start.date() > today
    )


def clock_text(moment: str | None, now: dt.datetime) -> str:
    """``09:12`` today, ``3 Dec 09:12`` on another day (UTC); ``?`` when unknown."""
    when = parse_time(moment)
    if when is None:
        return "?"
    if when.date() == _utc(now).date():
        return when.strftime("%H:%M")
    return f"{when.day} {when.strftime('%b %H:%M')}"


def _services(event: ServiceHealthEvent) -> list[str]:
    return sorted({i.service for i in event.impacts})


def _regions(event: ServiceHealthEvent) -> list[str]:
    return sorted({i.region for i in event.impacts})


def _service_matches(service: str, domain: str) -> bool:
    low = service.lower()
    if domain == "circuits":
        return "expressroute" in low
    if domain == "arc":
        return "arc" in low.split() or low.startswith("azure arc")
    return False


# --------------------------------------------------------------------------- merged events


@dataclass(frozen=True)
class CustomerEvent:
    """One Service Health event across the customer's subscriptions."""

    event: ServiceHealthEvent  # the copy with the latest update
    subscriptions: tuple[str, ...]
    impacted_resources: tuple[str, ...]

    @property
    def subscription_id(self) -> str:
        """The first subscription it reaches (a row's subscription, as a record's)."""
        return self.subscriptions[0] if self.subscriptions else self.event.subscription_id


def customer_events(events: Iterable[ServiceHealthEvent]) -> list[CustomerEvent]:
    """Events by tracking id (each subscription has its own copy), newest first."""
    by_id: dict[str, list[ServiceHealthEvent]] = {}
    for event in events:
        by_id.setdefault(event.tracking_id.lower(), []).append(event)
    merged: list[CustomerEvent] = []
    for copies in by_id.values():
        latest = max(copies, key=lambda e: (e.last_update or "", e.subscription_id))
        merged.append(
            CustomerEvent(
                event=latest,
                subscriptions=tuple(sorted({e.subscription_id for e in copies})),
                impacted_resources=tuple(
                    sorted({r for e in copies for r in e.impacted_resources}, key=str.lower)
                ),
            )
        )
    return sorted(
        merged,
        key=lambda m: (m.event.impact_start or "", m.event.tracking_id),
        reverse=True,
    )


# --------------------------------------------------------------------------- findings


def event_findings(
    profile: str, events: Iterable[ServiceHealthEvent], now: dt.datetime
) -> list[Finding]:
    """One critical outage finding per active service issue reaching the customer.

    Planned maintenance and advisories are no findings (the Health pane lists them):
    they need reading, not a response.
    """
    out: list[Finding] = []
    for merged in customer_events(events):
        event = merged.event
        if not is_active(event, now) or (event.event_type or "").lower() != SERVICE_ISSUE:
            continue
        services = ", ".join(_services(event)) or "?"
        regions = ", ".join(_regions(event)) or "?"
        subs = len(merged.subscriptions)
        title = f"Azure {event_label(event)}: {services} in {regions}"
        detail = f"{event.title} ({event.tracking_id}); {subs} subscription(s)"
        if merged.impacted_resources:
            detail += f", {len(merged.impacted_resources)} resource(s) impacted"
        updated = parse_time(event.last_update)
        if updated is not None:
            detail += f"; last update {clock_text(event.last_update, now)}"
        start = parse_time(event.impact_start)
        out.append(
            Finding(
                severity="critical",
                domain=DOMAIN,
                profile=profile,
                rule=f"event/{event.tracking_id}",
                title=title,
                # no subscription: the event is the customer's, and its key must not
                # change when it reaches one more subscription (check's diff)
                subscription_id=None,
                detail=detail,
                since=_iso(start) if start is not None else None,
                impact="outage",
            )
        )
    return out


def resource_health_finding(record: ResourceHealthRecord) -> Finding | None:
    """Unavailable: critical; Degraded: warning; Unknown (or newer values): info."""
    state = record.availability_state
    low = state.strip().lower()
    if low == "available":
        return None
    severity: Severity
    if low == "unavailable":
        severity, impact = "critical", "outage"
    elif low == "degraded":
        severity, impact = "warning", "degradation"
    else:
        severity, impact = "info", "hygiene"
    name = record.resource_id.rstrip("/").rsplit("/", 1)[-1] or record.resource_id
    cause = {True: "platform-initiated", False: "user-initiated"}.get(
        record.platform_initiated,  # type: ignore[arg-type]
        "cause not given",
    )
    detail = "; ".join(p for p in (record.title, record.summary, cause) if p)
    when = parse_time(record.occurred_time)
    return Finding(
        severity=severity,
        domain=DOMAIN,
        profile=record.profile,
        rule="resource-health",
        title=f"{name}: Resource Health {state}",
        subscription_id=record.subscription_id,
        resource_id=record.resource_id,
        detail=detail,
        since=_iso(when) if when is not None else None,
        impact=impact,
    )


def alert_severity(severity: str | None) -> Severity:
    low = (severity or "").strip().lower()
    if low == "sev0":
        return "critical"
    if low in ("sev1", "sev2"):
        return "warning"
    return "info"


def alert_fired(alert: AlertRecord) -> bool:
    """Fired and not closed (an alert without a condition counts: not known resolved)."""
    if (alert.monitor_condition or "").strip().lower() == "resolved":
        return False
    return (alert.alert_state or "").strip().lower() != "closed"


def alert_finding(alert: AlertRecord) -> Finding | None:
    if not alert_fired(alert):
        return None
    severity = alert_severity(alert.severity)
    target = alert.target_resource or ""
    target_name = target.rstrip("/").rsplit("/", 1)[-1] if target else "?"
    when = parse_time(alert.start_time)
    detail = "; ".join(
        p for p in (alert.description, alert.monitor_service, alert.alert_state) if p
    )
    return Finding(
        severity=severity,
        domain=DOMAIN,
        profile=alert.profile,
        rule="alert",
        title=f"{target_name}: alert {alert.name} ({alert.severity or 'severity ?'})",
        subscription_id=alert.subscription_id,
        resource_id=alert.id,
        detail=detail,
        since=_iso(when) if when is not None else None,
        impact={"critical": "outage", "warning": "degradation"}.get(severity, "hygiene"),
    )


def patch_findings(
    machines: Iterable[ArcRecord],
    assessments: Iterable[PatchAssessmentRecord],
    now: dt.datetime,
    *,
    known_subscriptions: Collection[str],
    assessment_days: int,
    critical_days: int,
) -> list[Finding]:
    """Arc servers' patch state (connected servers whose health scope was read)."""
    from btconsole.health.arc import arc_bucket

    latest = {a.machine_id.lower(): a for a in assessments}
    known = {s.lower() for s in known_subscriptions}
    today = _utc(now).date()
    out: list[Finding] = []
    for machine in machines:
        if machine.kind != "machine" or arc_bucket(machine.status) != "connected":
            continue
        if machine.subscription_id.lower() not in known:
            continue  # health not read: unknown, so no finding either way
        found = latest.get(machine.id.lower())
        when = parse_time(found.last_modified) if found is not None else None
        # ages in whole days (UTC dates): the finding holds for the day
        age = (today - when.date()).days if when is not None else None
        if age is None or age > assessment_days:
            last = f"last {age}d ago" if age is not None else "none in 30 days"
            out.append(
                Finding(
                    severity="warning",
                    domain="arc",
                    profile=machine.profile,
                    rule="patch-assessment",
                    title=f"{machine.name}: no patch assessment for {assessment_days}d+ ({last})",
                    subscription_id=machine.subscription_id,
                    resource_id=machine.id,
                    detail="pending updates unknown: Azure Update Manager has not assessed it",
                    since=_iso(when) if when is not None else None,
                    impact="exposure",
                )
            )
        if found is None or not found.critical:
            continue
        oldest = parse_time(found.oldest_critical_published)
        waited = (today - oldest.date()).days if oldest is not None else None
        if waited is not None and waited <= critical_days:
            continue
        text = f"for {waited}d" if waited is not None else "(age unknown)"
        out.append(
            Finding(
                severity="warning" if waited is not None else "info",
                domain="arc",
                profile=machine.profile,
                rule="critical-updates",
                title=f"{machine.name}: {found.critical} critical update(s) pending {text}",
                subscription_id=machine.subscription_id,
                resource_id=machine.id,
                detail=", ".join(p.name for p in found.critical_patches[:3]),
                since=_iso(oldest) if oldest is not None else None,
                impact="exposure",
            )
        )
    return out


# --------------------------------------------------------------------------- correlation


def azure_cause(
    domain: str,
    resource_id: str,
    subscription_id: str | None,
    location: str | None,
    active: Sequence[CustomerEvent],
    health: Mapping[str, ResourceHealthRecord],
    now: dt.datetime,
) -> str:
    """Why Azure may be the cause of a circuit's or Arc resource's finding, or ``""``."""
    rid = resource_id.lower()
    sub = (subscription_id or "").lower()
    region = region_key(location)
    for merged in active:
        event = merged.event
        if (event.event_type or "").lower() not in (SERVICE_ISSUE, "plannedmaintenance"):
            continue
        named = rid in {r.lower() for r in merged.impacted_resources}
        hits = [
            i
            for i in event.impacts
            if _service_matches(i.service, domain)
            and region_key(i.region) in (region, "global")
            and (not i.subscriptions or sub in i.subscriptions)
        ]
        if named or hits:
            impact = hits[0] if hits else None
            what = impact.service if impact is not None else ", ".join(_services(event))
            where = impact.region if impact is not None else ", ".join(_regions(event))
            return (
                f"Azure: {what} {event_label(event)} in {where} "
                f"since {clock_text(event.impact_start, now)}"
            )
    record = health.get(rid)
    if record is not None and record.platform_initiated:
        state = record.availability_state.strip().lower()
        if state in ("unavailable", "degraded"):
            return (
                f"Azure: Resource Health {record.availability_state} (platform) "
                f"since {clock_text(record.occurred_time, now)}"
            )
    return ""


#: the rules whose findings say a circuit or an Arc resource is down or failing
_CORRELATED = ("health", "status")


def correlate(
    findings: list[Finding],
    circuits: Iterable[CircuitRecord],
    arc: Iterable[ArcRecord],
    events: Iterable[ServiceHealthEvent],
    health: Iterable[ResourceHealthRecord],
    now: dt.datetime,
) -> list[Finding]:
    """``findings`` with :attr:`Finding.azure_cause` filled in for circuit and Arc
    findings Azure may explain; a Resource Health finding about a resource that has
    its own circuit or Arc finding is folded into that finding's cause (dropped)."""
    active = [m for m in customer_events(events) if is_active(m.event, now)]
    by_resource = {r.resource_id.lower(): r for r in health}
    where: dict[str, tuple[str, str]] = {}
    for c in circuits:
        where[c.id.lower()] = ("circuits", c.location)
    for a in arc:
        where[a.id.lower()] = ("arc", a.location)
    covered: set[str] = set()
    out: list[Finding] = []
    for f in findings:
        rid = (f.resource_id or "").lower()
        if f.domain in ("circuits", "arc") and f.rule in _CORRELATED and rid in where:
            covered.add(rid)
            domain, location = where[rid]
            cause = azure_cause(domain, rid, f.subscription_id, location, active, by_resource, now)
            if cause:
                f = dataclasses.replace(f, azure_cause=cause)
        out.append(f)
    return [
        f
        for f in out
        if not (
            f.domain == DOMAIN
            and f.rule == "resource-health"
            and (f.resource_id or "").lower() in covered
        )
    ]


def health_findings(
    profile: str,
    events: Iterable[ServiceHealthEvent],
    health: Iterable[ResourceHealthRecord],
    alerts: Iterable[AlertRecord],
    now: dt.datetime,
) -> list[Finding]:
    """The health domain's own findings (events, Resource Health, fired alerts)."""
    found = event_findings(profile, events, now)
    for record in health:
        finding = resource_health_finding(record)
        if finding is not None:
            found.append(finding)
    for alert in alerts:
        finding = alert_finding(alert)
        if finding is not None:
            found.append(finding)
    return found
