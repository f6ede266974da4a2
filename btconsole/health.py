"""Derived health: pure functions from records to states, findings and summaries.

Nothing here does I/O or reads the clock: every function that depends on the time
takes ``now`` (an aware :class:`~datetime.datetime`; a naive one is taken as UTC) or
``today`` (a :class:`~datetime.date`). The same records and the same ``now`` always
give the same answer, in the same order. ``docs/health.md`` explains every rule.

Status strings from Azure are open sets: an unknown value becomes an ``info``
finding, never an exception. Amounts in different currencies are never added together:
every spend figure is a ``dict`` from currency code to amount.

This module imports neither Textual nor any Azure SDK.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from btconsole.config import Profile
from btconsole.records import (
    ArcRecord,
    BudgetRecord,
    CircuitRecord,
    ComplianceRecord,
    CostRecord,
    DeviceAvailability,
    ForecastRecord,
    PolicyAssignmentRecord,
    RejectedAmountRecord,
    SubscriptionRecord,
    record,
)

Severity = Literal["critical", "warning", "info"]
CircuitState = Literal["healthy", "degraded", "down", "unknown"]
ArcBucket = Literal["connected", "disconnected", "expired", "error", "other"]
BudgetStatus = Literal["no budget", "under", "forecast over", "over", "cannot compare"]

SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
#: Within an impact class and severity, the wider blast radius first: a circuit carries
#: a whole site's traffic, an Arc resource is one server or cluster.
DOMAIN_ORDER: tuple[str, ...] = ("circuits", "arc", "policy", "spend")

#: A disconnected (or offline) Arc resource becomes critical after this many days.
DISCONNECTED_CRITICAL_DAYS = 7.0  # (kept for callers) = RECENT_DAYS
#: An Arc resource that went disconnected or into error less than this many days ago
#: is an outage; longer ago, a cleanup backlog (hygiene), never critical.
RECENT_DAYS = DISCONNECTED_CRITICAL_DAYS
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
    return sorted(
        kept,
        key=lambda f: (
            _IMPACT_RANKS.get(impact_of(f), len(IMPACTS)),
            _severity_rank(f.severity),
            f.rule != "coverage",  # a customer or domain without data: first
            _domain_rank(f.domain),
            _since_rank(f.since),
            f.profile,
            f.subscription_id or "",
            f.title,
            f.key,
        ),
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


# --------------------------------------------------------------------------- circuits


@dataclass(frozen=True)
class Health:
    """A derived state and the reasons for it (empty when healthy)."""

    state: CircuitState
    reasons: tuple[str, ...] = ()


def _percent(value: float | None) -> float | None:
    """An availability as a percentage in [0, 100]; None or NaN mean no data."""
    if value is None or math.isnan(value):
        return None
    return min(100.0, max(0.0, float(value)))


def _device_label(device: DeviceAvailability) -> str:
    return device.device or "device"


def circuit_health(c: CircuitRecord) -> Health:
    """The health of one ExpressRoute circuit.

    Availabilities are the latest BGP and ARP availability (percent) per peering and
    device. A device is *down* when its BGP or ARP availability is 0, *up* when it
    reports a value and neither is 0, and *silent* when it reports neither.

    - **down** when the provider state is reported and is not ``Provisioned``, or the
      circuit state is reported and is not ``Enabled``, or some peering has a device
      down and no device up (no device carries its traffic);
    - else **degraded** when some peering has a device down while another device of
      the same peering is up, or any availability is strictly between 0 and 100;
    - else **unknown** when no device reports any availability ("no metrics"), or the
      provider or circuit state is a value outside the documented ones (an open
      enumeration: a newer value is not judged either way);
    - else **healthy**.

    States compare case-insensitively; a state that is not reported (None) is not by
    itself a reason. Values below 0 count as 0, above 100 as 100, NaN as missing.
    Reasons list the down causes first, then the degraded ones.
    """
    down: list[str] = []
    split: list[str] = []  # a peering with one device down and another up
    partial: list[str] = []  # availabilities strictly between 0 and 100
    strange: list[str] = []  # states outside the documented values: health unknown
    provider = c.provider_state
    if provider is not None and provider.strip().lower() != "provisioned":
        if provider.strip() and provider.strip().lower() not in _PROVIDER_STATES:
            strange.append(f"provider state {provider!r} not known")
        else:
            down.append(f"provider state {provider or '(empty)'}, not Provisioned")
    state = c.circuit_state
    if state is not None and state.strip().lower() != "enabled":
        if state.strip() and state.strip().lower() not in _CIRCUIT_STATES:
            strange.append(f"circuit state {state!r} not known")
        else:
            down.append(f"circuit state {state or '(empty)'}, not Enabled")

    peerings: dict[str, list[DeviceAvailability]] = defaultdict(list)
    for item in c.availability:
        peerings[item.peering_type].append(item)
    any_data = False
    for peering in sorted(peerings):
        up: list[str] = []
        down_devices: list[str] = []
        silent: list[str] = []
        for device in sorted(peerings[peering], key=_device_label):
            label = _device_label(device)
            values = [("BGP", _percent(device.bgp)), ("ARP", _percent(device.arp))]
            known = [(name, value) for name, value in values if value is not None]
            if not known:
                silent.append(label)
                continue
            any_data = True
            zeros = [name for name, value in known if value == 0.0]
            if zeros:
                down_devices.append(f"{label} {'/'.join(zeros)} 0%")
            else:
                up.append(label)
            for name, value in known:
                if 0.0 < value < 100.0:
                    partial.append(f"{peering} {label} {name} availability {value:g}%")
        if down_devices and not up:
            extra = f"; no metrics from {', '.join(silent)}" if silent else ""
            down.append(f"{peering}: no device up ({', '.join(down_devices)}{extra})")
        elif down_devices:
            split.append(f"{peering}: {', '.join(down_devices)} while {', '.join(up)} up")
    degraded = split + partial
    if down:
        return Health("down", tuple(down + degraded + strange))
    if degraded:
        return Health("degraded", tuple(degraded + strange))
    if not any_data:
        return Health("unknown", (*strange, "no metrics"))
    if strange:
        return Health("unknown", tuple(strange))
    return Health("healthy")


# The documented values (open enumerations: Azure may add more, which are not judged).
_PROVIDER_STATES = frozenset({"notprovisioned", "provisioning", "provisioned", "deprovisioning"})
_CIRCUIT_STATES = frozenset({"enabled", "disabled"})


_CIRCUIT_SEVERITY: dict[CircuitState, Severity] = {
    "down": "critical",
    "degraded": "warning",
    "unknown": "info",
}


def circuit_finding(c: CircuitRecord, health: Health | None = None) -> Finding | None:
    """The finding for one circuit (down critical, degraded warning, unknown info)."""
    health = health or circuit_health(c)
    if health.state == "healthy":
        return None
    return Finding(
        severity=_CIRCUIT_SEVERITY[health.state],
        domain="circuits",
        profile=c.profile,
        rule="health",
        title=f"{c.name}: circuit {health.state}",
        subscription_id=c.subscription_id,
        resource_id=c.id,
        detail="; ".join(health.reasons),
    )


@dataclass(frozen=True)
class CircuitCounts:
    healthy: int = 0
    degraded: int = 0
    down: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        return self.healthy + self.degraded + self.down + self.unknown


def circuit_counts(circuits: Iterable[CircuitRecord]) -> CircuitCounts:
    """How many circuits are in each state."""
    counts = {"healthy": 0, "degraded": 0, "down": 0, "unknown": 0}
    for c in circuits:
        counts[circuit_health(c).state] += 1
    return CircuitCounts(**counts)


# --------------------------------------------------------------------------- arc


@functools.lru_cache(maxsize=4096)
def parse_version(text: str | None) -> tuple[int, ...] | None:
    """Dotted numeric parts of a version (``"1.45.02664.1789"`` -> (1, 45, 2664, 1789)).

    A leading ``v`` is allowed; anything else that is not digits and dots gives None.
    """
    if not text:
        return None
    body = text.strip()
    if body[:1] in ("v", "V"):
        body = body[1:]
    parts = body.split(".")
    if not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _version_key(text: str) -> tuple[tuple[int, ...], str] | None:
    parts = parse_version(text)
    if parts is None:
        return None
    while len(parts) > 1 and parts[-1] == 0:
        parts = parts[:-1]  # 1.9 and 1.9.0 are the same version
    return (parts, text)


def _release_line(parts: tuple[int, ...]) -> tuple[int, int]:
    return (parts[0], parts[1] if len(parts) > 1 else 0)


def newest_version(versions: Iterable[str | None]) -> str | None:
    """The highest parsable version, compared numerically part by part."""
    keys = [k for v in versions if v and (k := _version_key(v)) is not None]
    return max(keys)[1] if keys else None


def versions_by_kind(records: Iterable[ArcRecord]) -> dict[str, frozenset[str]]:
    """Every agent version seen, per kind (``machine``, ``cluster``)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r.agent_version:
            seen[r.kind].add(r.agent_version)
    return {kind: frozenset(versions) for kind, versions in sorted(seen.items())}


def newest_by_kind(records: Iterable[ArcRecord]) -> dict[str, str]:
    """The newest parsable agent version seen, per kind."""
    return newest_of_versions(versions_by_kind(records))


def newest_of_versions(seen: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """The newest parsable version per kind, of versions seen per kind."""
    result: dict[str, str] = {}
    for kind, versions in seen.items():
        newest = newest_version(versions)
        if newest is not None:
            result[kind] = newest
    return result


def versions_behind(
    record: ArcRecord,
    newest_by_kind: Mapping[str, str],
    all_versions: Mapping[str, Iterable[str]],
) -> int | None:
    """How many minor releases (major.minor lines) ``record``'s agent is behind.

    The count is the number of distinct release lines newer than the record's and not
    newer than the newest of its kind, where the lines are those seen in
    ``all_versions[kind]`` plus, when the major version is the same, every minor
    number in between (1.43 is 2 behind 1.45 even if no agent runs 1.44). Patch and
    build numbers do not count (1.45.1 is 0 behind 1.45.9). None when the record's
    version or the newest of its kind is missing or unparsable.
    """
    mine = parse_version(record.agent_version)
    newest_text = newest_by_kind.get(record.kind)
    newest = parse_version(newest_text)
    if mine is None or newest is None:
        return None
    low, high = _release_line(mine), _release_line(newest)
    if low >= high:
        return 0
    lines = {high}
    for text in all_versions.get(record.kind, ()):
        parts = parse_version(text)
        if parts is not None and low < _release_line(parts) <= high:
            lines.add(_release_line(parts))
    if low[0] == high[0]:
        lines.update((low[0], minor) for minor in range(low[1] + 1, high[1] + 1))
    return len(lines)


_ARC_BUCKETS: dict[str, ArcBucket] = {
    "connected": "connected",
    "disconnected": "disconnected",
    "offline": "disconnected",
    "expired": "expired",
    "error": "error",
}

_ARC_INFO_STATUSES = {
    "awaitingconnection": "onboarded but has not connected yet",
    "connecting": "connecting",
    "agentnotinstalled": "agent not installed",
}


def arc_bucket(status: str | None) -> ArcBucket:
    """The overview bucket of an Arc status (``Offline`` counts as disconnected)."""
    return _ARC_BUCKETS.get((status or "").strip().lower(), "other")


def _kind_label(record: ArcRecord) -> str:
    return {"machine": "Arc server", "cluster": "Arc cluster"}.get(record.kind, "Arc resource")


def _error_text(record: ArcRecord) -> str:
    items: list[str] = []
    for index in range(max(len(record.error_codes), len(record.error_messages))):
        code = record.error_codes[index] if index < len(record.error_codes) else ""
        message = record.error_messages[index] if index < len(record.error_messages) else ""
        items.append(": ".join(part for part in (code, message) if part))
    return "; ".join(item for item in items if item)


def arc_status_finding(
    record: ArcRecord,
    now: dt.datetime,
    recent_days: float = RECENT_DAYS,
) -> Finding | None:
    """The finding for one Arc resource's status, or None when it is Connected.

    What went wrong recently is an outage; what has been wrong for long is a cleanup
    backlog (hygiene), never critical:

    - Error: critical outage when the last status change is at most ``recent_days``
      before ``now`` (or unknown); earlier, a warning (hygiene) "in error for 30d".
    - Disconnected (Offline for clusters): a warning; an outage up to ``recent_days``
      (or with no parsable time), hygiene after that.
    - Expired (the agent has not connected for 45 days or more): a warning, hygiene.
    - Every other status is ``info`` (hygiene): AwaitingConnection, Connecting,
      AgentNotInstalled, an empty status and statuses this version does not know.
    - A status change dated in the future: a warning (outage) saying the clock is wrong.
    """
    status = (record.status or "").strip()
    bucket = arc_bucket(status)
    if bucket == "connected":
        return None
    since_time = parse_time(record.last_status_change)
    since = _iso(since_time) if since_time else None
    errors = _error_text(record)
    label = _kind_label(record)
    severity: Severity
    impact = "hygiene"
    age = _utc(now) - since_time if since_time is not None else None
    future = age is not None and age.total_seconds() < -FUTURE_SLACK_SECONDS
    recent = age is None or future or age <= dt.timedelta(days=recent_days)
    if bucket == "expired":
        severity = "warning"
        title = f"{record.name}: {label} expired"
        if age is not None and not future:
            title += f" {_days(age)} ago"
        detail = "the managed identity certificate expired; the agent must be reconnected"
    elif bucket == "error":
        detail = errors or "status Error with no error details"
        errors = ""
        if recent:
            severity, impact = "critical", "outage"
            title = f"{record.name}: {label} in error"
        else:
            assert age is not None
            severity = "warning"
            title = f"{record.name}: {label} in error for {_days(age)}"
            detail += f" (more than {recent_days:g} days: reconnect or clean up)"
    elif bucket == "disconnected":
        severity = "warning"
        impact = "outage" if recent else "hygiene"
        if age is None:
            title = f"{record.name}: {label} {status.lower()}"
            detail = "last status change unknown"
        elif future:
            ahead = age_text(age.total_seconds())
            title = f"{record.name}: {label} {status.lower()}, status change dated {ahead}"
            detail = (
                f"{status} since {since}, a time in the future: the clock of Azure "
                "or of the resource is wrong"
            )
        else:
            title = f"{record.name}: {label} {status.lower()} for {_days(age)}"
            detail = f"{status} since {since}"
            if not recent:
                detail += f" (more than {recent_days:g} days: reconnect or clean up)"
    else:
        severity = "info"
        known = _ARC_INFO_STATUSES.get(status.lower())
        if not status:
            title = f"{record.name}: {label} reports no status"
        elif known:
            title = f"{record.name}: {label} {known}"
        else:
            title = f"{record.name}: {label} status {status!r}"
        detail = f"status {status or '(empty)'}"
    if errors:
        detail += f"; errors: {errors}"
    return Finding(
        severity=severity,
        domain="arc",
        profile=record.profile,
        rule="status",
        title=title,
        subscription_id=record.subscription_id,
        resource_id=record.id,
        detail=detail,
        since=since,
        impact=impact,
    )


def arc_extension_findings(record: ArcRecord) -> list[Finding]:
    """A warning (degradation) for each extension the machine reports as failed: what
    the extension does (monitoring, patching, security) is not being done."""
    return [
        Finding(
            severity="warning",
            domain="arc",
            profile=record.profile,
            rule=f"extension/{name}",
            title=f"{record.name}: extension {name} failed",
            subscription_id=record.subscription_id,
            resource_id=record.id,
            detail=message,
            impact="degradation",
        )
        for name, message in record.failed_extensions
    ]


def status_moves_with_clock(record: ArcRecord) -> bool:
    """Whether :func:`arc_status_finding` for ``record`` depends on ``now`` (a
    disconnected, errored or expired resource with a known time: "disconnected for
    3h", hygiene after :data:`RECENT_DAYS`); every other status finding is fixed."""
    return arc_bucket(record.status) in ("disconnected", "error", "expired") and (
        parse_time(record.last_status_change) is not None
    )


def arc_version_finding(
    record: ArcRecord,
    newest: Mapping[str, str],
    all_versions: Mapping[str, Iterable[str]],
    threshold: int,
) -> Finding | None:
    """A warning when the agent is ``threshold`` or more minor releases behind.

    A threshold below 1 counts as 1 (being on the newest release is never a finding).
    """
    behind = versions_behind(record, newest, all_versions)
    if behind is None or behind < max(1, threshold):
        return None
    return Finding(
        severity="warning",
        domain="arc",
        profile=record.profile,
        rule="agent-version",
        title=f"{record.name}: agent {behind} releases behind",
        subscription_id=record.subscription_id,
        resource_id=record.id,
        detail=f"agent {record.agent_version}; newest seen {newest[record.kind]}",
    )


@dataclass(frozen=True)
class ArcCounts:
    connected: int = 0
    disconnected: int = 0
    expired: int = 0
    error: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return self.connected + self.disconnected + self.expired + self.error + self.other

    def __add__(self, other: ArcCounts) -> ArcCounts:
        return ArcCounts(
            self.connected + other.connected,
            self.disconnected + other.disconnected,
            self.expired + other.expired,
            self.error + other.error,
            self.other + other.other,
        )


def arc_counts(records: Iterable[ArcRecord], kind: str | None = None) -> ArcCounts:
    """How many Arc resources (of ``kind``, or all) are in each bucket."""
    counts = {"connected": 0, "disconnected": 0, "expired": 0, "error": 0, "other": 0}
    for r in records:
        if kind is None or r.kind == kind:
            counts[arc_bucket(r.status)] += 1
    return ArcCounts(**counts)


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


# --------------------------------------------------------------------------- spend

Money = dict[str, float]


def _month(today: dt.date) -> str:
    return f"{today.year:04d}-{today.month:02d}"


def _cost_date(r: CostRecord) -> dt.date | None:
    return _parse_day(r.date)


@functools.lru_cache(maxsize=4096)
def _parse_day(text: str) -> dt.date | None:
    # a few hundred distinct days across 100,000 cost rows: parse each once
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _in_month(r: CostRecord, today: dt.date) -> bool:
    day = _cost_date(r)
    return (
        day is not None and day.year == today.year and day.month == today.month and (day <= today)
    )


def _money(pairs: Iterable[tuple[str, float]]) -> Money:
    parts: dict[str, list[float]] = defaultdict(list)
    for currency, amount in pairs:
        parts[currency].append(amount)
    return {currency: math.fsum(amounts) for currency, amounts in sorted(parts.items())}


def spend_mtd(costs: Iterable[CostRecord], today: dt.date) -> Money:
    """Month-to-date actual cost per currency (records dated this month, up to today)."""
    return _money((r.currency, r.amount) for r in costs if _in_month(r, today))


def spend_mtd_by_subscription(costs: Iterable[CostRecord], today: dt.date) -> dict[str, Money]:
    """Month-to-date actual cost per subscription, per currency."""
    by_sub: dict[str, list[CostRecord]] = defaultdict(list)
    for r in costs:
        by_sub[r.subscription_id].append(r)
    result = {sub: spend_mtd(records, today) for sub, records in sorted(by_sub.items())}
    return {sub: money for sub, money in result.items() if money}


def forecast_total(
    forecasts: Iterable[ForecastRecord],
    today: dt.date,
    costs: Iterable[CostRecord] | None = None,
) -> Money:
    """End-of-month forecast per currency, from this month's forecast records.

    ``ForecastRecord.forecast`` is taken as the projected total for the month
    (actual so far plus the forecast of the rest). With ``costs``, a currency is left
    out (unknown) when a subscription spent in it this month but has no forecast in
    it (:func:`forecast_gaps`): a sum that misses a subscription is not a forecast.
    """
    month = _month(today)
    mine = [f for f in forecasts if f.month == month]
    total = _money((f.currency, f.forecast) for f in mine)
    if costs is not None:
        for _, currency in forecast_gaps(costs, mine, today):
            total.pop(currency, None)
    return total


def forecast_gaps(
    costs: Iterable[CostRecord], forecasts: Iterable[ForecastRecord], today: dt.date
) -> list[tuple[str, str]]:
    """(subscription, currency) pairs with spend this month but no forecast for it.

    Cost Management gave no forecast (a 204, no rows, or a rejected amount): the
    forecast is unknown, never zero.
    """
    month = _month(today)
    forecast = {(f.subscription_id, f.currency) for f in forecasts if f.month == month}
    # ISO dates compare as text: _in_month's test, without a call per row (100,000 rows)
    last = today.isoformat()
    spent = {
        (r.subscription_id, r.currency)
        for r in costs
        if r.date[:7] == month and r.date[:10] <= last
    }
    return sorted(spent - forecast)


def _fmt(amount: float, currency: str) -> str:
    if not math.isfinite(amount):  # never printed as inf or nan: unknown
        return f"{currency} unknown".strip()
    return f"{currency} {amount:,.2f}".strip()


def forecast_gap_findings(
    profile: str,
    costs: Iterable[CostRecord],
    forecasts: Iterable[ForecastRecord],
    today: dt.date,
    names: Mapping[str, str] | None = None,
) -> list[Finding]:
    """One info finding per subscription and currency spent this month with no forecast."""
    names = names or {}
    costs = list(costs)
    findings = []
    for sub, currency in forecast_gaps(costs, forecasts, today):
        spent = spend_mtd([r for r in costs if r.subscription_id == sub], today).get(currency)
        findings.append(
            Finding(
                severity="info",
                domain="spend",
                profile=profile,
                rule=f"forecast-unknown/{currency}",
                title=f"subscription {names.get(sub) or sub}: forecast unknown",
                subscription_id=sub,
                resource_id=f"/subscriptions/{sub}",
                detail=(
                    "Cost Management gave no forecast for this month"
                    + (f" (month to date {_fmt(spent, currency)})" if spent is not None else "")
                ),
            )
        )
    return findings


#: How many rejected rows a finding names; the rest are counted.
REJECTED_SHOWN = 3


def _rejected_text(r: RejectedAmountRecord) -> str:
    where = " ".join(part for part in (r.date, r.service) if part)
    amount = f"{r.value} {r.currency}".strip()
    return f"{where + ': ' if where else ''}{amount} ({r.reason})"


def rejected_amount_findings(
    rejected: Iterable[RejectedAmountRecord], names: Mapping[str, str] | None = None
) -> list[Finding]:
    """One warning per subscription and kind of row whose amount was not believed.

    Those rows are left out of every total, so the figures that depend on them are
    incomplete: the finding says which rows and why.
    """
    names = names or {}
    grouped: dict[tuple[str, str, str], list[RejectedAmountRecord]] = defaultdict(list)
    for r in rejected:
        grouped[(r.profile, r.subscription_id, r.kind)].append(r)
    findings = []
    for (profile, sub, kind), items in sorted(grouped.items()):
        items.sort(key=lambda r: (r.date, r.service, r.value))
        texts = [_rejected_text(r) for r in items]
        shown = list(dict.fromkeys(texts))[:REJECTED_SHOWN]  # the same row once
        rest = sum(1 for text in texts if text not in shown)
        more = f"; {rest} more" if rest else ""
        what = {"cost": "cost row", "forecast": "forecast row", "budget": "budget"}.get(
            kind, f"{kind} row"
        )
        plural = "s" if len(items) != 1 else ""
        findings.append(
            Finding(
                severity="warning",
                domain="spend",
                profile=profile,
                rule=f"rejected-amount/{kind}",
                title=(
                    f"subscription {names.get(sub) or sub}: {len(items)} {what}{plural} "
                    "dropped (amount not believable)"
                ),
                subscription_id=sub,
                resource_id=f"/subscriptions/{sub}",
                detail="left out of every total: " + "; ".join(shown) + more,
            )
        )
    return findings


@dataclass(frozen=True)
class BudgetCheck:
    """A customer's month-to-date spend and forecast against its monthly budget."""

    status: BudgetStatus
    budget: float | None
    currency: str
    actual: float | None  # in ``currency``; None when there is no such spend
    forecast: float | None
    used_percent: float | None
    uncompared: Money = field(default_factory=dict)  # spend in other currencies


def budget_check(profile: Profile, actual: Money, forecast: Money) -> BudgetCheck:
    """Compare the spend in ``profile.currency`` with ``profile.monthly_budget``.

    over (actual > budget), else forecast over (forecast > budget), else under.
    "cannot compare" when the only spend is in other currencies; spend in other
    currencies is kept apart in ``uncompared`` and never converted.
    """
    currency = profile.currency
    budget = profile.monthly_budget
    uncompared = {c: a for c, a in actual.items() if c != currency and a}
    other_forecast = any(c != currency and a for c, a in forecast.items())
    mine = actual.get(currency)
    projected = forecast.get(currency)
    status: BudgetStatus
    if budget is None:
        status = "no budget"
    elif mine is None and projected is None and (uncompared or other_forecast):
        status = "cannot compare"
    elif (mine or 0.0) > budget:
        status = "over"
    elif projected is not None and projected > budget:
        status = "forecast over"
    else:
        status = "under"
    used = (mine or 0.0) * 100.0 / budget if budget and status != "cannot compare" else None
    return BudgetCheck(status, budget, currency, mine, projected, used, uncompared)


def budget_findings(profile: Profile, check: BudgetCheck) -> list[Finding]:
    """over budget critical, forecast over budget warning, other currencies info."""
    findings: list[Finding] = []
    subject = f"profile/{profile.name}"
    if check.budget is not None and check.status in ("over", "forecast over"):
        actual = _fmt(check.actual or 0.0, check.currency)
        budget = _fmt(check.budget, check.currency)
        if check.status == "over":
            severity: Severity = "critical"
            title = f"{profile.display_name}: over monthly budget"
            detail = f"month to date {actual} against a budget of {budget}"
        else:
            severity = "warning"
            title = f"{profile.display_name}: forecast over monthly budget"
            detail = (
                f"forecast {_fmt(check.forecast or 0.0, check.currency)} against a budget "
                f"of {budget} (month to date {actual})"
            )
        findings.append(
            Finding(severity, "spend", profile.name, "budget", title, None, subject, detail)
        )
    if check.budget is not None and (check.uncompared or check.status == "cannot compare"):
        other = ", ".join(_fmt(a, c) for c, a in check.uncompared.items()) or "the forecast"
        findings.append(
            Finding(
                "info",
                "spend",
                profile.name,
                "budget-currency",
                f"{profile.display_name}: spend in other currencies cannot be compared",
                None,
                subject,
                f"{other} not counted against the {check.currency} budget",
            )
        )
    return findings


def consumption_budget_finding(b: BudgetRecord) -> Finding | None:
    """A Consumption budget: current spend over it critical, forecast over it warning."""
    budget = _fmt(b.amount, b.currency)
    severity: Severity
    if b.current_spend is not None and b.current_spend > b.amount:
        severity = "critical"
        title = f"budget {b.name}: over"
        detail = f"spent {_fmt(b.current_spend, b.currency)} of {budget}"
    elif b.forecast_spend is not None and b.forecast_spend > b.amount:
        severity = "warning"
        title = f"budget {b.name}: forecast over"
        detail = f"forecast {_fmt(b.forecast_spend, b.currency)} against {budget}"
        if b.current_spend is not None:
            detail += f" (spent {_fmt(b.current_spend, b.currency)})"
    else:
        return None
    return Finding(
        severity=severity,
        domain="spend",
        profile=b.profile,
        rule="consumption-budget",
        title=title,
        subscription_id=b.subscription_id,
        resource_id=(
            f"/subscriptions/{b.subscription_id}/providers/Microsoft.Consumption/budgets/{b.name}"
        ),
        detail=f"{detail} ({b.time_grain})",
    )


@dataclass(frozen=True)
class Anomaly:
    """One day whose cost stands out against the trailing median of its series."""

    profile: str
    subscription_id: str
    service: str
    currency: str
    date: str  # YYYY-MM-DD
    amount: float
    median: float
    factor: float | None  # amount / median; None when the median is 0


def spend_anomalies(
    costs: Iterable[CostRecord],
    factor: float = ANOMALY_FACTOR,
    floor: float = ANOMALY_FLOOR,
    window: int = ANOMALY_WINDOW_DAYS,
    min_history: int = ANOMALY_MIN_HISTORY_DAYS,
) -> list[Anomaly]:
    """Days that cost more than ``factor`` x the trailing median *and* the median + floor.

    Series are per (profile, subscription, service, currency), summed over resource
    groups per day. Days inside the data's date range with no record cost 0. The
    median is over the ``window`` days before the day (the day itself excluded), only
    days inside the data range, and needs at least ``min_history`` of them. Both
    comparisons are strict. A median below 0 (refunds, credits) counts as 0: after a
    refund, a normal day is compared with nothing spent, not with a negative figure.
    A day that costs less than nothing is never an anomaly. Sorted by date,
    subscription, service, currency.
    """
    series: dict[tuple[str, str, str, str], dict[dt.date, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    first: dt.date | None = None
    last: dt.date | None = None
    for r in costs:
        day = _cost_date(r)
        if day is None:
            continue
        series[(r.profile, r.subscription_id, r.service, r.currency)][day].append(r.amount)
        first = day if first is None or day < first else first
        last = day if last is None or day > last else last
    if first is None or last is None:
        return []
    span = (last - first).days + 1
    days = [first + dt.timedelta(days=i) for i in range(span)]
    found: list[Anomaly] = []
    for (profile, sub, service, currency), by_day in series.items():
        totals = [math.fsum(by_day.get(day, ())) for day in days]
        for index in range(span):
            history = totals[max(0, index - window) : index]
            if len(history) < max(1, min_history):
                continue
            median = max(statistics.median(history), 0.0)
            amount = totals[index]
            if amount > factor * median and amount - median > floor:
                found.append(
                    Anomaly(
                        profile=profile,
                        subscription_id=sub,
                        service=service,
                        currency=currency,
                        date=days[index].isoformat(),
                        amount=amount,
                        median=median,
                        factor=amount / median if median > 0 else None,
                    )
                )
    found.sort(key=lambda a: (a.date, a.subscription_id, a.service, a.currency))
    return found


def anomaly_findings(
    anomalies: Iterable[Anomaly],
    today: dt.date,
    lookback_days: int = ANOMALY_LOOKBACK_DAYS,
) -> list[Finding]:
    """One warning per series with an anomaly in the last ``lookback_days`` (incl. today).

    The finding names the latest anomalous day; the detail counts the others.
    """
    start = today - dt.timedelta(days=max(1, lookback_days) - 1)
    recent: dict[tuple[str, str, str, str], list[Anomaly]] = defaultdict(list)
    for a in anomalies:
        day = dt.date.fromisoformat(a.date)
        if start <= day <= today:
            recent[(a.profile, a.subscription_id, a.service, a.currency)].append(a)
    findings: list[Finding] = []
    for (profile, sub, service, currency), items in sorted(recent.items()):
        latest = max(items, key=lambda a: a.date)
        times = f"{latest.factor:.1f}x" if latest.factor is not None else "new spend"
        detail = (
            f"{_fmt(latest.amount, currency)} on {latest.date} against a "
            f"{ANOMALY_WINDOW_DAYS}-day median of {_fmt(latest.median, currency)}"
        )
        if len(items) > 1:
            detail += f"; {len(items)} anomalous days since {start.isoformat()}"
        findings.append(
            Finding(
                severity="warning",
                domain="spend",
                profile=profile,
                rule=f"anomaly/{service}/{currency}",
                title=f"{service}: cost spike ({times})",
                subscription_id=sub,
                resource_id=f"/subscriptions/{sub}",
                detail=detail,
                since=latest.date,
            )
        )
    return findings


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
)


def findings_for(
    profile: Profile,
    records_by_domain: RecordsByDomain,
    now: dt.datetime,
    *,
    newest: Mapping[str, str] | None = None,
    versions_seen: Mapping[str, Iterable[str]] | None = None,
    disconnected_critical_days: float = DISCONNECTED_CRITICAL_DAYS,
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
        status = arc_status_finding(arc, now, disconnected_critical_days)
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
        forecast_gap_findings(profile.name, records.costs, records.forecasts, today, names)
    )
    findings.extend(rejected_amount_findings(records.rejected, names))
    for budget in records.budgets:
        finding = consumption_budget_finding(budget)
        if finding is not None:
            findings.append(finding)
    findings.extend(anomaly_findings(spend_anomalies(records.costs), today))
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
    )
