"""The JSON report, shaped by ``docs/check-schema.json``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from btconsole.checks.format import clean, iso_time
from btconsole.checks.options import SCHEMA
from btconsole.checks.report import CheckReport
from btconsole.checks.snapshot import DataProblem
from btconsole.coverage import (
    STATES,
    CustomerCoverage,
)
from btconsole.digest import (
    ALL_SCOPE,
)
from btconsole.health import (
    SEVERITIES,
    CustomerSummary,
    Finding,
)


def finding_json(f: Finding, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "key": f.key,
        "severity": f.severity,
        "impact": f.impact_class,
        "domain": f.domain,
        "profile": f.profile,
        "rule": f.rule,
        "title": f.title,
        "subscription_id": f.subscription_id,
        "subscription_name": names.get(f.subscription_id or ""),
        "resource_id": f.resource_id,
        "detail": f.detail,
        "since": f.since,
        "azure_cause": f.azure_cause or None,
    }


def problem_json(p: DataProblem) -> dict[str, Any]:
    return {
        "profile": None if p.profile == "*" else p.profile,
        "domain": None if p.domain == "*" else p.domain,
        "scope": None if p.scope == ALL_SCOPE else p.scope,
        "kind": p.kind,
        "reason": p.reason,
        "message": p.message,
        "fetched_at": iso_time(p.fetched_at) if p.fetched_at is not None else None,
    }


def coverage_json(coverage: CustomerCoverage | None) -> dict[str, Any] | None:
    """Per domain: its state (``known``, ``partial``, ``unknown``) and scope counts."""
    if coverage is None:
        return None
    domains: dict[str, Any] = {}
    for name, d in coverage.domains.items():
        cause = d.cause
        domains[name] = {
            "state": "unknown" if d.unknown else "partial" if d.partial else "known",
            "scopes": {state: d.count(state) for state in STATES},
            "reason": cause.reason if cause is not None and not cause.ok else None,
            "why": clean(cause.why) if cause is not None and not cause.ok else None,
        }
    listing = coverage.listing
    return {
        "listing": {
            "state": listing.state,
            "reason": listing.reason,
            "why": clean(listing.why) if not listing.ok else None,
        },
        "domains": domains,
    }


def _summary_json(s: CustomerSummary) -> dict[str, Any]:
    b = s.budget
    return {
        "arc": dataclasses.asdict(s.arc),
        "machines": dataclasses.asdict(s.machines),
        "clusters": dataclasses.asdict(s.clusters),
        "circuits": dataclasses.asdict(s.circuits),
        "compliance_percent": s.compliance_percent,
        "spend_mtd": dict(s.spend_mtd),
        "forecast": dict(s.forecast),
        "health": {
            "service_issues": s.service_issues,
            "fired_alerts": s.fired_alerts,
            "unhealthy_resources": s.unhealthy_resources,
        },
        "budget": {
            "status": b.status,
            "amount": b.budget,
            "currency": b.currency,
            "used_percent": b.used_percent,
        },
    }


def report_json(report: CheckReport) -> dict[str, Any]:
    """The report as data, shaped by ``docs/check-schema.json`` (:data:`SCHEMA`)."""
    snap = report.snapshot
    names: dict[str, str] = {}
    for c in report.customers:
        names.update(c.subscription_names)
    changes = report.changes
    diff = changes.diff
    oldest = snap.oldest_fetch
    return {
        "schema": SCHEMA,
        "generated_at": iso_time(snap.clock.wall),
        "today": snap.clock.today.isoformat(),
        "today_pinned": snap.clock.pinned,
        "profiles": [c.profile.name for c in report.customers],
        "offline": snap.offline,
        "max_age_seconds": snap.max_age,
        "exit_code": report.exit_code,
        "status": report.status,
        "worst": report.worst,
        "counts": report.counts,
        "data": {
            "complete": report.complete,
            "oldest_fetch": iso_time(oldest) if oldest is not None else None,
            "problems": [problem_json(p) for p in snap.all_problems],
            "notes": list(snap.notes),
        },
        "customers": [
            {
                "profile": c.profile.name,
                "display_name": c.profile.display_name,
                "worst": c.summary.worst,
                "counts": {s: getattr(c.summary, s) for s in SEVERITIES},
                "complete": not c.problems,
                "status": c.status,
                "coverage": coverage_json(c.coverage),
                "oldest_fetch": iso_time(c.oldest_fetch) if c.oldest_fetch is not None else None,
                "summary": _summary_json(c.summary),
                "findings": [finding_json(f, c.subscription_names) for f in c.findings],
            }
            for c in report.customers
        ],
        "changes": {
            "previous_check_at": changes.previous_at,
            "note": changes.note,
            "new": [finding_json(f, names) for f in diff.new],
            "resolved": [finding_json(f, names) for f in diff.resolved],
            "changed": [
                {"before": finding_json(b, names), "after": finding_json(a, names)}
                for b, a in diff.changed
            ],
            "unchanged": len(diff.unchanged) if changes.previous_at is not None else None,
        },
    }
