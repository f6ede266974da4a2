"""Per-customer digests: the overview row and the findings, kept in the cache.

Deriving a customer's health from its records costs time in proportion to the estate
(for the huge demo estate: decoding 134,000 records and running every rule, ~2 s), so
the first screen and ``btconsole check --offline`` would be as slow as the estate is
big. A *digest* is what :mod:`btconsole.health` made of one customer's records, stored
in the cache next to them with the *basis* it was made from:

- the fetch time of every cache entry it read (a refresh that lands changes it);
- the profile's settings (thresholds, budget, names) and the rules' own code;
- the day (month-to-date spend, anomalies and forecasts are about "today");
- the agent versions seen across the estate (a newer agent at one customer makes the
  others' machines "behind").

A reader whose basis matches uses the digest; any difference recomputes it from the
records (and stores it when the cache is writable), so a digest never says anything the
records would not. Within a day only the "disconnected for N days" findings move with
the clock: a digest keeps those machines' records and makes their findings at read time.

Reading is metadata first (:meth:`btconsole.cache.Cache.peek_domain` never decodes
records); records are decoded only for customers whose digest is missing or out of date.

With each digest the same decoded records give the Arc pane's patch figures
(:class:`PatchFigures`: four per server, domain ``patches``), so the pane reads one small
entry per customer instead of every patch assessment with its patch list. Their basis is
the health entries' fetch times alone (the rules' code too): a new day or a refresh of
another domain leaves them current.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from btconsole import health
from btconsole.cache import (
    DIGEST_DOMAIN,
    PATCHES_DOMAIN,
    Cache,
    CacheKey,
    CacheReadOnlyError,
    Entry,
)
from btconsole.config import Config, Profile
from btconsole.coverage import CustomerCoverage, coverage_findings, customer_coverage
from btconsole.health import CustomerSummary, Finding
from btconsole.records import (
    ArcRecord,
    PatchAssessmentRecord,
    SubscriptionRecord,
    from_plain,
    record,
    to_plain,
)

log = logging.getLogger(__name__)

SUBSCRIPTIONS = "subscriptions"
ALL_SCOPE = "*"  # the subscription listing's scope, as the engine stores it
SOURCE_DOMAINS = ("arc", "circuits", "policy", "spend", "health")
DIGEST_SCOPE = "customer"
DIGEST_FORMAT = 1
PATCHES_SCOPE = "customer"
PATCHES_FORMAT = 1


@record
@dataclass(frozen=True)
class DigestHeader:
    """The first record of a digest entry; its findings and moving machines follow."""

    profile: str
    basis: str  # what the digest was made from (see the module docs)
    estate: str  # the estate-wide agent versions it was made with
    versions: str  # JSON: kind -> agent versions seen in this customer's records
    summary: str  # JSON: the CustomerSummary (findings tallies as at ``computed_at``)
    computed_at: str  # ISO time, for people reading the cache


@dataclass(frozen=True)
class Sources:
    """What a customer's health is made from, as metadata (no records decoded).

    ``expected`` are the scopes a domain should have: the subscriptions of the cached
    listing, else the profile's configured ones, else (``None``) whatever is cached.
    ``entries`` maps a domain to ``(scope, entry or None)`` in that order.
    """

    profile: Profile
    listing: Entry | None
    expected: tuple[str, ...] | None
    entries: Mapping[str, tuple[tuple[str, Entry | None], ...]]

    @property
    def subscriptions(self) -> tuple[SubscriptionRecord, ...]:
        listing = self.listing
        if listing is None or listing.fetched_at is None:
            return ()
        return tuple(r for r in listing.records if isinstance(r, SubscriptionRecord))

    def fetch_times(self) -> list[float]:
        times = [e.fetched_at for _, e in self.used() if e.fetched_at is not None]
        if self.listing is not None and self.listing.fetched_at is not None:
            times.append(self.listing.fetched_at)
        return times

    def used(self) -> list[tuple[str, Entry]]:
        """(domain, entry) of every entry whose records count."""
        return [
            (domain, entry)
            for domain, pairs in self.entries.items()
            for _, entry in pairs
            if entry is not None and entry.fetched_at is not None
        ]


_UNREAD: Any = object()


def read_sources(
    cache: Cache,
    profile: Profile,
    peeked: Mapping[str, list[Entry]],
    listing: Entry | None = _UNREAD,
) -> Sources:
    """The profile's :class:`Sources`; ``peeked`` maps a domain to its peeked entries
    (any profiles: the others are ignored); ``listing``, its subscription listing if
    the caller has read it."""
    if listing is _UNREAD:
        listing = cache.get(CacheKey(profile.name, SUBSCRIPTIONS, ALL_SCOPE))  # a few records
    expected: tuple[str, ...] | None
    if listing is not None and listing.fetched_at is not None:
        expected = tuple(
            r.subscription_id for r in listing.records if isinstance(r, SubscriptionRecord)
        )
    elif profile.subscriptions:
        expected = tuple(profile.subscriptions)
    else:
        expected = None
    entries: dict[str, tuple[tuple[str, Entry | None], ...]] = {}
    for domain in SOURCE_DOMAINS:
        mine = {e.key.scope: e for e in peeked.get(domain, ()) if e.key.profile == profile.name}
        scopes = expected if expected is not None else tuple(sorted(mine))
        entries[domain] = tuple((scope, mine.get(scope)) for scope in scopes)
    return Sources(profile, listing, expected, entries)


def peek_sources(
    cache: Cache,
    profiles: Sequence[Profile],
    listings: dict[str, tuple[float, tuple[Any, ...]]] | None = None,
) -> dict[str, Sources]:
    """:class:`Sources` of every profile in ``profiles``, by name. ``listings`` (name ->
    (fetched_at, records)) keeps the subscription listings decoded before: one that has
    not been fetched again since is not decoded again."""
    names = [p.name for p in profiles]
    grouped: dict[str, dict[str, list[Entry]]] = {n: {} for n in names}
    for domain in SOURCE_DOMAINS:
        for entry in cache.peek_domain(domain, names):
            grouped[entry.key.profile].setdefault(domain, []).append(entry)
    if listings is None:
        return {p.name: read_sources(cache, p, grouped[p.name]) for p in profiles}
    found: dict[str, Entry | None] = dict.fromkeys(names)
    for entry in cache.peek_domain(SUBSCRIPTIONS, names):
        if entry.key.scope != ALL_SCOPE:
            continue
        known = listings.get(entry.key.profile)
        if entry.fetched_at is not None and known is not None and known[0] == entry.fetched_at:
            found[entry.key.profile] = dataclasses.replace(entry, records=known[1])
            continue
        full = cache.get(entry.key)
        found[entry.key.profile] = full
        if full is not None and full.fetched_at is not None:
            listings[entry.key.profile] = (full.fetched_at, full.records)
    return {p.name: read_sources(cache, p, grouped[p.name], found[p.name]) for p in profiles}


def load_records(
    cache: Cache, sources: Sources, domains: Iterable[str] = SOURCE_DOMAINS
) -> dict[str, list[Any]]:
    """The records the sources name (domain -> records) in ``domains``, decoded; plus
    the listing's."""
    records: dict[str, list[Any]] = {SUBSCRIPTIONS: list(sources.subscriptions)}
    name = sources.profile.name
    only = frozenset(domains)
    for domain, pairs in sources.entries.items():
        if domain not in only:
            continue
        wanted = {scope for scope, entry in pairs if entry is not None and entry.fetched_at}
        out: list[Any] = []
        if wanted:
            for entry in cache.read(name, domain):
                if entry.key.scope in wanted and entry.fetched_at is not None:
                    out.extend(entry.records)
        records[domain] = out
    # which subscriptions' health was read: an Arc server without a patch assessment
    # there is stale, elsewhere unknown (health.incidents.HEALTH_SCOPES)
    records[health.HEALTH_SCOPES] = sorted(
        scope
        for scope, entry in sources.entries.get("health", ())
        if entry is not None and entry.fetched_at is not None
    )
    return records


# --------------------------------------------------------------------------- basis

_RULES: str | None = None


def rules_version() -> str:
    """A hash of the code that makes findings: a new btconsole recomputes every digest."""
    global _RULES
    if _RULES is None:
        from btconsole import __version__

        digest = hashlib.sha256(f"{__version__}/{DIGEST_FORMAT}".encode())
        rules = sorted(Path(health.__file__).parent.glob("*.py"))  # the health package
        for module in (*rules, Path(__file__)):
            with contextlib.suppress(OSError):  # a frozen build: the version must do
                digest.update(module.read_bytes())
        _RULES = digest.hexdigest()[:16]
    return _RULES


def basis_of(sources: Sources, today: dt.date) -> str:
    """What a digest of ``sources`` depends on (besides the estate's agent versions)."""
    listing = sources.listing
    parts: list[Any] = [
        rules_version(),
        today.isoformat(),
        repr(sources.profile),
        listing.fetched_at if listing is not None else None,
        sources.expected,
    ]
    for domain in SOURCE_DOMAINS:
        parts.append(
            [
                (scope, entry.fetched_at if entry is not None else None)
                for scope, entry in sources.entries.get(domain, ())
            ]
        )
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


def estate_of(seen: Mapping[str, Iterable[str]]) -> str:
    """A hash of the estate-wide agent versions (kind -> versions)."""
    plain = sorted((kind, sorted(versions)) for kind, versions in seen.items())
    return hashlib.sha256(repr(plain).encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------- digests


@dataclass(frozen=True)
class Digest:
    """A customer's health as stored: made at some ``now`` of the same day."""

    header: DigestHeader
    findings: tuple[Finding, ...]  # every finding but the moving ones
    moving: tuple[ArcRecord, ...]  # disconnected since a known time: findings at read time

    @property
    def versions(self) -> dict[str, frozenset[str]]:
        return {k: frozenset(v) for k, v in json.loads(self.header.versions).items()}

    def records(self) -> list[Any]:
        return [self.header, *self.findings, *self.moving]

    @classmethod
    def from_records(cls, records: Iterable[Any]) -> Digest | None:
        items = list(records)
        if not items or not isinstance(items[0], DigestHeader):
            return None
        return cls(
            items[0],
            tuple(r for r in items[1:] if isinstance(r, Finding)),
            tuple(r for r in items[1:] if isinstance(r, ArcRecord)),
        )


# the dataclasses a CustomerSummary is made of (not records of their own)
_SUMMARY_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (CustomerSummary, health.ArcCounts, health.CircuitCounts, health.BudgetCheck)
}


@dataclass(frozen=True)
class CustomerHealth:
    """One customer's summary and findings (in :func:`health.attention` order)."""

    summary: CustomerSummary
    findings: tuple[Finding, ...]
    subscription_names: dict[str, str] = field(default_factory=dict)
    from_digest: bool = True  # False: recomputed from the records by this read
    coverage: CustomerCoverage | None = None  # what is known, and why not (not stored)


def with_coverage(
    summary: CustomerSummary, findings: Iterable[Finding], coverage: CustomerCoverage
) -> tuple[CustomerSummary, tuple[Finding, ...]]:
    """The findings with the coverage's own (no data, partial data), in attention
    order, and the summary's tallies counted again over them."""
    extra = coverage_findings(coverage)
    # ``findings`` come from :func:`finish`, already in attention order (a total order):
    # sorting them again when coverage adds none would change nothing (a third of the
    # first frame's sorting on a large estate)
    every = health.attention([*findings, *extra]) if extra else list(findings)
    tally = health.severity_counts(every, summary.profile)
    summary = dataclasses.replace(
        summary, critical=tally["critical"], warning=tally["warning"], info=tally["info"]
    )
    return summary, tuple(every)


def make_digest(
    profile: Profile,
    records: Mapping[str, list[Any]],
    now: dt.datetime,
    *,
    basis: str,
    newest: Mapping[str, str],
    seen: Mapping[str, frozenset[str]],
) -> Digest:
    """Run the rules over one customer's records (the slow path)."""
    findings = health.findings_for(profile, records, now, newest=newest, versions_seen=seen)
    summary = health.customer_summary(profile, records, now, findings)
    mine = [
        r for r in records.get("arc", ()) if isinstance(r, ArcRecord) and r.profile == profile.name
    ]
    moving = tuple(r for r in mine if health.status_moves_with_clock(r))
    moving_ids = {r.id for r in moving}
    kept = tuple(
        f
        for f in findings
        if not (f.domain == "arc" and f.rule == "status" and f.resource_id in moving_ids)
    )
    own = health.versions_by_kind(mine)
    header = DigestHeader(
        profile=profile.name,
        basis=basis,
        estate=estate_of(seen),
        versions=json.dumps({k: sorted(v) for k, v in own.items()}, sort_keys=True),
        summary=json.dumps(to_plain(summary), sort_keys=True),
        computed_at=now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return Digest(header, kept, moving)


def finish(digest: Digest, profile: Profile, now: dt.datetime) -> CustomerHealth:
    """The digest at ``now``: the moving findings made, the tallies counted again."""
    moved = [
        f
        for r in digest.moving
        if (f := health.arc_status_finding(r, now, health.RECENT_DAYS)) is not None
    ]
    findings = health.attention([*digest.findings, *moved])
    tally = health.severity_counts(findings, profile.name)
    summary = from_plain(json.loads(digest.header.summary), _SUMMARY_TYPES)
    if not isinstance(summary, CustomerSummary):
        raise ValueError("digest summary is not a CustomerSummary")
    summary = dataclasses.replace(
        summary, critical=tally["critical"], warning=tally["warning"], info=tally["info"]
    )
    return CustomerHealth(summary, tuple(findings))


def estate_versions(
    seen_per_profile: Iterable[Mapping[str, Iterable[str]]],
) -> dict[str, frozenset[str]]:
    """Every agent version seen anywhere, per kind."""
    merged: dict[str, set[str]] = {}
    for seen in seen_per_profile:
        for kind, versions in seen.items():
            merged.setdefault(kind, set()).update(versions)
    return {kind: frozenset(versions) for kind, versions in sorted(merged.items())}


# --------------------------------------------------------------------------- patch figures


class PatchCounts(NamedTuple):
    """What the Arc pane shows of a server's latest patch assessment (None: unknown)."""

    critical: int | None
    security: int | None
    last_modified: str | None
    os_type: str | None


@record
@dataclass(frozen=True)
class PatchFigures:
    """One customer's Arc servers' latest patch figures: the only record of its
    ``patches`` entry, made from the health records its digest was made from.

    The servers are columns (one tuple per figure, in ``machines`` order): a customer
    of 300 servers is one record, decoded at once. ``read``: the lower-case
    subscriptions whose health domain held data (a server elsewhere is unknown).
    """

    profile: str
    basis: str  # see :func:`patches_basis`
    read: tuple[str, ...]
    machines: tuple[str, ...]  # lower-case machine IDs
    critical: tuple[int | None, ...]
    security: tuple[int | None, ...]
    last_modified: tuple[str | None, ...]
    os_type: tuple[str | None, ...]

    @property
    def whole(self) -> bool:
        """Whether every column has a value per server (else a damaged entry)."""
        n = len(self.machines)
        columns = (self.critical, self.security, self.last_modified, self.os_type)
        return all(isinstance(c, tuple) and len(c) == n for c in columns)

    def counts(self) -> dict[str, PatchCounts]:
        """Lower-case machine ID -> its figures.

        Raises:
            ValueError: the columns differ in length (a damaged entry).
        """
        figures = map(PatchCounts, self.critical, self.security, self.last_modified, self.os_type)
        return dict(zip(self.machines, figures, strict=True))


def patches_basis(sources: Sources) -> str:
    """What a customer's patch figures depend on: its health entries that hold data
    (scope and fetch time) and the code that makes them; not the day or other domains."""
    used = [
        (scope, entry.fetched_at)
        for scope, entry in sources.entries.get("health", ())
        if entry is not None and entry.fetched_at is not None
    ]
    parts = [rules_version(), PATCHES_FORMAT, sources.profile.name, used]
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


def make_patches(profile: str, records: Mapping[str, list[Any]], basis: str) -> PatchFigures:
    """The patch figures of one customer's decoded records (:func:`load_records`): the
    latest assessment per server, as the ``patch-assessment`` finding reads them."""
    latest: dict[str, PatchAssessmentRecord] = {}
    for r in records.get("health", ()):
        if isinstance(r, PatchAssessmentRecord):
            latest[r.machine_id.lower()] = r
    found = tuple(latest.values())
    return PatchFigures(
        profile=profile,
        basis=basis,
        read=tuple(sorted({s.lower() for s in records.get(health.HEALTH_SCOPES, ())})),
        machines=tuple(latest),
        critical=tuple(r.critical for r in found),
        security=tuple(r.security for r in found),
        last_modified=tuple(r.last_modified for r in found),
        os_type=tuple(r.os_type for r in found),
    )


def _patches_item(figures: PatchFigures) -> tuple[CacheKey, list[Any]]:
    return CacheKey(figures.profile, PATCHES_DOMAIN, PATCHES_SCOPE), [figures]


def read_patches(
    cache: Cache, sources: Mapping[str, Sources], reads: ReadMemo
) -> dict[str, PatchFigures]:
    """Each customer's patch figures (name -> figures) whose basis matches its sources:
    stored in the cache (one small entry each; read again at every call, ~40 ms for
    the huge estate, rather than kept: keeping them cost the Arc pane 8 MB of peak
    RSS), else kept in ``reads`` because they could not be stored, else made from its
    health records (the slow path: a customer whose digest was made before its
    figures existed, or whose health landed since) and stored when the cache is
    writable, kept in ``reads`` when not."""
    bases = {name: patches_basis(src) for name, src in sources.items()}
    out: dict[str, PatchFigures] = {}
    missing: list[str] = []
    for name, basis in bases.items():
        known = reads.patches.get(name)
        if known is not None and known.basis == basis:
            out[name] = known
        else:
            missing.append(name)
    if not missing:
        return out
    for entry in cache.read_domain(PATCHES_DOMAIN, missing):
        found = entry.records[0] if len(entry.records) == 1 else None
        name = entry.key.profile
        if (
            entry.key.scope == PATCHES_SCOPE
            and isinstance(found, PatchFigures)
            and found.profile == name
            and found.basis == bases[name]
            and found.whole
        ):
            out[name] = found
            reads.patches.pop(name, None)
    made: list[PatchFigures] = []
    for name in missing:
        if name in out:
            continue
        records = load_records(cache, sources[name], ("health",))
        figures = make_patches(name, records, bases[name])
        out[name] = figures
        made.append(figures)
    stored = False
    if made and not cache.readonly:
        with contextlib.suppress(CacheReadOnlyError):
            cache.put_many([_patches_item(f) for f in made], ttl=0.0)
            stored = True
    for figures in made:
        if stored:
            reads.patches.pop(figures.profile, None)
        else:
            reads.patches[figures.profile] = figures
    return out


@dataclass
class ReadMemo:
    """What a long-lived reader (the console, the refresh process) keeps between reads,
    so that reading one customer costs one customer, not the estate.

    ``digests``: name -> (the digest entry's ``fetched_at``, the digest decoded from it);
    an entry stored since is decoded again. ``versions``: name -> (the fetch times of its
    Arc entries, the agent versions in them) for customers without a usable digest, so
    their Arc records are decoded once per landed change, not on every read.
    """

    digests: dict[str, tuple[float | None, Digest]] = field(default_factory=dict)
    versions: dict[str, tuple[tuple[float, ...], dict[str, frozenset[str]]]] = field(
        default_factory=dict
    )
    listings: dict[str, tuple[float, tuple[Any, ...]]] = field(default_factory=dict)
    # name -> patch figures made here that the cache could not store (read-only)
    patches: dict[str, PatchFigures] = field(default_factory=dict)


class Digester:
    """Reads (and keeps up to date) the digests of a config's customers.

    Agent versions are compared across every profile of ``config``, as ``btconsole
    check`` and the overview have always done, so a customer reads the same in both.
    ``memo`` (name -> digest) keeps what this process made, for a read-only cache;
    ``reads`` (a :class:`ReadMemo`) what it decoded, for a reader that reads again.
    """

    def __init__(
        self,
        config: Config,
        cache: Cache,
        now: dt.datetime,
        *,
        memo: dict[str, Digest] | None = None,
        wall: float | None = None,
        reads: ReadMemo | None = None,
    ) -> None:
        self.config = config
        # coverage ages count on the real clock, even when ``now`` is pinned
        self.wall = time.time() if wall is None else wall
        self.cache = cache
        self.now = now
        self.today = now.astimezone(dt.timezone.utc).date()
        self.memo = memo if memo is not None else {}
        self.reads = reads if reads is not None else ReadMemo()
        self.recomputed: list[str] = []  # made again from the records by this reader
        self.outdated: list[str] = []  # shown from an out-of-date digest (``stale_ok``)
        self.stored = 0

    def sources(self) -> dict[str, Sources]:
        return peek_sources(self.cache, list(self.config.profiles.values()), self.reads.listings)

    def _candidates(self) -> dict[str, Digest]:
        """Every stored digest; those decoded before (same entry) are not decoded again."""
        names = list(self.config.profiles)
        known = self.reads.digests
        peeked = {e.key.profile: e for e in self.cache.peek_domain(DIGEST_DOMAIN, names)}
        changed = [n for n, e in peeked.items() if n not in known or known[n][0] != e.fetched_at]
        if changed:
            for entry in self.cache.read_domain(DIGEST_DOMAIN, changed):
                digest = Digest.from_records(entry.records)
                if digest is not None and digest.header.profile == entry.key.profile:
                    known[entry.key.profile] = (entry.fetched_at, digest)
                else:
                    known.pop(entry.key.profile, None)
        for name in [n for n in known if n not in peeked]:
            del known[name]
        return {name: digest for name, (_, digest) in known.items()}

    def _arc_versions(self, src: Sources) -> dict[str, frozenset[str]]:
        """The agent versions in a customer's Arc records (decoded once per change)."""
        used = {
            scope: e.fetched_at for scope, e in src.entries.get("arc", ()) if e and e.fetched_at
        }
        stamp = tuple(sorted(used.values()))
        known = self.reads.versions.get(src.profile.name)
        if known is not None and known[0] == stamp:
            return known[1]
        arc = [
            r
            for entry in self.cache.read(src.profile.name, "arc")
            if entry.key.scope in used and entry.fetched_at is not None
            for r in entry.records
            if isinstance(r, ArcRecord)
        ]
        versions = health.versions_by_kind(arc)
        self.reads.versions[src.profile.name] = (stamp, versions)
        return versions

    def read(
        self,
        names: Sequence[str],
        sources: Mapping[str, Sources] | None = None,
        *,
        stale_ok: bool = False,
    ) -> dict[str, CustomerHealth]:
        """Every customer in ``names``: from its digest, or made again (and stored).

        With ``stale_ok`` a customer whose digest is out of date is shown from it (the
        last known truth, listed in :attr:`outdated`, ``from_digest`` false) instead of
        decoding its records now: the caller makes it again off the event loop. Only a
        customer without any digest is made at once.
        """
        every = sources if sources is not None else self.sources()
        bases = {name: basis_of(every[name], self.today) for name in every}
        stored = self._candidates()
        for name, digest in self.memo.items():
            if name in bases and digest.header.basis == bases[name]:
                stored[name] = digest
        valid: dict[str, Digest] = {}
        stale: dict[str, Digest] = {}
        versions: dict[str, dict[str, frozenset[str]]] = {}
        for name, digest in stored.items():
            if name not in bases:
                continue
            try:
                versions[name] = digest.versions
            except (ValueError, TypeError, AttributeError):  # damaged: made again
                continue
            if digest.header.basis == bases[name]:
                valid[name] = digest
            elif stale_ok:
                stale[name] = digest
            else:
                del versions[name]
        # the estate's agent versions: from the digests, else from the Arc records
        for name, src in every.items():
            if name not in versions:
                versions[name] = self._arc_versions(src)
        seen = estate_versions(versions.values())
        estate = estate_of(seen)
        newest = health.newest_of_versions(seen)
        out: dict[str, CustomerHealth] = {}
        for name in names:
            src = every[name]
            profile = src.profile
            made: CustomerHealth | None = None
            use: Digest | None = valid.get(name)
            shown_stale = False
            if use is None or use.header.estate != estate:
                use = stale.get(name) or (use if stale_ok else None)
                shown_stale = use is not None
            if use is not None:
                try:
                    made = finish(use, profile, self.now)
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    log.warning("digest of %s unreadable (%s); made again", name, exc)
                    shown_stale = False
            if made is None:
                records = load_records(self.cache, src)
                fresh = make_digest(
                    profile, records, self.now, basis=bases[name], newest=newest, seen=seen
                )
                # the Arc pane's patch figures, from the same decoded health records
                patches = make_patches(name, records, patches_basis(src))
                self.recomputed.append(name)
                self.memo[name] = fresh
                if self._store(name, fresh, patches):
                    self.reads.patches.pop(name, None)
                else:  # a read-only cache: kept here, so they are not made again
                    self.reads.patches[name] = patches
                made = finish(fresh, profile, self.now)
            if shown_stale:
                self.outdated.append(name)
            names_map = {
                s.subscription_id: s.display_name for s in src.subscriptions if s.display_name
            }
            coverage = customer_coverage(src, self.wall)
            summary, findings = with_coverage(made.summary, made.findings, coverage)
            out[name] = CustomerHealth(
                summary,
                findings,
                names_map,
                from_digest=name not in self.recomputed and not shown_stale,
                coverage=coverage,
            )
        return out

    def _store(self, name: str, digest: Digest, patches: PatchFigures) -> bool:
        """Store a digest and the patch figures made with it; False: not stored."""
        if self.cache.readonly:
            return False
        try:
            self.cache.put_many(
                [
                    (CacheKey(name, DIGEST_DOMAIN, DIGEST_SCOPE), digest.records()),
                    _patches_item(patches),
                ],
                ttl=0.0,
            )
            self.stored += 1
        except CacheReadOnlyError:
            return False
        return True
