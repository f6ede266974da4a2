"""The incident wrappers through the real Resource Graph client over HTTPS."""

from __future__ import annotations

from typing import Any

import pytest

from btconsole.azure import incidents
from btconsole.azure.errors import ThrottledError
from btconsole.emulator.estate import parse_time
from btconsole.emulator.incidents import PLATFORM
from btconsole.records import from_plain, to_plain
from tests.azure.conftest import Emulated, run

PROFILE = 1  # fabrikam-logistics holds the small estate's service issue (seed 1)


def _subs(emulated: Emulated, index: int = PROFILE) -> list[str]:
    return sorted(s.lower() for s in emulated.emulator.estate.customers[index].subscription_ids)


def _call(emulated: Emulated, fn: Any, subs: list[str], index: int = PROFILE) -> Any:
    async def body() -> Any:
        async with emulated.session(emulated.profile(index)) as session:
            return await fn(session, subs)

    return run(body)


def _all(found: dict[str, list[Any]]) -> list[Any]:
    return [r for items in found.values() for r in items]


def test_service_health_events_with_timeline_and_impacted_resources(fresh: Emulated) -> None:
    estate = fresh.emulator.estate
    subs = _subs(fresh)
    found = _call(fresh, incidents.list_service_health, subs)
    assert set(found) == set(subs)
    issue = estate.service_events[0]
    assert issue.event_type == "ServiceIssue" and issue.status == "Active"
    sid = issue.impacts[0].subscription_ids[0].lower()
    assert sid in subs
    (record,) = [e for e in found[sid] if e.tracking_id == issue.tracking_id]
    assert record.event_type == "ServiceIssue" and record.status == "Active"
    assert record.impact_start == issue.impact_start and record.impact_mitigation is None
    assert record.last_update == issue.last_update
    (impact,) = record.impacts
    assert impact.service == "ExpressRoute" and impact.region == "UK South"
    assert impact.subscriptions == (sid,)
    assert [u.time for u in impact.updates] == [u.time for u in issue.impacts[0].updates]
    assert set(record.impacted_resources) == {
        r for r in issue.impacted_resources if r.split("/")[2].lower() == sid
    }
    # every event the estate sends to these subscriptions, and no other
    expected = {
        (s.lower(), e.tracking_id)
        for e in estate.service_events
        for s in e.subscription_ids()
        if s.lower() in subs
    }
    assert {(e.subscription_id, e.tracking_id) for e in _all(found)} == expected
    assert from_plain(to_plain(record)) == record


def test_resource_health_only_what_is_not_available(fresh: Emulated) -> None:
    estate = fresh.emulator.estate
    subs = _subs(fresh)
    found = _call(fresh, incidents.list_resource_health, subs)
    expected = {
        h.resource_id: h for h in estate.resource_health if h.resource_id.split("/")[2] in subs
    }
    records = {r.resource_id: r for r in _all(found)}
    assert set(records) == set(expected)
    for rid, h in expected.items():
        r = records[rid]
        assert r.availability_state == h.availability_state
        assert r.occurred_time == h.occurred_time
        assert r.platform_initiated is ({PLATFORM: True, "": None}.get(h.context, False))
    assert any(r.platform_initiated for r in records.values())

    async def everything(session: Any, subs: list[str]) -> Any:
        return await incidents.list_resource_health(session, subs, include_available=True)

    every = _all(_call(fresh, everything, subs))
    resources = sum(
        len(estate.machines_in(s)) + len(estate.clusters_in(s)) + len(estate.circuits_in(s))
        for s in subs
    )
    assert len(every) == resources
    assert {r.resource_id for r in every if r.availability_state != "Available"} == set(expected)


def test_alerts_worst_first(fresh: Emulated) -> None:
    estate = fresh.emulator.estate
    subs = _subs(fresh)
    found = _call(fresh, incidents.list_alerts, subs)
    expected = {a.alert_id: a for a in estate.alerts if a.subscription_id in subs}
    records = _all(found)
    assert {r.id.rsplit("/", 1)[-1] for r in records} == set(expected)
    for r in records:
        a = expected[r.id.rsplit("/", 1)[-1]]
        assert (r.severity, r.monitor_condition, r.target_resource, r.start_time) == (
            a.severity,
            a.monitor_condition,
            a.target_resource,
            a.start_time,
        )
        assert (r.resolved_time is None) == (a.monitor_condition == "Fired")
    for items in found.values():
        ranks = [incidents.severity_rank(a.severity) for a in items]
        assert ranks == sorted(ranks)  # type: ignore[type-var]


def test_patch_assessments_counts_and_oldest_critical(fresh: Emulated) -> None:
    estate = fresh.emulator.estate
    subs = _subs(fresh)
    found = _call(fresh, incidents.list_patch_assessments, subs)
    expected = {
        p.machine_id: p for p in estate.patch_assessments if p.machine_id.split("/")[2] in subs
    }
    records = {r.machine_id: r for r in _all(found)}
    assert set(records) == set(expected)
    windows_critical = 0
    for mid, p in expected.items():
        r = records[mid]
        assert r.last_modified == p.last_modified and r.status == "Succeeded"
        critical = [x for x in p.patches if x.classification == "Critical"]
        security = [x for x in p.patches if x.classification == "Security"]
        if r.os_type == "Windows":
            assert (r.critical, r.security) == (len(critical), len(security))
            assert r.other == len(p.patches) - len(critical) - len(security)
            assert r.oldest_critical_published == min((x.published for x in critical), default=None)
            windows_critical += bool(critical)
        else:  # Linux counts critical patches as security ones, and has no critical count
            assert r.critical is None and r.security == len(critical) + len(security)
        assert len(r.critical_patches) == len(critical)
    assert windows_critical
    stale = [
        r for r in records.values() if (estate.now - parse_time(r.last_modified or "")).days > 7
    ]
    assert stale


def test_paging_gives_the_same_records(fresh: Emulated) -> None:
    subs = _subs(fresh)
    whole = _call(fresh, incidents.list_patch_assessments, subs)
    rows = sum(1 + len(r.critical_patches) for r in _all(whole))
    fresh.emulator.control("DELETE", "stats")
    fresh.emulator.add_fault(kind="page", route="graph.resources", size=7)
    assert _call(fresh, incidents.list_patch_assessments, subs) == whole
    assert fresh.emulator.route_count("graph.resources") == -(-rows // 7) > 1
    events = _call(fresh, incidents.list_service_health, subs)
    assert events == _call(fresh, incidents.list_service_health, subs)


def test_throttled_by_resource_graph_quota(fresh: Emulated) -> None:
    fresh.emulator.add_fault(
        kind="arm_error",
        route="graph.resources",
        status=429,
        code="RateLimiting",
        message="Please provide below info when asking for support.",
        count=1,
    )
    with pytest.raises(ThrottledError):
        _call(fresh, incidents.list_alerts, _subs(fresh))
    assert _all(_call(fresh, incidents.list_alerts, _subs(fresh)))  # the next one answers


def test_a_subscription_with_nothing_has_an_empty_list(fresh: Emulated) -> None:
    estate = fresh.emulator.estate
    quiet = [
        s.lower()
        for s in estate.customers[0].subscription_ids
        if not any(a.subscription_id == s for a in estate.alerts)
    ]
    assert quiet
    assert _call(fresh, incidents.list_alerts, quiet, index=0) == {s: [] for s in quiet}


def test_absent_fields_are_unknown_not_healthy(fresh: Emulated) -> None:
    subs = _subs(fresh)
    fresh.emulator.add_fault(
        kind="edit",
        route="graph.resources",
        remove=[
            "properties.Status",
            "properties.EventType",
            "properties.Impact",
            "properties.ImpactStartTime",
            "properties.availabilityState",
            "properties.context",
            "properties.reasonType",
            "properties.essentials.severity",
            "properties.essentials.monitorCondition",
            "properties.availablePatchCountByClassification",
            "properties.rebootPending",
            "properties.lastModifiedDateTime",
        ],
    )
    events = _all(_call(fresh, incidents.list_service_health, subs))
    assert events and all(
        e.status is None and e.event_type is None and e.impacts == () and e.impact_start is None
        for e in events
    )
    health = _all(_call(fresh, incidents.list_resource_health, subs))
    assert health and all(
        r.availability_state == "Unknown" and r.platform_initiated is None for r in health
    )
    alerts = _all(_call(fresh, incidents.list_alerts, subs))
    assert alerts and all(a.severity is None and a.monitor_condition is None for a in alerts)
    patches = _all(_call(fresh, incidents.list_patch_assessments, subs))
    assert patches and all(
        p.critical is None
        and p.security is None
        and p.other is None
        and p.reboot_pending is None
        and p.last_modified is None
        for p in patches
    )


def test_unknown_values_are_kept_and_times_read_either_way() -> None:
    row = {
        "id": "/subscriptions/S/providers/Microsoft.ResourceHealth/events/AB-1",
        "type": "Microsoft.ResourceHealth/events",
        "properties": {
            "eventType": "EmergingIssue",
            "status": "Investigating",
            "title": "x",
            "impactStartTime": "2026-11-20T09:12:00Z",
            "lastUpdateTime": 1795165920,
            "impact": [{"impactedService": "ExpressRoute", "impactedRegions": "bad"}],
        },
    }
    event = incidents.event_record("p", row)
    assert (event.event_type, event.status, event.subscription_id) == (
        "EmergingIssue",
        "Investigating",
        "s",
    )
    assert event.impact_start == "2026-11-20T09:12:00Z"
    assert event.last_update == "2026-11-20T09:12:00Z" and event.impacts == ()
    assert incidents.when(0) is None and incidents.when("1795165920000") == event.last_update
    assert incidents.severity_rank("Sev9") == 9 and incidents.severity_rank("High") is None
    status = incidents.health_record(
        "p",
        {
            "id": "/subscriptions/S/resourceGroups/g/providers/A/b/c/providers/"
            "Microsoft.ResourceHealth/availabilityStatuses/current",
            "properties": {
                "availabilityState": "Hibernating",
                "occuredTime": "2026-11-20T09:12:00Z",
            },
        },
    )
    assert status.availability_state == "Hibernating"
    assert status.resource_id == "/subscriptions/S/resourceGroups/g/providers/A/b/c"
    assert status.occurred_time == "2026-11-20T09:12:00Z" and status.platform_initiated is None
