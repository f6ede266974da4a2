"""Derived health: every rule and every boundary, with hand-built records."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import sys
from typing import Any

import pytest

from btconsole import health
from btconsole.config import KNOWN_CLOUDS, Profile, Thresholds
from btconsole.health import (
    ArcCounts,
    CircuitCounts,
    Finding,
    Health,
    arc_bucket,
    arc_counts,
    arc_status_finding,
    arc_version_finding,
    attention,
    budget_check,
    budget_findings,
    circuit_counts,
    circuit_finding,
    circuit_health,
    compliance_findings,
    compliance_percent,
    compliance_severity,
    consumption_budget_finding,
    customer_compliance,
    customer_summary,
    diff_findings,
    findings_for,
    forecast_total,
    newest_by_kind,
    newest_version,
    parse_time,
    parse_version,
    spend_anomalies,
    spend_mtd,
    spend_mtd_by_subscription,
    subscription_compliance,
    versions_behind,
    versions_by_kind,
    worst_assignments,
)
from btconsole.records import (
    ArcRecord,
    BudgetRecord,
    CircuitRecord,
    ComplianceRecord,
    CostRecord,
    DeviceAvailability,
    ForecastRecord,
    PolicyAssignmentRecord,
    PolicyStateRecord,
    RejectedAmountRecord,
    SubscriptionRecord,
    from_plain,
    to_plain,
)

SUB = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"
NOW = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.timezone.utc)
TODAY = NOW.date()


def profile(
    name: str = "contoso",
    *,
    budget: float | None = None,
    currency: str = "GBP",
    behind: int = 2,
    compliance: float = 90.0,
) -> Profile:
    return Profile(
        name=name,
        display_name=name.title(),
        tenant_id="11111111-1111-1111-1111-111111111111",
        auth="cli",
        cloud=KNOWN_CLOUDS["AzureCloud"],
        monthly_budget=budget,
        currency=currency,
        thresholds=Thresholds(agent_versions_behind=behind, compliance_percent=compliance),
    )


# --------------------------------------------------------------------------- circuits


def dev(peering: str, device: str, bgp: float | None, arp: float | None) -> DeviceAvailability:
    return DeviceAvailability(peering_type=peering, device=device, bgp=bgp, arp=arp)


def pair(
    primary: tuple[float | None, float | None],
    secondary: tuple[float | None, float | None],
    peering: str = "AzurePrivatePeering",
) -> tuple[DeviceAvailability, ...]:
    return (dev(peering, "primary", *primary), dev(peering, "secondary", *secondary))


def circuit(
    availability: tuple[DeviceAvailability, ...] = (),
    *,
    provider: str | None = "Provisioned",
    state: str | None = "Enabled",
    name: str = "er-1",
    profile_name: str = "contoso",
) -> CircuitRecord:
    return CircuitRecord(
        profile=profile_name,
        id=f"/subscriptions/{SUB}/resourceGroups/net/providers/"
        f"Microsoft.Network/expressRouteCircuits/{name}",
        name=name,
        subscription_id=SUB,
        resource_group="net",
        location="uksouth",
        provider="BT",
        peering_location="London",
        bandwidth_mbps=1000,
        sku_tier="Standard",
        sku_family="MeteredData",
        circuit_state=state,
        provider_state=provider,
        availability=availability,
    )


class TestCircuitHealth:
    def test_all_up_is_healthy(self) -> None:
        assert circuit_health(circuit(pair((100, 100), (100, 100)))) == Health("healthy")

    @pytest.mark.parametrize(
        ("primary", "secondary", "why"),
        [
            ((0, 100), (0, 100), "primary BGP 0%, secondary BGP 0%"),
            ((100, 0), (100, 0), "primary ARP 0%, secondary ARP 0%"),
            ((0, 100), (100, 0), "primary BGP 0%, secondary ARP 0%"),
            ((0, 0), (0, 0), "primary BGP/ARP 0%, secondary BGP/ARP 0%"),
        ],
    )
    def test_no_device_up_is_down(
        self, primary: tuple[float, float], secondary: tuple[float, float], why: str
    ) -> None:
        result = circuit_health(circuit(pair(primary, secondary)))
        assert result.state == "down"
        assert result.reasons[0] == f"AzurePrivatePeering: no device up ({why})"

    def test_one_device_down_is_degraded(self) -> None:
        result = circuit_health(circuit(pair((0, 100), (100, 100))))
        assert result == Health(
            "degraded", ("AzurePrivatePeering: primary BGP 0% while secondary up",)
        )

    def test_one_device_arp_down_is_degraded(self) -> None:
        result = circuit_health(circuit(pair((100, 100), (100, 0))))
        assert result.state == "degraded"
        assert result.reasons == ("AzurePrivatePeering: secondary ARP 0% while primary up",)

    def test_exactly_100_is_healthy_and_just_below_is_degraded(self) -> None:
        assert circuit_health(circuit(pair((100.0, 100.0), (100.0, 100.0)))).state == "healthy"
        result = circuit_health(circuit(pair((99.99, 100), (100, 100))))
        assert result == Health(
            "degraded", ("AzurePrivatePeering primary BGP availability 99.99%",)
        )

    def test_just_above_zero_is_degraded_not_down(self) -> None:
        result = circuit_health(circuit(pair((0.01, 100), (0.01, 100))))
        assert result.state == "degraded"
        assert len(result.reasons) == 2

    def test_partial_on_both_devices_is_degraded(self) -> None:
        result = circuit_health(circuit(pair((50, 100), (100, 75))))
        assert result.reasons == (
            "AzurePrivatePeering primary BGP availability 50%",
            "AzurePrivatePeering secondary ARP availability 75%",
        )

    def test_one_peering_down_is_enough(self) -> None:
        avail = pair((100, 100), (100, 100)) + pair((0, 0), (0, 0), "MicrosoftPeering")
        result = circuit_health(circuit(avail))
        assert result.state == "down"
        assert result.reasons[0].startswith("MicrosoftPeering: no device up")

    @pytest.mark.parametrize("provider", ["NotProvisioned", "Provisioning", "Deprovisioning", ""])
    def test_provider_not_provisioned_is_down_even_with_metrics(self, provider: str) -> None:
        result = circuit_health(circuit(pair((100, 100), (100, 100)), provider=provider))
        assert result.state == "down"
        assert result.reasons[0] == f"provider state {provider or '(empty)'}, not Provisioned"

    def test_provider_state_is_case_insensitive(self) -> None:
        assert circuit_health(circuit(pair((100, 100), (100, 100)), provider="provisioned")) == (
            Health("healthy")
        )

    def test_circuit_state_not_enabled_is_down(self) -> None:
        result = circuit_health(circuit(pair((100, 100), (100, 100)), state="Disabled"))
        assert result == Health("down", ("circuit state Disabled, not Enabled",))

    def test_reason_order_is_per_peering_then_partials(self) -> None:
        avail = (
            dev("AzurePrivatePeering", "primary", 0, 100),
            dev("AzurePrivatePeering", "secondary", 60, 100),
            dev("MicrosoftPeering", "secondary", 0, 100),
            dev("MicrosoftPeering", "primary", 100, 100),
        )
        assert circuit_health(circuit(avail)).reasons == (
            "AzurePrivatePeering: primary BGP 0% while secondary up",
            "MicrosoftPeering: secondary BGP 0% while primary up",
            "AzurePrivatePeering secondary BGP availability 60%",
        )

    def test_provider_not_provisioned_without_metrics_is_down_not_unknown(self) -> None:
        result = circuit_health(circuit((), provider="NotProvisioned"))
        assert result == Health("down", ("provider state NotProvisioned, not Provisioned",))

    def test_down_reasons_come_before_degraded_ones(self) -> None:
        avail = pair((50, 100), (100, 100))
        result = circuit_health(circuit(avail, provider="Provisioning"))
        assert result.reasons == (
            "provider state Provisioning, not Provisioned",
            "AzurePrivatePeering primary BGP availability 50%",
        )

    def test_no_availability_is_unknown(self) -> None:
        assert circuit_health(circuit(())) == Health("unknown", ("no metrics",))

    def test_all_none_availability_is_unknown(self) -> None:
        assert circuit_health(circuit(pair((None, None), (None, None)))).state == "unknown"

    def test_unreported_states_with_no_metrics_are_unknown(self) -> None:
        assert circuit_health(circuit((), provider=None, state=None)).state == "unknown"

    def test_unreported_states_with_good_metrics_are_healthy(self) -> None:
        result = circuit_health(circuit(pair((100, 100), (100, 100)), provider=None, state=None))
        assert result.state == "healthy"

    def test_device_down_and_other_silent_is_down(self) -> None:
        result = circuit_health(circuit(pair((0, 100), (None, None))))
        assert result == Health(
            "down",
            ("AzurePrivatePeering: no device up (primary BGP 0%; no metrics from secondary)",),
        )

    def test_device_up_and_other_silent_is_healthy(self) -> None:
        assert circuit_health(circuit(pair((100, 100), (None, None)))).state == "healthy"

    def test_one_metric_missing_still_judged_on_the_other(self) -> None:
        assert circuit_health(circuit(pair((100, None), (None, 100)))).state == "healthy"
        assert circuit_health(circuit(pair((0, None), (None, 100)))).state == "degraded"

    def test_out_of_range_and_nan_values(self) -> None:
        assert circuit_health(circuit(pair((150, 100), (100, 100)))).state == "healthy"
        assert circuit_health(circuit(pair((-5, 100), (-1, 100)))).state == "down"
        nan = float("nan")
        assert circuit_health(circuit(pair((nan, nan), (nan, nan)))).state == "unknown"

    def test_finding_severity_per_state(self) -> None:
        assert circuit_finding(circuit(pair((100, 100), (100, 100)))) is None
        down = circuit_finding(circuit(pair((0, 0), (0, 0))))
        degraded = circuit_finding(circuit(pair((0, 100), (100, 100))))
        unknown = circuit_finding(circuit(()))
        assert down is not None and degraded is not None and unknown is not None
        assert (down.severity, degraded.severity, unknown.severity) == (
            "critical",
            "warning",
            "info",
        )
        assert down.title == "er-1: circuit down"
        assert unknown.detail == "no metrics"
        assert down.key == degraded.key  # same rule: getting worse keeps the key

    def test_counts(self) -> None:
        circuits = [
            circuit(pair((100, 100), (100, 100))),
            circuit(pair((100, 100), (100, 100))),
            circuit(pair((0, 100), (100, 100))),
            circuit(pair((0, 0), (0, 0))),
            circuit(()),
        ]
        counts = circuit_counts(circuits)
        assert counts == CircuitCounts(healthy=2, degraded=1, down=1, unknown=1)
        assert counts.total == 5


# --------------------------------------------------------------------------- arc


def arc(
    name: str = "srv-1",
    status: str = "Connected",
    *,
    kind: str = "machine",
    version: str | None = "1.49.02928.2047",
    changed: str | None = "2026-11-20T12:00:00Z",
    codes: tuple[str, ...] = (),
    messages: tuple[str, ...] = (),
    profile_name: str = "contoso",
    sub: str = SUB,
) -> ArcRecord:
    provider = (
        "Microsoft.HybridCompute/machines"
        if kind == "machine"
        else "Microsoft.Kubernetes/connectedClusters"
    )
    return ArcRecord(
        profile=profile_name,
        id=f"/subscriptions/{sub}/resourceGroups/arc/providers/{provider}/{name}",
        name=name,
        kind=kind,
        subscription_id=sub,
        resource_group="arc",
        location="uksouth",
        status=status,
        last_status_change=changed,
        agent_version=version,
        error_codes=codes,
        error_messages=messages,
    )


class TestVersions:
    def test_parse(self) -> None:
        assert parse_version("1.45.02664.1789") == (1, 45, 2664, 1789)
        assert parse_version("v1.2") == (1, 2)
        assert parse_version(" 2 ") == (2,)
        for bad in (None, "", "latest", "1.x", "1..2", "1.2-beta", "１.２"):
            assert parse_version(bad) is None, bad

    def test_numeric_not_lexical(self) -> None:
        assert newest_version(["1.9.0", "1.45.02664.1789", "1.10"]) == "1.45.02664.1789"
        assert newest_version(["1.9", "1.10"]) == "1.10"

    def test_unparsable_ignored(self) -> None:
        assert newest_version(["garbage", None, "1.2.3", "", "9.x"]) == "1.2.3"
        assert newest_version(["garbage"]) is None

    def test_trailing_zeros_equal_and_choice_deterministic(self) -> None:
        assert newest_version(["1.9", "1.9.0"]) == newest_version(["1.9.0", "1.9"])

    def test_newest_is_per_kind(self) -> None:
        records = [
            arc("a", version="1.49.02928.2047"),
            arc("b", version="1.44.02766.1699"),
            arc("c", kind="cluster", version="1.21.10"),
            arc("d", kind="cluster", version="1.19.8"),
            arc("e", version=None),
        ]
        assert newest_by_kind(records) == {"cluster": "1.21.10", "machine": "1.49.02928.2047"}
        assert versions_by_kind(records)["cluster"] == frozenset({"1.21.10", "1.19.8"})

    def test_behind_counts_minor_lines_not_builds(self) -> None:
        newest = {"machine": "1.45.02664.1789"}
        seen = {"machine": ["1.45.02664.1789", "1.43.1"]}
        assert versions_behind(arc(version="1.43.1"), newest, seen) == 2  # 1.44 filled in
        assert versions_behind(arc(version="1.45.0.1"), newest, seen) == 0
        assert versions_behind(arc(version="1.45.9"), newest, seen) == 0
        assert versions_behind(arc(version="1.44.2"), newest, seen) == 1

    def test_behind_across_majors_counts_seen_lines(self) -> None:
        newest = {"machine": "2.1.0"}
        seen = {"machine": ["2.1.0", "2.0.5", "1.49.1", "1.48.0", "1.47.0"]}
        # 1.48, 1.49, 2.0, 2.1 are newer than 1.47 and seen
        assert versions_behind(arc(version="1.47.3"), newest, seen) == 4
        # with nothing else seen, only the newest line counts
        assert versions_behind(arc(version="1.47.3"), newest, {}) == 1

    def test_behind_unknown(self) -> None:
        newest = {"machine": "1.45"}
        assert versions_behind(arc(version=None), newest, {}) is None
        assert versions_behind(arc(version="nightly"), newest, {}) is None
        assert versions_behind(arc(kind="cluster", version="1.2"), newest, {}) is None

    def test_version_finding_exactly_at_threshold_warns(self) -> None:
        newest = {"machine": "1.49.0"}
        seen: dict[str, list[str]] = {}
        at = arc_version_finding(arc(version="1.47.9"), newest, seen, threshold=2)
        below = arc_version_finding(arc(version="1.48.0"), newest, seen, threshold=2)
        assert below is None
        assert at is not None
        assert (at.severity, at.rule, at.title) == (
            "warning",
            "agent-version",
            "srv-1: agent 2 releases behind",
        )
        assert at.detail == "agent 1.47.9; newest seen 1.49.0"

    def test_threshold_zero_never_flags_newest(self) -> None:
        newest = {"machine": "1.49.0"}
        assert arc_version_finding(arc(version="1.49.0"), newest, {}, threshold=0) is None
        assert arc_version_finding(arc(version="1.48.0"), newest, {}, threshold=0) is not None


class TestArcStatus:
    def test_connected_is_fine(self) -> None:
        assert arc_status_finding(arc(status="Connected"), NOW) is None
        assert arc_status_finding(arc(status="connected"), NOW) is None

    def test_expired_is_hygiene_never_critical(self) -> None:
        f = arc_status_finding(arc(status="Expired", changed="2026-09-20T12:00:00Z"), NOW)
        assert f is not None
        assert (f.severity, f.impact_class, f.title, f.since) == (
            "warning",
            "hygiene",
            "srv-1: Arc server expired 62d ago",
            "2026-09-20T12:00:00Z",
        )

    def test_error_is_critical_with_codes_and_messages(self) -> None:
        record = arc(
            status="Error",
            codes=("AZCM0026", "AZCM0041"),
            messages=("Network error", "The subscription is not registered"),
        )
        f = arc_status_finding(record, NOW)
        assert f is not None
        assert (f.severity, f.impact_class) == ("critical", "outage")
        assert f.detail == ("AZCM0026: Network error; AZCM0041: The subscription is not registered")

    def test_error_for_long_is_hygiene(self) -> None:
        f = arc_status_finding(arc(status="Error", changed="2026-10-01T00:00:00Z"), NOW)
        assert f is not None
        assert (f.severity, f.impact_class) == ("warning", "hygiene")
        assert f.title == "srv-1: Arc server in error for 51d"

    def test_error_without_details(self) -> None:
        f = arc_status_finding(arc(status="Error"), NOW)
        assert f is not None
        assert f.detail == "status Error with no error details"

    @pytest.mark.parametrize(
        ("days", "impact"),
        [
            (0.5, "outage"),
            (6.99, "outage"),
            (7, "outage"),
            (7.0001, "hygiene"),
            (30, "hygiene"),
        ],
    )
    def test_disconnected_is_an_outage_then_hygiene(self, days: float, impact: str) -> None:
        changed = NOW - dt.timedelta(days=days)
        record = arc(status="Disconnected", changed=changed.isoformat())
        f = arc_status_finding(record, NOW)
        assert f is not None
        assert (f.severity, f.impact_class) == ("warning", impact)

    def test_recent_days_is_a_parameter(self) -> None:
        record = arc(status="Disconnected", changed="2026-11-19T12:00:00Z")  # 2 days
        f = arc_status_finding(record, NOW, recent_days=1)
        g = arc_status_finding(record, NOW)
        assert f is not None and g is not None
        assert (f.impact_class, g.impact_class) == ("hygiene", "outage")
        assert g.title == "srv-1: Arc server disconnected for 2d"

    def test_disconnected_without_time_is_a_warning(self) -> None:
        for changed in (None, "yesterday"):
            f = arc_status_finding(arc(status="Disconnected", changed=changed), NOW)
            assert f is not None
            assert (f.severity, f.detail, f.since) == (
                "warning",
                "last status change unknown",
                None,
            )

    def test_naive_now_is_utc(self) -> None:
        record = arc(status="Disconnected", changed="2026-11-14T12:00:00Z")
        naive = arc_status_finding(record, NOW.replace(tzinfo=None))
        assert naive is not None and naive.severity == "warning"  # exactly 7 days

    def test_cluster_offline_like_disconnected(self) -> None:
        old = arc(kind="cluster", status="Offline", changed="2026-11-01T00:00:00Z")
        new = arc(kind="cluster", status="Offline", changed="2026-11-21T09:00:00Z")
        f, g = arc_status_finding(old, NOW), arc_status_finding(new, NOW)
        assert f is not None and g is not None
        assert (f.impact_class, g.impact_class) == ("hygiene", "outage")
        assert g.title == "srv-1: Arc cluster offline for 3h"

    def test_cluster_expired_is_hygiene(self) -> None:
        f = arc_status_finding(arc(kind="cluster", status="Expired"), NOW)
        assert f is not None and (f.severity, f.impact_class) == ("warning", "hygiene")

    @pytest.mark.parametrize(
        ("status", "title"),
        [
            ("AwaitingConnection", "srv-1: Arc server onboarded but has not connected yet"),
            ("Connecting", "srv-1: Arc server connecting"),
            ("AgentNotInstalled", "srv-1: Arc server agent not installed"),
            ("Quarantined", "srv-1: Arc server status 'Quarantined'"),
            ("", "srv-1: Arc server reports no status"),
        ],
    )
    def test_other_statuses_are_info(self, status: str, title: str) -> None:
        f = arc_status_finding(arc(status=status), NOW)
        assert f is not None
        assert (f.severity, f.title) == ("info", title)

    def test_error_details_appended_to_other_statuses(self) -> None:
        record = arc(status="Disconnected", codes=("AZCM0041",), messages=("heartbeat lost",))
        f = arc_status_finding(record, NOW)
        assert f is not None
        assert f.detail.endswith("; errors: AZCM0041: heartbeat lost")

    def test_buckets_and_counts(self) -> None:
        assert arc_bucket("Offline") == "disconnected"
        assert arc_bucket(" EXPIRED ") == "expired"
        assert arc_bucket("AwaitingConnection") == "other"
        assert arc_bucket(None) == "other"
        records = [
            arc("a"),
            arc("b"),
            arc("c", "Disconnected"),
            arc("d", "Expired"),
            arc("e", "Error"),
            arc("f", "AwaitingConnection"),
            arc("g", "Offline", kind="cluster"),
            arc("h", "Connected", kind="cluster"),
        ]
        assert arc_counts(records, "machine") == ArcCounts(2, 1, 1, 1, 1)
        assert arc_counts(records, "cluster") == ArcCounts(1, 1, 0, 0, 0)
        assert arc_counts(records) == ArcCounts(3, 2, 1, 1, 1)
        assert arc_counts(records).total == 8


class TestParseTime:
    def test_forms(self) -> None:
        utc = dt.timezone.utc
        expected = dt.datetime(2026, 11, 20, 8, 12, 33, 123456, tzinfo=utc)
        assert parse_time("2026-11-20T08:12:33.1234567Z") == expected
        assert parse_time("2026-11-20T09:12:33.123456+01:00") == expected
        assert parse_time("2026-11-20T08:12:33.123456") == expected
        assert parse_time("2026-11-20") == dt.datetime(2026, 11, 20, tzinfo=utc)
        for bad in (None, "", "2026-13-01", "yesterday", "2026-11-20T25:00:00Z"):
            assert parse_time(bad) is None, bad


# --------------------------------------------------------------------------- policy


def comp(sub: str, good: int, bad: int, profile_name: str = "contoso") -> ComplianceRecord:
    return ComplianceRecord(
        profile=profile_name,
        subscription_id=sub,
        compliant_resources=good,
        non_compliant_resources=bad,
        total_resources=good + bad,
        non_compliant_policies=1 if bad else 0,
    )


def assignment(name: str, bad: int, policies: int = 1, sub: str = SUB) -> PolicyAssignmentRecord:
    return PolicyAssignmentRecord(
        profile="contoso",
        subscription_id=sub,
        assignment_id=f"/subscriptions/{sub}/providers/Microsoft.Authorization/"
        f"policyAssignments/{name}",
        assignment_name=name,
        non_compliant_resources=bad,
        non_compliant_policies=policies,
    )


class TestPolicy:
    def test_percent(self) -> None:
        assert compliance_percent(9, 1) == 90.0
        assert compliance_percent(0, 5) == 0.0
        assert compliance_percent(5, 0) == 100.0
        assert compliance_percent(0, 0) is None
        assert compliance_percent(-3, 0) is None

    def test_customer_is_weighted_by_resources(self) -> None:
        records = [comp(SUB, 1, 1), comp(SUB2, 98, 0)]  # 50% and 100% -> 99 of 100
        assert customer_compliance(records) == 99.0
        assert subscription_compliance(records) == {SUB: 50.0, SUB2: 100.0}
        assert customer_compliance([]) is None
        assert customer_compliance([comp(SUB, 0, 0)]) is None

    def test_repeated_subscription_later_wins(self) -> None:
        assert subscription_compliance([comp(SUB, 1, 1), comp(SUB, 3, 1)]) == {SUB: 75.0}

    @pytest.mark.parametrize(
        ("percent", "expected"),
        [
            (None, None),
            (100.0, None),
            (90.0, None),
            (89.99, "warning"),
            (70.0, "warning"),
            (69.99, "critical"),
            (0.0, "critical"),
        ],
    )
    def test_severity_boundaries(self, percent: float | None, expected: str | None) -> None:
        assert compliance_severity(percent, 90.0) == expected

    def test_findings_per_subscription_with_worst_assignments(self) -> None:
        records = [comp(SUB, 9, 1), comp(SUB2, 899, 101)]  # 90.0% and 89.9%
        assignments = [
            assignment("tags", 3, sub=SUB2),
            assignment("mma", 90, sub=SUB2),
            assignment("disk", 3, policies=4, sub=SUB2),
            assignment("ok", 0, sub=SUB2),
            assignment("backup", 1, sub=SUB2),
            assignment("elsewhere", 500, sub=SUB),
        ]
        findings = compliance_findings(profile(), records, assignments)
        assert len(findings) == 1
        f = findings[0]
        assert (f.severity, f.subscription_id, f.rule) == ("warning", SUB2, "compliance")
        assert f.title == f"subscription {SUB2}: 89.9% compliant"
        assert f.detail == (
            "101 of 1000 resources non-compliant (threshold 90%); "
            "worst: mma (90), disk (3), tags (3)"
        )

    def test_display_never_rounds_up_to_the_threshold(self) -> None:
        f = compliance_findings(profile(), [comp(SUB, 8996, 1004)])[0]  # 89.96%
        assert f.title.endswith(": 89.9% compliant")

    def test_critical_and_no_resources(self) -> None:
        findings = compliance_findings(profile(), [comp(SUB, 1, 9), comp(SUB2, 0, 0)])
        assert [(f.severity, f.subscription_id) for f in findings] == [("critical", SUB)]

    def test_threshold_comes_from_the_profile(self) -> None:
        records = [comp(SUB, 95, 5)]
        assert compliance_findings(profile(compliance=95.0), records) == []
        assert compliance_findings(profile(compliance=96.0), records)[0].severity == "warning"

    def test_worst_assignments_order(self) -> None:
        items = [
            assignment("b", 5),
            assignment("a", 5),
            assignment("c", 5, policies=2),
            assignment("z", 0),
            assignment("d", 9),
        ]
        assert [a.assignment_name for a in worst_assignments(items)] == ["d", "c", "a", "b"]
        assert [a.assignment_name for a in worst_assignments(items, 2)] == ["d", "c"]


# --------------------------------------------------------------------------- spend


def cost(
    date: str,
    amount: float,
    *,
    currency: str = "GBP",
    sub: str = SUB,
    service: str = "Virtual Machines",
    rg: str = "app",
    profile_name: str = "contoso",
) -> CostRecord:
    return CostRecord(
        profile=profile_name,
        subscription_id=sub,
        date=date,
        service=service,
        resource_group=rg,
        amount=amount,
        currency=currency,
    )


def forecast(
    amount: float, *, currency: str = "GBP", month: str = "2026-11", sub: str = SUB
) -> ForecastRecord:
    return ForecastRecord(
        profile="contoso",
        subscription_id=sub,
        month=month,
        actual=0.0,
        forecast=amount,
        currency=currency,
    )


class TestSpendTotals:
    def test_month_to_date_per_currency_never_summed(self) -> None:
        costs = [
            cost("2026-11-01", 100.0),
            cost("2026-11-21", 50.5, sub=SUB2),
            cost("2026-11-02", 70.0, currency="EUR"),
            cost("2026-10-31", 999.0),  # last month
            cost("2026-11-22", 999.0),  # after today
            cost("2025-11-05", 999.0),  # same month, last year
        ]
        assert spend_mtd(costs, TODAY) == {"EUR": 70.0, "GBP": 150.5}
        assert spend_mtd_by_subscription(costs, TODAY) == {
            SUB: {"EUR": 70.0, "GBP": 100.0},
            SUB2: {"GBP": 50.5},
        }

    def test_bad_dates_ignored(self) -> None:
        assert spend_mtd([cost("garbage", 5.0), cost("2026-11-03", 1.0)], TODAY) == {"GBP": 1.0}

    def test_forecast_this_month_only(self) -> None:
        items = [
            forecast(100.0),
            forecast(50.0, sub=SUB2),
            forecast(7.0, currency="USD"),
            forecast(1000.0, month="2026-10"),
        ]
        assert forecast_total(items, TODAY) == {"GBP": 150.0, "USD": 7.0}


class TestBudget:
    @pytest.mark.parametrize(
        ("actual", "projected", "status"),
        [
            (500.0, 900.0, "under"),
            (500.0, 1000.0, "under"),  # exactly at budget is not over
            (500.0, 1000.01, "forecast over"),
            (1000.0, 1500.0, "forecast over"),
            (1000.01, 1500.0, "over"),
        ],
    )
    def test_status(self, actual: float, projected: float, status: str) -> None:
        check = budget_check(profile(budget=1000.0), {"GBP": actual}, {"GBP": projected})
        assert check.status == status
        assert check.used_percent == pytest.approx(actual / 10)

    def test_no_budget(self) -> None:
        check = budget_check(profile(), {"GBP": 5.0}, {})
        assert (check.status, check.used_percent) == ("no budget", None)
        assert budget_findings(profile(), check) == []

    def test_other_currency_cannot_be_compared(self) -> None:
        p = profile(budget=100.0, currency="GBP")
        check = budget_check(p, {"EUR": 5000.0}, {"EUR": 9000.0})
        assert check.status == "cannot compare"
        assert check.uncompared == {"EUR": 5000.0}
        assert check.used_percent is None
        findings = budget_findings(p, check)
        assert [(f.severity, f.rule) for f in findings] == [("info", "budget-currency")]
        assert findings[0].detail == "EUR 5,000.00 not counted against the GBP budget"

    def test_mixed_currencies_compare_only_the_profile_currency(self) -> None:
        p = profile(budget=100.0)
        check = budget_check(p, {"GBP": 90.0, "USD": 5000.0}, {"GBP": 95.0})
        assert (check.status, check.actual, check.uncompared) == ("under", 90.0, {"USD": 5000.0})
        findings = budget_findings(p, check)
        assert [f.severity for f in findings] == ["info"]

    def test_findings(self) -> None:
        p = profile(budget=1000.0)
        over = budget_findings(p, budget_check(p, {"GBP": 1200.0}, {"GBP": 2000.0}))
        soon = budget_findings(p, budget_check(p, {"GBP": 600.0}, {"GBP": 1100.0}))
        assert [(f.severity, f.title) for f in over] == [
            ("critical", "Contoso: over monthly budget")
        ]
        assert over[0].detail == "month to date GBP 1,200.00 against a budget of GBP 1,000.00"
        assert [(f.severity, f.title) for f in soon] == [
            ("warning", "Contoso: forecast over monthly budget")
        ]
        assert over[0].key == soon[0].key == "contoso:spend:budget:profile/contoso"

    def test_consumption_budgets(self) -> None:
        def budget(current: float | None, projected: float | None) -> BudgetRecord:
            return BudgetRecord("contoso", SUB, "monthly", 100.0, current, projected, "EUR")

        assert consumption_budget_finding(budget(100.0, 100.0)) is None
        assert consumption_budget_finding(budget(None, None)) is None
        over = consumption_budget_finding(budget(100.01, 50.0))
        soon = consumption_budget_finding(budget(80.0, 100.01))
        assert over is not None and soon is not None
        assert (over.severity, over.title, over.detail) == (
            "critical",
            "budget monthly: over",
            "spent EUR 100.01 of EUR 100.00 (Monthly)",
        )
        assert (soon.severity, soon.detail) == (
            "warning",
            "forecast EUR 100.01 against EUR 100.00 (spent EUR 80.00) (Monthly)",
        )
        assert soon.resource_id == (
            f"/subscriptions/{SUB}/providers/Microsoft.Consumption/budgets/monthly"
        )


def series(start: str, amounts: list[float], **kwargs: Any) -> list[CostRecord]:
    first = dt.date.fromisoformat(start)
    return [
        cost((first + dt.timedelta(days=i)).isoformat(), amount, **kwargs)
        for i, amount in enumerate(amounts)
    ]


class TestAnomalies:
    def test_planted_spike_found_with_factor(self) -> None:
        amounts = [100.0] * 20
        amounts[17] = 450.0
        found = spend_anomalies(series("2026-11-01", amounts))
        assert len(found) == 1
        a = found[0]
        assert (a.date, a.amount, a.median, a.factor) == ("2026-11-18", 450.0, 100.0, 4.5)
        assert (a.service, a.currency, a.subscription_id) == ("Virtual Machines", "GBP", SUB)

    def test_exactly_factor_is_not_an_anomaly(self) -> None:
        amounts = [100.0] * 15 + [200.0]
        assert spend_anomalies(series("2026-11-01", amounts)) == []
        amounts[-1] = 200.01
        assert [a.date for a in spend_anomalies(series("2026-11-01", amounts))] == ["2026-11-16"]

    def test_floor_applies_to_the_increase(self) -> None:
        small = [10.0] * 15 + [59.0]  # 5.9x but only 49 over the median
        assert spend_anomalies(series("2026-11-01", small)) == []
        small[-1] = 60.01  # 50.01 over
        assert len(spend_anomalies(series("2026-11-01", small))) == 1
        assert spend_anomalies(series("2026-11-01", small), floor=100.0) == []

    def test_factor_is_a_parameter(self) -> None:
        amounts = [100.0] * 15 + [180.0]
        assert spend_anomalies(series("2026-11-01", amounts)) == []
        assert len(spend_anomalies(series("2026-11-01", amounts), factor=1.5)) == 1

    def test_noisy_but_normal_has_no_false_positives(self) -> None:
        rng = random.Random(20261121)
        amounts = [100.0 * rng.uniform(0.6, 1.4) for _ in range(90)]
        start = dt.date(2026, 8, 24).isoformat()
        assert spend_anomalies(series(start, amounts)) == []

    def test_weekly_pattern_has_no_false_positives(self) -> None:
        week = [120.0, 130.0, 110.0, 125.0, 115.0, 15.0, 10.0]
        assert spend_anomalies(series("2026-09-01", week * 10)) == []

    def test_spike_in_noise_found(self) -> None:
        rng = random.Random(7)
        amounts = [100.0 * rng.uniform(0.6, 1.4) for _ in range(40)]
        amounts[30] = 400.0
        found = spend_anomalies(series("2026-10-01", amounts))
        assert [a.date for a in found] == ["2026-10-31"]

    def test_spike_does_not_raise_the_baseline(self) -> None:
        amounts = [100.0] * 30
        amounts[20] = 1000.0
        amounts[22] = 300.0  # median still 100: flagged too
        dates = [a.date for a in spend_anomalies(series("2026-10-01", amounts))]
        assert dates == ["2026-10-21", "2026-10-23"]

    def test_needs_history(self) -> None:
        assert spend_anomalies(series("2026-11-01", [100.0] * 6 + [900.0])) == []
        assert len(spend_anomalies(series("2026-11-01", [100.0] * 7 + [900.0]))) == 1

    def test_resource_groups_summed_and_gaps_are_zero(self) -> None:
        records = series("2026-11-01", [60.0] * 17, rg="a") + series(
            "2026-11-01", [40.0] * 17, rg="b"
        )
        assert spend_anomalies(records) == []  # 100 a day, not two series of 60 and 40
        gappy = [r for r in records if r.date != "2026-11-16"] + [cost("2026-11-17", 250.0)]
        # 2026-11-16 costs nothing; 11-17 is 100 + 250 = 350 vs median 100
        assert [(a.date, a.amount) for a in spend_anomalies(gappy)] == [("2026-11-17", 350.0)]

    def test_new_service_from_zero(self) -> None:
        base = series("2026-11-01", [100.0] * 16)
        new = [cost("2026-11-16", 500.0, service="Azure Firewall")]
        found = spend_anomalies(base + new)
        assert [(a.service, a.factor, a.median) for a in found] == [("Azure Firewall", None, 0)]

    def test_series_are_per_currency_and_subscription(self) -> None:
        gbp = series("2026-11-01", [100.0] * 16)
        eur = series("2026-11-01", [0.0] * 15 + [150.0], currency="EUR")
        other = series("2026-11-01", [0.0] * 15 + [150.0], sub=SUB2)
        found = spend_anomalies(gbp + eur + other)
        assert [(a.subscription_id, a.currency, a.amount) for a in found] == [
            (SUB, "EUR", 150.0),
            (SUB2, "GBP", 150.0),
        ]

    def test_findings_only_recent_and_one_per_series(self) -> None:
        amounts = [100.0] * 33  # 2026-10-20 .. 2026-11-21
        amounts[18] = 500.0  # 2026-11-07: 15 days before today, too old
        amounts[19] = 300.0  # 2026-11-08: first day of the 14-day lookback
        amounts[31] = 400.0  # 2026-11-20
        found = spend_anomalies(series("2026-10-20", amounts))
        assert [a.date for a in found] == ["2026-11-07", "2026-11-08", "2026-11-20"]
        findings = health.anomaly_findings(found, TODAY)
        assert len(findings) == 1
        f = findings[0]
        assert (f.severity, f.since, f.title) == (
            "warning",
            "2026-11-20",
            "Virtual Machines: cost spike (4.0x)",
        )
        assert f.detail == (
            "GBP 400.00 on 2026-11-20 against a 14-day median of GBP 100.00; "
            "2 anomalous days since 2026-11-08"
        )
        assert f.key == f"contoso:spend:anomaly/virtual machines/gbp:/subscriptions/{SUB}"
        assert health.anomaly_findings(found, TODAY, lookback_days=1) == []


# --------------------------------------------------------------------------- findings


def finding(
    severity: str = "warning",
    domain: str = "arc",
    *,
    since: str | None = None,
    title: str = "t",
    resource: str = "/r/1",
    profile_name: str = "contoso",
) -> Finding:
    return Finding(
        severity=severity,  # type: ignore[arg-type]
        domain=domain,
        profile=profile_name,
        rule="status",
        title=title,
        subscription_id=SUB,
        resource_id=resource,
        since=since,
    )


class TestAttention:
    def test_impact_then_severity_then_domain_then_newest(self) -> None:
        items = [
            finding("info", "arc", resource="/i"),
            finding("warning", "spend", resource="/ws"),
            finding("critical", "policy", resource="/cp"),
            finding("warning", "arc", since="2026-11-01T00:00:00Z", resource="/wa-old"),
            finding("critical", "circuits", resource="/cc"),
            finding("warning", "arc", resource="/wa-none"),
            finding("warning", "arc", since="2026-11-20", resource="/wa-new"),
            finding("critical", "arc", resource="/ca"),
            finding("bogus", "arc", resource="/bogus"),
            finding("warning", "other", resource="/wo"),
        ]
        order = [f.resource_id for f in attention(items)]
        # outage (a circuit down), degradation (spend), exposure (policy), hygiene
        # (these generic arc findings, then by severity, domain and newest)
        assert order == [
            "/cc",
            "/ws",
            "/cp",
            "/ca",
            "/wa-new",
            "/wa-old",
            "/wa-none",
            "/wo",
            "/i",
            "/bogus",
        ]

    def test_deterministic_whatever_the_input_order(self) -> None:
        items = [finding(title=f"t{i % 3}", resource=f"/r/{i}") for i in range(12)]
        expected = attention(items)
        for seed in range(5):
            shuffled = list(items)
            random.Random(seed).shuffle(shuffled)
            assert attention(shuffled) == expected

    def test_min_severity(self) -> None:
        items = [finding("info"), finding("warning"), finding("critical")]
        assert [f.severity for f in attention(items, "warning")] == ["critical", "warning"]
        assert [f.severity for f in attention(items, "critical")] == ["critical"]

    def test_key_is_stable_and_case_insensitive(self) -> None:
        a = finding("warning", resource="/Subscriptions/X/RG/Machine")
        b = finding("critical", resource="/subscriptions/x/rg/machine", title="worse")
        assert a.key == b.key == "contoso:arc:status:/subscriptions/x/rg/machine"

    def test_round_trips_through_the_record_json(self) -> None:
        f = finding("critical", since="2026-11-20T00:00:00Z")
        assert from_plain(to_plain(f)) == f

    def test_diff(self) -> None:
        same = finding("warning", resource="/same")
        retitled = finding("warning", resource="/same", title="disconnected for 3d")
        worse_before = finding("warning", resource="/worse")
        worse_after = finding("critical", resource="/worse")
        gone = finding("info", resource="/gone")
        new = finding("warning", resource="/new")
        diff = diff_findings([same, worse_before, gone], [retitled, worse_after, new])
        assert diff.new == (new,)
        assert diff.resolved == (gone,)
        assert diff.changed == ((worse_before, worse_after),)
        assert diff.unchanged == (retitled,)  # a new title alone is no change


# --------------------------------------------------------------------------- per customer


def estate() -> dict[str, list[object]]:
    return {
        "arc": [
            arc("ok-1"),
            arc("ok-2", version="1.47.0"),  # 2 behind 1.49 -> warning
            arc("gone", "Disconnected", changed="2026-11-01T00:00:00Z"),
            arc("exp", "Expired"),
            arc("k8s", "Offline", kind="cluster", version="1.21.10"),
            arc("other-customer", "Expired", profile_name="fabrikam"),
        ],
        "circuits": [
            circuit(pair((100, 100), (100, 100)), name="er-ok"),
            circuit(pair((0, 100), (100, 100)), name="er-half"),
            circuit(pair((0, 0), (0, 0)), name="er-down"),
            circuit(pair((0, 0), (0, 0)), name="er-fab", profile_name="fabrikam"),
        ],
        "policy": [
            comp(SUB, 60, 40),
            comp(SUB2, 100, 0),
            assignment("mma", 40),
            PolicyStateRecord(
                "contoso", SUB, "/r", "/a", "/d", "NonCompliant"
            ),  # ignored by health
        ],
        "spend": [
            *series("2026-10-25", [100.0] * 28),  # 21 days of November: GBP 2,100
            cost("2026-11-10", 30.0, currency="EUR", service="Support"),
            forecast(3100.0),
            BudgetRecord("contoso", SUB, "sub-budget", 1500.0, 1600.0, 3100.0, "GBP"),
            SubscriptionRecord("contoso", SUB, "Production", "Enabled"),
            SubscriptionRecord("fabrikam", SUB2, "Not ours", "Enabled"),
        ],
    }


class TestCustomer:
    def test_findings_for(self) -> None:
        p = profile(budget=3000.0)
        findings = findings_for(p, estate(), NOW)
        assert all(f.profile == "contoso" for f in findings)
        # impact first: outage, degradation, exposure, hygiene; then severity
        assert [(f.severity, f.domain, f.rule, f.title) for f in findings] == [
            ("critical", "circuits", "health", "er-down: circuit down"),
            ("warning", "arc", "status", "k8s: Arc cluster offline for 1d"),
            ("critical", "spend", "consumption-budget", "budget sub-budget: over"),
            ("warning", "circuits", "health", "er-half: circuit degraded"),
            ("warning", "spend", "budget", "Contoso: forecast over monthly budget"),
            ("critical", "policy", "compliance", "subscription Production: 60.0% compliant"),
            ("warning", "arc", "status", "exp: Arc server expired 1d ago"),
            ("warning", "arc", "status", "gone: Arc server disconnected for 20d"),
            ("warning", "arc", "agent-version", "ok-2: agent 2 releases behind"),
            (
                "info",
                "spend",
                "budget-currency",
                "Contoso: spend in other currencies cannot be compared",
            ),
            # EUR spent, but the forecast answer was in GBP only: EUR forecast unknown
            (
                "info",
                "spend",
                "forecast-unknown/EUR",
                "subscription Production: forecast unknown",
            ),
        ]
        assert findings == attention(findings)

    def test_estate_wide_newest_version(self) -> None:
        p = profile()
        records = {"arc": [arc("a", version="1.47.0")]}
        assert findings_for(p, records, NOW) == []
        wide = findings_for(p, records, NOW, newest={"machine": "1.49.0"}, versions_seen={})
        assert [f.rule for f in wide] == ["agent-version"]

    def test_empty(self) -> None:
        assert findings_for(profile(budget=10.0), {}, NOW) == []
        summary = customer_summary(profile(), {}, NOW)
        assert summary.compliance_percent is None
        assert summary.spend_mtd == ()
        assert summary.worst is None
        assert summary.budget.status == "no budget"

    def test_summary(self) -> None:
        p = profile(budget=3000.0)
        s = customer_summary(p, estate(), NOW)
        assert (s.profile, s.display_name) == ("contoso", "Contoso")
        assert s.machines == ArcCounts(connected=2, disconnected=1, expired=1)
        assert s.clusters == ArcCounts(disconnected=1)
        assert s.arc == ArcCounts(connected=2, disconnected=2, expired=1)
        assert s.circuits == CircuitCounts(healthy=1, degraded=1, down=1)
        assert s.compliance_percent == 80.0  # 160 of 200
        assert s.compliance_by_subscription == ((SUB, 60.0), (SUB2, 100.0))
        assert s.spend_mtd == (("EUR", 30.0), ("GBP", 2100.0))
        assert s.forecast == (("GBP", 3100.0),)
        assert s.budget.status == "forecast over"
        assert s.budget.used_percent == pytest.approx(70.0)
        assert s.budget.uncompared == {"EUR": 30.0}
        assert (s.critical, s.warning, s.info) == (3, 6, 2)
        assert s.worst == "critical"


def test_health_imports_neither_textual_nor_azure() -> None:
    code = (
        "import sys, btconsole.health; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'azure')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- spend as answered


class TestSpendAsAnswered:
    """Refunds, currencies, forecasts Azure did not give, and rows it sent absurd."""

    def test_refunds_lower_totals_and_can_make_them_negative(self) -> None:
        costs = [cost("2026-11-02", 40.0), cost("2026-11-03", -100.0, service="Refund")]
        assert health.spend_mtd(costs, TODAY) == {"GBP": -60.0}
        check = health.budget_check(profile(budget=50.0), {"GBP": -60.0}, {"GBP": -10.0})
        assert (check.status, check.used_percent) == ("under", pytest.approx(-120.0))
        assert health.budget_findings(profile(budget=50.0), check) == []

    def test_a_refund_is_no_anomaly_and_does_not_make_the_next_day_one(self) -> None:
        amounts = [100.0] * 16 + [-400.0, 100.0, 110.0]
        assert spend_anomalies(series("2026-11-01", amounts)) == []

    def test_after_credits_a_spike_is_measured_against_nothing_spent(self) -> None:
        amounts = [-20.0] * 10 + [45.0, 80.0]
        found = spend_anomalies(series("2026-11-01", amounts))
        # a median of -20 counts as 0: 45 is within the floor of 50, 80 is not
        assert [(a.date, a.median, a.factor) for a in found] == [("2026-11-12", 0.0, None)]

    def test_a_forecast_missing_for_a_currency_spent_is_unknown_not_partial(self) -> None:
        costs = [
            cost("2026-11-02", 40.0, currency="EUR"),
            cost("2026-11-02", 10.0, sub=SUB2, currency="EUR"),
            cost("2026-11-02", 30.0),
        ]
        forecasts = [forecast(80.0, currency="EUR"), forecast(60.0)]  # none for SUB2 in EUR
        assert health.forecast_gaps(costs, forecasts, TODAY) == [(SUB2, "EUR")]
        assert forecast_total(forecasts, TODAY) == {"EUR": 80.0, "GBP": 60.0}
        assert forecast_total(forecasts, TODAY, costs) == {"GBP": 60.0}
        findings = health.forecast_gap_findings("contoso", costs, forecasts, TODAY)
        assert [(f.severity, f.rule, f.subscription_id) for f in findings] == [
            ("info", "forecast-unknown/EUR", SUB2)
        ]
        assert "month to date EUR 10.00" in findings[0].detail

    def test_rejected_amounts_become_one_warning_per_subscription_and_kind(self) -> None:
        def rejected(kind: str, value: str, day: str = "2026-11-19") -> RejectedAmountRecord:
            return RejectedAmountRecord(
                "contoso", SUB, kind, value, "not a finite number", day, "Backup", "JPY"
            )

        items = [rejected("cost", "inf"), rejected("cost", "nan", "2026-11-18")]
        items += [rejected("forecast", "inf", "2026-11")] * 5
        findings = health.rejected_amount_findings(items, {SUB: "Production"})
        assert [(f.severity, f.rule, f.title) for f in findings] == [
            (
                "warning",
                "rejected-amount/cost",
                "subscription Production: 2 cost rows dropped (amount not believable)",
            ),
            (
                "warning",
                "rejected-amount/forecast",
                "subscription Production: 5 forecast rows dropped (amount not believable)",
            ),
        ]
        assert findings[0].detail == (
            "left out of every total: 2026-11-18 Backup: nan JPY (not a finite number); "
            "2026-11-19 Backup: inf JPY (not a finite number)"
        )
        assert findings[1].detail.endswith("(not a finite number)")  # the same row once
        records = {"spend": [*items, cost("2026-11-02", 5.0, currency="JPY")]}
        rules = [f.rule for f in findings_for(profile(), records, NOW)]
        assert "rejected-amount/cost" in rules and "rejected-amount/forecast" in rules

    def test_rejected_amounts_round_trip_through_the_record_json(self) -> None:
        r = RejectedAmountRecord("contoso", SUB, "budget", "1e+308", "absurd", service="b")
        assert from_plain(to_plain(r)) == r

    @pytest.mark.parametrize("amount", [float("inf"), float("-inf"), float("nan")])
    def test_money_that_is_not_a_number_reads_unknown(self, amount: float) -> None:
        b = BudgetRecord("contoso", SUB, "b", 10.0, amount, None, "GBP")
        finding = health.consumption_budget_finding(b)
        assert finding is None or "unknown" in finding.detail
        assert health.spend._fmt(amount, "GBP") == "GBP unknown"
