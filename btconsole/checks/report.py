"""The report: findings per customer, worst first, with the changes since the
previous check and the exit code."""

from __future__ import annotations

from dataclasses import dataclass

from btconsole.checks.options import (
    EXIT_ALL_CLEAR,
    EXIT_CRITICAL,
    EXIT_INCOMPLETE,
    EXIT_WARNING,
)
from btconsole.checks.snapshot import DataProblem, Snapshot
from btconsole.checks.state import PreviousCheck
from btconsole.config import Profile
from btconsole.coverage import (
    COVERAGE_RULE,
    CustomerCoverage,
)
from btconsole.digest import (
    with_coverage,
)
from btconsole.health import (
    SEVERITIES,
    CustomerSummary,
    Finding,
    FindingsDiff,
    customer_summary,
    diff_findings,
    findings_for,
)

# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class CustomerReport:
    """One customer's part of the report."""

    profile: Profile
    summary: CustomerSummary
    findings: tuple[Finding, ...]
    subscription_names: dict[str, str]
    problems: tuple[DataProblem, ...]
    oldest_fetch: float | None
    coverage: CustomerCoverage | None = None

    @property
    def unknown(self) -> bool:
        """Nothing at all could be read of this customer."""
        return self.coverage is not None and self.coverage.unknown

    @property
    def status(self) -> str:
        """``unknown``, ``incomplete`` or the worst severity (``ok`` for none)."""
        if self.unknown:
            return "unknown"
        if self.problems:
            return "incomplete"
        return self.summary.worst or "ok"


@dataclass(frozen=True)
class Changes:
    """What changed since the previous check of the same profiles."""

    previous_at: str | None  # ISO time of the previous check; None: this is the first
    diff: FindingsDiff
    note: str | None = None


@dataclass(frozen=True)
class CheckReport:
    """Everything a renderer needs."""

    snapshot: Snapshot
    customers: tuple[CustomerReport, ...]
    changes: Changes

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.customers for f in c.findings]

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        return counts

    @property
    def worst(self) -> str | None:
        counts = self.counts
        return next((s for s in SEVERITIES if counts.get(s)), None)

    @property
    def complete(self) -> bool:
        return self.snapshot.complete

    @property
    def severity_code(self) -> int:
        counts = self.counts
        if counts.get("critical"):
            return EXIT_CRITICAL
        if counts.get("warning"):
            return EXIT_WARNING
        return EXIT_ALL_CLEAR

    @property
    def exit_code(self) -> int:
        """The highest code that applies: incomplete data (3) wins over critical (2)."""
        return EXIT_INCOMPLETE if not self.complete else self.severity_code

    @property
    def status(self) -> str:
        """``ok``, ``warning``, ``critical`` or ``incomplete`` (the exit code's meaning)."""
        return {0: "ok", 1: "warning", 2: "critical", 3: "incomplete"}[self.exit_code]

    @property
    def verdict(self) -> str:
        """The headline: ``CRITICAL``, ``WARNINGS``, ``ALL CLEAR``, or ``DATA INCOMPLETE``
        followed by what the data that could be read shows."""
        word = {0: "ALL CLEAR", 1: "WARNINGS", 2: "CRITICAL"}[self.severity_code]
        if self.complete:
            return word
        unknown = sum(1 for c in self.customers if c.unknown)
        head = "DATA INCOMPLETE"
        if unknown:
            head += f" ({unknown} of {len(self.customers)} customers UNKNOWN)"
        # what the data that could be read shows: the findings about missing data aside
        read = [f for f in self.findings if not f.rule.startswith(COVERAGE_RULE)]
        worst = next((s for s in SEVERITIES if any(f.severity == s for f in read)), None)
        if unknown == len(self.customers):
            return head
        if worst is None:
            return f"{head}, no problems in the data that could be read"
        word = {"critical": "CRITICAL", "warning": "WARNINGS"}.get(worst, "ALL CLEAR")
        return f"{head}, {word} in the data that could be read"


def build_report(snapshot: Snapshot, previous: PreviousCheck | None) -> CheckReport:
    """Findings per customer (worst first) and the changes since ``previous``."""
    customers: list[CustomerReport] = []
    for data in snapshot.profiles:
        known = snapshot.health.get(data.profile.name)
        if known is not None:
            customers.append(
                CustomerReport(
                    profile=data.profile,
                    summary=known.summary,
                    findings=known.findings,
                    subscription_names=data.subscription_names,
                    problems=tuple(data.problems),
                    oldest_fetch=data.oldest_fetch,
                    coverage=known.coverage or data.coverage,
                )
            )
            continue
        records = data.records_by_domain()
        findings = findings_for(
            data.profile,
            records,
            snapshot.clock.now,
            newest=snapshot.newest_versions,
            versions_seen=snapshot.versions_seen,
        )
        summary = customer_summary(data.profile, records, snapshot.clock.now, findings)
        every: tuple[Finding, ...] = tuple(findings)
        if data.coverage is not None:
            summary, every = with_coverage(summary, findings, data.coverage)
        customers.append(
            CustomerReport(
                profile=data.profile,
                summary=summary,
                findings=every,
                subscription_names=data.subscription_names,
                problems=tuple(data.problems),
                oldest_fetch=data.oldest_fetch,
                coverage=data.coverage,
            )
        )
    current = [f for c in customers for f in c.findings]
    if previous is None:
        changes = Changes(None, FindingsDiff((), (), (), tuple(current)))
    else:
        note = None
        if not snapshot.complete:
            note = "the data is incomplete: a resolved finding may only be missing data"
        changes = Changes(previous.checked_at, diff_findings(previous.findings, current), note)
    return CheckReport(snapshot, tuple(customers), changes)
