"""``btconsole export``: the rows of a pane as CSV or JSON, for a spreadsheet.

One row per resource (Arc, circuits), per subscription and non-compliant assignment
(policy), or, for spend, the consolidated statement of each customer: one line per
subscription and service for the month to date, then one total per currency (amounts
in different currencies are never added together). Data comes through the cache,
refreshed first unless ``offline`` (:func:`btconsole.checks.load_snapshot`).

CSV cells that a spreadsheet would take for a formula (starting ``=``, ``+``, ``-``,
``@``, tab or carriage return) get a leading ``'``; numbers btconsole computes are
written as they are (a refund or credit is a negative amount). Text cells go through
the same cleaner as ``check`` (:func:`btconsole.checks.clean`): terminal control
characters (C0 and C1, ESC, BEL, NUL, DEL) and bidi overrides and isolates are removed
and line breaks become spaces, so a file opened in a terminal or a spreadsheet shows
Azure's text as text. An amount that is not a finite number (which the wrappers
already reject) is written as an empty cell, never as ``inf``.

This module imports neither Textual nor an Azure SDK.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TextIO

from btconsole.checks import (
    DataProblem,
    ProfileData,
    Snapshot,
    check_output_path,
    clean,
    clock,
    iso_time,
    json_text,
    load_snapshot,
    parse_timeout,
    problem_json,
    quiet_logging,
    select_profiles,
    write_output,
)
from btconsole.config import Config
from btconsole.errors import UsageError
from btconsole.health import (
    circuit_health,
    compliance_percent,
    customer_events,
    spend_mtd_by_subscription,
    versions_behind,
    worst_assignments,
)
from btconsole.progress import for_stream
from btconsole.records import (
    AlertRecord,
    ArcRecord,
    CircuitRecord,
    ComplianceRecord,
    CostRecord,
    PatchAssessmentRecord,
    PolicyAssignmentRecord,
    ResourceHealthRecord,
    ServiceHealthEvent,
)

SCHEMA = "btconsole.export/1"
DOMAINS = ("arc", "circuits", "policy", "spend", "health")
FORMATS = ("csv", "json")
EXIT_OK = 0
EXIT_INCOMPLETE = 3

Row = dict[str, Any]

ARC_COLUMNS = (
    "customer",
    "profile",
    "name",
    "kind",
    "status",
    "last_status_change",
    "agent_version",
    "agent_versions_behind",
    "os_name",
    "os_type",
    "os_version",
    "fqdn",
    "kubernetes_version",
    "distribution",
    "subscription_id",
    "subscription_name",
    "resource_group",
    "location",
    "errors",
    "tags",
    "resource_id",
)
CIRCUIT_COLUMNS = (
    "customer",
    "profile",
    "name",
    "health",
    "health_reasons",
    "provider",
    "peering_location",
    "bandwidth_mbps",
    "sku_tier",
    "sku_family",
    "circuit_state",
    "provider_state",
    "peerings",
    "subscription_id",
    "subscription_name",
    "resource_group",
    "location",
    "resource_id",
)
POLICY_COLUMNS = (
    "customer",
    "profile",
    "subscription_id",
    "subscription_name",
    "compliance_percent",
    "compliant_resources",
    "non_compliant_resources",
    "total_resources",
    "non_compliant_policies",
    "assignment_name",
    "assignment_non_compliant_resources",
    "assignment_non_compliant_policies",
    "assignment_id",
)
SPEND_COLUMNS = (
    "customer",
    "profile",
    "month",
    "line",
    "subscription_id",
    "subscription_name",
    "service",
    "currency",
    "amount",
)
HEALTH_COLUMNS = (
    "customer",
    "profile",
    "kind",
    "state",
    "severity",
    "title",
    "services",
    "regions",
    "target",
    "cause",
    "critical_updates",
    "security_updates",
    "other_updates",
    "subscription_id",
    "subscription_name",
    "since",
    "last_update",
    "id",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "arc": ARC_COLUMNS,
    "circuits": CIRCUIT_COLUMNS,
    "policy": POLICY_COLUMNS,
    "spend": SPEND_COLUMNS,
    "health": HEALTH_COLUMNS,
}

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_CENT = Decimal("0.01")


def _tags(tags: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{k}={v}" for k, v in tags)


def _base(data: ProfileData) -> Row:
    return {"customer": data.profile.display_name, "profile": data.profile.name}


def arc_rows(datas: Sequence[ProfileData], snapshot: Snapshot) -> list[Row]:
    """One row per Arc server or cluster."""
    rows: list[Row] = []
    for data in datas:
        names = data.subscription_names
        records = [r for r in data.records.get("arc", ()) if isinstance(r, ArcRecord)]
        records.sort(key=lambda r: (names.get(r.subscription_id, ""), r.name.lower(), r.id))
        for r in records:
            errors = [
                ": ".join(part for part in pair if part)
                for pair in itertools.zip_longest(r.error_codes, r.error_messages, fillvalue="")
            ]
            rows.append(
                {
                    **_base(data),
                    "name": r.name,
                    "kind": r.kind,
                    "status": r.status,
                    "last_status_change": r.last_status_change,
                    "agent_version": r.agent_version,
                    "agent_versions_behind": versions_behind(
                        r, snapshot.newest_versions, snapshot.versions_seen
                    ),
                    "os_name": r.os_name,
                    "os_type": r.os_type,
                    "os_version": r.os_version,
                    "fqdn": r.fqdn,
                    "kubernetes_version": r.kubernetes_version,
                    "distribution": r.distribution,
                    "subscription_id": r.subscription_id,
                    "subscription_name": names.get(r.subscription_id),
                    "resource_group": r.resource_group,
                    "location": r.location,
                    "errors": "; ".join(errors),
                    "tags": _tags(r.tags),
                    "resource_id": r.id,
                }
            )
    return rows


def circuit_rows(datas: Sequence[ProfileData], snapshot: Snapshot) -> list[Row]:
    """One row per ExpressRoute circuit, with its derived health."""
    rows: list[Row] = []
    for data in datas:
        names = data.subscription_names
        records = [r for r in data.records.get("circuits", ()) if isinstance(r, CircuitRecord)]
        records.sort(key=lambda r: (names.get(r.subscription_id, ""), r.name.lower(), r.id))
        for r in records:
            health = circuit_health(r)
            peerings = "; ".join(
                " ".join(
                    part
                    for part in (
                        p.peering_type,
                        p.state,
                        f"VLAN {p.vlan_id}" if p.vlan_id is not None else "",
                        f"AS {p.azure_asn}/{p.peer_asn}" if p.peer_asn is not None else "",
                    )
                    if part
                )
                for p in r.peerings
            )
            rows.append(
                {
                    **_base(data),
                    "name": r.name,
                    "health": health.state,
                    "health_reasons": "; ".join(health.reasons),
                    "provider": r.provider,
                    "peering_location": r.peering_location,
                    "bandwidth_mbps": r.bandwidth_mbps,
                    "sku_tier": r.sku_tier,
                    "sku_family": r.sku_family,
                    "circuit_state": r.circuit_state,
                    "provider_state": r.provider_state,
                    "peerings": peerings,
                    "subscription_id": r.subscription_id,
                    "subscription_name": names.get(r.subscription_id),
                    "resource_group": r.resource_group,
                    "location": r.location,
                    "resource_id": r.id,
                }
            )
    return rows


def policy_rows(datas: Sequence[ProfileData], snapshot: Snapshot) -> list[Row]:
    """Per subscription: one row per non-compliant assignment, worst first (or one row
    with the assignment columns empty when none is non-compliant)."""
    rows: list[Row] = []
    for data in datas:
        names = data.subscription_names
        records = data.records.get("policy", ())
        summaries = {r.subscription_id: r for r in records if isinstance(r, ComplianceRecord)}
        assignments: dict[str, list[PolicyAssignmentRecord]] = defaultdict(list)
        for r in records:
            if isinstance(r, PolicyAssignmentRecord):
                assignments[r.subscription_id].append(r)
        for sub in sorted(summaries, key=lambda s: (names.get(s, ""), s)):
            c = summaries[sub]
            percent = compliance_percent(c.compliant_resources, c.non_compliant_resources)
            base = {
                **_base(data),
                "subscription_id": sub,
                "subscription_name": names.get(sub),
                "compliance_percent": None if percent is None else round(percent, 2),
                "compliant_resources": c.compliant_resources,
                "non_compliant_resources": c.non_compliant_resources,
                "total_resources": c.total_resources,
                "non_compliant_policies": c.non_compliant_policies,
            }
            worst = worst_assignments(assignments.get(sub, ()))
            if not worst:
                rows.append(
                    {
                        **base,
                        "assignment_name": None,
                        "assignment_non_compliant_resources": None,
                        "assignment_non_compliant_policies": None,
                        "assignment_id": None,
                    }
                )
            for a in worst:
                rows.append(
                    {
                        **base,
                        "assignment_name": a.assignment_name,
                        "assignment_non_compliant_resources": a.non_compliant_resources,
                        "assignment_non_compliant_policies": a.non_compliant_policies,
                        "assignment_id": a.assignment_id,
                    }
                )
    return rows


#: Amounts beyond this are not exported as figures (the wrappers reject anything
#: beyond 1e15 a row; 60 days of such rows stay below it).
_MAX_EXPORTED = 1e20


def _cents(amount: float) -> Decimal | None:
    """``amount`` rounded to the cent; None (unknown) when it is not a finite number or
    too large to round exactly (Decimal's 28 digits)."""
    if not math.isfinite(amount) or abs(amount) > _MAX_EXPORTED:
        return None
    return Decimal(repr(amount)).quantize(_CENT, rounding=ROUND_HALF_UP)


def spend_rows(datas: Sequence[ProfileData], snapshot: Snapshot) -> list[Row]:
    """The consolidated month-to-date statement of each customer.

    Lines (``line = "item"``) per subscription, service and currency, each rounded to
    the cent; then one ``line = "total"`` per currency, the sum of that currency's
    rounded lines (so a spreadsheet's SUM agrees with it).
    """
    today = snapshot.clock.today
    month = f"{today.year:04d}-{today.month:02d}"
    rows: list[Row] = []
    for data in datas:
        names = data.subscription_names
        costs = [r for r in data.records.get("spend", ()) if isinstance(r, CostRecord)]
        by_sub: dict[str, list[CostRecord]] = defaultdict(list)
        for r in costs:
            by_sub[r.subscription_id].append(r)
        totals: dict[str, Decimal | None] = defaultdict(Decimal)
        lines: list[Row] = []
        for sub in sorted(by_sub, key=lambda s: (names.get(s, ""), s)):
            by_service: dict[str, list[CostRecord]] = defaultdict(list)
            for r in by_sub[sub]:
                by_service[r.service].append(r)
            for service in sorted(by_service, key=str.lower):
                money = spend_mtd_by_subscription(by_service[service], today).get(sub, {})
                for currency, amount in sorted(money.items()):
                    cents = _cents(amount)
                    total = totals[currency]
                    # one unknown line makes the currency's total unknown, not smaller
                    totals[currency] = None if cents is None or total is None else total + cents
                    lines.append(
                        {
                            **_base(data),
                            "month": month,
                            "line": "item",
                            "subscription_id": sub,
                            "subscription_name": names.get(sub),
                            "service": service,
                            "currency": currency,
                            "amount": cents,
                        }
                    )
        rows.extend(lines)
        for currency in sorted(totals):
            rows.append(
                {
                    **_base(data),
                    "month": month,
                    "line": "total",
                    "subscription_id": None,
                    "subscription_name": None,
                    "service": None,
                    "currency": currency,
                    "amount": totals[currency],
                }
            )
    return rows


def health_rows(datas: Sequence[ProfileData], snapshot: Snapshot) -> list[Row]:
    """Azure's own health as each customer sees it, for an incident report: one row per
    Service Health event (across the customer's subscriptions, resolved ones included,
    ``state`` says which), per Azure Monitor alert, per resource whose Resource Health is
    not Available, and per Arc machine's patch assessment. A count Azure did not give is
    an empty cell, never 0."""
    rows: list[Row] = []
    empty = dict.fromkeys(HEALTH_COLUMNS)
    for data in datas:
        names = data.subscription_names
        records = data.records.get("health", ())
        for merged in customer_events(r for r in records if isinstance(r, ServiceHealthEvent)):
            e = merged.event
            rows.append(
                {
                    **empty,
                    **_base(data),
                    "kind": e.event_type,
                    "state": e.status,
                    "severity": e.level,
                    "title": e.title,
                    "services": "; ".join(sorted({i.service for i in e.impacts})),
                    "regions": "; ".join(sorted({i.region for i in e.impacts})),
                    "target": "; ".join(merged.impacted_resources),
                    "subscription_id": "; ".join(merged.subscriptions),
                    "subscription_name": "; ".join(
                        names.get(sub) or sub for sub in merged.subscriptions
                    ),
                    "since": e.impact_start,
                    "last_update": e.last_update,
                    "id": e.tracking_id,
                }
            )
        alerts = sorted(
            (r for r in records if isinstance(r, AlertRecord)),
            key=lambda a: (a.start_time or "", a.id),
            reverse=True,
        )
        for a in alerts:
            rows.append(
                {
                    **empty,
                    **_base(data),
                    "kind": "Alert",
                    "state": "/".join(x for x in (a.monitor_condition, a.alert_state) if x) or None,
                    "severity": a.severity,
                    "title": a.name,
                    "services": a.monitor_service,
                    "target": a.target_resource,
                    "subscription_id": a.subscription_id,
                    "subscription_name": names.get(a.subscription_id),
                    "since": a.start_time,
                    "last_update": a.last_modified,
                    "id": a.id,
                }
            )
        for h in sorted(
            (r for r in records if isinstance(r, ResourceHealthRecord)),
            key=lambda h: h.resource_id.lower(),
        ):
            rows.append(
                {
                    **empty,
                    **_base(data),
                    "kind": "ResourceHealth",
                    "state": h.availability_state,
                    "title": h.title or h.summary,
                    "target": h.resource_id,
                    "cause": {True: "platform", False: "user"}.get(h.platform_initiated),  # type: ignore[arg-type]
                    "subscription_id": h.subscription_id,
                    "subscription_name": names.get(h.subscription_id),
                    "since": h.occurred_time,
                    "id": h.resource_id,
                }
            )
        for p in sorted(
            (r for r in records if isinstance(r, PatchAssessmentRecord)),
            key=lambda p: p.machine_id.lower(),
        ):
            rows.append(
                {
                    **empty,
                    **_base(data),
                    "kind": "PatchAssessment",
                    "state": p.status,
                    "title": p.machine_id.rsplit("/", 1)[-1],
                    "target": p.machine_id,
                    "critical_updates": p.critical,
                    "security_updates": p.security,
                    "other_updates": p.other,
                    "subscription_id": p.subscription_id,
                    "subscription_name": names.get(p.subscription_id),
                    "since": p.oldest_critical_published,
                    "last_update": p.last_modified,
                    "id": p.machine_id,
                }
            )
    return rows


ROWS = {
    "arc": arc_rows,
    "circuits": circuit_rows,
    "policy": policy_rows,
    "spend": spend_rows,
    "health": health_rows,
}


def rows_for(domain: str, snapshot: Snapshot) -> list[Row]:
    """The export rows of ``domain`` (one of :data:`DOMAINS`).

    Raises:
        UsageError: unknown domain.
    """
    build = ROWS.get(domain)
    if build is None:
        raise UsageError(f"unknown export {domain!r}; use one of {', '.join(DOMAINS)}")
    return build(snapshot.profiles, snapshot)


# --------------------------------------------------------------------------- formats


def csv_cell(value: Any) -> str:
    """One CSV cell: empty for None, numbers as they are, text cleaned of control
    characters (:func:`btconsole.checks.clean`) and guarded against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ""  # unknown, never "inf" or "nan"
    if isinstance(value, Decimal) and not value.is_finite():
        return ""
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    raw = str(value)
    text = clean(raw)  # no terminal control characters or bidi overrides in the file
    # the tab or CR that started the text is a space now: a spreadsheet that trims
    # leading blanks would still see the formula behind it
    if raw.startswith(_FORMULA_STARTS) or text.lstrip().startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def render_csv(columns: Sequence[str], rows: Sequence[Row]) -> str:
    """CSV with a header row (RFC 4180 quoting, CRLF line ends)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # unknown; JSON has no inf or nan
    return float(value) if isinstance(value, Decimal) else value


def export_json(
    domain: str, columns: Sequence[str], rows: Sequence[Row], snapshot: Snapshot
) -> dict[str, Any]:
    """The export as data: schema, when, which profiles, data problems and the rows."""
    return {
        "schema": SCHEMA,
        "domain": domain,
        "generated_at": iso_time(snapshot.clock.wall),
        "today": snapshot.clock.today.isoformat(),
        "profiles": [d.profile.name for d in snapshot.profiles],
        "offline": snapshot.offline,
        "complete": snapshot.complete,
        "problems": [problem_json(p) for p in snapshot.all_problems],
        "columns": list(columns),
        "rows": [{c: _json_value(row.get(c)) for c in columns} for row in rows],
    }


@dataclass(frozen=True)
class ExportOptions:
    domain: str
    profiles: Sequence[str] | None = None
    all: bool = False
    fmt: str = "csv"
    offline: bool = False
    output: str | None = None
    timeout: str | None = None


def _incomplete_line(problems: Sequence[DataProblem]) -> str:
    first = problems[0]
    who = "" if first.profile == "*" else f"{first.profile}: "
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return (
        f"btconsole: warning: data incomplete, exported what could be had: "
        f"{who}{first.message}{more}"
    )


def run_export(
    config: Config,
    options: ExportOptions,
    *,
    stdout: TextIO,
    stderr: TextIO,
    environ: Mapping[str, str] | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> int:
    """Run ``btconsole export``; 0, or 3 when some data was missing (rows still written).

    Raises:
        UsageError / ConfigError: bad options or profiles (exit 64).
        CacheError: the cache cannot be opened.
    """
    if options.fmt not in FORMATS:
        raise UsageError(f"unknown format {options.fmt!r}; use csv or json")
    if options.domain not in DOMAINS:
        raise UsageError(f"unknown export {options.domain!r}; use one of {', '.join(DOMAINS)}")
    timeout = parse_timeout(options.timeout)
    from btconsole.lighthouse import with_customers

    config, discovery_problems = with_customers(config, offline=options.offline)
    profiles = select_profiles(config, options.profiles, options.all)
    check_output_path(options.output)
    now = clock(environ)
    quiet_logging()
    snapshot = load_snapshot(
        config,
        profiles,
        offline=options.offline,
        clock=now,
        timeout=timeout,
        engine_options=engine_options,
        progress=for_stream(stderr, environ),
    )
    snapshot.notes.extend(discovery_problems)
    columns = COLUMNS[options.domain]
    rows = rows_for(options.domain, snapshot)
    if options.fmt == "csv":
        text = render_csv(columns, rows)
    else:
        text = json_text(export_json(options.domain, columns, rows, snapshot))
    if options.output:
        write_output(options.output, text)
    else:
        stdout.write(text)
        stdout.flush()
    problems = snapshot.all_problems
    if problems:
        print(clean(_incomplete_line(problems)), file=stderr)
        return EXIT_INCOMPLETE
    return EXIT_OK
