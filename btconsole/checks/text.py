"""The plain-text report: compact, for pasting into an incident channel."""

from __future__ import annotations

from collections.abc import Mapping

from btconsole.checks.format import (
    _LABELS,
    Style,
    clean,
    counts_text,
    domain_label,
    finding_where,
    format_age,
    since_text,
    summary_line,
    utc_text,
)
from btconsole.checks.options import TODAY_ENV
from btconsole.checks.report import CheckReport, CustomerReport
from btconsole.digest import (
    ALL_SCOPE,
)
from btconsole.health import (
    Finding,
)


def render_text(report: CheckReport, *, color: bool = False) -> str:
    """The plain-text report: compact, for pasting into an incident channel."""
    style = Style(color)
    snap = report.snapshot
    out: list[str] = []
    customers = len(report.customers)
    verdict = style(
        report.verdict, {0: "good", 1: "warning", 2: "critical"}.get(report.exit_code, "bad")
    )
    out.append(
        f"btconsole check {utc_text(snap.clock.wall)}: {verdict} "
        f"({counts_text(report.counts)}; {customers} customer{'s' if customers != 1 else ''})"
    )
    source = "cache only (--offline)" if snap.offline else "refreshed"
    oldest = snap.oldest_fetch
    age = f", oldest data {format_age(snap.clock.wall - oldest)} old" if oldest else ""
    pinned = f"; today pinned to {snap.clock.today} ({TODAY_ENV})" if snap.clock.pinned else ""
    out.append(f"data: {source}{age}{pinned}")
    problems = snap.all_problems
    if problems:
        out.append("")
        out.append(
            style(f"DATA INCOMPLETE: {len(problems)} problem(s); findings may be missing", "bad")
        )
        for p in problems:
            scope = "" if p.scope == ALL_SCOPE else f" {clean(p.scope)}"
            who = "" if p.profile == "*" else f"{clean(p.profile)}{scope}: "
            out.append(f"  {who}{clean(p.message)}")
    for note in snap.notes:
        out.append(f"note: {clean(note)}")
    for customer in report.customers:
        s = customer.summary
        out.append("")
        state = customer_state(customer)
        out.append(
            f"== {clean(customer.profile.display_name)} [{clean(customer.profile.name)}]: "
            f"{style(state, 'bad') if customer.problems else state}"
        )
        out.append(f"   {clean(summary_line(s, customer.coverage))}")
        for finding in customer.findings:
            out.extend(_text_finding(finding, customer.subscription_names, style))
    out.append("")
    out.extend(_text_changes(report, style))
    return "\n".join(out) + "\n"


def _text_finding(finding: Finding, names: Mapping[str, str], style: Style) -> list[str]:
    head = f"{style.severity(finding.severity)} {domain_label(finding.domain)} "
    lines = [head + clean(finding.title)]
    if finding.azure_cause:  # is it Azure? said first, beside the finding
        lines.append(f"     {clean(finding.azure_cause)}")
    label, resource = finding_where(finding, names)
    since = since_text(finding.since)
    bits = [f"since {since}"] if since else []
    bits += [clean(x) for x in (label, resource) if x]
    if bits:
        lines.append("     " + " | ".join(bits))
    if finding.detail:
        lines.append(f"     {clean(finding.detail)}")
    return lines


def _text_changes(report: CheckReport, style: Style) -> list[str]:
    changes = report.changes
    diff = changes.diff
    if changes.previous_at is None:
        return ["changes: first check of these profiles; nothing to compare with yet"]
    when = since_text(changes.previous_at) or changes.previous_at
    head = (
        f"changes since the previous check ({clean(when)}): {len(diff.new)} new, "
        f"{len(diff.resolved)} resolved, {len(diff.changed)} changed, "
        f"{len(diff.unchanged)} unchanged"
    )
    lines = [head]
    if changes.note:
        lines.append(f"  ({changes.note})")
    for f in diff.new:
        lines.append(f"  {style('NEW', 'bad')}      {_change_line(f, style)}")
    for f in diff.resolved:
        lines.append(f"  {style('RESOLVED', 'good')} {_change_line(f, style)}")
    for before, after in diff.changed:
        arrow = f"{_LABELS.get(before.severity, '?')}->{_LABELS.get(after.severity, '?')}"
        lines.append(f"  CHANGED  {arrow} {clean(after.profile)}: {clean(after.title)}")
    return lines


def _change_line(f: Finding, style: Style) -> str:
    return f"{style.severity(f.severity)} {clean(f.profile)}: {clean(f.title)}"


def customer_state(customer: CustomerReport) -> str:
    """``UNKNOWN: <why>``, or the finding counts (``all clear`` only with complete data),
    with ``data incomplete`` when some of it could not be read."""
    if customer.unknown and customer.coverage is not None:
        cause = customer.coverage.cause
        return f"UNKNOWN: {clean(cause.why) if cause is not None else 'no data'}"
    s = customer.summary
    counts = {"critical": s.critical, "warning": s.warning, "info": s.info}
    if customer.problems:
        return f"{counts_text(counts)}, data incomplete"
    return counts_text(counts) if customer.findings else "all clear"
