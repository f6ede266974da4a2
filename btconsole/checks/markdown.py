"""The Markdown report."""

from __future__ import annotations

from collections.abc import Mapping

from btconsole.checks.format import (
    counts_text,
    finding_where,
    format_age,
    md_code,
    md_escape,
    since_text,
    summary_line,
    utc_text,
)
from btconsole.checks.report import CheckReport
from btconsole.digest import (
    ALL_SCOPE,
)
from btconsole.health import (
    Finding,
)


def render_markdown(report: CheckReport) -> str:
    """The report as Markdown; every text from Azure is escaped or in a code span."""
    snap = report.snapshot
    out = [f"## btconsole check: {md_escape(report.verdict)}", ""]
    source = "cache only (offline)" if snap.offline else "refreshed"
    oldest = snap.oldest_fetch
    age = f", oldest data {format_age(snap.clock.wall - oldest)} old" if oldest else ""
    pinned = f", today pinned to {snap.clock.today}" if snap.clock.pinned else ""
    out.append(
        f"{utc_text(snap.clock.wall)} · {len(report.customers)} customer(s) · "
        f"{md_escape(counts_text(report.counts))} · data {source}{md_escape(age + pinned)}"
    )
    problems = snap.all_problems
    if problems:
        out += ["", f"### Data incomplete ({len(problems)} problem(s))", ""]
        for p in problems:
            where = "" if p.profile == "*" else md_code(p.profile) + " "
            scope = "" if p.scope == ALL_SCOPE else md_code(p.scope) + ": "
            out.append(f"- {where}{scope}{md_escape(p.message)}")
    for note in snap.notes:
        out += ["", f"> {md_escape(note)}"]
    for customer in report.customers:
        s = customer.summary
        counts = {"critical": s.critical, "warning": s.warning, "info": s.info}
        state = counts_text(counts) if customer.findings else "all clear"
        out += [
            "",
            f"### {md_escape(customer.profile.display_name)} ({md_code(customer.profile.name)}): "
            f"{md_escape(state)}",
            "",
            md_escape(summary_line(s)),
            "",
        ]
        for f in customer.findings:
            out.extend(_md_finding(f, customer.subscription_names))
    out += ["", "### Changes since the previous check", ""]
    changes = report.changes
    diff = changes.diff
    if changes.previous_at is None:
        out.append("First check of these profiles; nothing to compare with yet.")
    else:
        when = since_text(changes.previous_at) or changes.previous_at
        out.append(
            f"Previous check {md_escape(when)}: {len(diff.new)} new, {len(diff.resolved)} "
            f"resolved, {len(diff.changed)} changed, {len(diff.unchanged)} unchanged."
        )
        if changes.note:
            out.append(f"({md_escape(changes.note)})")
        if diff.new or diff.resolved or diff.changed:
            out.append("")
        for f in diff.new:
            out.append(f"- **new** {_md_short(f)}")
        for f in diff.resolved:
            out.append(f"- **resolved** {_md_short(f)}")
        for before, after in diff.changed:
            out.append(f"- **changed** {md_escape(before.severity)} → {_md_short(after)}")
    return "\n".join(out) + "\n"


def _md_short(f: Finding) -> str:
    return f"{md_escape(f.severity)} {md_code(f.profile)}: {md_escape(f.title)}"


def _md_finding(f: Finding, names: Mapping[str, str]) -> list[str]:
    lines = [f"- **{md_escape(f.severity.upper())}** {md_escape(f.domain)}: {md_escape(f.title)}"]
    if f.azure_cause:
        lines.append(f"  - azure: {md_escape(f.azure_cause)}")
    label, resource = finding_where(f, names)
    where = [md_escape(label)] if label else []
    if resource:
        where.append(md_code(resource))
    if where:
        lines.append(f"  - where: {', '.join(where)}")
    since = since_text(f.since)
    if since:
        lines.append(f"  - since: {md_escape(since)}")
    if f.detail:
        lines.append(f"  - detail: {md_escape(f.detail)}")
    return lines
