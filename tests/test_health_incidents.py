"""The health domain's rules: Service Health, Resource Health, alerts, Arc patch state,
and the correlation of circuit and Arc findings with Azure's own state."""

from __future__ import annotations

import datetime as dt

from btconsole import health
from btconsole.health import HEALTH_SCOPES, findings_for
from btconsole.records import (
    AlertRecord,
    EventImpactRecord,
    EventUpdateRecord,
    PatchAssessmentRecord,
    PatchRecord,
    ResourceHealthRecord,
    ServiceHealthEvent,
)
from tests.test_health import SUB, arc, circuit, dev, profile

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
OTHER_SUB = "22222222-2222-2222-2222-222222222222"


def event(
    *,
    kind: str = "ServiceIssue",
    status: str | None = "Active",
    service: str = "ExpressRoute",
    region: str = "UK South",
    sub: str = SUB,
    start: str = "2026-11-20T09:12:00Z",
    tracking: str = "9Z1Z-TUK",
    impacted: tuple[str, ...] = (),
    mitigation: str | None = None,
) -> ServiceHealthEvent:
    return ServiceHealthEvent(
        profile="contoso",
        subscription_id=sub,
        tracking_id=tracking,
        event_type=kind,
        status=status,
        title=f"{service} - Connectivity issues in {region}",
        impact_start=start,
        impact_mitigation=mitigation,
        last_update="2026-11-20T10:00:00Z",
        impacts=(
            EventImpactRecord(
                service=service,
                region=region,
                status=status,
                subscriptions=(sub,),
                last_update="2026-11-20T10:00:00Z",
                updates=(EventUpdateRecord("2026-11-20T10:00:00Z", "Engineers engaged"),),
            ),
        ),
        impacted_resources=impacted,
    )


def degraded_circuit():  # type: ignore[no-untyped-def]
    return circuit(
        (
            dev("AzurePrivatePeering", "primary", 0, 0),
            dev("AzurePrivatePeering", "secondary", 100, 100),
        )
    )


def resource_health(
    resource_id: str, state: str = "Unavailable", *, platform: bool | None = True
) -> ResourceHealthRecord:
    return ResourceHealthRecord(
        profile="contoso",
        subscription_id=SUB,
        resource_id=resource_id,
        availability_state=state,
        title="Connectivity issue",
        occurred_time="2026-11-20T08:05:00Z",
        platform_initiated=platform,
    )


def by_rule(findings: list[health.Finding], domain: str) -> list[health.Finding]:
    return [f for f in findings if f.domain == domain]


class TestServiceHealth:
    def test_active_service_issue_is_one_critical_outage_per_event(self) -> None:
        # the same event in two subscriptions: one finding
        events = [event(), event(sub=OTHER_SUB)]
        found = findings_for(profile(), {"health": events}, NOW)
        [finding] = by_rule(found, "health")
        assert (finding.severity, finding.impact_class) == ("critical", "outage")
        assert finding.title == "Azure service issue: ExpressRoute in UK South"
        assert "2 subscription(s)" in finding.detail
        assert finding.since == "2026-11-20T09:12:00Z"
        assert found[0] is finding  # an outage from Azure comes first

    def test_the_event_keeps_its_key_when_it_reaches_one_more_subscription(self) -> None:
        # check's diff keys findings: an event that spreads is the same problem, not a
        # new one and a resolved one (the other subscription sorts first)
        early = "00000000-0000-0000-0000-000000000000"
        [before] = by_rule(findings_for(profile(), {"health": [event()]}, NOW), "health")
        [after] = by_rule(
            findings_for(profile(), {"health": [event(), event(sub=early)]}, NOW), "health"
        )
        assert before.key == after.key

    def test_resolved_maintenance_and_advisories_are_no_findings(self) -> None:
        events = [
            event(status="Resolved"),
            event(kind="PlannedMaintenance", tracking="PM-1"),
            event(kind="HealthAdvisory", tracking="HA-1"),
        ]
        assert by_rule(findings_for(profile(), {"health": events}, NOW), "health") == []

    def test_no_status_counts_as_active_until_mitigated(self) -> None:
        assert health.is_active(event(status=None), NOW)
        gone = event(status=None, mitigation="2026-11-18T10:00:00Z")
        assert not health.is_active(gone, NOW)
        later = event(kind="PlannedMaintenance", start="2026-11-27T01:00:00Z")
        assert not health.is_active(later, NOW)


class TestCorrelation:
    def test_a_degraded_circuit_in_the_region_of_an_active_issue_says_so(self) -> None:
        found = findings_for(
            profile(), {"circuits": [degraded_circuit()], "health": [event()]}, NOW
        )
        [row] = by_rule(found, "circuits")
        assert row.azure_cause == "Azure: ExpressRoute service issue in UK South since 09:12"

    def test_another_region_or_service_or_a_resolved_issue_does_not(self) -> None:
        for other in (
            event(region="West Europe"),
            event(service="Virtual Machines"),
            event(status="Resolved"),
            event(sub=OTHER_SUB),
        ):
            records = {"circuits": [degraded_circuit()], "health": [other]}
            [row] = by_rule(findings_for(profile(), records, NOW), "circuits")
            assert row.azure_cause == "", other

    def test_an_event_naming_the_resource_counts_whatever_the_region(self) -> None:
        c = degraded_circuit()
        records = {"circuits": [c], "health": [event(region="West Europe", impacted=(c.id,))]}
        [row] = by_rule(findings_for(profile(), records, NOW), "circuits")
        assert row.azure_cause.startswith("Azure: ExpressRoute service issue in West Europe")

    def test_platform_resource_health_explains_a_down_arc_server(self) -> None:
        machine = arc(status="Disconnected", changed="2026-11-20T08:00:00Z")
        records = {"arc": [machine], "health": [resource_health(machine.id)]}
        found = findings_for(profile(), records, NOW)
        [row] = [f for f in found if f.rule == "status"]
        assert row.azure_cause == "Azure: Resource Health Unavailable (platform) since 08:05"
        # folded into the Arc finding, not listed twice
        assert [f for f in found if f.rule == "resource-health"] == []

    def test_user_initiated_resource_health_is_no_azure_cause(self) -> None:
        machine = arc(status="Disconnected", changed="2026-11-20T08:00:00Z")
        records = {"arc": [machine], "health": [resource_health(machine.id, platform=False)]}
        [row] = [f for f in findings_for(profile(), records, NOW) if f.rule == "status"]
        assert row.azure_cause == ""

    def test_resource_health_of_other_resources_is_its_own_finding(self) -> None:
        rid = (
            f"/subscriptions/{SUB}/resourceGroups/x/providers/Microsoft.Compute/virtualMachines/vm1"
        )
        found = findings_for(
            profile(),
            {
                "health": [
                    resource_health(rid),
                    resource_health(rid + "2", "Degraded"),
                    resource_health(rid + "3", "Unknown"),
                ]
            },
            NOW,
        )
        assert [(f.title, f.severity) for f in by_rule(found, "health")] == [
            ("vm1: Resource Health Unavailable", "critical"),
            ("vm12: Resource Health Degraded", "warning"),
            ("vm13: Resource Health Unknown", "info"),
        ]


def alert(severity: str, condition: str = "Fired", state: str = "New") -> AlertRecord:
    return AlertRecord(
        profile="contoso",
        subscription_id=SUB,
        id=f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/{severity}-{state}",
        name=f"high cpu {severity}",
        severity=severity,
        monitor_condition=condition,
        alert_state=state,
        target_resource=f"/subscriptions/{SUB}/resourceGroups/x/providers/p/t/srv-9",
        start_time="2026-11-20T11:00:00Z",
    )


def test_fired_alerts_by_severity_and_closed_or_resolved_ones_are_none() -> None:
    alerts = [
        alert("Sev0"),
        alert("Sev1"),
        alert("Sev3"),
        alert("Sev9"),
        alert("Sev0", condition="Resolved"),
        alert("Sev0", state="Closed"),
    ]
    found = by_rule(findings_for(profile(), {"health": alerts}, NOW), "health")
    assert sorted((f.title, f.severity) for f in found) == [
        ("srv-9: alert high cpu Sev0 (Sev0)", "critical"),
        ("srv-9: alert high cpu Sev1 (Sev1)", "warning"),
        ("srv-9: alert high cpu Sev3 (Sev3)", "info"),
        ("srv-9: alert high cpu Sev9 (Sev9)", "info"),
    ]


def assessment(
    machine_id: str, when: str, critical: int = 0, published: str | None = None
) -> PatchAssessmentRecord:
    patches = (PatchRecord("KB1", ("Critical",), published),) if critical else ()
    return PatchAssessmentRecord(
        profile="contoso",
        subscription_id=SUB,
        machine_id=machine_id,
        last_modified=when,
        critical=critical,
        security=0,
        critical_patches=patches,
        oldest_critical_published=published,
    )


class TestPatchState:
    def patch_rules(self, records: dict[str, list[object]]) -> list[tuple[str, str]]:
        found = findings_for(profile(), records, NOW)
        return [
            (f.rule, f.title) for f in found if f.rule in ("patch-assessment", "critical-updates")
        ]

    def test_stale_missing_and_critical_pending(self) -> None:
        fresh, stale, never, pending = (arc(name) for name in ("a", "b", "c", "d"))
        records: dict[str, list[object]] = {
            "arc": [fresh, stale, never, pending],
            "health": [
                assessment(fresh.id, "2026-11-19T00:00:00Z"),
                assessment(stale.id, "2026-11-12T00:00:00Z"),
                assessment(pending.id, "2026-11-20T01:00:00Z", 2, "2026-10-01T00:00:00Z"),
            ],
            HEALTH_SCOPES: [SUB],
        }
        assert sorted(self.patch_rules(records)) == [
            ("critical-updates", "d: 2 critical update(s) pending for 50d"),
            ("patch-assessment", "b: no patch assessment for 7d+ (last 8d ago)"),
            ("patch-assessment", "c: no patch assessment for 7d+ (none in 30 days)"),
        ]

    def test_thresholds_come_from_the_profile(self) -> None:
        machine = arc("a")
        p = profile()
        p = type(p)(**{**p.__dict__, "thresholds": health_thresholds(30, 60)})
        records: dict[str, list[object]] = {
            "arc": [machine],
            "health": [assessment(machine.id, "2026-11-01T00:00:00Z", 1, "2026-10-01T00:00:00Z")],
            HEALTH_SCOPES: [SUB],
        }
        assert findings_for(p, records, NOW) == []

    def test_unread_health_is_unknown_not_stale(self) -> None:
        # the machine's subscription had no health read: no finding either way
        records: dict[str, list[object]] = {"arc": [arc("a")], HEALTH_SCOPES: []}
        assert self.patch_rules(records) == []
        assert self.patch_rules({"arc": [arc("a")]}) == []

    def test_disconnected_servers_are_left_to_their_status_finding(self) -> None:
        records: dict[str, list[object]] = {
            "arc": [arc("a", "Disconnected")],
            HEALTH_SCOPES: [SUB],
        }
        assert self.patch_rules(records) == []


def health_thresholds(assessment_days: int, critical_days: int):  # type: ignore[no-untyped-def]
    from btconsole.config import Thresholds

    return Thresholds(patch_assessment_days=assessment_days, critical_patch_days=critical_days)


def test_summary_counts_are_unknown_without_health_data() -> None:
    summary = health.customer_summary(profile(), {"arc": [arc()]}, NOW)
    assert (summary.service_issues, summary.fired_alerts, summary.unhealthy_resources) == (
        None,
        None,
        None,
    )
    records = {
        "health": [event(), alert("Sev1"), resource_health("/subscriptions/x/r/y", "Degraded")]
    }
    summary = health.customer_summary(profile(), records, NOW)
    assert (summary.service_issues, summary.fired_alerts, summary.unhealthy_resources) == (1, 1, 1)
