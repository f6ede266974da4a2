"""Loading a snapshot: refresh (unless offline), then read every chosen profile's
cached data with its coverage and problems."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from btconsole.cache import Cache, CacheKey, Entry
from btconsole.checks.format import format_age
from btconsole.checks.options import DEFAULT_TIMEOUT, DOMAINS, Clock
from btconsole.config import Config, Profile, format_duration
from btconsole.coverage import (
    NEVER,
    CustomerCoverage,
    ScopeState,
    customer_coverage,
)
from btconsole.digest import (
    ALL_SCOPE,
    SUBSCRIPTIONS,
    CustomerHealth,
    Digester,
    Sources,
    load_records,
    peek_sources,
)
from btconsole.health import (
    newest_by_kind,
    versions_by_kind,
)
from btconsole.records import ArcRecord, SubscriptionRecord

if TYPE_CHECKING:
    from btconsole.engine import Engine
    from btconsole.progress import RefreshProgress

log = logging.getLogger(__name__)
TICK = 0.25  # seconds between looks at the engine's throttling gates (progress only)

# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataProblem:
    """Why some of the data is missing, failed or too old.

    ``kind`` is ``never-fetched``, ``refresh-failed``, ``too-old``, ``timeout`` or
    ``delegation-gone`` (a Lighthouse customer no longer delegated: its data is old);
    ``reason`` the failure's reason class (:data:`btconsole.errors.REASONS`), if any.
    ``scope`` is ``*`` for every subscription of the profile (the subscription listing,
    or a domain none of whose subscriptions could be named).
    """

    profile: str
    domain: str
    scope: str
    kind: str
    message: str
    fetched_at: float | None = None
    reason: str | None = None


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
    coverage: CustomerCoverage | None = None

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
    kind = entry.error_kind if entry is not None and entry.error else None
    if entry is None or entry.fetched_at is None:
        reason = f": {_one_line(entry.error)}" if entry is not None and entry.error else ""
        return DataProblem(
            key.profile,
            key.domain,
            key.scope,
            "never-fetched",
            f"{label} never fetched{reason}",
            reason=kind,
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
            reason=kind,
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
    if profile.delegation_gone:
        from btconsole.lighthouse import gone_problem

        data.problems.append(
            DataProblem(
                profile.name,
                SUBSCRIPTIONS,
                ALL_SCOPE,
                "delegation-gone",
                gone_problem(profile),
                fetched_at=sources.listing.fetched_at if sources.listing else None,
                reason="access",
            )
        )
    listing_key = CacheKey(profile.name, SUBSCRIPTIONS, ALL_SCOPE)
    problem = _entry_problem(sources.listing, listing_key, wall, max_age)
    if problem is not None:
        data.problems.append(problem)
    data.coverage = customer_coverage(sources, wall)
    for domain, covered in data.coverage.domains.items():
        blocked = covered.blocked
        if blocked is not None:  # no subscription of it can be named: all unknown
            data.problems.append(
                DataProblem(
                    profile.name,
                    domain,
                    ALL_SCOPE,
                    "never-fetched",
                    f"{domain} not read: {_blocked_text(blocked, data.coverage)}",
                    reason=blocked.reason,
                )
            )
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


def _blocked_text(blocked: ScopeState, coverage: CustomerCoverage) -> str:
    if blocked is not coverage.listing:
        return blocked.why  # the listing read, but no subscription in it
    if blocked.state == NEVER and not blocked.message:
        return "no subscription is known (the subscription listing was never read)"
    return "no subscription is known (the subscription listing failed)"


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


def _listed_scopes(cache: Cache, profile: Profile) -> list[str] | None:
    """The subscriptions the engine will refresh for ``profile``, as far as the cache
    tells now (its listing, else the configured ones; ``None``: not known yet)."""
    entry = cache.get(CacheKey(profile.name, SUBSCRIPTIONS, ALL_SCOPE))
    if entry is not None and entry.fetched_at is not None:
        return [r.subscription_id for r in entry.records]
    return list(profile.subscriptions) if profile.subscriptions else None


class _Feed:
    """Feeds a :class:`~btconsole.progress.RefreshProgress` from a refresh: the
    engine's listener (a key landed), each domain's outcomes, its throttling gates."""

    def __init__(
        self,
        cache: Cache,
        config: Config,
        progress: RefreshProgress,
        chained: Callable[[CacheKey], None] | None,
    ) -> None:
        self.cache = cache
        self.config = config
        self.progress = progress
        self.chained = chained

    def scopes(self, profile: Profile) -> None:
        listed = _listed_scopes(self.cache, profile)
        if listed is not None:
            for domain in DOMAINS:
                self.progress.scopes(profile.name, domain, listed)

    def listener(self, key: CacheKey) -> None:
        if self.chained is not None:
            self.chained(key)
        if key.domain == SUBSCRIPTIONS:
            profile = self.config.profiles.get(key.profile)
            if profile is not None:
                self.scopes(profile)
        elif key.domain in DOMAINS:
            entry = self.cache.peek(key)
            failed = entry is None or entry.error is not None
            self.progress.landed(key.profile, key.domain, key.scope, failed=failed)

    def settle(self, profile: str, domain: str, outcomes: Sequence[Any]) -> None:
        self.progress.settle(
            profile,
            domain,
            [(o.key.scope, o.status == "failed" or o.error is not None) for o in outcomes],
        )

    async def watch(self, engine: Engine) -> None:
        """Tell the progress the closed throttling gates, until cancelled."""
        import asyncio

        while True:
            now = time.monotonic()
            waits = {
                name: status.throttled_until - now
                for name, status in engine.status.items()
                if status.throttled_until is not None
            }
            in_flight = sum(status.in_flight for status in engine.status.values())
            self.progress.waits(waits, in_flight)
            await asyncio.sleep(TICK)


async def refresh(
    config: Config,
    cache: Cache,
    profiles: Sequence[Profile],
    today: dt.date,
    *,
    max_age: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    engine_options: Mapping[str, Any] | None = None,
    progress: RefreshProgress | None = None,
) -> list[DataProblem]:
    """Refresh the profiles' stale data through the engine; problems it could not log
    on a scope (a timeout) are returned.

    Data older than ``max_age`` is refreshed even when its TTL says it is fresh.
    ``progress`` is told what happens (scopes per domain, landed, throttled waits);
    the engine runs the same with or without it.
    """
    import asyncio

    from btconsole.engine import Engine

    force = _stale_pairs(cache, profiles, time.time(), max_age) if max_age is not None else set()
    options: dict[str, Any] = {"respect_backoff": False, **dict(engine_options or {})}
    feed: _Feed | None = None
    if progress is not None:
        feed = _Feed(cache, config, progress, options.get("listener"))
        options["listener"] = feed.listener
    engine = Engine(config, cache, today=lambda: today, **options)

    async def domain_refresh(profile: Profile, domain: str) -> None:
        outcomes = await engine.refresh_domain(
            profile.name, domain, force=(profile.name, domain) in force
        )
        if feed is not None:
            feed.settle(profile.name, domain, outcomes)

    async def one(profile: Profile) -> None:
        if feed is not None:
            feed.scopes(profile)
        if (profile.name, SUBSCRIPTIONS) in force:
            await engine.subscriptions(profile.name, force=True)
        await asyncio.gather(*(domain_refresh(profile, domain) for domain in DOMAINS))

    async def body() -> None:
        watch = asyncio.ensure_future(feed.watch(engine)) if feed is not None else None
        try:
            await asyncio.gather(*(one(profile) for profile in profiles))
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch

    if progress is not None:
        progress.start([p.name for p in profiles])
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
    progress: RefreshProgress | None = None,
) -> Snapshot:
    """Refresh (unless ``offline``) and read the chosen profiles' data.

    With ``offline`` the cache is opened read-only and nothing is fetched. ``records``:
    decode every record (exports need them). ``findings``: each customer's summary and
    findings from its digest (:mod:`btconsole.digest`; recomputed from the records, and
    kept when the cache is writable, where the data changed since it was made).
    ``progress`` (:func:`btconsole.progress.for_stream`) shows the refresh and the
    reading after it; it is taken down before this returns or raises.

    Raises:
        CacheError: the cache cannot be opened.
    """
    try:
        return _load_snapshot(
            config,
            profiles,
            offline=offline,
            clock=clock,
            max_age=max_age,
            timeout=timeout,
            cache_path=cache_path,
            engine_options=engine_options,
            records=records,
            findings=findings,
            progress=None if offline else progress,
        )
    finally:
        if progress is not None:
            progress.stop()


def _load_snapshot(
    config: Config,
    profiles: Sequence[Profile],
    *,
    offline: bool,
    clock: Clock,
    max_age: float | None,
    timeout: float,
    cache_path: Path | None,
    engine_options: Mapping[str, Any] | None,
    records: bool,
    findings: bool,
    progress: RefreshProgress | None = None,
) -> Snapshot:
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
                    progress=progress,
                )
            )
            if progress is not None:
                progress.reading()
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
