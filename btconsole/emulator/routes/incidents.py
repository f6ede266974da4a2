"""Service Health, Resource Health, fired alerts and Arc patch assessments.

Two faces of the estate's incidents (``btconsole/emulator/incidents.py``):

- Resource Graph rows for ``servicehealthresources``, ``healthresources``,
  ``alertsmanagementresources`` and ``patchassessmentresources`` (:func:`graph_tables`,
  used by ``routes/graph.py``), one row per subscription that may see it;
- the REST listings by subscription: ``Microsoft.ResourceHealth/events`` and
  ``availabilityStatuses`` and ``Microsoft.AlertsManagement/alerts``.

Shapes: ResourceHealth 2024-02-01 (``Events_ListBySubscriptionId``,
``ImpactedResources_ListBySubscriptionId_ListByEventId`` of 2022-10-01) and 2025-04-01
(``AvailabilityStatus_GetByResource``), AlertsManagement 2019-03-01 (``Alerts_List``),
HybridCompute 2024-07-10 (``Machine_AssessPatches``); the Resource Graph forms follow the
table docs' samples (PascalCase event properties, epoch-second event times) —
docs/dev/emulator-contract.md names each.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from btconsole.emulator.estate import Estate, parse_resource_id, parse_time
from btconsole.emulator.http import Ctx, Router, page
from btconsole.emulator.incidents import (
    FiredAlert,
    PatchAssessment,
    ResourceHealth,
    ServiceEvent,
    SoftwarePatch,
    region_name,
)
from btconsole.emulator.routes.common import estate, stable_guid, subscription_or_error

EVENTS = "Microsoft.ResourceHealth/events"
STATUSES = "Microsoft.ResourceHealth/availabilityStatuses"
ALERTS = "Microsoft.AlertsManagement/alerts"
ASSESSMENT = "patchAssessmentResults/latest"


def _epoch(text: str) -> int | None:
    return calendar.timegm(parse_time(text).utctimetuple()) if text else None


# --------------------------------------------------------------------------- bodies


def event_body(event: ServiceEvent, subscription_id: str, *, graph: bool) -> dict[str, Any]:
    """An event as one subscription sees it: only its impacts that reach it, listing only it.

    ``graph``: the Resource Graph form (PascalCase properties, epoch-second times) instead
    of the REST form (camelCase, ISO 8601).
    """
    sid = subscription_id.lower()

    def when(text: str) -> Any:
        return _epoch(text) if graph else (text or None)

    impacts = []
    for impact in event.impacts:
        if sid not in (s.lower() for s in impact.subscription_ids):
            continue
        updates = [
            {"Summary": u.summary, "UpdateDateTime": when(u.time)}
            if graph
            else {"summary": u.summary, "updateDateTime": u.time}
            for u in impact.updates
        ]
        last = impact.updates[0].time if impact.updates else event.last_update
        region = {
            "ImpactedRegion": region_name(impact.region),
            "Status": impact.status,
            "ImpactedSubscriptions": [subscription_id],
            "ImpactedTenants": [],
            "LastUpdateTime": when(last),
            "Updates": updates,
        }
        if not graph:
            region = {k[0].lower() + k[1:]: v for k, v in region.items()}
        impacts.append(
            {"ImpactedService": impact.service, "ImpactedRegions": [region]}
            if graph
            else {"impactedService": impact.service, "impactedRegions": [region]}
        )
    props: dict[str, Any] = {
        "EventType": event.event_type,
        "EventSource": "ResourceHealth",
        "Status": event.status,
        "Title": event.title,
        "Summary": event.summary,
        "Header": "Your service might have been impacted by an Azure service issue",
        "Level": event.level,
        "EventLevel": "Informational" if event.level == "Informational" else event.level,
        "TrackingId": event.tracking_id,
        "ImpactStartTime": when(event.impact_start),
        "ImpactMitigationTime": when(event.impact_mitigation),
        "LastUpdateTime": when(event.last_update),
        "Priority": event.priority,
        "IsHIR": False,
        "Impact": impacts,
    }
    if not graph:
        props = {k[0].lower() + k[1:]: v for k, v in props.items()}
    return {
        "id": f"/subscriptions/{subscription_id}/providers/{EVENTS}/{event.tracking_id}",
        "name": event.tracking_id,
        "type": EVENTS,
        "properties": props,
    }


def impacted_body(event: ServiceEvent, resource_id: str) -> dict[str, Any]:
    sid, rg, rtype = parse_resource_id(resource_id)
    name = stable_guid("impacted", event.tracking_id, resource_id.lower())
    region = next((i.region for i in event.impacts), "")
    return {
        "id": f"/subscriptions/{sid}/providers/{EVENTS}/{event.tracking_id}/impactedResources/"
        f"{name}",
        "name": name,
        "type": f"{EVENTS}/impactedResources",
        "properties": {
            "targetResourceType": rtype,
            "targetResourceId": resource_id,
            "targetRegion": region,
            "resourceName": resource_id.rsplit("/", 1)[-1],
            "resourceGroup": rg,
            "status": "Active" if event.status == "Active" else "Resolved",
        },
    }


def status_body(
    resource_id: str, location: str, health: ResourceHealth | None, *, graph: bool
) -> dict[str, Any]:
    """The current availability status of a resource (``Available`` when it has no entry)."""
    _, _, rtype = parse_resource_id(resource_id)
    if health is None:
        props: dict[str, Any] = {
            "availabilityState": "Available",
            "title": "Available",
            "summary": "There aren't any known Azure platform problems affecting this resource.",
            "reasonChronicity": "Persistent",
            "occurredTime": None,
        }
    else:
        props = {
            "availabilityState": health.availability_state,
            "title": health.title or health.availability_state,
            "summary": health.summary,
            "reasonType": health.reason_type or None,
            "context": health.context or None,
            "category": health.category or None,
            "reasonChronicity": "Persistent",
            "occurredTime": health.occurred_time,
        }
    if not graph:  # the REST API spells it "occuredTime"
        props["occuredTime"] = props.pop("occurredTime")
    props["reportedTime"] = props.get("occurredTime") or props.get("occuredTime")
    props["targetResourceId"] = resource_id
    props["targetResourceType"] = rtype
    props = {k: v for k, v in props.items() if v is not None}
    return {
        "id": f"{resource_id}/providers/{STATUSES}/current",
        "name": "current",
        "type": STATUSES,
        "location": location,
        "properties": props,
    }


def alert_body(alert: FiredAlert) -> dict[str, Any]:
    sid, rg, rtype = parse_resource_id(alert.target_resource)
    essentials: dict[str, Any] = {
        "severity": alert.severity,
        "signalType": alert.signal_type,
        "alertState": alert.alert_state,
        "monitorCondition": alert.monitor_condition,
        "monitorService": alert.monitor_service,
        "targetResource": alert.target_resource,
        "targetResourceName": alert.target_resource.rsplit("/", 1)[-1],
        "targetResourceGroup": rg,
        "targetResourceType": rtype,
        "alertRule": f"/subscriptions/{sid}/resourceGroups/{rg}/providers/"
        f"microsoft.insights/metricalerts/{alert.rule}",
        "startDateTime": alert.start_time,
        "lastModifiedDateTime": alert.last_modified,
        "lastModifiedUserName": "System",
        "actionStatus": {"isSuppressed": False},
        "description": alert.description,
    }
    if alert.resolved_time:
        essentials["monitorConditionResolvedDateTime"] = alert.resolved_time
    return {
        "id": f"/subscriptions/{alert.subscription_id}/providers/{ALERTS}/{alert.alert_id}",
        "name": alert.rule,
        "type": ALERTS,
        "properties": {"essentials": essentials, "egressConfig": {}, "context": {}},
    }


_WINDOWS_CLASSES = (
    "critical",
    "security",
    "updateRollup",
    "featurePack",
    "servicePack",
    "definition",
    "tools",
    "updates",
)


def assessment_body(est: Estate, a: PatchAssessment) -> dict[str, Any]:
    """The ``patchassessmentresults`` row of a machine (``Machine_AssessPatches`` fields)."""
    machine = _machine(est, a.machine_id)
    windows = machine is None or machine.os_type == "windows"
    counts: dict[str, int] = (
        dict.fromkeys(_WINDOWS_CLASSES, 0) if windows else {"security": 0, "other": 0}
    )
    for p in a.patches:
        key = p.classification[0].lower() + p.classification[1:]
        if not windows and key == "critical":
            key = "security"  # Linux classifies as Security or Other only
        counts[key if key in counts else ("updates" if windows else "other")] += 1
    return {
        "id": f"{a.machine_id}/{ASSESSMENT}",
        "name": "latest",
        "type": "microsoft.hybridcompute/machines/patchassessmentresults",
        "properties": {
            "status": a.status,
            "assessmentActivityId": stable_guid("assessment", a.machine_id.lower()),
            "rebootPending": a.reboot_pending,
            "startDateTime": a.last_modified,
            "lastModifiedDateTime": a.last_modified,
            "availablePatchCountByClassification": counts,
            "startedBy": a.started_by,
            "patchServiceUsed": "WU" if windows else "APT",
            "osType": "Windows" if windows else "Linux",
            "errorDetails": None,
        },
    }


def patch_body(a: PatchAssessment, p: SoftwarePatch) -> dict[str, Any]:
    patch_id = stable_guid("patch", a.machine_id.lower(), p.name, p.kb_id, p.version)
    props: dict[str, Any] = {
        "patchName": p.name,
        "classifications": [p.classification],
        "publishedDateTime": p.published,
        "lastModifiedDateTime": a.last_modified,
        "rebootBehavior": "CanRequestReboot",
        "patchId": patch_id,
    }
    if p.kb_id:
        props["kbId"] = p.kb_id
        props["msrcSeverity"] = p.msrc_severity or None
    if p.version:
        props["version"] = p.version
    return {
        "id": f"{a.machine_id}/{ASSESSMENT}/softwarePatches/{patch_id}",
        "name": patch_id,
        "type": "microsoft.hybridcompute/machines/patchassessmentresults/softwarepatches",
        "properties": {k: v for k, v in props.items() if v is not None},
    }


def _machine(est: Estate, machine_id: str) -> Any:
    sid, rg, _ = parse_resource_id(machine_id)
    return est.find("machines", sid, rg, machine_id.rsplit("/", 1)[-1])


# --------------------------------------------------------------------------- indexes


def _index(est: Estate) -> dict[str, Any]:
    """Incidents per subscription (built once per estate)."""
    index: dict[str, Any] | None = est.memo.get("incidents:index")
    if index is not None:
        return index
    events: dict[str, list[ServiceEvent]] = {}
    for e in est.service_events:
        for sid in e.subscription_ids():
            events.setdefault(sid.lower(), []).append(e)
    health = {h.resource_id.lower(): h for h in est.resource_health}
    alerts: dict[str, list[FiredAlert]] = {}
    for a in est.alerts:
        alerts.setdefault(a.subscription_id.lower(), []).append(a)
    patches: dict[str, list[PatchAssessment]] = {}
    for pa in est.patch_assessments:
        patches.setdefault(pa.machine_id.split("/")[2].lower(), []).append(pa)
    index = {"events": events, "health": health, "alerts": alerts, "patches": patches}
    est.memo["incidents:index"] = index
    return index


def events_in(est: Estate, subscription_id: str) -> list[ServiceEvent]:
    result: list[ServiceEvent] = _index(est)["events"].get(subscription_id.lower(), [])
    return result


def statuses_in(est: Estate, subscription_id: str, *, graph: bool) -> list[dict[str, Any]]:
    """Availability statuses of the subscription's machines, clusters and circuits."""
    health = _index(est)["health"]
    items: list[Any] = [
        *est.machines_in(subscription_id),
        *est.clusters_in(subscription_id),
        *est.circuits_in(subscription_id),
    ]
    return [status_body(i.id, i.location, health.get(i.id.lower()), graph=graph) for i in items]


# --------------------------------------------------------------------------- Resource Graph


def _row(est: Estate, body: dict[str, Any], subscription_id: str) -> dict[str, Any]:
    sub = est.subscription(subscription_id)
    parts = body["id"].split("/")
    rg = parts[4].lower() if len(parts) > 4 and parts[3].lower() == "resourcegroups" else ""
    return {
        "id": body["id"],
        "name": body["name"],
        "type": body["type"].lower(),
        "tenantId": sub.tenant_id if sub else "",
        "kind": "",
        "location": body.get("location", ""),
        "resourceGroup": rg,
        "subscriptionId": subscription_id,
        "managedBy": "",
        "sku": None,
        "plan": None,
        "properties": body["properties"],
        "tags": {},
        "identity": None,
        "zones": None,
        "extendedLocation": None,
    }


def _rows(est: Estate, subscription_id: str) -> dict[str, list[dict[str, Any]]]:
    key = f"graph:incidents:{subscription_id.lower()}"
    cached: dict[str, list[dict[str, Any]]] | None = est.memo.get(key)
    if cached is not None:
        return cached
    sid = subscription_id
    service: list[dict[str, Any]] = []
    for e in events_in(est, sid):
        service.append(_row(est, event_body(e, sid, graph=True), sid))
        for rid in e.impacted_resources:
            if rid.split("/")[2].lower() == sid.lower():
                service.append(_row(est, impacted_body(e, rid), sid))
    health = [_row(est, body, sid) for body in statuses_in(est, sid, graph=True)]
    alerts = [_row(est, alert_body(a), sid) for a in _index(est)["alerts"].get(sid.lower(), [])]
    patches: list[dict[str, Any]] = []
    for pa in _index(est)["patches"].get(sid.lower(), []):
        patches.append(_row(est, assessment_body(est, pa), sid))
        patches.extend(_row(est, patch_body(pa, p), sid) for p in pa.patches)
    cached = {
        "servicehealthresources": service,
        "healthresources": health,
        "alertsmanagementresources": alerts,
        "patchassessmentresources": patches,
    }
    est.memo[key] = cached
    return cached


def graph_tables(est: Estate, subscription_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The four incident tables of Resource Graph for these subscriptions."""
    tables: dict[str, list[dict[str, Any]]] = {
        "servicehealthresources": [],
        "healthresources": [],
        "alertsmanagementresources": [],
        "patchassessmentresources": [],
    }
    for sid in subscription_ids:
        for name, rows in _rows(est, sid).items():
            tables[name].extend(rows)
    return tables


# --------------------------------------------------------------------------- REST


async def list_events(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    est = estate(ctx)
    sub = est.subscription(sid)
    name = sub.subscription_id if sub else sid
    return page(ctx, [event_body(e, name, graph=False) for e in events_in(est, sid)])


async def list_statuses(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    return page(ctx, statuses_in(estate(ctx), sid, graph=False))


async def list_alerts(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    alerts = _index(estate(ctx))["alerts"].get(sid.lower(), [])
    return page(ctx, [alert_body(a) for a in alerts])


def register(router: Router) -> None:
    sub = "/subscriptions/{subscriptionId}/providers"
    router.add("GET", f"{sub}/{EVENTS}", list_events, name="health.events.list")
    router.add("GET", f"{sub}/{STATUSES}", list_statuses, name="health.statuses.list")
    router.add("GET", f"{sub}/{ALERTS}", list_alerts, name="alerts.list")
