"""The refresh engine against the emulator: every domain, faults, backoff, sharing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from btconsole.cache import Cache, CacheKey
from btconsole.engine import DOMAINS, Engine
from btconsole.records import (
    AlertRecord,
    ArcRecord,
    ComplianceRecord,
    CostRecord,
    ForecastRecord,
    PatchAssessmentRecord,
    ResourceHealthRecord,
    ServiceHealthEvent,
)
from tests.azure.conftest import Emulated, run


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    with Cache.open(tmp_path / "cache.sqlite3") as opened:
        yield opened


def make_engine(emulated: Emulated, cache: Cache, **kwargs: Any) -> Engine:
    """The engine as the console makes it: every profile on the engine's shared pools."""
    from btconsole.azure.session import AzureSession

    kwargs.setdefault("today", lambda: emulated.emulator.estate.as_of)

    def session(profile: Any) -> AzureSession:
        return AzureSession(profile, emulated.config, environ=emulated.environ, pools=engine.pools)

    engine = Engine(emulated.config, cache, session_factory=session, **kwargs)
    return engine


async def _refresh(engine: Engine, *args: Any, **kwargs: Any) -> Any:
    async with engine:
        return await engine.refresh_domain(*args, **kwargs)


def _first(emulated: Emulated) -> tuple[str, list[str]]:
    profile = emulated.profile()
    customer = emulated.emulator.estate.customers[0]
    return profile.name, sorted(s.lower() for s in customer.subscription_ids)


def test_every_domain_lands_in_the_cache(fresh: Emulated, cache: Cache) -> None:
    name, subs = _first(fresh)

    async def body() -> Any:
        async with make_engine(fresh, cache) as engine:
            return await engine.refresh_all([name])

    outcomes = run(body)
    assert {o.status for o in outcomes} == {"fetched"}
    assert len(outcomes) == len(DOMAINS) * len(subs)
    for domain in DOMAINS:
        entries = cache.read(name, domain)
        assert sorted(e.key.scope for e in entries) == subs
        assert all(e.fetched_at is not None and e.error is None for e in entries)
    arc = [r for e in cache.read(name, "arc") for r in e.records]
    assert arc and all(isinstance(r, ArcRecord) for r in arc)
    policy = [r for e in cache.read(name, "policy") for r in e.records]
    assert sum(isinstance(r, ComplianceRecord) for r in policy) == len(subs)
    spend = [r for e in cache.read(name, "spend") for r in e.records]
    assert any(isinstance(r, CostRecord) for r in spend)
    assert sum(isinstance(r, ForecastRecord) for r in spend) == len(subs)


def test_every_profile_refreshes_through_one_shared_pool(fresh: Emulated, cache: Cache) -> None:
    names = list(fresh.config.profiles)
    assert len(names) > 1

    async def body() -> tuple[list[Any], int, Any]:
        engine = make_engine(fresh, cache)
        async with engine:
            outcomes = await engine.refresh_all()
            pools = len(engine.pools)
            http = engine.pools.transport(fresh.profile()).session
        return outcomes, pools, http

    outcomes, pools, http = run(body)
    assert {o.status for o in outcomes} == {"fetched"}
    assert {o.key.profile for o in outcomes} == set(names)
    assert pools == 1  # every profile: the same host and CA bundle
    assert http.closed  # the engine closed it


def test_fresh_data_is_not_fetched_again(fresh: Emulated, cache: Cache) -> None:
    name, _ = _first(fresh)
    run(lambda: _refresh(make_engine(fresh, cache), name, "arc"))
    before = fresh.emulator.stats()["total"]
    outcomes = run(lambda: _refresh(make_engine(fresh, cache), name, "arc"))
    assert {o.status for o in outcomes} == {"skipped"}
    assert fresh.emulator.stats()["total"] == before


def test_one_failing_subscription_keeps_its_old_records_and_costs_only_itself(
    fresh: Emulated, cache: Cache
) -> None:
    name, subs = _first(fresh)
    run(lambda: _refresh(make_engine(fresh, cache), name, "arc"))
    old = cache.get(CacheKey(name, "arc", subs[0]))
    assert old is not None and old.records
    fresh.emulator.add_fault(kind="forbidden", subscriptions=[subs[0]])
    outcomes = run(lambda: _refresh(make_engine(fresh, cache), name, "arc", force=True))
    by_scope = {o.key.scope: o for o in outcomes}
    assert by_scope[subs[0]].status == "failed"
    assert "access denied" in (by_scope[subs[0]].error or "")
    assert all(by_scope[s].status == "fetched" for s in subs[1:])
    kept = cache.get(CacheKey(name, "arc", subs[0]))
    assert kept is not None
    assert kept.records == old.records and kept.fetched_at == old.fetched_at
    assert kept.error and "AuthorizationFailed" in kept.error
    assert kept.next_attempt_at is not None


def test_throttle_retry_after_is_honoured_and_counted(fresh: Emulated, cache: Cache) -> None:
    name, subs = _first(fresh)
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    fresh.emulator.add_fault(
        kind="throttle", retry_after=3, count=1, subscriptions=[subs[0]], route="*machines*"
    )
    engine = make_engine(fresh, cache, sleep=fake_sleep)
    outcomes = run(lambda: _refresh(engine, name, "arc"))
    assert all(o.status == "fetched" for o in outcomes)
    assert 3 in waits  # the engine waited what Azure asked, not a guess
    statuses = fresh.emulator.stats()["by_status"]
    assert statuses.get("429") == 1


def test_costmanagement_429_is_retried_after_its_own_header(fresh: Emulated, cache: Cache) -> None:
    name, _ = _first(fresh)
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    fresh.emulator.add_fault(kind="costmanagement_throttle", retry_after=9, count=1)
    engine = make_engine(fresh, cache, sleep=fake_sleep)
    outcomes = run(lambda: _refresh(engine, name, "spend"))
    assert all(o.status == "fetched" for o in outcomes), outcomes
    assert 9 in waits


def test_persistent_5xx_fails_the_scope_and_backs_off(fresh: Emulated, cache: Cache) -> None:
    name, subs = _first(fresh)

    async def no_sleep(seconds: float) -> None:
        return None

    fresh.emulator.add_fault(kind="server_error", status=503, subscriptions=[subs[0]])
    engine = make_engine(fresh, cache, sleep=no_sleep, max_retries=2)
    outcomes = run(lambda: _refresh(engine, name, "arc"))
    failed = [o for o in outcomes if o.status == "failed"]
    assert [o.key.scope for o in failed] == [subs[0]]
    count = fresh.emulator.stats()["by_status"].get("503")
    assert count == 3  # first try + 2 retries, then it stops
    # backing off: a normal refresh does not try that scope again
    outcomes = run(lambda: _refresh(make_engine(fresh, cache, sleep=no_sleep), name, "arc"))
    assert {o.status for o in outcomes} == {"skipped"}
    assert fresh.emulator.stats()["by_status"].get("503") == 3


def test_token_expiry_mid_refresh_is_recovered(fresh: Emulated, cache: Cache) -> None:
    name, _ = _first(fresh)
    fresh.emulator.add_fault(kind="expire_tokens", count=1)
    outcomes = run(lambda: _refresh(make_engine(fresh, cache), name, "arc"))
    assert all(o.status == "fetched" for o in outcomes), outcomes
    assert fresh.emulator.stats()["by_status"].get("401") == 1


@pytest.mark.parametrize("kind", ["malformed", "reset"])
def test_broken_answers_fail_only_their_scope(fresh: Emulated, cache: Cache, kind: str) -> None:
    name, subs = _first(fresh)

    async def no_sleep(seconds: float) -> None:
        return None

    fresh.emulator.add_fault(kind=kind, subscriptions=[subs[-1]])
    outcomes = run(lambda: _refresh(make_engine(fresh, cache, sleep=no_sleep), name, "arc"))
    by_scope = {o.key.scope: o.status for o in outcomes}
    assert by_scope[subs[-1]] == "failed"
    assert all(by_scope[s] == "fetched" for s in subs[:-1])


def test_request_slots_serve_started_scopes_first() -> None:
    from btconsole.engine import RequestSlots

    async def body() -> list[str]:
        slots = RequestSlots(1)
        order: list[str] = []

        async def request(name: str, *, first: bool) -> None:
            await slots.acquire(first=first)
            order.append(name)
            await asyncio.sleep(0)
            slots.release()

        await slots.acquire(first=True)  # a request in flight
        waiting = [
            asyncio.ensure_future(request("b-first", first=True)),
            asyncio.ensure_future(request("c-first", first=True)),
        ]
        await asyncio.sleep(0)
        cancelled = asyncio.ensure_future(request("gone", first=False))
        later = asyncio.ensure_future(request("a-next", first=False))
        await asyncio.sleep(0)
        cancelled.cancel()
        slots.release()
        await asyncio.gather(*waiting, later)
        # every slot came back: two acquire at once without waiting
        await asyncio.wait_for(slots.acquire(first=True), 1)
        return order

    assert run(body) == ["a-next", "b-first", "c-first"]


def test_request_slots_serve_lower_ranks_first() -> None:
    """Among waiters of the same class, the lower rank (the earlier profile) goes first,
    whatever the arrival order; a started scope's later request still goes first."""
    from btconsole.engine import RequestSlots

    async def body() -> list[str]:
        slots = RequestSlots(1)
        order: list[str] = []

        async def request(name: str, rank: tuple[int, int], *, first: bool = True) -> None:
            await slots.acquire(first=first, rank=rank)
            order.append(name)
            await asyncio.sleep(0)
            slots.release()

        await slots.acquire(first=True)  # a request in flight
        waiting = [
            asyncio.ensure_future(request("c", (-1, 2))),
            asyncio.ensure_future(request("unranked", (0, 0))),
            asyncio.ensure_future(request("a", (-1, 0))),
            asyncio.ensure_future(request("newer call", (-2, 5))),
            asyncio.ensure_future(request("b", (-1, 1))),
            asyncio.ensure_future(request("c-next", (-1, 2), first=False)),
        ]
        await asyncio.sleep(0)
        slots.release()
        await asyncio.gather(*waiting)
        return order

    assert run(body) == ["c-next", "newer call", "a", "b", "c", "unranked"]


def test_customers_complete_in_the_order_given(fresh: Emulated, cache: Cache) -> None:
    """refresh_all's profiles finish one after another in the order given (here not the
    config's), instead of all together at the end."""
    from dataclasses import replace

    from btconsole.azure.session import AzureSession

    names = [p.name for p in fresh.config.profiles.values()]
    assert len(names) >= 3
    order = [names[2], names[0], names[1]]
    config = replace(fresh.config, refresh_concurrency=1)
    landed: list[str] = []

    async def body() -> None:
        engine = Engine(
            config,
            cache,
            session_factory=lambda p: AzureSession(p, config, environ=fresh.environ),
            today=lambda: fresh.emulator.estate.as_of,
            listener=lambda key: landed.append(key.profile),
        )
        async with engine:
            outcomes = await engine.refresh_all(order)
            assert {o.status for o in outcomes} == {"fetched"}

    run(body)
    last = {name: max(i for i, p in enumerate(landed) if p == name) for name in order}
    first = {name: landed.index(name) for name in order}
    assert last[order[0]] < first[order[2]], landed
    assert last[order[0]] < last[order[1]] < last[order[2]], landed


def test_a_scope_lands_before_every_other_scope_has_started(fresh: Emulated, cache: Cache) -> None:
    """One request at a time: a started scope's next requests go first, so its records
    land early instead of after every other scope's first request."""
    from dataclasses import replace

    from btconsole.azure.session import AzureSession

    profile = fresh.profile(1)
    assert len(fresh.emulator.estate.customers[1].subscription_ids) > 2
    config = replace(fresh.config, refresh_concurrency=1)
    landed: list[int] = []  # requests answered when each spend scope landed

    async def body() -> int:
        def listener(key: CacheKey) -> None:
            if key.domain == "spend":
                landed.append(engine.session(profile).limits.requests)

        engine = Engine(
            config,
            cache,
            session_factory=lambda p: AzureSession(p, config, environ=fresh.environ),
            today=lambda: fresh.emulator.estate.as_of,
            listener=listener,
        )
        async with engine:
            outcomes = await engine.refresh_domain(profile.name, "spend")
            assert {o.status for o in outcomes} == {"fetched"}
            return int(engine.session(profile).limits.requests)

    total = run(body)
    assert len(landed) >= 3
    # (with a plain FIFO semaphore the first scope landed after 19 of 25 requests; now 11)
    assert landed[0] < 0.6 * total, (landed, total)


def test_concurrent_callers_share_one_refresh(fresh: Emulated, cache: Cache) -> None:
    name, subs = _first(fresh)
    fresh.emulator.add_fault(kind="latency", ms=200)

    async def body() -> Any:
        async with make_engine(fresh, cache) as engine:
            return await asyncio.gather(
                engine.refresh_domain(name, "arc"), engine.refresh_domain(name, "arc")
            )

    first, second = run(body)
    statuses = sorted(o.status for o in first + second)
    assert statuses.count("fetched") == len(subs)
    machines = fresh.emulator.stats()["by_route"]
    listing = {k: v for k, v in machines.items() if "machines" in k.lower() and "list" in k.lower()}
    assert sum(listing.values()) == len(subs), listing


def test_refresh_can_be_cancelled_cleanly(fresh: Emulated, cache: Cache) -> None:
    name, _ = _first(fresh)
    run(lambda: _refresh(make_engine(fresh, cache), name, "arc"))
    before = {e.key: e for e in cache.read(name, "arc")}
    fresh.emulator.add_fault(kind="hang")

    async def body() -> None:
        async with make_engine(fresh, cache) as engine:
            task = asyncio.ensure_future(engine.refresh_domain(name, "arc", force=True))
            while fresh.emulator.stats()["faults"].get("hang", 0) == 0:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(body)
    after = {e.key: e for e in cache.read(name, "arc")}
    assert after == before  # nothing written, nothing lost
    assert all(cache.lease(key) is None for key in after)


def test_resource_graph_path_gives_the_same_cache(fresh: Emulated, tmp_path: Path) -> None:
    name, _ = _first(fresh)
    with (
        Cache.open(tmp_path / "a.sqlite3") as per_sub,
        Cache.open(tmp_path / "b.sqlite3") as by_graph,
    ):
        for domain in ("arc", "circuits", "policy", "health"):
            for target, threshold in ((per_sub, 1000), (by_graph, 0)):
                engine = make_engine(fresh, target, graph_threshold=threshold)
                run(lambda e=engine, d=domain: _refresh(e, name, d))
            a = {e.key.scope: e.records for e in per_sub.read(name, domain)}
            b = {e.key.scope: e.records for e in by_graph.read(name, domain)}
            assert a == b, domain
        routes = fresh.emulator.stats()["by_route"]
        assert any("resourcegraph" in k.lower() or "graph" in k.lower() for k in routes), routes


def test_arm_remaining_reads_are_paced_before_the_bucket_runs_dry(
    fresh: Emulated, cache: Cache
) -> None:
    """ARM's token bucket: the engine reads x-ms-ratelimit-remaining-subscription-reads
    and waits for a refill instead of running into 429s."""
    name, subs = _first(fresh)
    pauses: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(seconds)

    fresh.emulator.add_fault(kind="token_bucket", capacity=1, refill_per_second=4.0)
    engine = make_engine(fresh, cache, sleep=recording_sleep)
    outcomes = run(lambda: _refresh(engine, name, "arc"))
    assert all(o.status == "fetched" for o in outcomes), outcomes
    assert fresh.emulator.stats()["by_status"].get("429", 0) == 0
    assert pauses  # it did slow down
    assert len(cache.read(name, "arc")) == len(subs)


def test_arm_token_bucket_429s_are_retried(fresh: Emulated, cache: Cache) -> None:
    """A bucket emptied by someone else: 429 with Retry-After, waited out per request."""
    name, subs = _first(fresh)
    fresh.emulator.add_fault(kind="token_bucket", capacity=1, refill_per_second=2.0)
    fresh.emulator.add_fault(kind="throttle", retry_after=1, count=1, route="*machines*")
    outcomes = run(lambda: _refresh(make_engine(fresh, cache), name, "arc"))
    assert all(o.status == "fetched" for o in outcomes), outcomes
    assert fresh.emulator.stats()["by_status"].get("429", 0) >= 1
    assert len(cache.read(name, "arc")) == len(subs)


def test_a_hanging_subscription_times_out_alone(fresh: Emulated, cache: Cache) -> None:
    from btconsole.azure.session import AzureSession, Timeouts

    name, subs = _first(fresh)
    fresh.emulator.add_fault(kind="hang", subscriptions=[subs[0]])
    engine = Engine(
        fresh.config,
        cache,
        session_factory=lambda p: AzureSession(
            p, fresh.config, environ=fresh.environ, timeouts=Timeouts(connect=2.0, read=1.0)
        ),
        max_retries=0,
    )
    outcomes = run(lambda: _refresh(engine, name, "arc"))
    by_scope = {o.key.scope: o for o in outcomes}
    assert by_scope[subs[0]].status == "failed"
    assert "cannot reach" in (by_scope[subs[0]].error or "") or "connection" in (
        by_scope[subs[0]].error or ""
    )
    assert all(by_scope[s].status == "fetched" for s in subs[1:])


def test_no_secret_or_token_reaches_the_cache_or_the_log(fresh: Emulated, tmp_path: Path) -> None:
    import logging

    from btconsole.logs import setup_logging

    name, subs = _first(fresh)
    log_path = setup_logging(tmp_path / "logs" / "btconsole.log", level=logging.DEBUG)
    secret = next(v for k, v in fresh.environ.items())
    fresh.emulator.add_fault(kind="server_error", status=500, subscriptions=[subs[0]])
    tokens: list[str] = []
    try:
        with Cache.open(tmp_path / "cache" / "cache.sqlite3") as cache:

            async def body() -> None:
                async with make_engine(fresh, cache, max_retries=0) as engine:
                    await engine.refresh_all([name])
                    session = engine.session(fresh.profile())
                    token = await session.credential.get_token(fresh.profile().cloud.token_scope)
                    tokens.append(token.token)
                    logging.getLogger("btconsole.test").warning(
                        "Authorization: Bearer %s client_secret=%s", token.token, secret
                    )

            run(body)
            assert cache.read(name, "arc")
    finally:
        logging.getLogger().handlers[:] = [
            h for h in logging.getLogger().handlers if h.get_name() != "btconsole-file"
        ]
    token = tokens[0]
    assert len(token) > 40 and len(secret) > 10
    blobs = [p.read_bytes() for p in (tmp_path / "cache").iterdir() if p.is_file()]
    blobs.append(log_path.read_bytes())
    assert b"server_error" in log_path.read_bytes() or b"500" in log_path.read_bytes()
    for blob in blobs:
        assert token.encode() not in blob
        assert secret.encode() not in blob
        assert token.split(".")[1].encode() not in blob  # not even the JWT payload


def test_a_failed_resource_graph_batch_marks_every_subscription(
    fresh: Emulated, cache: Cache
) -> None:
    name, _ = _first(fresh)
    run(lambda: _refresh(make_engine(fresh, cache, graph_threshold=0), name, "arc"))
    before = {e.key.scope: e.records for e in cache.read(name, "arc")}

    async def no_sleep(seconds: float) -> None:
        return None

    fresh.emulator.add_fault(kind="server_error", status=500, route="*graph*")
    engine = make_engine(fresh, cache, graph_threshold=0, sleep=no_sleep, max_retries=0)
    outcomes = run(lambda: _refresh(engine, name, "arc", force=True))
    assert {o.status for o in outcomes} == {"failed"}
    entries = cache.read(name, "arc")
    assert all(e.error and e.next_attempt_at for e in entries)
    assert {e.key.scope: e.records for e in entries} == before  # old records kept
    fresh.emulator.clear_faults()
    engine = make_engine(fresh, cache, graph_threshold=0)
    outcomes = run(lambda: _refresh(engine, name, "arc", force=True))
    assert {o.status for o in outcomes} == {"fetched"}
    assert all(e.error is None for e in cache.read(name, "arc"))
    assert cache.read(name, "arc-graph") == []


def test_two_consoles_on_one_cache_refresh_a_scope_once(fresh: Emulated, tmp_path: Path) -> None:
    """Two engines (two processes' worth: own cache connections, own lease owners) on
    the same cache file: the second waits for the first's result instead of repeating."""
    name, subs = _first(fresh)
    fresh.emulator.add_fault(kind="latency", ms=300)
    path = tmp_path / "shared.sqlite3"
    with Cache.open(path) as first_cache, Cache.open(path) as second_cache:
        first = make_engine(fresh, first_cache, owner="console-1")
        second = make_engine(fresh, second_cache, owner="console-2")

        async def body() -> Any:
            async with first, second:
                one = asyncio.ensure_future(first.refresh_domain(name, "arc"))
                while not any(first_cache.lease(CacheKey(name, "arc", s)) for s in subs):
                    await asyncio.sleep(0.01)
                two = await second.refresh_domain(name, "arc")
                return await one, two

        one, two = run(body)
    assert {o.status for o in one} == {"fetched"}
    # the second console fetched nothing itself: it waited on the lease and took the
    # first one's result (the emulator's counters are shared with earlier tests'
    # stragglers on this module's emulator, so the outcome is what is asserted)
    assert [o.status for o in two] == ["shared"] * len(subs)


def test_health_domain_lands_every_table_per_subscription(fresh: Emulated, cache: Cache) -> None:
    """Service Health, Resource Health, alerts and patch assessments, through the SDK's
    Resource Graph client, filed per subscription like every domain."""
    names = list(fresh.config.profiles)

    async def body() -> Any:
        async with make_engine(fresh, cache) as engine:
            return await engine.refresh_all(names, ["health"])

    outcomes = run(body)
    assert outcomes and {o.status for o in outcomes} == {"fetched"}
    records = [r for name in names for e in cache.read(name, "health") for r in e.records]
    kinds = {type(r) for r in records}
    assert {ServiceHealthEvent, ResourceHealthRecord, AlertRecord, PatchAssessmentRecord} <= kinds
    for name in names:
        for entry in cache.read(name, "health"):
            assert all(r.subscription_id == entry.key.scope.lower() for r in entry.records)
            assert all(r.profile == name for r in entry.records)
    assert any(
        isinstance(r, ServiceHealthEvent)
        and r.event_type == "ServiceIssue"
        and r.status == "Active"
        for r in records
    )


def test_a_failing_resource_graph_fails_health_scopes_and_keeps_their_records(
    fresh: Emulated, cache: Cache
) -> None:
    name, subs = _first(fresh)
    run(lambda: _refresh(make_engine(fresh, cache), name, "health"))
    old = {s: cache.get(CacheKey(name, "health", s)) for s in subs}
    fresh.emulator.add_fault(kind="server_error", route="graph.resources")
    outcomes = run(
        lambda: _refresh(make_engine(fresh, cache, max_retries=0), name, "health", force=True)
    )
    assert {o.status for o in outcomes} == {"failed"}
    for sub in subs:
        kept = cache.get(CacheKey(name, "health", sub))
        before = old[sub]
        assert kept is not None and before is not None
        assert kept.records == before.records and kept.fetched_at == before.fetched_at
        assert kept.error and kept.next_attempt_at is not None
    # the other domains do not read Resource Graph here: untouched by its failure
    arc = run(lambda: _refresh(make_engine(fresh, cache), name, "arc"))
    assert {o.status for o in arc} == {"fetched"}


def test_health_is_one_resource_graph_query_per_table_per_customer(
    fresh: Emulated, cache: Cache
) -> None:
    """Resource Graph allows 15 queries per 5 s per user: four queries per subscription
    throttled a Lighthouse provider's eight customers into "health unknown"."""
    customers = fresh.emulator.estate.customers
    index = next(i for i, c in enumerate(customers) if len(c.subscription_ids) > 2)
    name = fresh.profile(index).name
    subs = sorted(s.lower() for s in customers[index].subscription_ids)

    async def body() -> Any:
        async with make_engine(fresh, cache) as engine:
            assert sorted(await engine.subscriptions(name)) == subs
            before = fresh.emulator.route_count("graph.resources")
            outcomes = await engine.refresh_domain(name, "health", force=True)
            return outcomes, fresh.emulator.route_count("graph.resources") - before

    outcomes, queries = run(body)
    assert sorted(o.key.scope for o in outcomes) == subs
    assert {o.status for o in outcomes} == {"fetched"}
    # which subscriptions Graph can see, then service health, resource health, alerts
    # and patch assessments
    assert queries == 5


@pytest.mark.parametrize("one_provider", [True, False])
def test_a_throttle_on_one_lighthouse_customer_holds_its_siblings(
    fresh: Emulated, cache: Cache, one_provider: bool
) -> None:
    """Every customer of a Lighthouse provider is the provider's principal to Azure:
    a 429 for one closes the gate for all of them; customers with sign-ins of their own
    are throttled each on their own."""
    from dataclasses import replace

    first, second = list(fresh.config.profiles)[:2]
    profiles = {
        name: replace(p, provider="msp" if one_provider and name in (first, second) else None)
        for name, p in fresh.config.profiles.items()
    }
    emulated = replace(fresh, config=replace(fresh.config, profiles=profiles))
    waits: list[float] = []

    async def recorded(seconds: float) -> None:  # nothing sleeps: the waits are recorded
        waits.append(seconds)

    fresh.emulator.add_fault(kind="throttle", retry_after=60, route="graph.resources", count=1)
    engine = make_engine(emulated, cache, sleep=recorded, max_wait=120)

    async def body() -> Any:
        async with engine:
            throttled = await engine.refresh_domain(first, "health", force=True)
            waited = len(waits)
            sibling = await engine.refresh_domain(second, "health", force=True)
            return throttled, waits[:waited], waits[waited:], sibling

    throttled, own, others, sibling = run(body)
    assert {o.status for o in throttled} == {"fetched"}  # retried after the wait
    assert own and own[0] == 60
    assert {o.status for o in sibling} == {"fetched"}
    if one_provider:
        assert others and 0 < others[0] <= 60  # held at the provider's closed gate
    else:
        assert others == []


def _customer_with_subscriptions(emulated: Emulated, count: int) -> tuple[str, list[str]]:
    """A profile whose customer has at least ``count`` subscriptions, and those."""
    for index, customer in enumerate(emulated.emulator.estate.customers):
        if len(customer.subscription_ids) >= count:
            profile = emulated.profile(index)
            return profile.name, sorted(s.lower() for s in customer.subscription_ids)
    raise AssertionError(f"no customer with {count} subscriptions in the estate")


@pytest.mark.parametrize(
    ("domain", "queries"), [("arc", 2), ("circuits", 2), ("policy", 2), ("health", 5)]
)
def test_a_subscription_resource_graph_cannot_see_fails_on_its_own(
    fresh: Emulated, cache: Cache, domain: str, queries: int
) -> None:
    """Resource Graph leaves out a subscription the identity cannot read, without an
    error. The batched path learns which subscriptions it saw (one resourcecontainers
    query per batch) and fails the others on their own scope, keeping their records,
    exactly as a refused per-subscription read does; the seen ones land as usual."""
    name, subs = _customer_with_subscriptions(fresh, 2)
    run(lambda: _refresh(make_engine(fresh, cache, graph_threshold=0), name, domain))
    before = {s: cache.get(CacheKey(name, domain, s)) for s in subs}
    # refuse a subscription that has records, to see them kept
    refused = max(subs, key=lambda s: len(getattr(before[s], "records", ())))
    kept = [s for s in subs if s != refused]
    assert getattr(before[refused], "records", ())

    fresh.emulator.reset()
    fresh.emulator.add_fault(kind="forbidden", subscriptions=[refused])
    engine = make_engine(fresh, cache, graph_threshold=0)
    outcomes = {o.key.scope: o for o in run(lambda: _refresh(engine, name, domain, force=True))}
    assert fresh.emulator.route_count("graph.resources") == queries
    failed = outcomes[refused]
    assert failed.status == "failed" and failed.kind == "access"
    assert failed.error and "Resource Graph returned nothing for this subscription" in failed.error
    entry = cache.get(CacheKey(name, domain, refused))
    old = before[refused]
    assert entry is not None and old is not None
    assert entry.records == old.records and entry.fetched_at == old.fetched_at  # kept, stale
    assert entry.error_kind == "access" and entry.next_attempt_at is not None
    for sub in kept:
        assert outcomes[sub].status == "fetched"
        now, then = cache.get(CacheKey(name, domain, sub)), before[sub]
        assert now is not None and then is not None and now.error is None
        assert now.records == then.records and now.fetched_at != then.fetched_at

    # the role comes back: the next refresh reads it again and clears the error
    fresh.emulator.clear_faults()
    outcomes = {o.key.scope: o for o in run(lambda: _refresh(engine, name, domain, force=True))}
    assert {o.status for o in outcomes.values()} == {"fetched"}
    entry = cache.get(CacheKey(name, domain, refused))
    assert entry is not None and entry.error is None and entry.records == old.records


def test_resource_graph_that_sees_no_subscription_sends_no_table_query(
    fresh: Emulated, cache: Cache
) -> None:
    name, subs = _customer_with_subscriptions(fresh, 2)
    fresh.emulator.add_fault(kind="forbidden", subscriptions=subs)
    engine = make_engine(fresh, cache, graph_threshold=0)
    outcomes = run(lambda: _refresh(engine, name, "health"))
    assert [(o.status, o.kind) for o in outcomes] == [("failed", "access")] * len(subs)
    assert fresh.emulator.route_count("graph.resources") == 1  # only the visibility query
    entries = cache.read(name, "health")
    assert all(e.fetched_at is None and e.error_kind == "access" for e in entries)


def test_health_below_the_threshold_fails_a_subscription_resource_graph_cannot_see(
    fresh: Emulated, cache: Cache
) -> None:
    """Health is read through Resource Graph below ``graph_threshold`` too (one batch
    per profile): a refused subscription is a failed scope with its records kept,
    never "no issues"."""
    name, subs = _first(fresh)
    run(lambda: _refresh(make_engine(fresh, cache), name, "health"))
    old = {s: cache.get(CacheKey(name, "health", s)) for s in subs}
    fresh.emulator.add_fault(kind="forbidden", subscriptions=[subs[0]], route="graph.*")
    outcomes = run(lambda: _refresh(make_engine(fresh, cache), name, "health", force=True))
    by_sub = {o.key.scope: o for o in outcomes}
    assert (by_sub[subs[0]].status, by_sub[subs[0]].kind) == ("failed", "access")
    entry, before = cache.get(CacheKey(name, "health", subs[0])), old[subs[0]]
    assert entry is not None and before is not None
    assert entry.records == before.records and entry.fetched_at == before.fetched_at
    assert entry.error and "Resource Graph returned nothing" in entry.error


def test_health_is_one_resource_graph_batch_per_profile(fresh: Emulated, cache: Cache) -> None:
    """Below graph_threshold too: one visibility query and one query per table for all
    of a profile's subscriptions (it was four queries per subscription)."""
    name, subs = _customer_with_subscriptions(fresh, 2)
    outcomes = run(lambda: _refresh(make_engine(fresh, cache), name, "health"))
    assert sorted(o.key.scope for o in outcomes if o.status == "fetched") == subs
    assert fresh.emulator.route_count("graph.resources") == 5
