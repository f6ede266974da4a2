"""Arc servers and clusters: status, agent versions, extensions and their findings."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from btconsole.health.base import (
    FUTURE_SLACK_SECONDS,
    RECENT_DAYS,
    ArcBucket,
    Finding,
    Severity,
    _days,
    _iso,
    _utc,
    age_text,
    parse_time,
)
from btconsole.records import (
    ArcRecord,
)

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
