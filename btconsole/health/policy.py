"""Policy compliance: percentages and the compliance findings."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

from btconsole.config import Profile
from btconsole.health.base import (
    COMPLIANCE_CRITICAL_MARGIN,
    WORST_ASSIGNMENTS_SHOWN,
    Finding,
    Severity,
)
from btconsole.records import (
    ComplianceRecord,
    PolicyAssignmentRecord,
)

# --------------------------------------------------------------------------- policy


def compliance_percent(compliant: int, non_compliant: int) -> float | None:
    """compliant / (compliant + non-compliant) * 100; None when both are 0.

    None means "no evaluated resources": neither good nor bad, shown as n/a.
    Negative counts count as 0.
    """
    good, bad = max(0, compliant), max(0, non_compliant)
    if good + bad == 0:
        return None
    return good * 100.0 / (good + bad)


def _latest_per_subscription(
    records: Iterable[ComplianceRecord],
) -> dict[str, ComplianceRecord]:
    latest: dict[str, ComplianceRecord] = {}
    for r in records:
        latest[r.subscription_id] = r  # one per subscription; a repeat replaces it
    return latest


def subscription_compliance(records: Iterable[ComplianceRecord]) -> dict[str, float | None]:
    """Compliance percent per subscription id."""
    return {
        sub: compliance_percent(r.compliant_resources, r.non_compliant_resources)
        for sub, r in sorted(_latest_per_subscription(records).items())
    }


def customer_compliance(records: Iterable[ComplianceRecord]) -> float | None:
    """Compliance percent over all of a customer's resources (weighted by resources)."""
    latest = _latest_per_subscription(records).values()
    return compliance_percent(
        sum(max(0, r.compliant_resources) for r in latest),
        sum(max(0, r.non_compliant_resources) for r in latest),
    )


def compliance_severity(
    percent: float | None,
    threshold: float,
    critical_margin: float = COMPLIANCE_CRITICAL_MARGIN,
) -> Severity | None:
    """Below ``threshold`` a warning; below ``threshold - critical_margin`` critical.

    Exactly at a limit is the better side of it. None percent gives None.
    """
    if percent is None or percent >= threshold:
        return None
    if percent < threshold - critical_margin:
        return "critical"
    return "warning"


def worst_assignments(
    assignments: Iterable[PolicyAssignmentRecord], limit: int | None = None
) -> list[PolicyAssignmentRecord]:
    """Assignments with non-compliant resources, most first.

    Ties: more non-compliant policies first, then name, subscription and id.
    """
    bad = [a for a in assignments if a.non_compliant_resources > 0]
    bad.sort(
        key=lambda a: (
            -a.non_compliant_resources,
            -a.non_compliant_policies,
            a.assignment_name.lower(),
            a.subscription_id,
            a.assignment_id.lower(),
        )
    )
    return bad if limit is None else bad[:limit]


def _floor1(percent: float) -> str:
    """One decimal, rounded down, so 89.96% never shows as 90.0%."""
    return f"{math.floor(percent * 10) / 10:.1f}%"


def compliance_findings(
    profile: Profile,
    compliance: Iterable[ComplianceRecord],
    assignments: Iterable[PolicyAssignmentRecord] = (),
    names: Mapping[str, str] | None = None,
) -> list[Finding]:
    """One finding per subscription below ``profile.thresholds.compliance_percent``.

    ``names`` maps subscription ids to display names for the titles.
    """
    names = names or {}
    threshold = profile.thresholds.compliance_percent
    by_sub: dict[str, list[PolicyAssignmentRecord]] = defaultdict(list)
    for a in assignments:
        by_sub[a.subscription_id].append(a)
    findings: list[Finding] = []
    for sub, r in sorted(_latest_per_subscription(compliance).items()):
        percent = compliance_percent(r.compliant_resources, r.non_compliant_resources)
        severity = compliance_severity(percent, threshold)
        if severity is None or percent is None:
            continue
        detail = (
            f"{max(0, r.non_compliant_resources)} of "
            f"{max(0, r.compliant_resources) + max(0, r.non_compliant_resources)} "
            f"resources non-compliant (threshold {threshold:g}%)"
        )
        worst = worst_assignments(by_sub.get(sub, ()), WORST_ASSIGNMENTS_SHOWN)
        if worst:
            named = ", ".join(f"{a.assignment_name} ({a.non_compliant_resources})" for a in worst)
            detail += f"; worst: {named}"
        findings.append(
            Finding(
                severity=severity,
                domain="policy",
                profile=r.profile,
                rule="compliance",
                title=f"subscription {names.get(sub) or sub}: {_floor1(percent)} compliant",
                subscription_id=sub,
                resource_id=f"/subscriptions/{sub}",
                detail=detail,
            )
        )
    return findings
