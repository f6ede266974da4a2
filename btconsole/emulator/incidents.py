"""The estate's incidents: Service Health events, Resource Health, fired alerts, patch state.

Plain data kept in the :class:`~btconsole.emulator.estate.Estate` (and its file), like
the rest of the estate, and generated here *from* the estate so that it agrees with it:

- the ExpressRoute **service issue** is in the region of a circuit whose devices are down,
  started just before they went down, and reaches every subscription with a circuit in
  that region; those circuits are its impacted resources and their Resource Health is
  ``Degraded`` (one device down) or ``Unavailable`` (both), *platform initiated*;
- circuits down elsewhere are ``Degraded``/``Unavailable`` *customer initiated* (no event);
- **resolved** events (an ExpressRoute one among them), **planned maintenance** and a
  **health advisory** reach other subscriptions;
- Arc machines: ``Disconnected`` ones are ``Unavailable``, ``Error`` ones ``Degraded``,
  ``Expired`` ones ``Unknown``; **alerts** fire on them (heartbeat, CPU, disk) and some
  have resolved; **patch assessments** are mostly recent, some older than 7 days, some
  missing, and a few machines have critical updates pending for weeks; none is older
  than the 30 days Resource Graph keeps Update Manager results.

Only the exceptions are kept: a machine, cluster or circuit with no
:class:`ResourceHealth` entry is served as ``Available``.

Everything comes from ``random.Random(f"btconsole-incidents:{seed}")``, so the rest of
the estate (and every estate generated before this module existed) is unchanged.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # estate.py imports this module for its field types
    from btconsole.emulator.estate import Circuit, Estate, Machine, Peering

EVENT_TYPES = ("ServiceIssue", "PlannedMaintenance", "HealthAdvisory", "SecurityAdvisory")
EVENT_STATUSES = ("Active", "Resolved")
AVAILABILITY_STATES = ("Available", "Unavailable", "Degraded", "Unknown")
SEVERITIES = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")
MONITOR_CONDITIONS = ("Fired", "Resolved")
ALERT_STATES = ("New", "Acknowledged", "Closed")
PLATFORM = "Platform Initiated"
#: Update Manager's results stay in Resource Graph this long (learn.microsoft.com
#: azure/update-manager/query-logs: "available for 30 days")
RETENTION_DAYS = 30
CUSTOMER = "Customer Initiated"

#: Azure region names as Service Health writes them (``ImpactedRegion``).
REGION_NAMES = {
    "uksouth": "UK South",
    "ukwest": "UK West",
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "francecentral": "France Central",
    "germanywestcentral": "Germany West Central",
    "switzerlandnorth": "Switzerland North",
}


def region_name(region: str) -> str:
    """``uksouth`` -> ``UK South`` (unknown names are returned as they are)."""
    return REGION_NAMES.get(region.lower(), region)


# --------------------------------------------------------------------------- model


@dataclass
class EventUpdate:
    """One entry of an event's timeline (``Updates`` of an impacted region)."""

    time: str
    summary: str


@dataclass
class EventImpact:
    """An event's impact on one service in one region, and the subscriptions it reaches."""

    service: str
    region: str  # Azure region name, e.g. "uksouth"
    subscription_ids: list[str]
    status: str = "Active"
    updates: list[EventUpdate] = field(default_factory=list)


@dataclass
class ServiceEvent:
    """A Service Health event (``Microsoft.ResourceHealth/events``)."""

    tracking_id: str
    event_type: str
    status: str
    title: str
    summary: str
    impact_start: str
    last_update: str
    impact_mitigation: str = ""
    level: str = "Warning"
    priority: int = 10
    impacts: list[EventImpact] = field(default_factory=list)
    #: ARM IDs of the resources the event impacts (``events/impactedResources``)
    impacted_resources: list[str] = field(default_factory=list)

    def subscription_ids(self) -> list[str]:
        seen: list[str] = []
        for impact in self.impacts:
            for sid in impact.subscription_ids:
                if sid not in seen:
                    seen.append(sid)
        return seen


@dataclass(slots=True)
class ResourceHealth:
    """A resource's current Resource Health when it is not simply ``Available``."""

    resource_id: str
    availability_state: str
    occurred_time: str
    reason_type: str = "Unplanned"
    context: str = CUSTOMER
    category: str = "Unplanned"
    title: str = ""
    summary: str = ""


@dataclass(slots=True)
class FiredAlert:
    """An Azure Monitor alert (``Microsoft.AlertsManagement/alerts``)."""

    subscription_id: str
    alert_id: str  # a GUID
    rule: str
    severity: str
    monitor_condition: str
    alert_state: str
    target_resource: str
    start_time: str
    last_modified: str
    resolved_time: str = ""
    monitor_service: str = "Platform"
    signal_type: str = "Metric"
    description: str = ""


@dataclass(slots=True)
class SoftwarePatch:
    """A pending update found by an assessment (``patchAssessmentResults/softwarePatches``)."""

    name: str
    classification: str  # Critical, Security, UpdateRollup, Updates, Other, ...
    published: str
    kb_id: str = ""
    version: str = ""
    msrc_severity: str = ""


@dataclass
class PatchAssessment:
    """The latest Azure Update Manager assessment of an Arc machine."""

    machine_id: str
    last_modified: str
    status: str = "Succeeded"
    started_by: str = "Platform"
    reboot_pending: bool = False
    patches: list[SoftwarePatch] = field(default_factory=list)


# --------------------------------------------------------------------------- generate


def _time(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _tracking_id(rng: random.Random) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    left = "".join(rng.choice(alphabet) for _ in range(4))
    right = "".join(rng.choice(alphabet) for _ in range(3))
    return f"{left}-{right}"


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _bad(peering: Peering) -> bool:
    return peering.primary != "up" or peering.secondary != "up"


def _down(circuit: Circuit) -> tuple[int, int]:
    """(devices down or flapping, devices) over the circuit's peerings."""
    bad = total = 0
    for p in circuit.peerings:
        for state in (p.primary, p.secondary):
            total += 1
            bad += state != "up"
    return bad, total


def generate_incidents(estate: Estate, seed: int, healthy: bool = False) -> None:
    """Fill the estate's incident lists from its own resources (replacing them)."""
    _Incidents(estate, random.Random(f"btconsole-incidents:{seed}"), healthy).run()


class _Incidents:
    def __init__(self, estate: Estate, rng: random.Random, healthy: bool) -> None:
        self.estate = estate
        self.rng = rng
        self.healthy = healthy
        self.now = estate.now
        self.events: list[ServiceEvent] = []
        self.health: list[ResourceHealth] = []
        self.alerts: list[FiredAlert] = []
        self.patches: list[PatchAssessment] = []

    def ago(self, seconds: float) -> str:
        return _time(self.now - dt.timedelta(seconds=int(seconds)))

    def run(self) -> None:
        self.circuit_incident()
        self.other_events()
        self.machine_health()
        self.machine_alerts()
        self.patch_assessments()
        est = self.estate
        est.service_events = self.events
        est.resource_health = sorted(self.health, key=lambda h: h.resource_id.lower())
        est.alerts = self.alerts
        est.patch_assessments = self.patches

    def _subs_with_circuits_in(self, region: str) -> list[str]:
        return sorted({c.subscription_id for c in self.estate.circuits if c.location == region})

    # ------------------------------------------------------------- circuits

    def circuit_incident(self) -> None:
        rng, est = self.rng, self.estate
        down = [c for c in est.circuits if _down(c)[0] and not self.healthy]
        # The incident's region: that of a circuit with a device down (hard down first).
        hard = [c for c in down if any("down" in (p.primary, p.secondary) for p in c.peerings)]
        anchor = hard[0] if hard else (down[0] if down else None)
        region = anchor.location if anchor else ""
        in_region = [c for c in down if c.location == region]
        for c in est.circuits:
            bad, total = _down(c)
            if c.service_provider_provisioning_state != "Provisioned":
                self.health.append(
                    ResourceHealth(
                        resource_id=c.id,
                        availability_state="Unknown",
                        occurred_time=self.ago(rng.uniform(3600, 20 * 86400)),
                        reason_type="",
                        context="",
                        category="",
                        title="Unknown",
                        summary="We are currently unable to determine the health of this "
                        "ExpressRoute circuit.",
                    )
                )
                continue
            if not bad or self.healthy:
                continue
            changed = min(
                (p.last_change for p in c.peerings if p.last_change and _bad(p)), default=""
            )
            state = "Unavailable" if bad == total else "Degraded"
            platform = c in in_region
            self.health.append(
                ResourceHealth(
                    resource_id=c.id,
                    availability_state=state,
                    occurred_time=changed or self.ago(3600),
                    reason_type="Unplanned",
                    context=PLATFORM if platform else CUSTOMER,
                    category="Unplanned",
                    title="Degraded" if state == "Degraded" else "Unavailable",
                    summary=(
                        "An Azure issue is affecting connectivity of this ExpressRoute circuit "
                        f"at {c.peering_location}."
                        if platform
                        else "One or more BGP sessions of this ExpressRoute circuit are down. "
                        "Check the on-premises routers and the provider's network."
                    ),
                )
            )
        if anchor is None:
            return
        changes = [
            _parse(p.last_change)
            for c in in_region
            for p in c.peerings
            if p.last_change and _bad(p)
        ] or [self.now - dt.timedelta(hours=1)]
        start = min(changes) - dt.timedelta(minutes=rng.randint(3, 12))
        updates = [
            EventUpdate(
                _time(start + dt.timedelta(minutes=9)),
                f"Starting at {start:%H:%M} UTC on {start:%d %b %Y}, a subset of customers "
                f"using ExpressRoute in {region_name(region)} may experience loss of "
                "connectivity through some peering locations. Engineers are investigating.",
            ),
        ]
        step = start + dt.timedelta(minutes=40)
        if step < self.now:
            updates.append(
                EventUpdate(
                    _time(step),
                    "We have identified a hardware fault on an edge router at "
                    f"{anchor.peering_location} and are failing traffic over. Next update in "
                    "60 minutes.",
                )
            )
        last = updates[-1].time
        subs = self._subs_with_circuits_in(region)
        self.events.append(
            ServiceEvent(
                tracking_id=_tracking_id(rng),
                event_type="ServiceIssue",
                status="Active",
                title=f"ExpressRoute - Connectivity issues in {region_name(region)}",
                summary=updates[0].summary,
                impact_start=_time(start),
                last_update=last,
                level="Error",
                priority=1,
                impacts=[
                    EventImpact(
                        service="ExpressRoute",
                        region=region,
                        subscription_ids=subs,
                        updates=list(reversed(updates)),  # newest first, as the portal shows
                    )
                ],
                impacted_resources=[c.id for c in in_region],
            )
        )

    # ------------------------------------------------------------- other events

    def other_events(self) -> None:
        rng, est = self.rng, self.estate
        subs = [s.subscription_id for s in est.subscriptions]
        if not subs:
            return
        regions = sorted({c.location for c in est.circuits}) or ["uksouth"]
        # A resolved ExpressRoute issue (last week) and a resolved VM issue.
        for service, days in (("ExpressRoute", 6), ("Virtual Machines", 17)):
            region = rng.choice(regions)
            start = self.now - dt.timedelta(days=days, hours=rng.randint(0, 12))
            end = start + dt.timedelta(hours=rng.randint(1, 5), minutes=rng.randint(0, 59))
            reached = (
                self._subs_with_circuits_in(region)
                if service == "ExpressRoute"
                else sorted(rng.sample(subs, max(1, len(subs) // 3)))
            ) or sorted(rng.sample(subs, 1))
            self.events.append(
                ServiceEvent(
                    tracking_id=_tracking_id(rng),
                    event_type="ServiceIssue",
                    status="Resolved",
                    title=f"Mitigated - {service} in {region_name(region)}",
                    summary=f"Between {start:%H:%M} and {end:%H:%M} UTC on {start:%d %b %Y}, "
                    f"customers using {service} in {region_name(region)} may have "
                    "experienced intermittent failures. This issue is now mitigated.",
                    impact_start=_time(start),
                    impact_mitigation=_time(end),
                    last_update=_time(end + dt.timedelta(minutes=20)),
                    level="Warning",
                    priority=8,
                    impacts=[
                        EventImpact(
                            service=service,
                            region=region,
                            subscription_ids=reached,
                            status="Resolved",
                            updates=[
                                EventUpdate(
                                    _time(end + dt.timedelta(minutes=20)),
                                    "This issue is now mitigated. A preliminary post incident "
                                    "review will follow within 3 days.",
                                ),
                                EventUpdate(
                                    _time(start + dt.timedelta(minutes=15)),
                                    "Engineers are investigating an issue.",
                                ),
                            ],
                        )
                    ],
                )
            )
        # Planned maintenance of ExpressRoute next week, and an advisory.
        region = rng.choice(regions)
        start = self.now + dt.timedelta(days=rng.randint(3, 9), hours=rng.randint(0, 6))
        reached = self._subs_with_circuits_in(region) or sorted(rng.sample(subs, 1))
        announced = self.now - dt.timedelta(days=rng.randint(2, 10))
        self.events.append(
            ServiceEvent(
                tracking_id=_tracking_id(rng),
                event_type="PlannedMaintenance",
                status="Active",
                title=f"Planned maintenance: ExpressRoute in {region_name(region)}",
                summary=f"Maintenance on ExpressRoute edge routers in {region_name(region)} "
                f"starting {start:%d %b %Y %H:%M} UTC. Circuits stay up on their redundant "
                "device.",
                impact_start=_time(start),
                impact_mitigation=_time(start + dt.timedelta(hours=4)),
                last_update=_time(announced),
                level="Informational",
                priority=18,
                impacts=[
                    EventImpact(
                        service="ExpressRoute",
                        region=region,
                        subscription_ids=reached,
                        updates=[EventUpdate(_time(announced), "Maintenance scheduled.")],
                    )
                ],
            )
        )
        announced = self.now - dt.timedelta(days=rng.randint(10, 30))
        reached = sorted(rng.sample(subs, max(1, len(subs) // 2)))
        self.events.append(
            ServiceEvent(
                tracking_id=_tracking_id(rng),
                event_type="HealthAdvisory",
                status="Active",
                title="Azure Arc-enabled servers: update agents older than 1.40 by 31 March",
                summary="Connected Machine agents older than version 1.40 will stop receiving "
                "extension updates. Upgrade the agent on the affected machines.",
                impact_start=_time(announced),
                last_update=_time(announced),
                level="Warning",
                priority=20,
                impacts=[
                    EventImpact(
                        service="Azure Arc",
                        region="global",
                        subscription_ids=reached,
                        updates=[EventUpdate(_time(announced), "Advisory published.")],
                    )
                ],
            )
        )

    # ------------------------------------------------------------- Arc machines

    def machine_health(self) -> None:
        for m in self.estate.machines:
            if m.status == "Disconnected":
                state, summary = (
                    "Unavailable",
                    "The Connected Machine agent has not sent a heartbeat. The machine may be "
                    "off or unable to reach Azure.",
                )
            elif m.status == "Error":
                state, summary = ("Degraded", "The Connected Machine agent reports errors.")
            elif m.status in ("Expired", "AwaitingConnection"):
                state, summary = ("Unknown", "Resource Health has no recent signal.")
            else:
                continue
            self.health.append(
                ResourceHealth(
                    resource_id=m.id,
                    availability_state=state,
                    occurred_time=m.last_status_change,
                    reason_type="Unplanned" if state != "Unknown" else "",
                    context=CUSTOMER if state != "Unknown" else "",
                    category="Unplanned" if state != "Unknown" else "",
                    title=state,
                    summary=summary,
                )
            )

    def machine_alerts(self) -> None:
        if self.healthy:
            return
        rng, est = self.rng, self.estate
        for m in est.machines:
            if m.status == "Disconnected" and rng.random() < 0.8:
                self._alert(
                    m,
                    "Heartbeat missing",
                    "Sev1",
                    "Log Analytics",
                    "Log",
                    True,
                    m.last_status_change,
                )
            elif m.status == "Error" and rng.random() < 0.5:
                self._alert(
                    m,
                    "Connected Machine agent errors",
                    "Sev2",
                    "Log Analytics",
                    "Log",
                    True,
                    m.last_status_change,
                )
            elif m.status == "Connected":
                r = rng.random()
                if r < 0.03:
                    self._alert(
                        m,
                        "CPU above 90%",
                        "Sev3",
                        "Platform",
                        "Metric",
                        True,
                        self.ago(rng.uniform(300, 6 * 3600)),
                    )
                elif r < 0.05:
                    self._alert(
                        m,
                        "Free disk space below 10%",
                        "Sev2",
                        "Platform",
                        "Metric",
                        True,
                        self.ago(rng.uniform(3600, 4 * 86400)),
                    )
                elif r < 0.09:
                    self._alert(
                        m,
                        "CPU above 90%",
                        "Sev3",
                        "Platform",
                        "Metric",
                        False,
                        self.ago(rng.uniform(86400, 6 * 86400)),
                    )
        # the service issue's circuits: BGP availability alerts
        issue = next(
            (e for e in self.events if e.status == "Active" and e.event_type == "ServiceIssue"),
            None,
        )
        if issue is not None:
            for rid in issue.impacted_resources:
                sid = rid.split("/")[2]
                self.alerts.append(
                    FiredAlert(
                        subscription_id=sid,
                        alert_id=_guid(rng),
                        rule="ExpressRoute BGP availability below 100%",
                        severity="Sev0",
                        monitor_condition="Fired",
                        alert_state="New",
                        target_resource=rid,
                        start_time=issue.impact_start,
                        last_modified=issue.last_update,
                        monitor_service="Platform",
                        signal_type="Metric",
                        description="BgpAvailability dropped below 100% on a peering.",
                    )
                )

    def _alert(
        self,
        m: Machine,
        rule: str,
        severity: str,
        service: str,
        signal: str,
        fired: bool,
        start: str,
    ) -> None:
        rng = self.rng
        begun = _parse(start)
        resolved = "" if fired else _time(begun + dt.timedelta(minutes=rng.randint(5, 90)))
        self.alerts.append(
            FiredAlert(
                subscription_id=m.subscription_id,
                alert_id=_guid(rng),
                rule=rule,
                severity=severity,
                monitor_condition="Fired" if fired else "Resolved",
                alert_state=rng.choice(("New", "New", "Acknowledged")) if fired else "Closed",
                target_resource=m.id,
                start_time=start,
                last_modified=resolved or start,
                resolved_time=resolved,
                monitor_service=service,
                signal_type=signal,
                description=f"{rule} on {m.name}.",
            )
        )

    def patch_assessments(self) -> None:
        rng = self.rng
        for m in self.estate.machines:
            if m.status in ("AwaitingConnection",):
                continue
            r = rng.random()
            if not self.healthy and r < 0.04:
                continue  # never assessed
            if m.status == "Connected":
                stale = not self.healthy and r < 0.12
                age = rng.uniform(8 * 86400, 28 * 86400) if stale else rng.uniform(600, 86400)
            else:  # the last assessment is from before the machine stopped reporting
                seen = (self.now - _parse(m.last_status_change)).total_seconds()
                age = seen + rng.uniform(3600, 3 * 86400)
            if age > RETENTION_DAYS * 86400:
                continue  # Resource Graph keeps Update Manager results for 30 days
            when = self.now - dt.timedelta(seconds=int(age))
            patches: list[SoftwarePatch] = []
            if not self.healthy:
                roll = rng.random()
                critical = 0
                if roll < 0.06:  # critical updates pending for weeks
                    critical = rng.randint(1, 3)
                    oldest = rng.uniform(21 * 86400, 75 * 86400)
                elif roll < 0.18:
                    critical = rng.randint(1, 2)
                    oldest = rng.uniform(1 * 86400, 6 * 86400)
                security = rng.choice((0, 0, 0, 1, 2, 4))
                other = rng.choice((0, 0, 1, 2, 3, 5, 8))
                for i in range(critical):
                    published = when - dt.timedelta(seconds=oldest if i == 0 else oldest / 2)
                    patches.append(self._patch(m, "Critical", published, i))
                for i in range(security):
                    published = when - dt.timedelta(days=rng.randint(1, 30))
                    patches.append(self._patch(m, "Security", published, 10 + i))
                for i in range(other):
                    published = when - dt.timedelta(days=rng.randint(1, 60))
                    kind = "UpdateRollup" if m.os_type == "windows" else "Other"
                    patches.append(self._patch(m, kind, published, 20 + i))
            self.patches.append(
                PatchAssessment(
                    machine_id=m.id,
                    last_modified=_time(when),
                    status="Succeeded",
                    started_by=rng.choice(("Platform", "Platform", "Platform", "User")),
                    reboot_pending=bool(patches) and rng.random() < 0.2,
                    patches=patches,
                )
            )

    def _patch(self, m: Machine, kind: str, published: dt.datetime, i: int) -> SoftwarePatch:
        rng = self.rng
        if m.os_type == "windows":
            kb = str(rng.randint(5030000, 5049999))
            return SoftwarePatch(
                name=f"{published:%Y-%m} Cumulative Update for {m.os_sku} (KB{kb})",
                classification=kind,
                published=_time(published),
                kb_id=kb,
                msrc_severity="Critical" if kind == "Critical" else "Important",
            )
        package = ("openssl", "openssh-server", "linux-image", "glibc", "sudo", "curl")[i % 6]
        return SoftwarePatch(
            name=package,
            classification=kind,
            published=_time(published),
            version=f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
        )


# --------------------------------------------------------------------------- validation


def validate_incidents(estate: Estate) -> None:
    """Check the incident lists (called by :func:`btconsole.emulator.estate.validate`).

    Raises:
        EstateError: naming the path of the first problem found.
    """
    from btconsole.emulator.estate import _need as check
    from btconsole.emulator.estate import _time as stamp

    subs = {s.subscription_id for s in estate.subscriptions}
    seen: set[str] = set()
    for i, e in enumerate(estate.service_events):
        p = f"estate.service_events[{i}]"
        check(bool(e.tracking_id), f"{p}.tracking_id", "must not be empty")
        check(e.tracking_id not in seen, f"{p}.tracking_id", f"duplicate {e.tracking_id!r}")
        seen.add(e.tracking_id)
        check(bool(e.event_type.strip()), f"{p}.event_type", "must not be empty")
        check(bool(e.status.strip()), f"{p}.status", "must not be empty")
        stamp(e.impact_start, f"{p}.impact_start")
        stamp(e.last_update, f"{p}.last_update")
        if e.impact_mitigation:
            stamp(e.impact_mitigation, f"{p}.impact_mitigation")
        for j, impact in enumerate(e.impacts):
            for k, sid in enumerate(impact.subscription_ids):
                check(
                    sid in subs,
                    f"{p}.impacts[{j}].subscription_ids[{k}]",
                    f"unknown subscription {sid!r}",
                )
            for k, u in enumerate(impact.updates):
                stamp(u.time, f"{p}.impacts[{j}].updates[{k}].time")
    for i, h in enumerate(estate.resource_health):
        p = f"estate.resource_health[{i}]"
        check(
            _subscription_of(h.resource_id) in subs,
            f"{p}.resource_id",
            f"not a resource of a known subscription: {h.resource_id!r}",
        )
        check(bool(h.availability_state.strip()), f"{p}.availability_state", "must not be empty")
        stamp(h.occurred_time, f"{p}.occurred_time")
    for i, a in enumerate(estate.alerts):
        p = f"estate.alerts[{i}]"
        check(
            a.subscription_id in subs,
            f"{p}.subscription_id",
            f"unknown subscription {a.subscription_id!r}",
        )
        stamp(a.start_time, f"{p}.start_time")
        stamp(a.last_modified, f"{p}.last_modified")
    for i, pa in enumerate(estate.patch_assessments):
        p = f"estate.patch_assessments[{i}]"
        check(
            _subscription_of(pa.machine_id) in subs,
            f"{p}.machine_id",
            f"not a machine of a known subscription: {pa.machine_id!r}",
        )
        stamp(pa.last_modified, f"{p}.last_modified")
        for j, patch in enumerate(pa.patches):
            stamp(patch.published, f"{p}.patches[{j}].published")


def _subscription_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""
