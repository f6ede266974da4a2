"""The estate's incidents: generated consistently with the estate, kept in its file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from btconsole.emulator import kql
from btconsole.emulator.estate import Estate, EstateError, parse_time
from btconsole.emulator.generate import generate
from btconsole.emulator.incidents import PLATFORM
from btconsole.emulator.routes.graph import build_tables


def _down(estate: Estate, rid: str) -> bool:
    circuit = next(c for c in estate.circuits if c.id == rid)
    return any(s != "up" for p in circuit.peerings for s in (p.primary, p.secondary))


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_the_service_issue_is_where_circuits_are_down(seed: int) -> None:
    estate = generate(seed=seed, size="small")
    issues = [
        e for e in estate.service_events if e.event_type == "ServiceIssue" and e.status == "Active"
    ]
    assert len(issues) == 1
    issue = issues[0]
    (impact,) = issue.impacts
    assert impact.service == "ExpressRoute"
    in_region = {c.subscription_id for c in estate.circuits if c.location == impact.region}
    assert set(impact.subscription_ids) == in_region
    assert issue.impacted_resources
    health = {h.resource_id: h for h in estate.resource_health}
    for rid in issue.impacted_resources:
        circuit = next(c for c in estate.circuits if c.id == rid)
        assert circuit.location == impact.region and _down(estate, rid)
        assert health[rid].context == PLATFORM
        assert health[rid].availability_state in ("Degraded", "Unavailable")
        assert parse_time(issue.impact_start) <= parse_time(health[rid].occurred_time)
    # circuits down elsewhere are not blamed on Azure
    for h in estate.resource_health:
        if h.context == PLATFORM:
            assert h.resource_id in issue.impacted_resources
    # its timeline is newest first and ends before the estate's now
    times = [parse_time(u.time) for u in impact.updates]
    assert times == sorted(times, reverse=True) and times[0] <= estate.now


def test_the_small_estate_has_every_kind_of_incident() -> None:
    estate = generate(seed=1, size="small")
    kinds = {(e.event_type, e.status) for e in estate.service_events}
    assert {
        ("ServiceIssue", "Active"),
        ("ServiceIssue", "Resolved"),
        ("PlannedMaintenance", "Active"),
        ("HealthAdvisory", "Active"),
    } <= kinds
    for e in estate.service_events:
        if e.status == "Resolved":
            assert parse_time(e.impact_start) < parse_time(e.impact_mitigation) < estate.now
    machines = {m.id: m for m in estate.machines}
    fired = [a for a in estate.alerts if a.monitor_condition == "Fired"]
    assert fired and any(a.monitor_condition == "Resolved" for a in estate.alerts)
    assert any(a.target_resource in machines for a in fired)
    for a in estate.alerts:
        if a.target_resource in machines and machines[a.target_resource].status == "Disconnected":
            assert a.monitor_condition == "Fired"
    week = dt.timedelta(days=7)
    ages = [estate.now - parse_time(p.last_modified) for p in estate.patch_assessments]
    assert any(a > week for a in ages) and any(a < dt.timedelta(days=1) for a in ages)
    assert len(estate.patch_assessments) < len(estate.machines)  # some never assessed
    long_pending = [
        p
        for p in estate.patch_assessments
        for patch in p.patches
        if patch.classification == "Critical"
        and parse_time(p.last_modified) - parse_time(patch.published) > 2 * week
    ]
    assert long_pending


def test_a_healthy_estate_has_nothing_to_report() -> None:
    estate = generate(seed=3, size="small", healthy=True)
    assert not [
        e for e in estate.service_events if e.event_type == "ServiceIssue" and e.status == "Active"
    ]
    assert not [h for h in estate.resource_health if h.availability_state != "Unknown"]
    assert not estate.alerts
    assert all(not p.patches for p in estate.patch_assessments)


def test_incidents_are_deterministic_and_leave_the_rest_alone() -> None:
    one, two = generate(seed=5, size="small"), generate(seed=5, size="small")
    assert one.to_json() == two.to_json()
    other = generate(seed=6, size="small")
    assert one.service_events != other.service_events
    bare = dataclasses.replace(
        one, service_events=[], resource_health=[], alerts=[], patch_assessments=[]
    )
    doc = json.loads(bare.to_json())
    for key in ("service_events", "resource_health", "alerts", "patch_assessments"):
        del doc[key]  # an estate file written before incidents existed
    old = Estate.from_json(json.dumps(doc))
    assert old.machines == one.machines and old.service_events == []


def test_incidents_round_trip_through_the_estate_file() -> None:
    estate = generate(seed=1, size="small")
    again = Estate.from_json(estate.to_json())
    assert again.service_events == estate.service_events
    assert again.patch_assessments == estate.patch_assessments
    doc = json.loads(estate.to_json())
    doc["service_events"][0]["impacts"][0]["subscription_ids"] = ["nope"]
    with pytest.raises(EstateError, match=r"service_events\[0\]\.impacts\[0\]"):
        Estate.from_json(json.dumps(doc))
    doc = json.loads(estate.to_json())
    doc["resource_health"][0]["occurred_time"] = "yesterday"
    with pytest.raises(EstateError, match=r"resource_health\[0\]\.occurred_time"):
        Estate.from_json(json.dumps(doc))


def test_graph_tables_hold_the_incidents_of_the_subscriptions_asked() -> None:
    estate = generate(seed=1, size="small")
    issue = estate.service_events[0]
    sid = issue.impacts[0].subscription_ids[0]
    tables = build_tables(estate, [sid])
    rows = kql.run_query(
        "ServiceHealthResources | where type =~ 'Microsoft.ResourceHealth/events' "
        "| where properties.Status == 'Active' and tolong(properties.ImpactStartTime) > 1 "
        "| project name, subscriptionId",
        tables,
    )
    assert {"name": issue.tracking_id, "subscriptionId": sid} in rows
    unavailable = kql.run_query(
        "HealthResources | where type =~ 'microsoft.resourcehealth/availabilitystatuses' "
        "| where tostring(properties.availabilityState) != 'Available' "
        "| project id = tolower(tostring(properties.targetResourceId))",
        tables,
    )
    ids = {r["id"] for r in unavailable}
    assert {rid.lower() for rid in issue.impacted_resources if f"/{sid}/" in rid} <= ids
    available = kql.run_query(
        "healthresources | where properties.availabilityState == 'Available' | count", tables
    )
    machines = len(estate.machines_in(sid)) + len(estate.clusters_in(sid))
    assert available[0]["Count"] + len(ids) == machines + len(estate.circuits_in(sid))
    # another subscription's rows are not in this one's tables
    others = {s.subscription_id for s in estate.subscriptions} - {sid}
    for table in (
        "servicehealthresources",
        "alertsmanagementresources",
        "patchassessmentresources",
    ):
        assert not [r for r in tables[table] if r["subscriptionId"] in others]
