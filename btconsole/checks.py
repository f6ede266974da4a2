"""``btconsole check``: the daily check, headless, with an exit code for cron.

The check refreshes the cache through the :class:`~btconsole.engine.Engine` (or, with
``offline``, only reads it), runs :func:`btconsole.health.findings_for` per customer,
compares the findings with the previous check of the same set of profiles and renders
a report as text, Markdown or JSON (schema :data:`SCHEMA`, ``docs/check-schema.json``).

Exit codes (``docs/checks.md``): 0 all clear, 1 warnings, 2 critical, 3 the data was
incomplete or older than ``max_age``. The code is the *highest* that applies, so 3
wins over 2: a run that could not get all its data never reports a verdict as if it
had, and the findings it did get are still in the report. ``info`` findings do not
change the code.

Text from Azure is data: the text renderer strips terminal control characters, the
Markdown renderer escapes markup, the JSON renderer escapes C1 and bidi controls.

This module imports neither Textual nor an Azure SDK (the engine imports the SDK
only when a refresh runs); :mod:`btconsole.export` reuses its data loading.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from btconsole.cache import Cache, CacheKey, Entry, default_cache_path
from btconsole.config import Config, Profile, format_duration, parse_duration
from btconsole.digest import (
    ALL_SCOPE,
    SOURCE_DOMAINS,
    SUBSCRIPTIONS,
    CustomerHealth,
    Digester,
    Sources,
    load_records,
    peek_sources,
)
from btconsole.errors import ConfigError, UsageError
from btconsole.fsutil import ensure_private_dir, write_private_file
from btconsole.health import (
    SEVERITIES,
    CustomerSummary,
    Finding,
    FindingsDiff,
    customer_summary,
    diff_findings,
    findings_for,
    newest_by_kind,
    parse_time,
    versions_by_kind,
)
from btconsole.records import ArcRecord, SubscriptionRecord

log = logging.getLogger(__name__)

SCHEMA = "btconsole.check/1"
STATE_SCHEMA = "btconsole.check-state/1"
DOMAINS = SOURCE_DOMAINS

EXIT_ALL_CLEAR = 0
EXIT_WARNING = 1
EXIT_CRITICAL = 2
EXIT_INCOMPLETE = 3

#: Testing and demo aid: pins "today" (cost queries, month to date, anomalies, ages
#: in findings) to a date, as ``YYYY-MM-DD``; the health rules' "now" is noon UTC on it.
TODAY_ENV = "BTCONSOLE_TODAY"
DEFAULT_TIMEOUT = 300.0
FORMATS = ("text", "markdown", "json")


# --------------------------------------------------------------------------- clock


@dataclass(frozen=True)
class Clock:
    """The two clocks of a check.

    ``today``/``now`` drive the health rules and the cost queries (pinned by
    ``BTCONSOLE_TODAY``); ``wall`` is the real time, always used for the age of data.
    """

    today: dt.date
    now: dt.datetime
    wall: float
    pinned: bool = False


def clock(environ: Mapping[str, str] | None = None) -> Clock:
    """The clock of this run.

    Raises:
        UsageError: ``BTCONSOLE_TODAY`` is set but is not a ``YYYY-MM-DD`` date.
    """
    env = os.environ if environ is None else environ
    wall = time.time()
    pinned = env.get(TODAY_ENV, "").strip()
    if pinned:
        try:
            today = dt.date.fromisoformat(pinned)
        except ValueError:
            raise UsageError(
                f"{TODAY_ENV}={pinned!r} is not a date in the form YYYY-MM-DD"
            ) from None
        now = dt.datetime(today.year, today.month, today.day, 12, tzinfo=dt.timezone.utc)
        return Clock(today, now, wall, pinned=True)
    now = dt.datetime.fromtimestamp(wall, dt.timezone.utc)
    return Clock(now.date(), now, wall)


def parse_max_age(text: str | None) -> float | None:
    """Seconds in a ``--max-age`` value, or None when not given.

    Raises:
        UsageError: not a duration.
    """
    if text is None:
        return None
    seconds = parse_duration(text)
    if seconds is None:
        raise UsageError(f"--max-age {text!r} is not a duration; use e.g. 90s, 30m, 6h or 1d")
    return seconds


def select_profiles(config: Config, names: Sequence[str] | None, all_: bool) -> list[Profile]:
    """The profiles a command runs on: those named, or every one with ``all_``.

    Raises:
        UsageError: both or neither of ``names`` and ``all_``.
        ConfigError: no profiles configured, or an unknown name.
    """
    if names and all_:
        raise UsageError("give either --profile NAME (repeatable) or --all, not both")
    if not config.profiles:
        where = config.path if config.exists else f"{config.path} (not created yet)"
        raise ConfigError(
            f"no profiles configured in {where}; add a [profiles.NAME] table "
            "(docs/configuration.md) or run: btconsole config init"
        )
    if not names and not all_:
        known = ", ".join(sorted(config.profiles))
        raise UsageError(f"name the customers with --profile NAME or use --all (profiles: {known})")
    if all_:
        return list(config.profiles.values())
    chosen: dict[str, Profile] = {}
    for name in names or ():
        profile = config.profile(name)
        chosen.setdefault(profile.name, profile)
    return list(chosen.values())


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataProblem:
    """Why some of the data is missing, failed or too old.

    ``kind`` is ``never-fetched``, ``refresh-failed``, ``too-old`` or ``timeout``.
    """

    profile: str
    domain: str
    scope: str
    kind: str
    message: str
    fetched_at: float | None = None


@dataclass
class ProfileData:
    """One customer's cached records (of the expected scopes) and their freshness."""

    profile: Profile
    subscriptions: tuple[SubscriptionRecord, ...] = ()
    records: dict[str, list[Any]] = field(default_factory=dict)
    oldest_fetch: float | None = None
    newest_fetch: float | None = None
    problems: list[DataProblem] = field(default_factory=list)
    sources: Sources | None = None

    @property
    def subscription_names(self) -> dict[str, str]:
        return {s.subscription_id: s.display_name for s in self.subscriptions}

    def records_by_domain(self) -> dict[str, list[Any]]:
        return {SUBSCRIPTIONS: list(self.subscriptions), **self.records}


@dataclass
class Snapshot:
    """What a check or export works on: the data of every chosen profile."""

    profiles: list[ProfileData]
    clock: Clock
    offline: bool
    max_age: float | None
    problems: list[DataProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    newest_versions: dict[str, str] = field(default_factory=dict)
    versions_seen: dict[str, frozenset[str]] = field(default_factory=dict)
    # name -> summary and findings, when read from the digests (else made from records)
    health: dict[str, CustomerHealth] = field(default_factory=dict)

    @property
    def all_problems(self) -> list[DataProblem]:
        return [*self.problems, *(p for data in self.profiles for p in data.problems)]

    @property
    def complete(self) -> bool:
        return not self.all_problems

    @property
    def oldest_fetch(self) -> float | None:
        times = [d.oldest_fetch for d in self.profiles if d.oldest_fetch is not None]
        return min(times) if times else None


def _one_line(text: str | None, limit: int = 200) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _entry_problem(
    entry: Entry | None, key: CacheKey, wall: float, max_age: float | None
) -> DataProblem | None:
    label = "subscription listing" if key.domain == SUBSCRIPTIONS else key.domain
    if entry is None or entry.fetched_at is None:
        reason = f": {_one_line(entry.error)}" if entry is not None and entry.error else ""
        return DataProblem(
            key.profile, key.domain, key.scope, "never-fetched", f"{label} never fetched{reason}"
        )
    age = entry.age(wall) or 0.0
    if entry.error:
        return DataProblem(
            key.profile,
            key.domain,
            key.scope,
            "refresh-failed",
            f"{label} refresh failed: {_one_line(entry.error)} (using data from "
            f"{format_age(age)} ago)",
            entry.fetched_at,
        )
    if max_age is not None and age > max_age:
        return DataProblem(
            key.profile,
            key.domain,
            key.scope,
            "too-old",
            f"{label} data is {format_age(age)} old (--max-age {format_duration(max_age)})",
            entry.fetched_at,
        )
    return None


def read_profile(
    cache: Cache,
    profile: Profile,
    wall: float,
    max_age: float | None,
    *,
    sources: Sources | None = None,
    records: bool = True,
) -> ProfileData:
    """The profile's records from the cache (unless ``records`` is false: then only
    their freshness), with a problem for every scope that is missing, failed or older
    than ``max_age``.

    The expected scopes are the cached subscription listing, else the profile's
    configured ``subscriptions``, else whatever the cache holds
    (:func:`btconsole.digest.read_sources`).
    """
    if sources is None:
        sources = peek_sources(cache, [profile])[profile.name]
    data = ProfileData(profile, sources=sources)
    listing_key = CacheKey(profile.name, SUBSCRIPTIONS, ALL_SCOPE)
    problem = _entry_problem(sources.listing, listing_key, wall, max_age)
    if problem is not None:
        data.problems.append(problem)
    data.subscriptions = sources.subscriptions
    loaded = load_records(cache, sources) if records else {}
    for domain in DOMAINS:
        domain_times: list[float] = []
        for scope, entry in sources.entries.get(domain, ()):
            problem = _entry_problem(entry, CacheKey(profile.name, domain, scope), wall, max_age)
            if problem is not None:
                data.problems.append(problem)
            if entry is not None and entry.fetched_at is not None:
                domain_times.append(entry.fetched_at)
        data.records[domain] = loaded.get(domain, [])
        # A failed Resource Graph batch leaves its error on the batch key only (the
        # engine keeps no error on the subscriptions' own keys): count it when it is
        # newer than every subscription's data of that domain.
        batch = cache.peek(CacheKey(profile.name, f"{domain}-graph", ALL_SCOPE))
        if (
            batch is not None
            and batch.error
            and batch.error_at is not None
            and (not domain_times or batch.error_at > max(domain_times))
        ):
            data.problems.append(
                DataProblem(
                    profile.name,
                    domain,
                    ALL_SCOPE,
                    "refresh-failed",
                    f"{domain} refresh (Resource Graph) failed: {_one_line(batch.error)}",
                )
            )
    fetched = sources.fetch_times()
    data.oldest_fetch = min(fetched) if fetched else None
    data.newest_fetch = max(fetched) if fetched else None
    return data


def _stale_pairs(
    cache: Cache, profiles: Sequence[Profile], wall: float, max_age: float
) -> set[tuple[str, str]]:
    """(profile, domain) pairs holding data older than ``max_age``: refreshed by force.

    The domain ``subscriptions`` stands for the profile's subscription listing.
    """
    pairs: set[tuple[str, str]] = set()
    for profile in profiles:
        listing = cache.get(CacheKey(profile.name, SUBSCRIPTIONS, ALL_SCOPE))
        age = listing.age(wall) if listing is not None else None
        if age is not None and age > max_age:
            pairs.add((profile.name, SUBSCRIPTIONS))
        for domain in DOMAINS:
            for entry in cache.read(profile.name, domain):
                age = entry.age(wall)
                if age is not None and age > max_age:
                    pairs.add((profile.name, domain))
                    break
    return pairs


async def refresh(
    config: Config,
    cache: Cache,
    profiles: Sequence[Profile],
    today: dt.date,
    *,
    max_age: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    engine_options: Mapping[str, Any] | None = None,
) -> list[DataProblem]:
    """Refresh the profiles' stale data through the engine; problems it could not log
    on a scope (a timeout) are returned.

    Data older than ``max_age`` is refreshed even when its TTL says it is fresh.
    """
    import asyncio

    from btconsole.engine import Engine

    force = _stale_pairs(cache, profiles, time.time(), max_age) if max_age is not None else set()
    options: dict[str, Any] = {"respect_backoff": False, **dict(engine_options or {})}
    engine = Engine(config, cache, today=lambda: today, **options)

    async def one(profile: Profile) -> None:
        if (profile.name, SUBSCRIPTIONS) in force:
            await engine.subscriptions(profile.name, force=True)
        await asyncio.gather(
            *(
                engine.refresh_domain(profile.name, domain, force=(profile.name, domain) in force)
                for domain in DOMAINS
            )
        )

    async def body() -> None:
        await asyncio.gather(*(one(profile) for profile in profiles))

    try:
        async with engine:
            await asyncio.wait_for(body(), timeout)
    except Exception as exc:  # the engine maps Azure errors per scope; this is a bug
        if not isinstance(exc, asyncio.TimeoutError):
            log.exception("refresh failed")
            reason = _one_line(f"{type(exc).__name__}: {exc}")
            return [DataProblem("*", "*", ALL_SCOPE, "refresh-failed", f"refresh failed: {reason}")]
        return [
            DataProblem(
                "*",
                "*",
                ALL_SCOPE,
                "timeout",
                f"the refresh did not finish within {format_duration(timeout)}; "
                "what it had not fetched is from the cache",
            )
        ]
    return []


def load_snapshot(
    config: Config,
    profiles: Sequence[Profile],
    *,
    offline: bool,
    clock: Clock,
    max_age: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cache_path: Path | None = None,
    engine_options: Mapping[str, Any] | None = None,
    records: bool = True,
    findings: bool = False,
) -> Snapshot:
    """Refresh (unless ``offline``) and read the chosen profiles' data.

    With ``offline`` the cache is opened read-only and nothing is fetched. ``records``:
    decode every record (exports need them). ``findings``: each customer's summary and
    findings from its digest (:mod:`btconsole.digest`; recomputed from the records, and
    kept when the cache is writable, where the data changed since it was made).

    Raises:
        CacheError: the cache cannot be opened.
    """
    problems: list[DataProblem] = []
    with Cache.open(cache_path, readonly=offline) as cache:
        if not offline:
            import asyncio

            problems = asyncio.run(
                refresh(
                    config,
                    cache,
                    profiles,
                    clock.today,
                    max_age=max_age,
                    timeout=timeout,
                    engine_options=engine_options,
                )
            )
        # ages count from the start of the run: what this run fetched is fresh for it
        every = peek_sources(cache, list(config.profiles.values()))
        datas = [
            read_profile(
                cache, profile, clock.wall, max_age, sources=every[profile.name], records=records
            )
            for profile in profiles
        ]
        snapshot = Snapshot(
            profiles=datas,
            clock=clock,
            offline=offline,
            max_age=max_age,
            problems=problems,
        )
        if records:
            # agent versions are measured against the newest seen anywhere in the
            # cache, as the overview does, so a customer reads the same in both
            arc = [
                r
                for entry in cache.read_domain("arc", config.profiles)
                for r in entry.records
                if isinstance(r, ArcRecord)
            ]
            snapshot.newest_versions = newest_by_kind(arc)
            snapshot.versions_seen = versions_by_kind(arc)
        if findings:
            digester = Digester(config, cache, clock.now)
            snapshot.health = digester.read([p.name for p in profiles], every)
        snapshot.notes.extend(cache.warnings)
    return snapshot


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
        if self.severity_code == EXIT_ALL_CLEAR:
            return "DATA INCOMPLETE (no problems in the data that could be read)"
        return f"DATA INCOMPLETE, {word} in the data that could be read"


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
        customers.append(
            CustomerReport(
                profile=data.profile,
                summary=customer_summary(data.profile, records, snapshot.clock.now, findings),
                findings=tuple(findings),
                subscription_names=data.subscription_names,
                problems=tuple(data.problems),
                oldest_fetch=data.oldest_fetch,
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


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class PreviousCheck:
    checked_at: str
    findings: tuple[Finding, ...]


def state_dir() -> Path:
    """Where the previous checks are kept: ``checks/`` in the cache directory."""
    return default_cache_path().parent / "checks"


def state_path(profile_names: Iterable[str], directory: Path | None = None) -> Path:
    """The state file of a set of profiles (order and repeats do not matter)."""
    names = sorted(set(profile_names))
    digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()[:16]
    return (directory or state_dir()) / f"check-{digest}.json"


def load_previous(
    path: Path, profile_names: Iterable[str]
) -> tuple[PreviousCheck | None, str | None]:
    """The previous check kept at ``path``, and a note if it could not be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"previous check {path} unreadable ({exc.strerror or exc}); starting over"
    try:
        data = json.loads(text)
        if data.get("schema") != STATE_SCHEMA or sorted(data["profiles"]) != sorted(
            set(profile_names)
        ):
            raise ValueError("another schema or another set of profiles")
        findings = tuple(_finding(item) for item in data["findings"])
        return PreviousCheck(str(data["checked_at"]), findings), None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"previous check {path} not usable ({exc}); starting over"


_FINDING_FIELDS = frozenset(f.name for f in dataclasses.fields(Finding))


def _finding(item: Any) -> Finding:
    """A kept finding back (a flat record: built directly, ~5x faster than from_plain).

    Raises:
        ValueError: not a finding as this version writes them.
    """
    if not isinstance(item, dict) or item.get("__record__") != "Finding":
        raise ValueError("not a finding")
    values = {k: v for k, v in item.items() if k in _FINDING_FIELDS}
    if not all(v is None or isinstance(v, str) for v in values.values()):
        raise ValueError("a finding's fields are text")
    try:
        return Finding(**values)
    except TypeError as exc:
        raise ValueError(f"bad finding: {exc}") from None


def save_state(path: Path, report: CheckReport) -> None:
    """Keep this check's findings for the next one (0600 file in a 0700 directory).

    Raises:
        OSError: the file cannot be written.
    """
    ensure_private_dir(path.parent.parent)
    data = {
        "schema": STATE_SCHEMA,
        "profiles": sorted(d.profile.name for d in report.snapshot.profiles),
        "checked_at": iso_time(report.snapshot.clock.wall),
        "complete": report.complete,
        "findings": [{"__record__": "Finding", **vars(f)} for f in report.findings],
    }
    # no indent: json's C encoder only runs without one (10,000 findings: 0.6 s -> 0.05 s)
    write_private_file(path, json.dumps(data, ensure_ascii=False) + "\n")


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
    """``45s``, ``12m``, ``3h``, ``2d``: an age rounded down to its largest unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{math.floor(seconds / size)}{unit}"
    return f"{max(0, math.floor(seconds))}s"


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


def _money(pairs: Iterable[tuple[str, float]]) -> str:
    return ", ".join(_amount(c, a) for c, a in pairs) or "none"


def summary_line(summary: CustomerSummary) -> str:
    """The overview figures of one customer, on one line."""
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
    spend = f"spend MTD {_money(summary.spend_mtd)}"
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
    return " | ".join(parts)


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts.get(s, 0)} {s}" for s in SEVERITIES)


def _where(finding: Finding, names: Mapping[str, str]) -> tuple[str | None, str | None]:
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


class _Style:
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


def _domain_label(domain: str) -> str:
    return clean(domain).ljust(8)


def render_text(report: CheckReport, *, color: bool = False) -> str:
    """The plain-text report: compact, for pasting into an incident channel."""
    style = _Style(color)
    snap = report.snapshot
    out: list[str] = []
    customers = len(report.customers)
    verdict = style(
        report.verdict, {0: "good", 1: "warning", 2: "critical"}.get(report.exit_code, "bad")
    )
    out.append(
        f"btconsole check {utc_text(snap.clock.wall)}: {verdict} "
        f"({_counts_text(report.counts)}; {customers} customer{'s' if customers != 1 else ''})"
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
        counts = {"critical": s.critical, "warning": s.warning, "info": s.info}
        state = _counts_text(counts) if customer.findings else "all clear"
        if customer.problems:
            state += ", data incomplete"
        out.append("")
        out.append(
            f"== {clean(customer.profile.display_name)} [{clean(customer.profile.name)}]: {state}"
        )
        out.append(f"   {clean(summary_line(s))}")
        for finding in customer.findings:
            out.extend(_text_finding(finding, customer.subscription_names, style))
    out.append("")
    out.extend(_text_changes(report, style))
    return "\n".join(out) + "\n"


def _text_finding(finding: Finding, names: Mapping[str, str], style: _Style) -> list[str]:
    head = f"{style.severity(finding.severity)} {_domain_label(finding.domain)} "
    lines = [head + clean(finding.title)]
    label, resource = _where(finding, names)
    since = since_text(finding.since)
    bits = [f"since {since}"] if since else []
    bits += [clean(x) for x in (label, resource) if x]
    if bits:
        lines.append("     " + " | ".join(bits))
    if finding.detail:
        lines.append(f"     {clean(finding.detail)}")
    return lines


def _text_changes(report: CheckReport, style: _Style) -> list[str]:
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


def _change_line(f: Finding, style: _Style) -> str:
    return f"{style.severity(f.severity)} {clean(f.profile)}: {clean(f.title)}"


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
        f"{md_escape(_counts_text(report.counts))} · data {source}{md_escape(age + pinned)}"
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
        state = _counts_text(counts) if customer.findings else "all clear"
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
    label, resource = _where(f, names)
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


def finding_json(f: Finding, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "key": f.key,
        "severity": f.severity,
        "domain": f.domain,
        "profile": f.profile,
        "rule": f.rule,
        "title": f.title,
        "subscription_id": f.subscription_id,
        "subscription_name": names.get(f.subscription_id or ""),
        "resource_id": f.resource_id,
        "detail": f.detail,
        "since": f.since,
    }


def problem_json(p: DataProblem) -> dict[str, Any]:
    return {
        "profile": None if p.profile == "*" else p.profile,
        "domain": None if p.domain == "*" else p.domain,
        "scope": None if p.scope == ALL_SCOPE else p.scope,
        "kind": p.kind,
        "message": p.message,
        "fetched_at": iso_time(p.fetched_at) if p.fetched_at is not None else None,
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


def render(report: CheckReport, fmt: str, *, color: bool = False) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return json_text(report_json(report))
    if fmt == "markdown":
        return render_markdown(report)
    return render_text(report, color=color)


# --------------------------------------------------------------------------- output


def write_output(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a new file is 0600: reports name customers).

    Raises:
        UsageError: the file cannot be written.
    """
    target = Path(path).expanduser()
    try:
        directory = target.parent if str(target.parent) else Path()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.fchmod(fd, target.stat().st_mode & 0o777)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            Path(tmp).replace(target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()
            raise
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def check_output_path(path: str | None) -> None:
    """Fail before any refresh when ``--output`` cannot be written.

    Raises:
        UsageError: its directory does not exist or is not writable.
    """
    if path is None:
        return
    target = Path(path).expanduser()
    directory = target.parent
    if not directory.is_dir():
        raise UsageError(f"cannot write {target}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK) or target.is_dir():
        raise UsageError(f"cannot write {target}: not a writable file path")


def quiet_logging() -> None:
    """Send log records to the log file, never to stderr (which cron mails)."""
    from btconsole.logs import setup_logging

    try:
        setup_logging()
    except OSError:
        logging.getLogger().addHandler(logging.NullHandler())


@dataclass(frozen=True)
class CheckOptions:
    profiles: Sequence[str] | None = None
    all: bool = False
    fmt: str = "text"
    offline: bool = False
    max_age: str | None = None
    output: str | None = None
    timeout: str | None = None


def parse_timeout(text: str | None) -> float:
    """Seconds in a ``--timeout`` value (default 5 minutes).

    Raises:
        UsageError: not a duration.
    """
    if text is None:
        return DEFAULT_TIMEOUT
    seconds = parse_duration(text)
    if seconds is None:
        raise UsageError(f"--timeout {text!r} is not a duration; use e.g. 90s or 5m")
    return seconds


def run_check(
    config: Config,
    options: CheckOptions,
    *,
    stdout: TextIO,
    stderr: TextIO,
    environ: Mapping[str, str] | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> int:
    """Run ``btconsole check``; return its exit code.

    Raises:
        UsageError / ConfigError: bad options or profiles (exit 64).
        CacheError: the cache cannot be opened.
    """
    if options.fmt not in FORMATS:
        raise UsageError(f"unknown format {options.fmt!r}; use one of {', '.join(FORMATS)}")
    max_age = parse_max_age(options.max_age)
    timeout = parse_timeout(options.timeout)
    profiles = select_profiles(config, options.profiles, options.all)
    check_output_path(options.output)
    now = clock(environ)
    quiet_logging()
    snapshot = load_snapshot(
        config,
        profiles,
        offline=options.offline,
        clock=now,
        max_age=max_age,
        timeout=timeout,
        engine_options=engine_options,
        records=False,
        findings=True,
    )
    names = [p.name for p in profiles]
    path = state_path(names)
    previous, note = load_previous(path, names)
    if note:
        snapshot.notes.append(note)
    report = build_report(snapshot, previous)
    color = options.output is None and use_color(stdout, environ)
    text = render(report, options.fmt, color=color)
    if options.output:
        write_output(options.output, text)
    else:
        stdout.write(text)
        stdout.flush()
    try:
        save_state(path, report)
    except OSError as exc:
        print(
            f"btconsole: warning: cannot keep this check for the next diff "
            f"({path}: {exc.strerror or exc})",
            file=stderr,
        )
    return report.exit_code
