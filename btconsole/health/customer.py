"""One customer: every finding (:func:`findings_for`) and the overview summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from btconsole.config import Profile
from btconsole.health.arc import (
    ArcCounts,
    arc_counts,
    arc_extension_findings,
    arc_status_finding,
    arc_version_finding,
    newest_by_kind,
    versions_by_kind,
)
from btconsole.health.base import (
    RECENT_DAYS,
    SEVERITIES,
    Finding,
    Severity,
    _utc,
    attention,
)
from btconsole.health.circuits import CircuitCounts, circuit_counts, circuit_finding
from btconsole.health.incidents import (
    HEALTH_SCOPES,
    SERVICE_ISSUE,
    alert_fired,
    correlate,
    customer_events,
    health_findings,
    is_active,
    patch_findings,
)
from btconsole.health.policy import (
    compliance_findings,
    customer_compliance,
    subscription_compliance,
)
from btconsole.health.spend import (
    BudgetCheck,
    anomaly_findings,
    budget_check,
    budget_findings,
    consumption_budget_finding,
    forecast_gap_findings,
    forecast_total,
    rejected_amount_findings,
    spend_anomalies,
    spend_mtd,
)
from btconsole.records import (
    AlertRecord,
    ArcRecord,
    BudgetRecord,
    CircuitRecord,
    ComplianceRecord,
    CostRecord,
    ForecastRecord,
    PatchAssessmentRecord,
    PolicyAssignmentRecord,
    RejectedAmountRecord,
    ResourceHealthRecord,
    ServiceHealthEvent,
    SubscriptionRecord,
)

# --------------------------------------------------------------------------- per customer

RecordsByDomain = Mapping[str, Iterable[object]]


@dataclass(frozen=True)
class CustomerRecords:
    """One customer's records, by type (records of other profiles are left out)."""

    arc: tuple[ArcRecord, ...] = ()
    circuits: tuple[CircuitRecord, ...] = ()
    compliance: tuple[ComplianceRecord, ...] = ()
    assignments: tuple[PolicyAssignmentRecord, ...] = ()
    costs: tuple[CostRecord, ...] = ()
    budgets: tuple[BudgetRecord, ...] = ()
    forecasts: tuple[ForecastRecord, ...] = ()
    subscriptions: tuple[SubscriptionRecord, ...] = ()
    rejected: tuple[RejectedAmountRecord, ...] = ()
    events: tuple[ServiceHealthEvent, ...] = ()
    resource_health: tuple[ResourceHealthRecord, ...] = ()
    alerts: tuple[AlertRecord, ...] = ()
    patches: tuple[PatchAssessmentRecord, ...] = ()

    @property
    def subscription_names(self) -> dict[str, str]:
        """Subscription id -> display name, for the subscriptions listed."""
        return {s.subscription_id: s.display_name for s in self.subscriptions if s.display_name}

    @classmethod
    def pick(cls, profile: str, records_by_domain: RecordsByDomain) -> CustomerRecords:
        """Sort ``records_by_domain`` (domain -> records) into types, for ``profile``.

        The domain a record is filed under does not matter, only its type; records of
        types health does not use (PolicyStateRecord, details) are ignored.
        """
        # one pass, sorting by exact type (records are final dataclasses): eight
        # isinstance scans of every record cost more than the rules themselves
        buckets: dict[type, list[object]] = {t: [] for t in _PICKED}
        for records in records_by_domain.values():
            for r in records:
                bucket = buckets.get(type(r))
                if bucket is not None and getattr(r, "profile", None) == profile:
                    bucket.append(r)
        return cls(
            arc=tuple(buckets[ArcRecord]),  # type: ignore[arg-type]
            circuits=tuple(buckets[CircuitRecord]),  # type: ignore[arg-type]
            compliance=tuple(buckets[ComplianceRecord]),  # type: ignore[arg-type]
            assignments=tuple(buckets[PolicyAssignmentRecord]),  # type: ignore[arg-type]
            costs=tuple(buckets[CostRecord]),  # type: ignore[arg-type]
            budgets=tuple(buckets[BudgetRecord]),  # type: ignore[arg-type]
            forecasts=tuple(buckets[ForecastRecord]),  # type: ignore[arg-type]
            subscriptions=tuple(buckets[SubscriptionRecord]),  # type: ignore[arg-type]
            rejected=tuple(buckets[RejectedAmountRecord]),  # type: ignore[arg-type]
            events=tuple(buckets[ServiceHealthEvent]),  # type: ignore[arg-type]
            resource_health=tuple(buckets[ResourceHealthRecord]),  # type: ignore[arg-type]
            alerts=tuple(buckets[AlertRecord]),  # type: ignore[arg-type]
            patches=tuple(buckets[PatchAssessmentRecord]),  # type: ignore[arg-type]
        )


_PICKED = (
    ArcRecord,
    CircuitRecord,
    ComplianceRecord,
    PolicyAssignmentRecord,
    CostRecord,
    BudgetRecord,
    ForecastRecord,
    SubscriptionRecord,
    RejectedAmountRecord,
    ServiceHealthEvent,
    ResourceHealthRecord,
    AlertRecord,
    PatchAssessmentRecord,
)


def health_scopes(records_by_domain: RecordsByDomain, records: CustomerRecords) -> set[str]:
    """The subscriptions whose health domain was read: as listed under
    :data:`HEALTH_SCOPES`, else those any health record names (never more)."""
    listed = records_by_domain.get(HEALTH_SCOPES)
    if listed is not None:
        return {str(s).lower() for s in listed}
    named: list[str] = [r.subscription_id for r in records.events]
    named += [r.subscription_id for r in records.resource_health]
    named += [r.subscription_id for r in records.alerts]
    named += [r.subscription_id for r in records.patches]
    return {s.lower() for s in named}


def findings_for(
    profile: Profile,
    records_by_domain: RecordsByDomain,
    now: dt.datetime,
    *,
    newest: Mapping[str, str] | None = None,
    versions_seen: Mapping[str, Iterable[str]] | None = None,
    recent_days: float = RECENT_DAYS,
) -> list[Finding]:
    """Every finding for one customer, in :func:`attention` order.

    ``records_by_domain`` maps a domain ("arc", "circuits", "policy", "spend") to
    records; only records whose ``profile`` is ``profile.name`` count. Agent versions
    are compared with the newest seen in this customer's records unless ``newest``
    and ``versions_seen`` (per kind, e.g. from the whole estate) are given.
    """
    records = CustomerRecords.pick(profile.name, records_by_domain)
    today = _utc(now).date()
    findings: list[Finding] = []

    newest = newest if newest is not None else newest_by_kind(records.arc)
    seen = versions_seen if versions_seen is not None else versions_by_kind(records.arc)
    for arc in records.arc:
        status = arc_status_finding(arc, now, recent_days)
        if status is not None:
            findings.append(status)
        version = arc_version_finding(arc, newest, seen, profile.thresholds.agent_versions_behind)
        if version is not None:
            findings.append(version)
        findings.extend(arc_extension_findings(arc))

    for circuit in records.circuits:
        finding = circuit_finding(circuit)
        if finding is not None:
            findings.append(finding)

    findings.extend(
        compliance_findings(
            profile, records.compliance, records.assignments, records.subscription_names
        )
    )

    check = budget_check(
        profile,
        spend_mtd(records.costs, today),
        forecast_total(records.forecasts, today, records.costs),
    )
    findings.extend(budget_findings(profile, check))
    names = records.subscription_names
    findings.extend(
        forecast_gap_findings(
            profile.name,
            records.costs,
            records.forecasts,
            today,
            names,
            billed=profile.billing_scope is not None,
        )
    )
    findings.extend(rejected_amount_findings(records.rejected, names))
    for budget in records.budgets:
        finding = consumption_budget_finding(budget)
        if finding is not None:
            findings.append(finding)
    findings.extend(anomaly_findings(spend_anomalies(records.costs), today))

    findings.extend(
        health_findings(profile.name, records.events, records.resource_health, records.alerts, now)
    )
    findings.extend(
        patch_findings(
            records.arc,
            records.patches,
            now,
            known_subscriptions=health_scopes(records_by_domain, records),
            assessment_days=profile.thresholds.patch_assessment_days,
            critical_days=profile.thresholds.critical_patch_days,
        )
    )
    findings = correlate(
        findings, records.circuits, records.arc, records.events, records.resource_health, now
    )
    return attention(findings)


def severity_counts(findings: Iterable[Finding], profile: str) -> dict[str, int]:
    """How many of ``profile``'s findings are critical, warning and info."""
    tally: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        if f.profile == profile and f.severity in tally:
            tally[f.severity] += 1
    return tally


@dataclass(frozen=True)
class CustomerSummary:
    """One customer's row in the overview and in ``btconsole check``."""

    profile: str
    display_name: str
    machines: ArcCounts
    clusters: ArcCounts
    circuits: CircuitCounts
    compliance_percent: float | None
    compliance_by_subscription: tuple[tuple[str, float | None], ...]
    spend_mtd: tuple[tuple[str, float], ...]  # (currency, amount), by currency
    forecast: tuple[tuple[str, float], ...]
    budget: BudgetCheck
    critical: int = 0
    warning: int = 0
    info: int = 0
    # the health domain: active service issues reaching the customer, fired alerts,
    # resources Unavailable or Degraded (None: no health data, unknown)
    service_issues: int | None = None
    fired_alerts: int | None = None
    unhealthy_resources: int | None = None

    @property
    def arc(self) -> ArcCounts:
        """Machines and clusters together."""
        return self.machines + self.clusters

    @property
    def worst(self) -> Severity | None:
        """The worst severity among the customer's findings, or None."""
        for severity in SEVERITIES:
            if getattr(self, severity):
                return severity
        return None


def customer_summary(
    profile: Profile,
    records_by_domain: RecordsByDomain,
    now: dt.datetime,
    findings: Iterable[Finding] | None = None,
) -> CustomerSummary:
    """The overview of one customer; ``findings`` default to :func:`findings_for`."""
    records = CustomerRecords.pick(profile.name, records_by_domain)
    today = _utc(now).date()
    actual = spend_mtd(records.costs, today)
    forecast = forecast_total(records.forecasts, today, records.costs)
    if findings is None:
        findings = findings_for(profile, records_by_domain, now)
    tally = severity_counts(findings, profile.name)
    issues = alerts = unhealthy = None
    if health_scopes(records_by_domain, records):
        issues = len(
            [
                m
                for m in customer_events(records.events)
                if is_active(m.event, now) and (m.event.event_type or "").lower() == SERVICE_ISSUE
            ]
        )
        alerts = sum(1 for a in records.alerts if alert_fired(a))
        unhealthy = sum(
            1
            for r in records.resource_health
            if r.availability_state.strip().lower() in ("unavailable", "degraded")
        )
    return CustomerSummary(
        profile=profile.name,
        display_name=profile.display_name,
        machines=arc_counts(records.arc, "machine"),
        clusters=arc_counts(records.arc, "cluster"),
        circuits=circuit_counts(records.circuits),
        compliance_percent=customer_compliance(records.compliance),
        compliance_by_subscription=tuple(subscription_compliance(records.compliance).items()),
        spend_mtd=tuple(actual.items()),
        forecast=tuple(forecast.items()),
        budget=budget_check(profile, actual, forecast),
        critical=tally["critical"],
        warning=tally["warning"],
        info=tally["info"],
        service_issues=issues,
        fired_alerts=alerts,
        unhealthy_resources=unhealthy,
    )
