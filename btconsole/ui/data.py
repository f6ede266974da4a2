"""What the UI knows: records read from the cache, and refreshes asked of the engine.

Reading is synchronous and cheap (the cache), so the first screen paints from it before
any network call; the engine (and with it the Azure SDK) is created only when the first
refresh runs, after that paint. Nothing here imports an Azure SDK.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from btconsole.cache import Cache, CacheKey, Entry
from btconsole.config import Config
from btconsole.digest import (
    CustomerHealth,
    Digest,
    Digester,
    PatchCounts,
    ReadMemo,
    peek_sources,
    read_patches,
)

if TYPE_CHECKING:
    from btconsole.refresher import Refresher

PANE_DOMAINS = ("arc", "circuits", "policy", "spend", "health")

__all__ = ["DataSource", "DomainState", "PatchCounts", "Snapshot"]


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
        now: Callable[[], dt.datetime] | None = None,
        refresher_args: Sequence[str] = (),
        refresher_environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.offline = offline
        self._engine_factory = engine_factory
        self._engine: Any = None
        self._listeners: list[Callable[[CacheKey], None]] = []
        self._customer_listeners: list[Callable[[str], None]] = []
        self._message_listeners: list[Callable[[str], None]] = []
        self._discovery_listeners: list[Callable[[list[str], list[str]], None]] = []
        self._refresher: Refresher | None = None
        self._refresher_args = tuple(refresher_args)
        self._refresher_environ = refresher_environ
        self._now = now
        self._running: dict[str, int] = {}
        self.clock = clock
        self.refreshing: set[str] = set()
        self._digests: dict[str, Digest] = {}  # made here: kept even if the cache is read-only
        self._reads = ReadMemo()  # what was decoded: a customer that changed is read alone
        self._reading = threading.Lock()

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
        """(failed subscription listings and Lighthouse discoveries, customers none of
        whose subscriptions can be named: no listing ever read and none configured),
        from metadata only."""
        listings = {e.key.profile: e for e in self.cache.peek_domain("subscriptions", profiles)}
        failed = sum(1 for e in listings.values() if e.error)
        # a Lighthouse discovery that failed is the listing above its customers'
        if self.config.lighthouse:
            from btconsole.lighthouse import failing_providers

            failed += len(failing_providers(self.config, self.cache))
        unknown = 0
        for name in profiles:
            entry = listings.get(name)
            profile = self.config.profiles.get(name)
            configured = profile is not None and bool(profile.subscriptions)
            if entry is not None and entry.fetched_at is None and entry.error and not configured:
                unknown += 1
        return failed, unknown

    def patch_assessments(
        self, profiles: Sequence[str]
    ) -> tuple[dict[str, PatchCounts], frozenset[str]]:
        """The Arc servers' latest patch counts by lower-case machine ID, and the
        lower-case subscriptions whose health domain was ever read (a server elsewhere
        is unknown). A scope whose last refresh failed keeps its last good records, as
        the findings (``patch-assessment``) do; the subscriptions are those of the
        customer's listing (else its configured ones), as for its digest.

        The figures are each customer's ``patches`` entry, made with its digest from
        the same decoded records (:func:`btconsole.digest.read_patches`): decoding the
        health domain here cost ~0.15 s for 20,600 machines. A customer whose
        entry is missing or out of date has its health records decoded once. Nothing
        is kept between calls (the entries are read again, ~40 ms for 20,600 machines):
        keeping the answer cost the pane 8 MB of peak RSS.
        """
        # Not under ``_reading``: the overview may hold it for seconds in a thread while
        # it makes digests, and the pane builds its rows on the event loop. The memo
        # is shared safely: only single get/set/pop of its dicts, no iteration (a race
        # costs one listing decoded twice).
        wanted = [self.config.profiles[n] for n in profiles if n in self.config.profiles]
        sources = peek_sources(self.cache, wanted, self._reads.listings)
        figures = read_patches(self.cache, sources, self._reads)
        counts: dict[str, PatchCounts] = {}
        read: set[str] = set()
        for f in figures.values():  # whole: read_patches made again any damaged entry
            counts.update(f.counts())
            read.update(f.read)
        return counts, frozenset(read)

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
        with self._reading:  # the overview reads in a thread while customers land
            digester = Digester(self.config, self.cache, now, memo=self._digests, reads=self._reads)
            health = digester.read(profiles, stale_ok=stale_ok)
        return [health[name] for name in profiles], digester.outdated

    def remake_health(self, profiles: Sequence[str], now: dt.datetime) -> int:
        """Make the digests of ``profiles`` current (slow: decodes their records).

        Safe in a worker thread (the cache serialises its calls). Returns how many
        customers were made again.
        """
        digester = Digester(self.config, self.cache, now, memo=self._digests, reads=self._reads)
        digester.read(profiles)
        return len(digester.recomputed)

    def detail(self, key: CacheKey) -> Entry | None:
        return self.cache.get(key)

    # ------------------------------------------------------------------ refreshing

    def add_listener(self, listener: Callable[[CacheKey], None]) -> None:
        """Called on the event loop with each scope that lands (its records changed)."""
        self._listeners.append(listener)

    def add_customer_listener(self, listener: Callable[[str], None]) -> None:
        """Called on the event loop with each customer whose refresh is done and whose
        digest is current: the one row to update."""
        self._customer_listeners.append(listener)

    def _changed(self, key: CacheKey) -> None:
        for listener in list(self._listeners):
            listener(key)

    def _customer_done(self, profile: str) -> None:
        self._digests.pop(profile, None)  # made by the refresh: read it from the cache
        for listener in list(self._customer_listeners):
            listener(profile)

    def _message(self, text: str) -> None:
        for listener in list(self._message_listeners):
            listener(text)

    def add_message_listener(self, listener: Callable[[str], None]) -> None:
        """Called with what the refresh asks of the user (a device-code sign-in)."""
        self._message_listeners.append(listener)

    def add_discovery_listener(self, listener: Callable[[list[str], list[str]], None]) -> None:
        """Called on the event loop with ``(added, problems)`` when a Lighthouse
        rediscovery changed the customers or its problems (one line each). ``added``:
        the names new to :attr:`config`, or delegated again (to show and refresh);
        :attr:`config` is the new one already."""
        self._discovery_listeners.append(listener)

    def _discovered(self, problems: list[str]) -> None:
        """The refresh discovered the Lighthouse customers again (and keeps them in the
        cache): follow it, so new customers are shown and gone ones marked without a
        restart."""
        from btconsole.lighthouse import effective_config

        config = effective_config(self.config, self.cache)
        old = self.config.profiles
        # new customers, and those delegated again: to show and refresh
        added = [
            name
            for name, profile in config.profiles.items()
            if name not in old or (old[name].delegation_gone and not profile.delegation_gone)
        ]
        self.set_config(config)
        for listener in list(self._discovery_listeners):
            listener(added, list(problems))

    def set_config(self, config: Config) -> None:
        """Serve ``config``'s customers from now on (this process's engine too)."""
        changed = {
            name
            for name in {*config.profiles, *self.config.profiles}
            if config.profiles.get(name) != self.config.profiles.get(name)
        }
        self.config = config
        for name in changed:  # made for the old profile (its settings, or gone or not)
            self._digests.pop(name, None)
        if self._engine is not None:
            self._engine.config = config
        refresher = self._refresher
        if refresher is not None and hasattr(refresher, "config"):
            refresher.config = config

    def discovery_problems(self) -> list[str]:
        """The Lighthouse providers whose last discovery failed (from the cache)."""
        if not self.config.lighthouse:
            return []
        from btconsole.lighthouse import discovery_problems

        return discovery_problems(self.config, self.cache)

    @property
    def engine(self) -> Any:
        """An engine in this process, for details fetched on demand (created on first
        use; imports nothing heavy itself). Refreshes of whole domains go to
        :attr:`refresher`."""
        if self._engine is None:
            if self._engine_factory is not None:
                self._engine = self._engine_factory(self.config, self.cache, self._changed)
            else:
                from btconsole.engine import Engine

                self._engine = Engine(self.config, self.cache, listener=self._changed)
        return self._engine

    @property
    def refresher(self) -> Refresher:
        """Where refreshes run: a process of its own (the console's default), or this
        process's engine when one was given (``engine_factory``: the tests' engine)."""
        if self._refresher is None:
            from btconsole.refresher import DigestMaker, InProcessRefresh, RefreshProcess

            if self._engine_factory is not None:
                self._refresher = InProcessRefresh(
                    self.engine,
                    DigestMaker(self.config, self.cache, self._now),
                    on_customer=self._customer_done,
                    on_customers=self._discovered,
                )
            else:
                self._refresher = RefreshProcess(
                    self.config,
                    self.cache.path,
                    on_landed=self._changed,
                    on_customer=self._customer_done,
                    on_message=self._message,
                    on_customers=self._discovered,
                    environ=self._refresher_environ,
                    extra_args=self._refresher_args,
                )
        return self._refresher

    async def prestart(self) -> None:
        """Start the refresh process now, so its start-up overlaps the first frame."""
        if self.offline or self._engine_factory is not None or not self.config.profiles:
            return
        await self.refresher.start()

    def due(self, domain: str, profiles: Sequence[str]) -> bool:
        """Whether any scope of ``domain`` is stale (or was never fetched)."""
        entries = self.cache.peek_domain(domain, profiles)
        if not entries:
            return True
        now = self.clock()
        return any(e.is_stale(now) and not e.in_backoff(now) for e in entries)

    async def refresh(
        self, domains: Sequence[str], profiles: Sequence[str], *, force: bool = False
    ) -> Any:
        """Refresh ``domains`` for ``profiles`` (nothing when offline), customer by
        customer: each one's digest is made current as its domains land."""
        if self.offline:
            return []
        for domain in domains:
            self._running[domain] = self._running.get(domain, 0) + 1
            self.refreshing.add(domain)
        try:
            return await self.refresher.refresh(profiles, domains, force=force)
        finally:
            for domain in domains:
                self._running[domain] -= 1
                if not self._running[domain]:
                    del self._running[domain]
                    self.refreshing.discard(domain)

    async def refresh_detail(
        self, profile: str, domain: str, scope: str, fetch: Any, *, force: bool = False
    ) -> Entry | None:
        if self.offline:
            return self.cache.get(CacheKey(profile, domain, scope))
        result: Entry | None = await self.engine.detail(profile, domain, scope, fetch, force=force)
        return result

    def throttled(self) -> bool:
        """Whether the refresh (or a detail's fetch) is waiting out Azure's throttling."""
        now = time.monotonic()
        if self._refresher is not None and self._refresher.throttled:
            return True
        engine = self._engine
        return engine is not None and any(
            s.throttled_until is not None and s.throttled_until > now
            for s in engine.status.values()
        )

    def in_flight(self) -> int:
        """Requests in flight: the refresh's and this process's engine's (details)."""
        count = 0
        if self._refresher is not None and self._refresher.engine is not self._engine:
            count += self._refresher.in_flight
        if self._engine is not None:
            count += int(sum(s.in_flight for s in self._engine.status.values()))
        return count

    async def close(self) -> None:
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            await refresher.close()
        if self._engine is not None:
            await self._engine.close()
            self._engine = None
