"""What every domain shares: findings, their ranking (impact, severity) and the
attention order, times and ages; the thresholds every rule uses."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from btconsole.records import (
    record,
)

Severity = Literal["critical", "warning", "info"]
CircuitState = Literal["healthy", "degraded", "down", "unknown"]
ArcBucket = Literal["connected", "disconnected", "expired", "error", "other"]
BudgetStatus = Literal["no budget", "under", "forecast over", "over", "cannot compare"]

SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
#: Within an impact class and severity, the wider blast radius first: a circuit carries
#: a whole site's traffic, an Arc resource is one server or cluster.
DOMAIN_ORDER: tuple[str, ...] = ("health", "circuits", "arc", "policy", "spend")

#: A disconnected (or offline) Arc resource becomes critical after this many days.
#: An Arc resource that went disconnected or into error less than this many days ago
#: is an outage; longer ago, a cleanup backlog (hygiene), never critical.
RECENT_DAYS = 7.0
#: Compliance this many points below the threshold is critical rather than a warning.
COMPLIANCE_CRITICAL_MARGIN = 20.0
#: Anomaly detection defaults: trailing window, factor over its median, absolute floor.
ANOMALY_WINDOW_DAYS = 14
ANOMALY_FACTOR = 2.0
ANOMALY_FLOOR = 50.0
ANOMALY_MIN_HISTORY_DAYS = 7
#: Anomalies older than this many days (counting today) are not findings any more.
ANOMALY_LOOKBACK_DAYS = 14
#: How many of the worst assignments a compliance finding names.
WORST_ASSIGNMENTS_SHOWN = 3


# --------------------------------------------------------------------------- findings


@record
@dataclass(frozen=True)
class Finding:
    """One thing that needs a human: what, where, how bad and since when.

    ``rule`` names the check that raised it (``status``, ``agent-version``, ``health``,
    ``compliance``, ``budget``, ``anomaly/<service>``, ...). It does not encode the
    severity, so a problem that gets worse keeps its :attr:`key`.
    """

    severity: Severity
    domain: str
    profile: str
    rule: str
    title: str
    subscription_id: str | None = None
    resource_id: str | None = None
    detail: str = ""
    since: str | None = None
    # what the problem does to the customer (:data:`IMPACTS`); "" lets
    # :func:`impact_of` decide from the domain, the rule and the severity
    impact: str = ""
    # why Azure itself may be the cause ("Azure: ExpressRoute service issue in UK South
    # since 09:12"), filled in by the customer's assembly (health.incidents.correlate)
    azure_cause: str = ""

    @property
    def impact_class(self) -> str:
        return impact_of(self)

    @property
    def key(self) -> str:
        """Stable identity across runs: profile, domain, rule and resource (lower-case)."""
        subject = self.resource_id or self.subscription_id or ""
        return f"{self.profile}:{self.domain}:{self.rule}:{subject}".lower()


#: Impact classes, worst first: the attention list orders by class before severity.
#: outage: the customer is cut off or blind (a circuit down, no data, a machine that
#: just went down); degradation: running with less margin (one device down, budget
#: forecast over, a failed extension); exposure: risk without breakage (policy);
#: hygiene: backlog (long-expired or long-disconnected machines, agents behind).
IMPACTS: tuple[str, ...] = ("outage", "degradation", "exposure", "hygiene")
_IMPACT_RANKS: dict[str, int] = {name: rank for rank, name in enumerate(IMPACTS)}


def impact_of(f: Finding) -> str:
    """The finding's impact class: its own, else by domain, rule and severity."""
    if f.impact in _IMPACT_RANKS:
        return f.impact
    rule = f.rule
    if rule == "coverage":
        return "outage"  # a customer or domain nobody can see
    if rule.startswith("coverage/"):
        return "degradation"  # seen, but the view is getting old
    if f.domain == "circuits":
        return "outage" if f.severity == "critical" else "degradation"
    if f.domain == "policy":
        return "exposure"
    if f.domain == "arc":
        return "degradation" if rule.startswith("extension") else "hygiene"
    if f.domain == "spend":
        return "hygiene" if f.severity == "info" else "degradation"
    return "degradation" if f.severity == "critical" else "hygiene"


_SEVERITY_RANKS: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}
_DOMAIN_RANKS: dict[str, int] = {name: rank for rank, name in enumerate(DOMAIN_ORDER)}
_DOMAIN_RANKS["all"] = -1  # a finding about every domain of a customer (no data at all)


def _severity_rank(severity: str) -> int:
    return _SEVERITY_RANKS.get(severity, len(SEVERITIES))


def _domain_rank(domain: str) -> int:
    return _DOMAIN_RANKS.get(domain, len(DOMAIN_ORDER))


# a finding's rank is asked once per sort: the digest's own and the overview's (cached)
@functools.lru_cache(maxsize=1 << 16)
def _since_rank(since: str | None) -> tuple[int, float]:
    """Newest first; findings without a parsable ``since`` after those with one."""
    moment = parse_time(since)
    if moment is None:
        return (1, 0.0)
    return (0, -moment.timestamp())


def attention(findings: Iterable[Finding], min_severity: Severity = "info") -> list[Finding]:
    """Findings worst first, at ``min_severity`` or worse (``info``: all of them).

    Order: impact class (outage, degradation, exposure, hygiene: :func:`impact_of`);
    then severity (critical, warning, info); then missing data (a customer or domain
    that could not be read, :mod:`btconsole.coverage`); then domain (all, circuits,
    arc, policy, spend: the wider blast radius first); then newest ``since`` first,
    findings without a time last; then profile, subscription, title and key, so the
    order is total and deterministic.
    """
    # "info" keeps everything, even a severity this version does not know (sorted last)
    limit = len(SEVERITIES) if min_severity == "info" else _severity_rank(min_severity)
    kept = [f for f in findings if _severity_rank(f.severity) <= limit]
    return sorted(kept, key=attention_key)


def attention_key(f: Finding) -> tuple[Any, ...]:
    """A finding's place in :func:`attention` order: findings of several customers
    ranked apart merge by it into one list."""
    return (
        _IMPACT_RANKS.get(impact_of(f), len(IMPACTS)),
        _severity_rank(f.severity),
        f.rule != "coverage",  # a customer or domain without data: first
        _domain_rank(f.domain),
        _since_rank(f.since),
        f.profile,
        f.subscription_id or "",
        f.title,
        f.key,
    )


@dataclass(frozen=True)
class FindingsDiff:
    """What changed between two runs, each part in :func:`attention` order."""

    new: tuple[Finding, ...]
    resolved: tuple[Finding, ...]
    changed: tuple[tuple[Finding, Finding], ...]  # (before, after): severity differs
    unchanged: tuple[Finding, ...]


def diff_findings(before: Iterable[Finding], after: Iterable[Finding]) -> FindingsDiff:
    """Compare two runs by :attr:`Finding.key` (if a key repeats, the last one wins).

    A finding is *changed* when its severity changed. Titles and details carry figures
    that move every run (days disconnected, compliance percent), so they do not count.
    """
    old = {f.key: f for f in before}
    cur = {f.key: f for f in after}
    new = attention(f for k, f in cur.items() if k not in old)
    resolved = attention(f for k, f in old.items() if k not in cur)
    changed_after = attention(
        f for k, f in cur.items() if k in old and old[k].severity != f.severity
    )
    changed_keys = {f.key for f in changed_after}
    unchanged = attention(f for k, f in cur.items() if k in old and k not in changed_keys)
    return FindingsDiff(
        new=tuple(new),
        resolved=tuple(resolved),
        changed=tuple((old[f.key], f) for f in changed_after),
        unchanged=tuple(unchanged),
    )


# --------------------------------------------------------------------------- time

_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?$",
    re.IGNORECASE,
)


def parse_time(text: str | None) -> dt.datetime | None:
    """An ISO 8601 date or timestamp as an aware UTC datetime, or None if unparsable.

    Accepts what Azure sends: ``Z`` or an offset, any number of fractional digits
    (ARM often sends seven). A bare date is midnight UTC; no offset means UTC.
    """
    if not text:
        return None
    if (
        len(text) == 20
        and text[4] == text[7] == "-"
        and text[10] == "T"
        and text[13] == text[16] == ":"
        and text[19] == "Z"
    ):
        # the canonical form (ours, and most of Azure's): the C parser, ~10x faster
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(text[:19]).replace(tzinfo=dt.timezone.utc)
    match = _TIME_RE.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    offset = dt.timedelta(0)
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        moment = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=dt.timezone(offset),
        )
    except ValueError:
        return None
    try:
        return moment.astimezone(dt.timezone.utc)
    except OverflowError:  # past year 9999 in UTC (9999-12-31T23:00-05:00): as far as goes
        return dt.datetime.max.replace(tzinfo=dt.timezone.utc)


def _utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        return now.replace(tzinfo=dt.timezone.utc)
    return now.astimezone(dt.timezone.utc)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


#: A time at most this far ahead of now reads as now (clocks differ a little); a time
#: further ahead reads as future (``in 3h``), never as ``0s`` ago.
FUTURE_SLACK_SECONDS = 60.0

_AGE_UNITS = (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60))


def age_text(seconds: float) -> str:
    """How long ago, in its largest whole unit: ``45s``, ``12m``, ``3h``, ``2d``, ``3y``.

    A time ahead of now by more than :data:`FUTURE_SLACK_SECONDS` reads as such:
    ``in 7974y`` (a status change dated in year 9999), never as ``0s`` ago. The one
    age format of the console, ``check`` and the findings.
    """
    if seconds < -FUTURE_SLACK_SECONDS:
        return f"in {_largest_unit(-seconds)}"
    return _largest_unit(max(0.0, seconds))


def _largest_unit(seconds: float) -> str:
    for unit, size in _AGE_UNITS:
        if seconds >= size:
            return f"{math.floor(seconds / size)}{unit}"
    return f"{math.floor(seconds)}s"


def _days(delta: dt.timedelta) -> str:
    days = delta.total_seconds() / 86400
    if days >= 1:
        return f"{math.floor(days)}d"
    hours = delta.total_seconds() / 3600
    if hours >= 1:
        return f"{math.floor(hours)}h"
    return f"{max(0, math.floor(delta.total_seconds() / 60))}m"
