"""Records into table rows: pure functions, one set per pane, tested without a terminal.

Each ``*_rows`` function takes records (and what it needs to judge them) and returns
:class:`~btconsole.ui.table.Row` objects with plain-text cells (cleaned of control
characters), a health level, and sort values. Nothing here touches Textual widgets.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from btconsole import health
from btconsole.config import Config
from btconsole.coverage import CustomerCoverage
from btconsole.records import (
    AlertRecord,
    ArcRecord,
    BudgetRecord,
    CircuitRecord,
    ComplianceRecord,
    CostRecord,
    ForecastRecord,
    PolicyAssignmentRecord,
    ResourceHealthRecord,
)
from btconsole.ui.data import PatchCounts
from btconsole.ui.table import Column, Level, Row
from btconsole.ui.textsafe import clean

SEVERITY_LEVEL: dict[str, Level] = {"critical": "critical", "warning": "warning", "info": "info"}


def age_text(seconds: float | None) -> str:
    """A compact age (:func:`btconsole.health.age_text`: ``45s``, ``5d``, ``in 3h`` for
    a time ahead of now); ``-`` when unknown."""
    if seconds is None:
        return "-"
    return health.age_text(seconds)


def since_seconds(timestamp: str | None, now: dt.datetime) -> float | None:
    moment = health.parse_time(timestamp)
    if moment is None:
        return None
    return (now - moment).total_seconds()


def money(amount: float | None, currency: str = "") -> str:
    """An amount for a table cell: ``-`` for none, ``?`` for one that is not a number."""
    if amount is None:
        return "-"
    if not math.isfinite(amount):
        return f"? {currency}".strip()
    text = f"{amount:,.0f}" if abs(amount) >= 100 else f"{amount:,.2f}"
    return f"{text} {currency}".strip()


def bytes_text(value: int | None) -> str:
    """A byte count in decimal units, three significant figures: ``7.13 TB``; ``-``."""
    if value is None:
        return "-"
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    amount = float(value)
    index = 0
    while abs(amount) >= 999.5 and index < len(units) - 1:
        amount /= 1000
        index += 1
    if index == 0:
        return f"{int(value)} B"
    digits = 0 if abs(amount) >= 99.95 else 1 if abs(amount) >= 9.995 else 2
    return f"{amount:.{digits}f} {units[index]}"


def percent(value: float | None) -> str:
    """A percentage: ``-`` for none, ``?`` for one that is not a number."""
    if value is None:
        return "-"
    return f"{value:.1f}%" if math.isfinite(value) else "?"


def customer_names(config: Config) -> dict[str, str]:
    return {name: p.display_name for name, p in config.profiles.items()}


@functools.lru_cache(maxsize=1 << 16)
def short_resource_id(resource_id: str) -> str:
    """``resource group/name`` of an ARM ID (what tells rows apart); other text as is.

    ``/subscriptions/S/resourceGroups/RG/providers/NS/type/NAME`` -> ``RG/NAME`` (a
    child resource adds its own name: ``RG/NAME/CHILD``); a subscription-level resource
    (a budget) is its name; ``/subscriptions/S`` -> ``S``. Cleaned for display.
    """
    parts = [p for p in resource_id.split("/") if p]
    lower = [p.lower() for p in parts]
    if "resourcegroups" in lower:
        at = lower.index("resourcegroups")
        group = parts[at + 1] if at + 1 < len(parts) else ""
        rest = parts[at + 2 :]
        # providers/NS/type/name[/subtype/subname...]: the names, outermost first
        names = rest[3::2] if rest and rest[0].lower() == "providers" else []
        return clean("/".join([group, *names]))
    if len(parts) >= 2 and lower[0] == "subscriptions":
        if len(parts) >= 6 and lower[2] == "providers":  # a subscription-level resource
            return clean("/".join(parts[5::2]))
        return clean(parts[1])
    return clean(resource_id)


def resource_group_of(resource_id: str) -> str:
    """The resource group named in an ARM ID (cleaned), or ``-``."""
    parts = [p for p in resource_id.split("/") if p]
    lower = [p.lower() for p in parts]
    if "resourcegroups" in lower[:-1]:
        return clean(parts[lower.index("resourcegroups") + 1])
    return "-"


def _sub(names: Mapping[str, str], subscription_id: str, customer: str = "") -> str:
    """A subscription's display name, without the customer's name in front of it."""
    name = clean(names.get(subscription_id) or subscription_id[:8])
    if customer and name.lower().startswith(customer.lower()) and len(name) > len(customer):
        rest = name[len(customer) :].lstrip(" -–:/")
        return rest or name
    return name


# --------------------------------------------------------------------------- Arc

# Where a cell too long for its column is cut: names and IDs in the middle (their start
# and end tell rows apart), free text at the end. CUSTOMER is hidden while one customer
# is in view. SINCE is 8 wide: ``in 7974y`` (a date in year 9999) must read as such.
#
# The agent version is promised in full (``full``: 20 cells hold ``1.44.02766.1699 (-5)``):
# as the terminal narrows, columns are dropped before it would shrink; past nine releases
# behind it is cut in the middle, so its lag stays. The patch state of an Arc server
# (the health domain: pending critical and security updates, age of the last assessment)
# comes right after the customer and goes before the inventory (OS, kind, subscription,
# group, location, FQDN); at 80 columns CRIT is kept with every customer in view, and
# CRIT, SEC and ASSESSED all are with one customer (CUSTOMER hidden).
ARC_COLUMNS = (
    Column("name", "NAME", 24, 16, priority=0, cut="middle"),
    Column("status", "STATUS", 13, 12, priority=0),
    Column("since", "SINCE", 8, 8, align="right", priority=1),
    # sorted oldest version first (most releases behind): the versions shown run up, ▲
    Column("agent", "AGENT", 20, 20, priority=1, cut="middle", full=True),
    Column("customer", "CUSTOMER", 18, 10, priority=2, hide_when_constant=True),
    # most pending first (counts negated): the counts shown run down, ▼
    Column("critical", "CRIT", 4, 4, align="right", priority=3, descending=True),
    Column("security", "SEC", 4, 4, align="right", priority=4, descending=True),
    # the oldest assessment first (ages negated)
    Column("assessed", "ASSESSED", 8, 8, align="right", priority=5, descending=True),
    Column("os", "OS", 16, 12, priority=6),
    Column("kind", "KIND", 7, 7, priority=7),
    Column("subscription", "SUBSCRIPTION", 18, 14, priority=8, cut="middle"),
    Column("group", "RESOURCE GROUP", 20, 14, priority=9, cut="middle"),
    Column("location", "LOCATION", 14, 10, priority=10),
    Column("fqdn", "FQDN", 28, 20, priority=11, cut="middle"),
)

# Resource Graph keeps an assessment 30 days (patchassessmentresources): a server with
# none has had none for more than that, or never
NO_ASSESSMENT = ">30d"


@dataclass(frozen=True)
class PatchState:
    """What the health domain knows of the Arc servers' patches, for the Arc pane.

    ``assessments``: the latest assessment by lower-case machine ID; ``read``: the
    lower-case subscriptions whose health domain was ever read (a server elsewhere is
    unknown: ``?``, never 0); ``stale_days``: each profile's
    ``thresholds.patch_assessment_days``, past which ASSESSED is a warning (as its
    finding, ``patch-assessment``).
    """

    assessments: Mapping[str, PatchCounts]
    read: frozenset[str]
    stale_days: Mapping[str, int]


_NO_PATCHES: tuple[tuple[str, str, str], tuple[Level | None, ...], tuple[Any, ...]] = (
    ("-", "-", "-"),
    (None, None, None),
    (None, None, None),
)
_UNKNOWN_PATCHES: tuple[tuple[str, str, str], tuple[Level | None, ...], tuple[Any, ...]] = (
    ("?", "?", "?"),
    (None, None, None),
    (None, None, None),
)


def _utc_date(moment: dt.datetime) -> dt.date:
    return (moment.astimezone(dt.timezone.utc) if moment.tzinfo else moment).date()


def patch_cells(
    r: ArcRecord, patches: PatchState | None, now: dt.datetime
) -> tuple[tuple[str, str, str], tuple[Level | None, ...], tuple[Any, ...]]:
    """(cells, cell levels, sort values) of CRIT, SEC and ASSESSED for one Arc resource.

    A cluster has no patch state (``-``); a server whose subscription's health domain
    was never read is unknown (``?``); a server without an assessment has unknown
    counts and an assessment older than Resource Graph keeps (``>30d``, a warning); a
    Linux server's CRIT is ``-`` (Linux classifies Security and Other only). Ages are
    judged in whole UTC days, as the ``patch-assessment`` finding does.
    """
    if r.kind != "machine":
        return _NO_PATCHES
    if patches is None or r.subscription_id.lower() not in patches.read:
        return _UNKNOWN_PATCHES
    found = patches.assessments.get(r.id.lower())
    if found is None:
        return ("?", "?", NO_ASSESSMENT), (None, None, "warning"), (None, None, -math.inf)
    limit = patches.stale_days.get(r.profile, 7)
    when = health.parse_time(found.last_modified)
    age = (now - when).total_seconds() if when is not None else None
    days = (_utc_date(now) - _utc_date(when)).days if when is not None else None
    assessed_level: Level | None = "warning" if days is None or days > limit else None
    crit, sec = found.critical, found.security
    # Linux has no Critical class (Security and Other only): not unknown, not applicable
    linux = crit is None and (found.os_type or "").lower() == "linux"
    return (
        (
            ("-" if linux else "?") if crit is None else str(crit),
            "?" if sec is None else str(sec),
            "?" if age is None else age_text(age),
        ),
        ("warning" if crit else None, "info" if sec else None, assessed_level),
        (
            None if crit is None else -crit,
            None if sec is None else -sec,
            None if age is None else -age,
        ),
    )


_ARC_LEVEL: dict[str, Level] = {
    "connected": "ok",
    "disconnected": "warning",
    "expired": "warning",  # hygiene, never critical (as its finding: docs/health.md)
    "error": "critical",  # recent; in error for longer than RECENT_DAYS: warning
}
_RECENT_SECONDS = health.RECENT_DAYS * 86400


def arc_rows(
    records: Sequence[ArcRecord],
    *,
    customers: Mapping[str, str],
    subscriptions: Mapping[str, str],
    now: dt.datetime,
    behind_threshold: Mapping[str, int] | None = None,
    patches: PatchState | None = None,
) -> list[Row]:
    """Rows of the Arc pane: one per machine or cluster.

    ``patches``: what the health domain read of the servers' patch state; None when
    it was not read at all (every server's patch cells say ``?``).

    Tens of thousands of machines share a few agent versions, customers, subscriptions,
    statuses, groups and places: what depends only on those is worked out once per
    distinct value (the Arc pane of 20,600 machines opens in a fraction of the time).
    """
    newest = health.newest_by_kind(records)
    seen = health.versions_by_kind(records)
    thresholds = behind_threshold or {}
    agents: dict[tuple[str, str | None, str], tuple[str, Level | None, int | None]] = {}
    subs: dict[tuple[str, str], tuple[str, str]] = {}
    cleaned: dict[str, str] = {}
    customer_of: dict[str, tuple[str, str]] = {}

    def plain(text: str) -> str:  # clean() of a value many rows share
        out = cleaned.get(text)
        if out is None:
            out = cleaned[text] = clean(text)
        return out

    rows = []
    for r in records:
        bucket = health.arc_bucket(r.status)
        level: Level = _ARC_LEVEL.get(bucket, "info")
        agent_key = (r.kind, r.agent_version, r.profile)
        known = agents.get(agent_key)
        if known is None:
            behind = health.versions_behind(r, newest, seen)
            threshold = thresholds.get(r.profile, 2)
            agent = clean(r.agent_version or "-")
            agent_level: Level | None = None
            if behind:
                agent = f"{agent} (-{behind})"
                agent_level = "warning" if behind >= max(1, threshold) else "info"
            known = agents[agent_key] = (agent, agent_level, behind)
        agent, agent_level, behind = known
        if level == "ok" and agent_level == "warning":
            level = "warning"
        since = since_seconds(r.last_status_change, now)
        if bucket == "error" and since is not None and since > _RECENT_SECONDS:
            level = "warning"  # as its finding: long in error is backlog, not an outage
        os_text = " ".join(p for p in (r.os_name, r.os_version) if p) or (r.distribution or "-")
        names = customer_of.get(r.profile)
        if names is None:
            shown = clean(customers.get(r.profile, r.profile))
            names = customer_of[r.profile] = (shown, shown.lower())
        customer, customer_lower = names
        sub_key = (r.subscription_id, customer)
        sub = subs.get(sub_key)
        if sub is None:
            name = _sub(subscriptions, r.subscription_id, customer)
            sub = subs[sub_key] = (name, name.lower())
        patch, patch_levels, patch_sort = patch_cells(r, patches, now)
        cells = (
            clean(r.name),
            plain(r.status),
            age_text(since),
            agent,
            customer,
            *patch,
            plain(os_text),
            r.kind,
            sub[0],
            plain(r.resource_group),
            plain(r.location),
            clean(r.fqdn or "-"),
        )
        cell_levels: tuple[Level | None, ...] = (
            None,
            level if level != "ok" else None,
            None,
            agent_level,
            None,
            *patch_levels,
            *(None,) * 6,
        )
        rows.append(
            Row(
                key=r.id,
                cells=cells,
                level=level,
                cell_levels=cell_levels,
                sort_values=(
                    r.name.lower(),
                    _status_rank(level),
                    since if since is not None else -1.0,
                    -(behind or 0),
                    customer_lower,
                    *patch_sort,
                    cells[8].lower(),
                    r.kind,
                    sub[1],
                    cells[11].lower(),
                    cells[12].lower(),
                    cells[13].lower(),
                ),
                payload=r,
            )
        )
    return rows


def _status_rank(level: str) -> int:
    return {"critical": 0, "warning": 1, "info": 2, "muted": 3, "ok": 4}.get(level, 5)


# --------------------------------------------------------------------------- circuits

CIRCUIT_COLUMNS = (
    Column("name", "NAME", 24, 20, priority=0, cut="middle"),
    Column("health", "HEALTH", 8, 8, priority=0),
    Column("location", "LOCATION", 14, 12, priority=1),
    Column("bandwidth", "BANDWIDTH", 9, 9, align="right", priority=2),
    Column("customer", "CUSTOMER", 18, 10, priority=3, hide_when_constant=True),
    Column("why", "WHY", 36, 30, priority=1),  # "provider state NotProvisioned"
    Column("provider", "PROVIDER STATE", 14, 13, priority=4),
    Column("sku", "SKU", 22, 18, priority=5),
    Column("circuit", "CIRCUIT STATE", 13, 12, priority=6),
    Column("peerings", "PEERINGS", 34, 20, priority=7),
)

_CIRCUIT_LEVEL: dict[str, Level] = {
    "healthy": "ok",
    "degraded": "warning",
    "down": "critical",
    "unknown": "info",
}


def bandwidth_text(mbps: int | None) -> str:
    if mbps is None:
        return "-"
    return f"{mbps // 1000} Gbps" if mbps >= 1000 and mbps % 1000 == 0 else f"{mbps} Mbps"


def circuit_rows(records: Sequence[CircuitRecord], *, customers: Mapping[str, str]) -> list[Row]:
    rows = []
    for c in records:
        judged = health.circuit_health(c)
        level = _CIRCUIT_LEVEL.get(judged.state, "info")
        peerings = ", ".join(
            f"{p.name.replace('Azure', '').replace('Peering', '')}:{p.state}" for p in c.peerings
        )
        sku = " ".join(x for x in (c.sku_tier, c.sku_family) if x) or "-"
        cells = (
            clean(c.name),
            judged.state,
            clean(c.peering_location or "-"),
            bandwidth_text(c.bandwidth_mbps),
            clean(customers.get(c.profile, c.profile)),
            clean("; ".join(judged.reasons) or "-"),
            clean(c.provider_state or "-"),
            clean(sku),
            clean(c.circuit_state or "-"),
            clean(peerings or "-"),
        )
        rows.append(
            Row(
                key=c.id,
                cells=cells,
                level=level,
                cell_levels=(None, level if level != "ok" else None, *(None,) * 8),
                sort_values=(
                    c.name.lower(),
                    _status_rank(level),
                    cells[2].lower(),
                    c.bandwidth_mbps or 0,
                    cells[4].lower(),
                    cells[5].lower(),
                    cells[6].lower(),
                    cells[7].lower(),
                    cells[8].lower(),
                    cells[9].lower(),
                ),
                payload=c,
            )
        )
    return rows


# --------------------------------------------------------------------------- policy

POLICY_COLUMNS = (
    Column("assignment", "ASSIGNMENT", 34, 24, priority=0),  # reads from its start
    Column("subscription", "SUBSCRIPTION", 22, 16, priority=1, cut="middle"),
    Column("noncompliant", "NON-COMP", 10, 10, align="right", priority=0, descending=True),
    Column("compliance", "SUB COMPL", 11, 11, align="right", priority=1),
    Column("customer", "CUSTOMER", 18, 12, priority=2, hide_when_constant=True),
    Column("policies", "POLICIES", 10, 10, align="right", priority=3, descending=True),
)


def policy_rows(
    assignments: Sequence[PolicyAssignmentRecord],
    compliance: Sequence[ComplianceRecord],
    *,
    customers: Mapping[str, str],
    subscriptions: Mapping[str, str],
    thresholds: Mapping[str, float],
) -> list[Row]:
    """One row per assignment with non-compliant resources; compliant ones muted."""
    by_sub = {
        (c.profile, c.subscription_id): health.compliance_percent(
            c.compliant_resources, c.non_compliant_resources
        )
        for c in compliance
    }
    rows = []
    for a in assignments:
        pct = by_sub.get((a.profile, a.subscription_id))
        threshold = thresholds.get(a.profile, 90.0)
        if a.non_compliant_resources == 0:
            level: Level = "muted"
        elif pct is not None and pct < threshold - 20:
            level = "critical"
        elif pct is not None and pct < threshold:
            level = "warning"
        else:
            level = "info"
        customer = clean(customers.get(a.profile, a.profile))
        cells = (
            clean(a.assignment_name),
            _sub(subscriptions, a.subscription_id, customer),
            str(a.non_compliant_resources),
            percent(pct),
            customer,
            str(a.non_compliant_policies),
        )
        rows.append(
            Row(
                key=f"{a.subscription_id}|{a.assignment_id}",
                cells=cells,
                level=level,
                sort_values=(
                    cells[0].lower(),
                    cells[1].lower(),
                    -a.non_compliant_resources,
                    pct if pct is not None else 101.0,
                    customer.lower(),
                    -a.non_compliant_policies,
                ),
                payload=a,
            )
        )
    return rows


# --------------------------------------------------------------------------- spend

SPEND_COLUMNS = (
    Column("subscription", "SUBSCRIPTION", 26, 20, priority=0, cut="middle"),
    Column("mtd", "MTD", 14, 12, align="right", priority=0, descending=True),
    Column("forecast", "FORECAST", 14, 12, align="right", priority=1, descending=True),
    Column("budget", "BUDGET", 14, 12, align="right", priority=1, descending=True),
    Column("used", "USED", 7, 7, align="right", priority=2, descending=True),
    Column("anomalies", "ANOMALIES", 24, 12, priority=3, descending=True),
    # kept at 80 columns: with every customer in view, "Production" alone says too little
    Column("customer", "CUSTOMER", 18, 12, priority=1, hide_when_constant=True),
)


def spend_rows(
    costs: Sequence[CostRecord],
    forecasts: Sequence[ForecastRecord],
    budgets: Sequence[BudgetRecord],
    *,
    customers: Mapping[str, str],
    subscriptions: Mapping[str, str],
    today: dt.date,
) -> list[Row]:
    """One row per (customer, subscription, currency): never summed across currencies."""
    mtd: dict[tuple[str, str, str], float] = defaultdict(float)
    month = today.strftime("%Y-%m")
    for c in costs:
        if c.date.startswith(month) and c.date <= today.isoformat():
            mtd[(c.profile, c.subscription_id, c.currency)] += c.amount
    forecasts = health.effective_forecasts(forecasts)  # a customer's forecast once
    for f in forecasts:
        mtd.setdefault((f.profile, f.subscription_id, f.currency), 0.0)
    for f in forecasts:
        if f.subscription_id == health.CUSTOMER_FORECAST:
            # read at the billing account's customer scope: not per subscription; its
            # row holds the customer's month to date, the subscriptions' rows show "?"
            mtd[(f.profile, f.subscription_id, f.currency)] = math.fsum(
                amount
                for (profile, sub, currency), amount in mtd.items()
                if profile == f.profile and currency == f.currency and sub
            )
    forecast = {(f.profile, f.subscription_id, f.currency): f.forecast for f in forecasts}
    budget: dict[tuple[str, str, str], BudgetRecord] = {}
    for item in budgets:
        key = (item.profile, item.subscription_id, item.currency)
        if key not in budget or item.amount > budget[key].amount:
            budget[key] = item
    anomalies: dict[str, list[str]] = defaultdict(list)
    for anomaly in health.spend_anomalies(costs):
        if anomaly.date >= (today - dt.timedelta(days=14)).isoformat():
            factor = f" x{anomaly.factor:.1f}" if anomaly.factor is not None else ""
            anomalies[anomaly.subscription_id].append(f"{anomaly.service}{factor}")
    rows = []
    for (profile, sub, currency), amount in sorted(mtd.items()):
        b: BudgetRecord | None = budget.get((profile, sub, currency))
        fc = forecast.get((profile, sub, currency))
        used = (amount / b.amount * 100) if b and b.amount else None
        level: Level = "ok"
        if b and amount > b.amount:
            level = "critical"
        elif (b and fc is not None and fc > b.amount) or anomalies.get(sub):
            level = "warning"
        customer = clean(customers.get(profile, profile))
        cells = (
            _sub(subscriptions, sub, customer) if sub else "all subscriptions",
            money(amount, currency),
            # spend this month but no forecast: Azure gave none, so it is unknown
            money(fc, currency) if fc is not None else f"? {currency}".strip(),
            money(b.amount if b else None, currency if b else ""),
            percent(used),
            clean(", ".join(anomalies.get(sub, [])) or "-"),
            customer,
        )
        rows.append(
            Row(
                key=f"{profile}|{sub}|{currency}",
                cells=cells,
                level=level,
                sort_values=(
                    cells[0].lower(),
                    -amount,
                    -(fc or 0.0),
                    -(b.amount if b else 0.0),
                    -(used or 0.0),
                    -len(anomalies.get(sub, [])),
                    customer.lower(),
                ),
                payload=(profile, sub, currency),
            )
        )
    return rows


# --------------------------------------------------------------------------- overview

OVERVIEW_COLUMNS = (
    Column("customer", "CUSTOMER", 22, 16, priority=0, cut="middle"),
    Column("arc", "ARC c/d/x/e", 11, 11, priority=0, descending=True),
    Column("circuits", "ER ok/dg/dn", 11, 11, priority=0, descending=True),
    Column("compliance", "COMPL", 7, 7, align="right", priority=1),
    Column("spend", "MTD", 12, 11, align="right", priority=1, descending=True),
    Column("budget", "BUDGET", 12, 11, align="right", priority=3, descending=True),
    # the worst-first order's own column: kept at 80 columns before the money ones
    Column("findings", "CRIT/WARN", 9, 9, align="right", priority=1, descending=True),
    Column("forecast", "FORECAST", 12, 11, align="right", priority=3, descending=True),
)


UNKNOWN = "?"  # a figure that could not be read: never shown as zero


def overview_rows(
    summaries: Sequence[health.CustomerSummary],
    coverage: Mapping[str, CustomerCoverage | None] | None = None,
) -> list[Row]:
    """One row per customer. A domain none of whose subscriptions could be read
    (:mod:`btconsole.coverage`) shows ``?`` and makes the row critical: unknown is
    never zeros, never healthy."""
    rows = []
    for s in summaries:
        arc = s.arc
        c = s.circuits
        level: Level = SEVERITY_LEVEL.get(s.worst or "", "ok") if s.worst != "info" else "ok"
        covered = (coverage or {}).get(s.profile)
        unknown = set(covered.unknown_domains) if covered is not None else set()
        if unknown:
            level = "critical"
        budget = s.budget
        spend = ", ".join(money(amount, cur) for cur, amount in s.spend_mtd) or "-"
        known = dict(s.forecast)
        forecast = (
            ", ".join(
                [money(amount, cur) for cur, amount in s.forecast]
                # spent in a currency with no (complete) forecast for it: unknown
                + [f"? {cur}".strip() for cur, _ in s.spend_mtd if cur not in known]
            )
            or "-"
        )
        cells = (
            clean(s.display_name),
            UNKNOWN
            if "arc" in unknown
            else f"{arc.connected}/{arc.disconnected}/{arc.expired}/{arc.error}",
            UNKNOWN if "circuits" in unknown else f"{c.healthy}/{c.degraded}/{c.down}",
            UNKNOWN if "policy" in unknown else percent(s.compliance_percent),
            UNKNOWN if "spend" in unknown else spend,
            money(budget.budget, budget.currency) if budget.budget is not None else "-",
            f"{s.critical}/{s.warning}",
            UNKNOWN if "spend" in unknown else forecast,
        )
        rows.append(
            Row(
                key=s.profile,
                cells=cells,
                level=level,
                sort_values=(
                    cells[0].lower(),
                    -(arc.disconnected + arc.expired + arc.error),
                    -(c.down * 1000 + c.degraded),
                    s.compliance_percent if s.compliance_percent is not None else 101.0,
                    -(sum(a for _, a in s.spend_mtd)),
                    -(budget.budget or 0.0),
                    # a customer with a domain nobody could read first: it may hide anything
                    -(s.critical * 100000 + s.warning) - (10**12 if unknown else 0),
                    -(sum(a for _, a in s.forecast)),
                ),
                payload=s,
            )
        )
    return rows


ATTENTION_COLUMNS = (
    Column("severity", "SEV", 4, 4, priority=0),
    Column("domain", "DOMAIN", 8, 8, priority=2),
    Column("customer", "CUSTOMER", 18, 10, priority=1, hide_when_constant=True),
    Column("what", "WHAT", 50, 28, priority=0),
    Column("since", "SINCE", 8, 8, align="right", priority=1),
    # a resource ID cut to a dozen cells says nothing: narrow terminals give WHAT the room
    Column("where", "WHERE", 40, 30, priority=3, cut="middle"),
)


def attention_rows(
    findings: Sequence[health.Finding], *, customers: Mapping[str, str], now: dt.datetime
) -> list[Row]:
    """One row per finding, in the order given. A row sorts by the finding's place in
    :func:`health.attention` order, so rows made apart (customer by customer) merge by
    their first sort value into the one list of every customer."""
    rows = []
    short = {"critical": "CRIT", "warning": "WARN"}
    names = {profile: clean(name) for profile, name in customers.items()}
    for f in findings:
        rank = health.attention_key(f)
        # a timestamp or a date (a spend finding's day): an age either way
        since = since_seconds(f.since, now)
        level = SEVERITY_LEVEL.get(f.severity, "info")
        cells = (
            short.get(f.severity, "info"),
            f.domain,
            names[f.profile] if f.profile in names else clean(f.profile),
            clean(f"{f.title} | {f.azure_cause}" if f.azure_cause else f.title),
            age_text(since) if since is not None else clean(f.since or "-"),
            short_resource_id(f.resource_id or f.subscription_id or "-"),
        )
        rows.append(
            Row(
                key=f.key,
                cells=cells,
                level=level,
                sort_values=(rank, cells[1], cells[2].lower(), cells[3].lower(), rank, cells[5]),
                payload=f,
            )
        )
    return rows


def details_lines(record: Any) -> list[tuple[str, str]]:
    """(field, value) pairs of any record, for the details view (values cleaned)."""
    import dataclasses

    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        return [("value", clean(record))]
    pairs = []
    for item in dataclasses.fields(record):
        value = getattr(record, item.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            continue  # nested records get their own section
        if item.name == "tags":
            text = ", ".join(f"{k}={v}" for k, v in value) or "-"
        elif isinstance(value, tuple):
            text = ", ".join(str(v) for v in value) or "-"
        else:
            text = "-" if value is None or value == "" else str(value)
        pairs.append((item.name.replace("_", " "), clean(text)))
    return pairs


# --------------------------------------------------------------------------- health (6)

HEALTH_COLUMNS = (
    Column("kind", "KIND", 19, 12, priority=0),
    Column("what", "WHAT", 44, 24, priority=0),
    Column("where", "SERVICES / TARGET", 30, 16, priority=1, cut="middle"),
    Column("customer", "CUSTOMER", 18, 10, priority=2, hide_when_constant=True),
    Column("subscriptions", "SUBSCRIPTIONS", 24, 12, priority=3, cut="middle"),
    Column("since", "SINCE", 8, 8, align="right", priority=1),
    Column("updated", "UPDATED", 8, 8, align="right", priority=2),
)

#: KIND is 12 cells at 80 columns: "planned maintenance" read "planned mai…"
_SHORT_EVENT_LABELS = {
    "planned maintenance": "maintenance",
    "health advisory": "advisory",
    "security advisory": "security adv",
}

_ALERT_LEVEL: dict[str, Level] = {"critical": "critical", "warning": "warning", "info": "info"}


def _last_name(resource_id: str | None) -> str:
    return (resource_id or "").rstrip("/").rsplit("/", 1)[-1] or "-"


def health_rows(
    events: Sequence[health.CustomerEvent],
    alerts: Sequence[AlertRecord],
    resources: Sequence[ResourceHealthRecord],
    *,
    customers: Mapping[str, str],
    subscriptions: Mapping[str, str],
    now: dt.datetime,
) -> list[Row]:
    """Rows of the Health pane: active Service Health events reaching the customers
    (per customer, whatever their number of subscriptions), fired alerts and resources
    that are not Available. Resolved events and alerts are left out."""
    rows: list[Row] = []
    for merged in events:
        e = merged.event
        if not health.is_active(e, now):
            continue
        issue = (e.event_type or "").lower() == health.incidents.SERVICE_ISSUE
        level: Level = "critical" if issue else "info"
        services = sorted({i.service for i in e.impacts})
        regions = sorted({i.region for i in e.impacts})
        customer = clean(customers.get(e.profile, e.profile))
        subs = ", ".join(_sub(subscriptions, s, customer) for s in merged.subscriptions)
        since = since_seconds(e.impact_start, now)
        updated = since_seconds(e.last_update, now)
        cells = (
            clean(_SHORT_EVENT_LABELS.get(health.event_label(e), health.event_label(e))),
            clean(e.title),
            clean(f"{', '.join(services)} in {', '.join(regions)}"),
            customer,
            subs or "-",
            age_text(since),
            age_text(updated),
        )
        rows.append(
            _health_row(f"event:{e.profile}:{e.tracking_id}".lower(), cells, level, since, merged)
        )
    for a in alerts:
        if not health.alert_fired(a):
            continue
        level = _ALERT_LEVEL[health.incidents.alert_severity(a.severity)]
        customer = clean(customers.get(a.profile, a.profile))
        since = since_seconds(a.start_time, now)
        cells = (
            clean(f"alert {a.severity or '?'}"),
            clean(a.name),
            clean(_last_name(a.target_resource)),
            customer,
            _sub(subscriptions, a.subscription_id, customer),
            age_text(since),
            age_text(since_seconds(a.last_modified, now)),
        )
        rows.append(_health_row(a.id, cells, level, since, a))
    for r in resources:
        state = r.availability_state.strip().lower()
        if state == "available":
            continue
        level = {"unavailable": "critical", "degraded": "warning"}.get(state, "info")  # type: ignore[assignment]
        # who caused it leads WHAT, which is never dropped: "is it Azure or us?" reads
        # at 80 columns (in KIND, "Unavailable (platform)" was cut to "Unavailable …")
        cause = {True: "platform: ", False: "user: "}.get(r.platform_initiated, "")  # type: ignore[arg-type]
        # Azure's title often only repeats the state ("Unavailable"): the summary says why
        title = (r.title or "").strip()
        what = title if title and title.lower() != state else (r.summary or title)
        customer = clean(customers.get(r.profile, r.profile))
        since = since_seconds(r.occurred_time, now)
        cells = (
            clean(r.availability_state),
            clean(f"{cause}{what or _last_name(r.resource_id)}"),
            clean(_last_name(r.resource_id)),
            customer,
            _sub(subscriptions, r.subscription_id, customer),
            age_text(since),
            "-",
        )
        rows.append(_health_row(r.resource_id, cells, level, since, r))
    return rows


_HEALTH_LEVEL_RANK = {"critical": 0, "warning": 1, "info": 2}


def health_rank(row: Row) -> tuple[int, int, float]:
    """The Health pane's order, worst first: by level; within one, Service Health
    events, then alerts, then resources whose state Azure's platform caused, then the
    other resources; newest first within each (an unknown time last)."""
    payload = row.payload
    if isinstance(payload, health.CustomerEvent):
        kind = 0
    elif isinstance(payload, AlertRecord):
        kind = 1
    elif isinstance(payload, ResourceHealthRecord) and payload.platform_initiated:
        kind = 2
    else:
        kind = 3
    since = row.sort_values[5] if row.sort_values else math.inf
    return _HEALTH_LEVEL_RANK.get(row.level, 3), kind, since


def _health_row(
    key: str, cells: tuple[str, ...], level: Level, since: float | None, payload: Any
) -> Row:
    return Row(
        key=key,
        cells=cells,
        level=level,
        cell_levels=(level if level != "ok" else None, *(None,) * (len(cells) - 1)),
        sort_values=(
            cells[0].lower(),
            cells[1].lower(),
            cells[2].lower(),
            cells[3].lower(),
            cells[4].lower(),
            since if since is not None else math.inf,
            cells[6],
        ),
        payload=payload,
    )


EVENT_UPDATE_COLUMNS = (
    Column("when", "WHEN", 17, 16, priority=0),
    Column("where", "SERVICE / REGION", 28, 16, priority=1),
    Column("text", "UPDATE / RESOURCE", 80, 30, priority=0),
)


def event_detail_rows(merged: health.CustomerEvent) -> list[Row]:
    """An event's update timeline (newest first), then the resources it impacts."""
    rows: list[Row] = []
    seen: set[tuple[str | None, str]] = set()
    for impact in merged.event.impacts:
        for u in impact.updates:
            if (u.time, u.summary) in seen:
                continue
            seen.add((u.time, u.summary))
            when = health.parse_time(u.time)
            cells = (
                when.strftime("%Y-%m-%d %H:%M") if when is not None else clean(u.time or "-"),
                clean(f"{impact.service} / {impact.region}"),
                clean(u.summary),
            )
            rows.append(
                Row(
                    key=f"update:{u.time}:{len(rows)}",
                    cells=cells,
                    level="info",
                    sort_values=(u.time or "", cells[1].lower(), cells[2].lower()),
                    payload=u,
                )
            )
    rows.sort(key=lambda row: row.cells[0], reverse=True)  # WHEN, newest first
    for rid in merged.impacted_resources:
        rows.append(
            Row(
                key=rid,
                cells=("impacted", clean(resource_group_of(rid)), clean(_last_name(rid))),
                level="warning",
                sort_values=("", "", _last_name(rid).lower()),
                payload=rid,
            )
        )
    return rows
