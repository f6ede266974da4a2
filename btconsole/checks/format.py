"""What every renderer shares: text safety, times, the summary line, styles."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from btconsole.checks.options import DOMAINS
from btconsole.coverage import (
    CustomerCoverage,
)
from btconsole.health import (
    SEVERITIES,
    CustomerSummary,
    Finding,
    age_text,
    parse_time,
)

# --------------------------------------------------------------------------- text safety

_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_BREAKS = re.compile("[\t\n\r\u2028\u2029]+")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&@$])")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def clean(text: object) -> str:
    """``text`` on one line with terminal control characters (and bidi overrides)
    removed: safe to print to a terminal."""
    value = str(text)
    if value.isprintable():  # nothing either pattern matches (they are all non-printable)
        return value
    return _CONTROL.sub("", _BREAKS.sub(" ", value))


def md_escape(text: object) -> str:
    """``text`` as literal Markdown: on one line, every markup character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", clean(text))


def md_code(text: object) -> str:
    """``text`` as a Markdown code span, fenced with more backticks than it holds."""
    body = clean(text)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def json_text(data: Any) -> str:
    """Indented JSON, UTF-8, with C1 and bidi control characters escaped."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


# --------------------------------------------------------------------------- formatting


def iso_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def format_age(seconds: float) -> str:
    """``45s``, ``12m``, ``3h``, ``2d``, ``in 3h`` (ahead of now): as the console shows
    ages (:func:`btconsole.health.age_text`)."""
    return age_text(seconds)


def since_text(since: str | None) -> str | None:
    """A finding's ``since`` for people: ``2026-11-06 08:17 UTC`` or a bare date."""
    moment = parse_time(since)
    if moment is None:
        return clean(since) if since else None
    if since and len(since.strip()) <= 10:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _amount(currency: str, amount: float) -> str:
    """``GBP 1,234.50``; an amount that is not a number is ``GBP unknown``, never inf."""
    return f"{currency} {amount:,.2f}" if math.isfinite(amount) else f"{currency} unknown"


def money_text(pairs: Iterable[tuple[str, float]]) -> str:
    return ", ".join(_amount(c, a) for c, a in pairs) or "none"


def summary_line(summary: CustomerSummary, coverage: CustomerCoverage | None = None) -> str:
    """The overview figures of one customer, on one line; a domain that could not be
    read at all shows as ``?`` (unknown), never as zero."""
    unknown = set(coverage.unknown_domains) if coverage is not None else set()
    line = _summary_parts(summary)
    labels = {
        "arc": "arc ?",
        "circuits": "circuits ?",
        "policy": "compliance ?",
        "spend": "spend ?",
        "health": "azure health ?",
    }
    return " | ".join(
        labels[domain] if domain in unknown else part
        for domain, part in zip(DOMAINS, line, strict=True)
    )


def _summary_parts(summary: CustomerSummary) -> list[str]:
    arc = summary.arc
    parts = [f"arc {arc.connected}/{arc.total} connected" if arc.total else "no arc resources"]
    extra = [
        f"{n} {name}"
        for name, n in (
            ("disconnected", arc.disconnected),
            ("expired", arc.expired),
            ("error", arc.error),
            ("other", arc.other),
        )
        if n
    ]
    if extra:
        parts[-1] += f" ({', '.join(extra)})"
    circuits = summary.circuits
    text = (
        f"circuits {circuits.healthy}/{circuits.total} healthy" if circuits.total else "no circuits"
    )
    extra = [
        f"{n} {name}"
        for name, n in (
            ("down", circuits.down),
            ("degraded", circuits.degraded),
            ("unknown", circuits.unknown),
        )
        if n
    ]
    parts.append(text + (f" ({', '.join(extra)})" if extra else ""))
    percent = summary.compliance_percent
    parts.append(
        "compliance n/a" if percent is None else f"compliance {math.floor(percent * 10) / 10:.1f}%"
    )
    spend = f"spend MTD {money_text(summary.spend_mtd)}"
    budget = summary.budget
    if budget.budget is not None:
        spend += f" of {_amount(budget.currency, budget.budget)} budget ({budget.status})"
    known = dict(summary.forecast)
    # spent in a currency with no (complete) forecast: Azure gave none, so unknown
    unknown = [f"{c} unknown" for c, _ in summary.spend_mtd if c not in known]
    forecast = [_amount(c, a) for c, a in summary.forecast] + unknown
    if forecast:
        spend += ", forecast " + ", ".join(forecast)
    parts.append(spend)
    parts.append(_health_part(summary))
    return parts


def _health_part(summary: CustomerSummary) -> str:
    """``azure: 1 service issue, 2 fired alerts, 2 resources unavailable/degraded``."""
    issues, alerts, bad = (
        summary.service_issues,
        summary.fired_alerts,
        summary.unhealthy_resources,
    )
    if issues is None or alerts is None or bad is None:
        return "azure health ?"
    items = [
        f"{issues} service issue{'s' if issues != 1 else ''}" if issues else "",
        f"{alerts} fired alert{'s' if alerts != 1 else ''}" if alerts else "",
        f"{bad} resource{'s' if bad != 1 else ''} unavailable/degraded" if bad else "",
    ]
    shown = [i for i in items if i]
    return "azure: " + (", ".join(shown) if shown else "no issues")


def counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts.get(s, 0)} {s}" for s in SEVERITIES)


def finding_where(finding: Finding, names: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(subscription label, resource id) of a finding; either may be None.

    The label is the subscription's name, with its id only when no resource id (which
    holds it) is shown; a customer-wide finding says so.
    """
    sub = finding.subscription_id
    resource = finding.resource_id
    if resource and resource.startswith("profile/"):
        resource = None
        if not sub:
            return "customer-wide", None
    if resource and sub and resource.lower() == f"/subscriptions/{sub}".lower():
        resource = None
    if not sub:
        return None, resource
    name = names.get(sub)
    if resource:
        return name, resource
    return (f"{name} ({sub})" if name else f"subscription {sub}"), None


_LABELS = {"critical": "CRIT", "warning": "WARN", "info": "INFO"}
_ANSI = {"critical": "1;31", "warning": "33", "info": "36", "bad": "1;31", "good": "32"}


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, kind: str) -> str:
        if not self.color or kind not in _ANSI:
            return text
        return f"\x1b[{_ANSI[kind]}m{text}\x1b[0m"

    def severity(self, severity: str) -> str:
        return self(_LABELS.get(severity, clean(severity)[:4].upper()).ljust(4), severity)


def use_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` set (non-empty) or TERM=dumb."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def domain_label(domain: str) -> str:
    return clean(domain).ljust(8)
