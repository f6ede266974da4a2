"""What the UI knows: records read from the cache, and refreshes asked of the engine.

Reading is synchronous and cheap (the cache), so the first screen paints from it before
any network call; the engine (and with it the Azure SDK) is created only when the first
refresh runs, after that paint. Nothing here imports an Azure SDK.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from btconsole.cache import Cache, CacheKey, Entry
from btconsole.config import Config
from btconsole.digest import CustomerHealth, Digest, Digester

PANE_DOMAINS = ("arc", "circuits", "policy", "spend")


@dataclass(frozen=True)
class DomainState:
    """Freshness of one domain across the profiles in view, for the status bar."""

    domain: str
    scopes: int = 0
    oldest_age: float | None = None  # seconds; None: never fetched
    stale: int = 0
    errors: int = 0
    never: int = 0
    last_error: str | None = None


@dataclass
class Snapshot:
    """Records of one domain for the profiles in view, with their freshness."""

    records: list[Any] = field(default_factory=list)
    state: DomainState = field(default_factory=lambda: DomainState(""))


class DataSource:
    """The UI's single door to data."""

    def __init__(
        self,
        config: Config,
        cache: Cache,
        *,
        offline: bool = False,
        engine_factory: Callable[[Config, Cache, Callable[[CacheKey], None]], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.cache = cache
        self.offline = offline
        self._engine_factory = engine_factory
        self._engine: Any = None
        self._listeners: list[Callable[[CacheKey], None]] = []
        self.clock = clock
        self.refreshing: set[str] = set()
        self._digests: dict[str, Digest] = {}  # made here: kept even if the cache is read-only

    # ------------------------------------------------------------------ reading

    def profiles(self, scope: str | None) -> list[str]:
        """The profiles in view: one customer or all."""
        if scope is not None:
            return [scope]
        return list(self.config.profiles)

    def snapshot(self, domain: str, profiles: Sequence[str]) -> Snapshot:
        entries = self.cache.read_domain(domain, profiles)
        records = [record for entry in entries for record in entry.records]
        return Snapshot(records, self.domain_state(domain, entries))

    def domain_state(self, domain: str, entries: Iterable[Entry]) -> DomainState:
        now = self.clock()
        scopes = stale = errors = never = 0
        oldest: float | None = None
        last_error: str | None = None
        for entry in entries:
            scopes += 1
            age = entry.age(now)
            if age is None:
                never += 1
            elif oldest is None or age > oldest:
                oldest = age
            if entry.is_stale(now):
                stale += 1
            if entry.error:
                errors += 1
                last_error = entry.error
        return DomainState(domain, scopes, oldest, stale, errors, never, last_error)

    def domain_states(self, domains: Sequence[str], profiles: Sequence[str]) -> list[DomainState]:
        """Freshness of each of ``domains`` for ``profiles``, without decoding any record.

        The same figures as :meth:`domain_state` (except ``last_error``), from the cache's
        summary: cheap enough for every status bar update.
        """
        now = self.clock()
        wanted = set(profiles)
        rows = [s for s in self.cache.summary(now) if s.profile in wanted]
        states = []
        for domain in domains:
            mine = [s for s in rows if s.domain == domain]
            fetched = [s.oldest_fetch for s in mine if s.oldest_fetch is not None]
            states.append(
                DomainState(
                    domain,
                    scopes=sum(s.scopes for s in mine),
                    oldest_age=max(0.0, now - min(fetched)) if fetched else None,
                    stale=sum(s.stale for s in mine),
                    errors=sum(s.errors for s in mine),
                    never=sum(s.never_fetched for s in mine),
                )
            )
        return states

    def listing_state(self, profiles: Sequence[str]) -> tuple[int, int]:
        """(failed subscription listings, customers none of whose subscriptions can be
        named: no listing ever read and none configured), from metadata only."""
        listings = {e.key.profile: e for e in self.cache.peek_domain("subscriptions", profiles)}
        failed = sum(1 for e in listings.values() if e.error)
        unknown = 0
        for name in profiles:
            entry = listings.get(name)
            profile = self.config.profiles.get(name)
            configured = profile is not None and bool(profile.subscriptions)
            if entry is not None and entry.fetched_at is None and entry.error and not configured:
                unknown += 1
        return failed, unknown

    def subscription_names(self, profiles: Sequence[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for entry in self.cache.read_domain("subscriptions", profiles):
            for record in entry.records:
                names[record.subscription_id] = record.display_name
        return names

    def customer_health(
        self, profiles: Sequence[str], now: dt.datetime, *, stale_ok: bool = False
    ) -> tuple[list[CustomerHealth], list[str]]:
        """Each customer's summary and findings from the digests in the cache, and the
        customers shown from an out-of-date digest (only with ``stale_ok``).

        A digest out of date (its records changed, or a new day) is made again from
        the records and, unless the cache is read-only, kept for the next start; with
        ``stale_ok`` that is left to :meth:`remake_health` (in a worker thread).
        """
        digester = Digester(self.config, self.cache, now, memo=self._digests)
        health = digester.read(profiles, stale_ok=stale_ok)
        return [health[name] for name in profiles], digester.outdated

    def remake_health(self, profiles: Sequence[str], now: dt.datetime) -> int:
        """Make the digests of ``profiles`` current (slow: decodes their records).

        Safe in a worker thread (the cache serialises its calls). Returns how many
        customers were made again.
        """
        digester = Digester(self.config, self.cache, now, memo=self._digests)
        digester.read(profiles)
        return len(digester.recomputed)

    def detail(self, key: CacheKey) -> Entry | None:
        return self.cache.get(key)

    # ------------------------------------------------------------------ refreshing

    def add_listener(self, listener: Callable[[CacheKey], None]) -> None:
        self._listeners.append(listener)

    def _changed(self, key: CacheKey) -> None:
        for listener in list(self._listeners):
            listener(key)

    @property
    def engine(self) -> Any:
        """The refresh engine (created on first use; imports nothing heavy itself)."""
        if self._engine is None:
            if self._engine_factory is not None:
                self._engine = self._engine_factory(self.config, self.cache, self._changed)
            else:
                from btconsole.engine import Engine

                self._engine = Engine(self.config, self.cache, listener=self._changed)
        return self._engine

    def due(self, domain: str, profiles: Sequence[str]) -> bool:
        """Whether any scope of ``domain`` is stale (or was never fetched)."""
        entries = self.cache.peek_domain(domain, profiles)
        if not entries:
            return True
        now = self.clock()
        return any(e.is_stale(now) and not e.in_backoff(now) for e in entries)

    async def refresh(self, domain: str, profiles: Sequence[str], *, force: bool = False) -> Any:
        """Refresh ``domain`` for ``profiles`` (nothing when offline)."""
        if self.offline:
            return []
        self.refreshing.add(domain)
        try:
            outcomes = []
            for profile in profiles:
                outcomes += await self.engine.refresh_domain(profile, domain, force=force)
            return outcomes
        finally:
            self.refreshing.discard(domain)

    async def refresh_detail(
        self, profile: str, domain: str, scope: str, fetch: Any, *, force: bool = False
    ) -> Entry | None:
        if self.offline:
            return self.cache.get(CacheKey(profile, domain, scope))
        result: Entry | None = await self.engine.detail(profile, domain, scope, fetch, force=force)
        return result

    def throttled(self) -> bool:
        engine = self._engine
        if engine is None:
            return False
        now = time.monotonic()
        return any(
            s.throttled_until is not None and s.throttled_until > now
            for s in engine.status.values()
        )

    def in_flight(self) -> int:
        engine = self._engine
        if engine is None:
            return 0
        return int(sum(s.in_flight for s in engine.status.values()))

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.close()
            self._engine = None
