"""The refresh engine: brings the cache up to date, politely, one scope at a time.

- Every (profile, domain, subscription) is its own scope: one failing subscription
  costs only its own rows; its error and old records stay in the cache.
- Concurrency is bounded (``refresh_concurrency``) across all profiles.
- One refresh per key at a time: concurrent callers in this process share one task;
  another process holding the cache lease is waited for, not duplicated.
- Throttling: ``Retry-After``, Cost Management's own retry headers and Resource
  Graph's quota reset are honoured; a 429 closes a gate for the whole profile so the
  other requests wait too (no storm); every customer of a Lighthouse provider is one
  principal to Azure, so a throttle on one holds them all. A failing scope backs off
  exponentially, with jitter, before it is tried again (unless a user forces it).
- An expired or revoked token is recovered once by a fresh credential.
- Cancellation is clean: leases are released and nothing is written.
- Above ``graph_threshold`` subscriptions, Arc, circuits and policy are listed
  through Resource Graph; the records are identical to the per-subscription path.
  The health domain (Service Health, Resource Health, alerts, patch state) is read
  through Resource Graph only, in one batch per customer (and per Lighthouse provider).

This module imports no Textual and, until a refresh really runs, no Azure SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from btconsole.cache import Cache, CacheKey, Entry, default_owner
from btconsole.config import Config, Profile
from btconsole.errors import BtConsoleError

if TYPE_CHECKING:
    from btconsole.azure.session import ConnectionPools

log = logging.getLogger(__name__)

SUBSCRIPTIONS = "subscriptions"
ALL_SCOPE = "*"
DOMAINS = ("arc", "circuits", "policy", "spend", "health")
GRAPH_DOMAINS = ("arc", "circuits", "policy", "health")
# read through Resource Graph only: one batch over all of a profile's subscriptions
# whatever their number (4 tables + 1 visibility query per batch, where a query per
# subscription cost 5 per subscription)
GRAPH_ONLY = ("health",)
SUBSCRIPTIONS_TTL = 3600.0
DETAIL_RANK = (-(2**62), 0)  # an on-demand detail's requests go before a refresh's
UNRANKED = (0, 0)  # a profile no refresh_all named

Fetch = Callable[[Any], Awaitable[Sequence[Any]]]
Listener = Callable[[CacheKey], None]


@dataclass(frozen=True)
class Outcome:
    """What became of one key's refresh."""

    key: CacheKey
    status: str  # "fetched", "failed", "skipped" (fresh or backing off), "shared"
    records: int = 0
    error: str | None = None
    kind: str | None = None  # the error's reason class (btconsole.errors.REASONS)


@dataclass
class EngineStatus:
    """Live state for the status bar."""

    in_flight: int = 0
    throttled_until: float | None = None  # monotonic
    requests: int = 0
    throttled: int = 0


class RequestSlots:
    """A semaphore for requests in flight, handed out by priority.

    With a plain FIFO semaphore every scope of a refresh queued its first request at
    once, and a scope's next request (the next page, the forecast after the costs)
    waited behind every other scope's first: each scope held its partial answers until
    near the end of the refresh (the huge estate's grew by ~45 MB of RSS for them) and
    little data landed early. Here a free slot goes to, in order:

    1. a later request of a started scope before any scope's first request, so a
       started scope finishes soon after it starts;
    2. then the lower ``rank`` (the engine ranks a refresh's profiles in the order it
       was given them), so customers complete one after another, in that order, instead
       of all together at the very end;
    3. then first come, first served.

    Nothing else changes: every scope still starts at once (its lease claimed, its
    throttling gate waited for without holding a slot).
    """

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._seq = 0
        # (first request?, rank, arrival, waiter); a cancelled waiter stays until popped
        self._waiting: list[tuple[bool, tuple[int, int], int, asyncio.Future[None]]] = []

    async def acquire(self, *, first: bool, rank: tuple[int, int] = (0, 0)) -> None:
        """Wait for a slot (see the class for who goes first)."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._waiting, (first, rank, self._seq, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot, then cancelled: pass it on
            raise

    def release(self) -> None:
        """Hand the slot to the first waiter by priority, else free it."""
        while self._waiting:
            waiter = heapq.heappop(self._waiting)[3]
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


def _log_refresh(profile: str, domain: str, outcomes: Sequence[Outcome], seconds: float) -> None:
    """One INFO line per refresh of a profile's domain (the SDK's own logs are quiet)."""
    if not outcomes or all(o.status == "skipped" for o in outcomes):
        return
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    text = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    log.info("refresh %s/%s: %s in %.1fs", profile, domain, text, seconds)


def internal_error(exc: BaseException) -> BtConsoleError:
    """An unexpected exception as a scope's error: its type and first line (a bug)."""
    lines = str(exc).strip().splitlines()
    first = lines[0][:300] if lines else ""
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return BtConsoleError(f"internal error: {text} (a bug in btconsole; see the log)")


async def _health_records(session: Any, subscriptions: Sequence[str]) -> dict[str, list[Any]]:
    """The health domain of ``subscriptions``: Service Health events, Resource Health
    that is not Available, alerts and Arc patch assessments (one Resource Graph query
    per table, batched and paged by :func:`btconsole.azure.graph.query`), by lower-case
    subscription. A table that fails fails the scope: half an answer would read as
    "Azure is fine"."""
    from btconsole.azure import incidents

    tables = (
        await incidents.list_service_health(session, subscriptions),
        await incidents.list_resource_health(session, subscriptions),
        await incidents.list_alerts(session, subscriptions),
        await incidents.list_patch_assessments(session, subscriptions),
    )
    merged: dict[str, list[Any]] = {sub.lower(): [] for sub in subscriptions}
    for table in tables:
        for sub, records in table.items():
            merged.setdefault(sub.lower(), []).extend(records)
    return merged


@dataclass(eq=False)
class _GraphAsk:
    """One profile's keys of a domain, waiting for a (shared) Resource Graph batch."""

    profile: Profile
    keys: list[CacheKey]
    ttl: float
    force: bool
    done: asyncio.Future[list[Outcome]] | None = None

    @property
    def cancelled(self) -> bool:
        return self.done is not None and self.done.cancelled()

    def answer(self, outcomes: list[Outcome]) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(outcomes)

    def fail(self, error: BaseException) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(error)

    def cancel(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.cancel()


def _owned(records: Sequence[Any], profile: str) -> list[Any]:
    """``records`` as ``profile``'s (a batch shared by customers made them as another's)."""
    from dataclasses import replace

    return [r if r.profile == profile else replace(r, profile=profile) for r in records]


def backoff_seconds(failures: int, *, base: float = 30.0, cap: float = 900.0) -> float:
    """Exponential backoff for a scope that failed ``failures`` times in a row."""
    return float(min(cap, base * (2 ** max(0, failures - 1))))


class Engine:
    """Refreshes the cache from Azure for the configured profiles."""

    def __init__(
        self,
        config: Config,
        cache: Cache,
        *,
        session_factory: Callable[[Profile], Any] | None = None,
        owner: str | None = None,
        graph_threshold: int | None = None,
        max_retries: int = 2,
        max_wait: float = 60.0,
        lease_seconds: float = 300.0,
        today: Callable[[], date] | None = None,
        listener: Listener | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        respect_backoff: bool = True,
    ) -> None:
        self.config = config
        self.cache = cache
        self.owner = owner or default_owner()
        self.graph_threshold = (
            config.graph_threshold if graph_threshold is None else graph_threshold
        )
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.lease_seconds = lease_seconds
        self.listener = listener
        # A loop (the console) waits out a failing scope's backoff; a one-shot run
        # (btconsole check) tries once more, since it sends one request per scope.
        self.respect_backoff = respect_backoff
        self._session_factory = session_factory
        self._today = today or (lambda: datetime.now(timezone.utc).date())
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._sessions: dict[str, Any] = {}
        self._providers: dict[str, Any] = {}  # Lighthouse: the credential customers share
        self._pools: ConnectionPools | None = None  # created with the first session
        self._inflight: dict[CacheKey, asyncio.Task[Outcome]] = {}
        # Resource Graph batches shared by a Lighthouse provider's customers, per
        # (provider, domain): the asks waiting for the next batch, and its worker
        self._graph_asks: dict[tuple[str, str], list[_GraphAsk]] = {}
        self._graph_workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._gates: dict[str, float] = {}
        self._slots: RequestSlots | None = None
        # profile -> request priority: the latest refresh_all's profiles go first, in the
        # order given (see RequestSlots); profiles never ranked go after them
        self._ranks: dict[str, tuple[int, int]] = {}
        self._generation = 0
        self.status: dict[str, EngineStatus] = {}

    # ------------------------------------------------------------------ sessions

    @property
    def pools(self) -> ConnectionPools:
        """The HTTPS connection pools every profile's session shares.

        One per Resource Manager host and CA bundle, at most ``refresh_concurrency``
        connections each; closed by :meth:`close`. A ``session_factory`` may use it.
        """
        if self._pools is None:
            from btconsole.azure.session import ConnectionPools

            self._pools = ConnectionPools(self.config.refresh_concurrency)
        return self._pools

    def session(self, profile: Profile) -> Any:
        """The profile's Azure session (created on first use)."""
        existing = self._sessions.get(profile.name)
        if existing is None:
            if self._session_factory is not None:
                existing = self._session_factory(profile)
            elif profile.provider is not None:
                from btconsole.lighthouse import customer_session

                existing = customer_session(profile, self.config, self.pools, self._providers)
            else:
                from btconsole.azure.session import AzureSession

                existing = AzureSession(profile, self.config, pools=self.pools)
            self._sessions[profile.name] = existing
        return existing

    async def close(self) -> None:
        """Cancel what runs, close every session, then the connection pools."""
        tasks = [*self._inflight.values(), *self._graph_workers.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):  # cancelled or failed: nothing to keep
                await task
        sessions = [*self._sessions.values(), *self._providers.values()]
        self._sessions.clear()
        self._providers.clear()
        for session in sessions:
            await session.close()
        if self._pools is not None:
            pools, self._pools = self._pools, None
            await pools.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _request_slots(self) -> RequestSlots:
        if self._slots is None:
            self._slots = RequestSlots(self.config.refresh_concurrency)
        return self._slots

    def _status(self, profile: str) -> EngineStatus:
        return self.status.setdefault(profile, EngineStatus())

    # ------------------------------------------------------------------ public API

    async def refresh_all(
        self,
        profiles: Iterable[str] | None = None,
        domains: Sequence[str] = DOMAINS,
        *,
        force: bool = False,
    ) -> list[Outcome]:
        """Refresh every domain of every profile (concurrently, bounded).

        Customers complete in the order of ``profiles``: their requests are served
        first (before those of profiles of earlier calls still running, too), so each
        customer's data lands as soon as it can rather than every customer's at the end.
        """
        names = list(profiles) if profiles is not None else list(self.config.profiles)
        self.prioritise(names)
        results = await asyncio.gather(
            *(
                self.refresh_domain(name, domain, force=force)
                for name in names
                for domain in domains
            )
        )
        return [outcome for batch in results for outcome in batch]

    def prioritise(self, profiles: Sequence[str]) -> None:
        """Serve the requests of ``profiles`` in that order, before those of profiles
        ranked by earlier calls: each customer completes as soon as it can."""
        self._generation += 1
        for index, name in enumerate(profiles):
            self._ranks[name] = (-self._generation, index)

    async def subscriptions(self, profile_name: str, *, force: bool = False) -> list[str]:
        """The profile's subscription ids: refreshed when stale, else from the cache.

        If the listing fails and nothing is cached, the profile's configured
        ``subscriptions`` are used.
        """
        profile = self.config.profile(profile_name)
        key = CacheKey(profile.name, SUBSCRIPTIONS, ALL_SCOPE)

        async def fetch(session: Any) -> Sequence[Any]:
            from btconsole.azure.subscriptions import list_subscriptions

            return await list_subscriptions(session)

        await self._run(key, fetch, SUBSCRIPTIONS_TTL, force=force)
        entry = self.cache.get(key)
        if entry is not None and entry.fetched_at is not None:
            return [r.subscription_id for r in entry.records]
        return list(profile.subscriptions or ())

    async def refresh_domain(
        self, profile_name: str, domain: str, *, force: bool = False
    ) -> list[Outcome]:
        """Refresh one domain of one profile, every subscription its own scope."""
        if domain not in DOMAINS:
            raise ValueError(f"unknown domain {domain!r}")
        profile = self.config.profile(profile_name)
        if profile.delegation_gone:
            return []  # Lighthouse delegation removed: keep its cached data as it is
        subs = await self.subscriptions(profile.name)
        if not self.cache.readonly:
            self.cache.delete_scopes(profile.name, domain, keep=set(subs))
        ttl = profile.ttl.for_domain(domain)
        keys = [CacheKey(profile.name, domain, sub) for sub in subs]
        started = time.monotonic()
        if domain in GRAPH_ONLY or (domain in GRAPH_DOMAINS and len(subs) > self.graph_threshold):
            outcomes = await self._refresh_by_graph(profile, domain, keys, ttl, force=force)
        elif domain == "spend" and profile.billing_scope and keys:
            outcomes = await self._refresh_spend_by_customer(profile, keys, ttl, force=force)
        else:
            outcomes = list(
                await asyncio.gather(
                    *(
                        self._run(key, self._fetcher(domain, key.scope), ttl, force=force)
                        for key in keys
                    )
                )
            )
        _log_refresh(profile.name, domain, outcomes, time.monotonic() - started)
        return outcomes

    async def detail(
        self,
        profile_name: str,
        domain: str,
        scope: str,
        fetch: Fetch,
        *,
        ttl: float = 60.0,
        force: bool = False,
    ) -> Entry | None:
        """Fetch an on-demand detail (ARP table, metrics, ...) through the same engine.

        Returns the cache entry afterwards (records, age and any error).
        """
        key = CacheKey(profile_name, domain, scope)
        await self._run(key, fetch, ttl, force=force)
        return self.cache.get(key)

    # ------------------------------------------------------------------ fetchers

    def _fetcher(self, domain: str, subscription_id: str) -> Fetch:
        today = self._today

        async def arc(session: Any) -> Sequence[Any]:
            from btconsole.azure.arc import list_arc

            return await list_arc(session, subscription_id)

        async def circuits(session: Any) -> Sequence[Any]:
            from btconsole.azure.circuits import list_circuits

            return await list_circuits(session, subscription_id)

        async def policy(session: Any) -> Sequence[Any]:
            from btconsole.azure.policy import summarize

            compliance, assignments = await summarize(session, subscription_id)
            return [compliance, *assignments]

        async def spend(session: Any) -> Sequence[Any]:
            from btconsole.azure import spend as wrappers

            day = today()
            costs = await wrappers.daily_costs(session, subscription_id, day)
            forecast = await wrappers.month_forecast(session, subscription_id, day)
            budgets = await wrappers.budgets(session, subscription_id)
            return [*costs, *forecast, *budgets]

        return {
            "arc": arc,
            "circuits": circuits,
            "policy": policy,
            "spend": spend,
        }[domain]

    async def _refresh_by_graph(
        self, profile: Profile, domain: str, keys: list[CacheKey], ttl: float, *, force: bool
    ) -> list[Outcome]:
        """One batched Resource Graph refresh for every due subscription of a domain.

        A Lighthouse customer's refresh joins those of the other customers of its
        provider (:meth:`_shared_graph`): one query per table per batch of subscriptions
        across customers, on the provider's one credential.
        """
        if not force and not any(self._due(key) for key in keys):
            return [Outcome(key, "skipped") for key in keys]  # nothing to wait in line for
        ask = _GraphAsk(profile, keys, ttl, force)
        if profile.provider is None:
            (outcomes,) = await self._graph_batch(domain, [ask])
            return outcomes
        return await self._shared_graph(profile.provider, domain, ask)

    async def _shared_graph(self, provider: str, domain: str, ask: _GraphAsk) -> list[Outcome]:
        """Refresh ``ask`` in a Resource Graph batch shared by the provider's customers.

        One worker per (provider, domain) runs batches one after another; each batch
        takes every ask that arrived while the previous one ran (the first takes those
        that arrived before it started: the customers a refresh starts together). No
        waiting for more: a batch starts as soon as the previous one ends.
        """
        group = (provider, domain)
        ask.done = asyncio.get_running_loop().create_future()
        self._graph_asks.setdefault(group, []).append(ask)
        worker = self._graph_workers.get(group)
        if worker is None or worker.done():
            self._graph_workers[group] = asyncio.ensure_future(self._graph_worker(group))
        return await ask.done

    async def _graph_worker(self, group: tuple[str, str]) -> None:
        try:
            while self._graph_asks.get(group):
                asks = [a for a in self._graph_asks.pop(group) if not a.cancelled]
                if not asks:
                    continue
                try:
                    results = await self._graph_batch(group[1], asks)
                except asyncio.CancelledError:
                    for ask in asks:
                        ask.cancel()
                    raise
                except BaseException as exc:  # a bug: each caller gets it, as if its own
                    for ask in asks:
                        ask.fail(exc)
                    continue
                for ask, outcomes in zip(asks, results, strict=True):
                    ask.answer(outcomes)
        finally:
            for ask in self._graph_asks.pop(group, []):
                ask.cancel()
            if self._graph_workers.get(group) is asyncio.current_task():
                self._graph_workers.pop(group, None)

    async def _graph_batch(self, domain: str, asks: list[_GraphAsk]) -> list[list[Outcome]]:
        """Refresh the due keys of ``asks`` (profiles with their keys) in one batched
        Resource Graph read; one list of outcomes per ask, in order.

        Resource Graph leaves out the subscriptions the identity cannot read, without an
        error: the batch first asks which it sees (one ``resourcecontainers`` query per
        batch), queries those, and fails each one it does not see on its own scope,
        keeping its records, as a refused per-subscription read does. Records are made
        for each key's own profile. The batch runs as its first-ranked profile.
        """
        due = [[key for key in a.keys if a.force or self._due(key)] for a in asks]
        outcomes: list[list[Outcome]] = [
            [Outcome(key, "skipped") for key in a.keys if key not in keys]
            for a, keys in zip(asks, due, strict=True)
        ]
        every = [key for keys in due for key in keys]
        if not every:
            return outcomes
        lead = min((a.profile for a in asks), key=lambda p: self._ranks.get(p.name, UNRANKED))
        ttls = {key: a.ttl for a, keys in zip(asks, due, strict=True) for key in keys}
        subs = list(dict.fromkeys(key.scope for key in every))
        batch_key = CacheKey(lead.name, f"{domain}-graph", ALL_SCOPE)
        results: dict[str, list[Any]] = {}
        unseen: set[str] = set()

        async def fetch(session: Any) -> Sequence[Any]:
            from btconsole.azure import graph
            from btconsole.azure.circuits import with_latest_availability

            results.clear()
            unseen.clear()
            seen, hidden = await graph.split_visible(session, subs)
            unseen.update(hidden)
            if not seen:
                return []
            if domain == "arc":
                results.update(await graph.list_arc(session, seen))
            elif domain == "health":
                found = await _health_records(session, seen)
                results.update({sub: found.get(sub.lower(), []) for sub in seen})
            elif domain == "circuits":
                found = await graph.list_circuits(session, seen)
                for sub, records in found.items():
                    results[sub] = list(
                        await asyncio.gather(
                            *(with_latest_availability(session, r) for r in records)
                        )
                    )
            else:
                for sub, (compliance, assignments) in (
                    await graph.policy_summaries(session, seen)
                ).items():
                    results[sub] = [compliance, *assignments]
            return []

        outcome = await self._run(batch_key, fetch, ttls[every[0]], force=True, store=False)
        if outcome.status == "failed":
            # every subscription of the batch failed: each keeps its records and gets the
            # error and the batch's backoff, exactly as on the per-subscription path
            batch = self.cache.peek(batch_key)
            retry_at = batch.next_attempt_at if batch is not None else None
            for key in every:
                self.cache.put_error(
                    key,
                    outcome.error or "refresh failed",
                    next_attempt_at=retry_at,
                    ttl=ttls[key],
                    kind=outcome.kind,
                )
                self._notify(key)
        if outcome.status != "fetched":
            for done, keys in zip(outcomes, due, strict=True):
                done.extend(
                    Outcome(key, outcome.status, error=outcome.error, kind=outcome.kind)
                    for key in keys
                )
            return outcomes
        for a, done, keys in zip(asks, outcomes, due, strict=True):
            if a.cancelled:  # its caller went away: nothing written for it
                continue
            self.cache.delete_scopes(a.profile.name, batch_key.domain, keep=())  # old errors
            landed = [key for key in keys if key.scope not in unseen]
            mine = {key: _owned(results.get(key.scope, []), key.profile) for key in landed}
            self.cache.put_many(list(mine.items()), ttl=a.ttl)
            for key in landed:
                self._notify(key)
            done.extend(Outcome(key, "fetched", len(mine[key])) for key in landed)
            if any(key.scope in unseen for key in keys):
                from btconsole.azure.graph import unseen_error

                for key in keys:
                    if key.scope in unseen:
                        log.warning("refresh of %s failed: %s", key, unseen_error())
                        done.append(self._fail(key, unseen_error(), self.cache.peek(key), a.ttl))
        return outcomes

    async def _refresh_spend_by_customer(
        self, profile: Profile, keys: list[CacheKey], ttl: float, *, force: bool
    ) -> list[Outcome]:
        """The spend of a customer billed on its provider's partner billing account:
        costs and the month's forecast in ONE query each at the billing customer's
        scope (``profile.billing_scope``) instead of one each per subscription, split
        into the per-subscription keys; budgets still per subscription (Consumption
        budgets are the subscription's own; no Cost Management query, no QPU).

        The forecast cannot be split per subscription (``ForecastDataset`` has no
        grouping): each key holds the customer's forecast (``subscription_id`` ""), and
        the spend rules count it once (btconsole.health.spend).

        All keys are read when any is due (the query answers them all). A customer
        scope the provider may not read (403, 404: no billing role, customer gone from
        the account) falls back to the per-subscription path. Any other failure of the
        customer scope fails every key, with its reason and one backoff; a failing
        budget listing fails its own subscription only.
        """
        from btconsole.azure.errors import AuthError, AzureError, ForbiddenError, NotFoundError

        if not force and not any(self._due(key) for key in keys):
            return [Outcome(key, "skipped") for key in keys]
        scope = profile.billing_scope
        assert scope is not None
        subs = [key.scope for key in keys]
        batch_key = CacheKey(profile.name, "spend-billing", ALL_SCOPE)
        results: dict[str, list[Any]] = {}
        budget_errors: dict[str, AzureError] = {}
        refused: list[AzureError] = []
        today = self._today

        async def fetch(session: Any) -> Sequence[Any]:
            from btconsole.azure import spend as wrappers

            day = today()
            try:
                costs = await wrappers.customer_daily_costs(session, scope, subs, day)
                forecast = await wrappers.customer_month_forecast(session, scope, subs, day)
            except (ForbiddenError, NotFoundError) as exc:
                refused.append(exc)
                return []

            async def budgets(sub: str) -> None:
                try:
                    results[sub] = [*costs[sub], *forecast, *await wrappers.budgets(session, sub)]
                except AuthError:
                    raise  # the token: renewed once for the whole customer (_with_retries)
                except AzureError as exc:
                    budget_errors[sub] = exc

            await asyncio.gather(*(budgets(sub) for sub in subs))
            return []

        outcome = await self._run(batch_key, fetch, ttl, force=True, store=False)
        if refused:
            log.warning(
                "spend of %s at %s refused (%s): reading it per subscription",
                profile.name,
                scope,
                refused[0],
            )
            self.cache.delete_scopes(profile.name, batch_key.domain, keep=())
            return list(
                await asyncio.gather(
                    *(
                        self._run(key, self._fetcher("spend", key.scope), ttl, force=force)
                        for key in keys
                    )
                )
            )
        if outcome.status == "failed":
            batch = self.cache.peek(batch_key)
            retry_at = batch.next_attempt_at if batch is not None else None
            for key in keys:
                self.cache.put_error(
                    key,
                    outcome.error or "refresh failed",
                    next_attempt_at=retry_at,
                    ttl=ttl,
                    kind=outcome.kind,
                )
                self._notify(key)
        if outcome.status != "fetched":
            return [
                Outcome(key, outcome.status, error=outcome.error, kind=outcome.kind) for key in keys
            ]
        self.cache.delete_scopes(profile.name, batch_key.domain, keep=())  # clear old errors
        stored = [key for key in keys if key.scope in results]
        self.cache.put_many([(key, results[key.scope]) for key in stored], ttl=ttl)
        outcomes: list[Outcome] = []
        for key in keys:
            error = budget_errors.get(key.scope)
            if error is not None:
                before = self.cache.peek(key)
                failures = (before.failures if before is not None else 0) + 1
                wait = max(backoff_seconds(failures), error.retry_after or 0.0)
                wait *= 1.0 + self._rng.uniform(0.0, 0.2)
                self.cache.put_error(key, error, next_attempt_at=time.time() + wait, ttl=ttl)
                outcomes.append(Outcome(key, "failed", error=str(error), kind=error.reason))
            else:
                outcomes.append(Outcome(key, "fetched", len(results[key.scope])))
            self._notify(key)
        return outcomes

    # ------------------------------------------------------------------ one key

    def _due(self, key: CacheKey) -> bool:
        entry = self.cache.peek(key)
        if entry is None:
            return True
        now = time.time()
        if entry.fetched_at is not None and entry.error is not None and not self.respect_backoff:
            return True
        return entry.is_stale(now) and (not self.respect_backoff or not entry.in_backoff(now))

    async def _run(
        self, key: CacheKey, fetch: Fetch, ttl: float, *, force: bool, store: bool = True
    ) -> Outcome:
        """Refresh ``key`` unless fresh (or backing off); share a refresh in progress."""
        running = self._inflight.get(key)
        if running is not None:
            outcome = await asyncio.shield(running)
            return Outcome(key, "shared", outcome.records, outcome.error)
        if not force and not self._due(key):
            return Outcome(key, "skipped")
        if self.cache.readonly:
            return Outcome(key, "skipped")
        task = asyncio.ensure_future(self._refresh_key(key, fetch, ttl, store=store))
        self._inflight[key] = task
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            if task.done():
                self._inflight.pop(key, None)

    async def _refresh_key(
        self, key: CacheKey, fetch: Fetch, ttl: float, *, store: bool
    ) -> Outcome:
        from btconsole.azure.errors import AzureError

        before = self.cache.peek(key)
        if not self.cache.claim(key, self.owner, self.lease_seconds):
            # another process is refreshing this key: wait for its result, don't repeat it.
            # The wait polls on this loop, so a cancellation (check --timeout, SIGTERM)
            # ends it at once.
            since = before.last_result_at if before is not None else None
            entry = await self.cache.wait_for_update_async(key, since, self.lease_seconds)
            if entry is not None:
                self._notify(key)
                return Outcome(key, "shared", len(entry.records), entry.error, entry.error_kind)
            # no result and no live holder (it gave up, or its process is gone): ours
            if not self.cache.claim(key, self.owner, self.lease_seconds):
                return Outcome(key, "skipped")
            before = self.cache.peek(key)
        profile = self.config.profile(key.profile)
        status = self._status(profile.name)
        status.in_flight += 1
        try:
            records = await self._with_retries(profile, key, fetch)
            if store:  # store before the lease goes, so a waiter finds the result
                self.cache.put(key, records, ttl=ttl)
        except Exception as exc:  # every failure stays on its own scope
            error = exc if isinstance(exc, (AzureError, BtConsoleError)) else internal_error(exc)
            if error is not exc:  # a bug, not Azure: keep the traceback in the log
                log.error("refresh of %s failed unexpectedly", key, exc_info=exc)
            else:
                log.warning("refresh of %s failed: %s", key, error)
            return self._fail(key, error, before, ttl)
        finally:
            status.in_flight -= 1
            self.cache.release(key, self.owner)
        if store:
            self._notify(key)
        return Outcome(key, "fetched", len(records))

    async def retrying(self, profile: Profile, key: CacheKey, fetch: Fetch) -> Sequence[Any]:
        """Run ``fetch`` with ``profile``'s session, its requests retried exactly as a
        refresh's are (:meth:`_request`: the profile's throttle gate, ``Retry-After``,
        5xx and broken connections retried, a 401 recovered once) but nothing stored:
        for reads that are no domain's scope, such as a Lighthouse discovery
        (``profile`` may be a provider's own sign-in, which is not in the config).

        Raises:
            AzureError / BtConsoleError: the last attempt's failure.
        """
        status = self._status(profile.name)
        status.in_flight += 1
        try:
            return await self._with_retries(profile, key, fetch)
        finally:
            status.in_flight -= 1

    def _fail(
        self, key: CacheKey, error: BtConsoleError, before: Entry | None, ttl: float
    ) -> Outcome:
        """Record ``error`` on ``key`` (its records kept) with the next backoff."""
        failures = (before.failures if before is not None else 0) + 1
        wait = max(backoff_seconds(failures), getattr(error, "retry_after", None) or 0.0)
        wait *= 1.0 + self._rng.uniform(0.0, 0.2)  # jitter: scopes don't retry in step
        self.cache.put_error(key, error, next_attempt_at=time.time() + wait, ttl=ttl)
        self._notify(key)
        return Outcome(key, "failed", error=str(error), kind=error.reason)

    async def _with_retries(self, profile: Profile, key: CacheKey, fetch: Fetch) -> Sequence[Any]:
        """Run ``fetch``; its requests go through :meth:`_request` (retries per request).

        A 401 (token expired or revoked under us) is recovered once with a fresh
        credential.
        """
        from btconsole.azure.common import request_runner
        from btconsole.azure.errors import AuthError

        renewed = False
        started = False  # has this scope asked for a request slot yet?
        while True:
            session = self.session(profile)

            async def runner(
                what: str, operation: Callable[[], Awaitable[Any]], session: Any = session
            ) -> Any:
                nonlocal started
                first, started = not started, True
                return await self._request(profile, key, session, operation, first=first)

            token = request_runner.set(runner)
            try:
                return await fetch(session)
            except AuthError as error:
                # Resource Manager refused the token (expired or revoked under us): one
                # fresh credential. Entra refusing to issue one (AADSTS...) is final.
                refused = (error.code or "").startswith("AADSTS")
                if renewed or error.status != 401 or refused:
                    raise
                renewed = True
                await self._renew_session(profile)
            finally:
                request_runner.reset(token)

    async def _request(
        self,
        profile: Profile,
        key: CacheKey,
        session: Any,
        operation: Callable[[], Awaitable[Any]],
        *,
        first: bool = False,
    ) -> Any:
        """One request: wait for the profile's gate, pace, bounded, retried.

        ``first``: the scope's first request, which waits for a slot behind the
        requests of scopes already started (see :class:`RequestSlots`).

        Retryable errors (throttling, 5xx, broken connections, malformed answers) are
        retried up to ``max_retries`` times after the wait the service asked for
        (``Retry-After`` and friends) or a short exponential pause; a throttle closes
        the gate for the whole profile.
        """
        from btconsole.azure.errors import ThrottledError

        attempt = 0
        while True:
            await self._wait_gate(profile)
            await self._pace(session, key)
            slots = self._request_slots()
            await slots.acquire(first=first and attempt == 0, rank=self._rank(key))
            try:
                return await operation()
            except Exception as error:
                failure = error
            finally:
                slots.release()  # not held while waiting to retry
            retryable = getattr(failure, "retryable", False)
            if not retryable or attempt >= self.max_retries:
                raise failure
            retry_after = getattr(failure, "retry_after", None)
            wait = retry_after if retry_after is not None else min(8.0, 0.5 * 2**attempt)
            if wait > self.max_wait:
                raise failure
            if isinstance(failure, ThrottledError):
                self._close_gate(profile, wait)
            attempt += 1
            await self._sleep(wait)

    def _rank(self, key: CacheKey) -> tuple[int, int]:
        """A request's priority: an on-demand detail (someone is waiting for it) first,
        then by the profile's rank in the latest refresh (see :meth:`refresh_all`)."""
        refresh = key.domain in DOMAINS or key.domain == SUBSCRIPTIONS
        if not refresh and not key.domain.endswith(("-graph", "-billing")):
            return DETAIL_RANK
        return self._ranks.get(key.profile, UNRANKED)

    async def _renew_session(self, profile: Profile) -> None:
        old = self._sessions.pop(profile.name, None)
        if old is not None:
            await old.close()

    async def _pace(self, session: Any, key: CacheKey) -> None:
        """Slow down when ARM says a subscription's read budget is nearly spent."""
        limits = getattr(session, "limits", None)
        if limits is None:
            return
        remaining = limits.remaining_reads.get(key.scope)
        if remaining is not None and remaining < 5:
            await self._sleep(1.0)
        quota = limits.graph_quota_remaining
        graph = key.domain.endswith("-graph") or key.domain == "health"
        if graph and quota is not None and quota <= 0:
            await self._sleep(min(self.max_wait, limits.graph_quota_resets_after or 1.0))

    @staticmethod
    def _identity(profile: Profile) -> str:
        """Whom Azure throttles: the profile's own sign-in, or for a Lighthouse customer
        its provider's (every customer of a provider is one principal to ARM and to
        Resource Graph's per-user quota: a throttle on one is a throttle on all)."""
        return f"lighthouse:{profile.provider}" if profile.provider else profile.name

    def _close_gate(self, profile: Profile, seconds: float) -> None:
        identity = self._identity(profile)
        until = time.monotonic() + seconds
        self._gates[identity] = max(self._gates.get(identity, 0.0), until)
        self._status(profile.name).throttled_until = self._gates[identity]

    async def _wait_gate(self, profile: Profile) -> None:
        identity = self._identity(profile)
        until = self._gates.get(identity)
        if until is None:
            return
        remaining = until - time.monotonic()
        if remaining > 0:
            self._status(profile.name).throttled_until = until
            await self._sleep(remaining)
        if self._gates.get(identity, 0.0) <= time.monotonic():
            self._gates.pop(identity, None)
            self._status(profile.name).throttled_until = None

    def _notify(self, key: CacheKey) -> None:
        if self.listener is not None:
            try:
                self.listener(key)
            except Exception:  # a listener's bug must not break refreshing
                log.exception("refresh listener failed for %s", key)
