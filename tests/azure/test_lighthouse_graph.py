"""Lighthouse customers share Resource Graph batches (one provider credential, one
user quota): one query per table per batch of subscriptions across customers, the rows
split back to each customer, failures still per subscription and per customer.

Real stack: the emulator over HTTPS, the ``--lighthouse`` config, discovery, the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from btconsole.cache import Cache, CacheKey
from btconsole.config import Config, load_config
from btconsole.emulator.generate import generate
from btconsole.emulator.serve import secret_environment, write_config
from btconsole.emulator.server import RunningEmulator, running_emulator
from btconsole.engine import Engine
from btconsole.lighthouse import discover, effective_config
from tests.azure.conftest import run


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningEmulator, Path]]:
    estate = generate(seed=1, size="small")
    with running_emulator(estate) as emulator:
        path = tmp_path_factory.mktemp("lighthouse") / "lighthouse.toml"
        write_config(path, estate, emulator.base_url, Path(emulator.ca_path), lighthouse=True)
        yield emulator, path


@pytest.fixture
def site(
    served: tuple[RunningEmulator, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[RunningEmulator, Config, Cache]]:
    """The emulator (reset), the config with its discovered customers, a fresh cache."""
    emulator, path = served
    emulator.reset()
    for name, value in secret_environment(emulator.estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    with Cache.open(tmp_path / "cache.sqlite3") as cache:
        config = load_config(path)
        assert run(lambda: discover(config, cache)) == []
        yield emulator, effective_config(config, cache), cache


def _customers(config: Config) -> list[str]:
    return [p.name for p in config.profiles.values() if p.provider is not None]


def _engine(emulator: RunningEmulator, config: Config, cache: Cache) -> Engine:
    return Engine(config, cache, today=lambda: emulator.estate.as_of)


def _records(cache: Cache, names: list[str], domain: str) -> dict[CacheKey, Any]:
    return {e.key: e.records for name in names for e in cache.read(name, domain)}


def test_customers_of_one_provider_share_the_health_batch(
    site: tuple[RunningEmulator, Config, Cache], tmp_path: Path
) -> None:
    emulator, config, cache = site
    names = _customers(config)
    assert len(names) >= 3

    async def together() -> Any:
        async with _engine(emulator, config, cache) as engine:
            for name in names:
                await engine.subscriptions(name)
            emulator.control("DELETE", "stats")
            return await engine.refresh_all(names, ["health"])

    outcomes = run(together)
    assert outcomes and {o.status for o in outcomes} == {"fetched"}
    # one visibility query and four tables for every customer's subscriptions at once
    assert emulator.route_count("graph.resources") == 5
    shared = _records(cache, names, "health")
    for key, records in shared.items():
        assert all(r.profile == key.profile for r in records)
        assert all(r.subscription_id == key.scope for r in records)

    # the same customers one after another (a batch each): the same records
    with Cache.open(tmp_path / "alone.sqlite3") as alone:
        assert run(lambda: discover(load_config(config.path), alone)) == []

        async def one_by_one() -> None:
            async with _engine(emulator, config, alone) as engine:
                for name in names:
                    await engine.subscriptions(name)
                emulator.reset()  # stats and Resource Graph's quota
                for name in names:
                    await engine.refresh_domain(name, "health")

        run(one_by_one)
        # (a 429 from Resource Graph's quota, retried, would count too)
        assert emulator.route_count("graph.resources") >= 5 * len(names)
        assert _records(alone, names, "health") == shared
    assert any(records for records in shared.values())


def test_a_customer_graph_cannot_see_fails_alone_in_a_shared_batch(
    site: tuple[RunningEmulator, Config, Cache],
) -> None:
    emulator, config, cache = site
    names = _customers(config)
    engine = _engine(emulator, config, cache)

    async def refresh() -> Any:
        async with engine:
            return await engine.refresh_all(names, ["health"])

    run(refresh)
    refused_customer = names[0]
    refused = [e.key for e in cache.read(refused_customer, "health")]
    before = {key: cache.get(key) for key in refused}
    emulator.add_fault(kind="forbidden", subscriptions=[key.scope for key in refused])
    engine = Engine(config, cache, today=lambda: emulator.estate.as_of)

    async def forced() -> Any:
        async with engine:
            return await engine.refresh_all(names, ["health"], force=True)

    outcomes = run(forced)
    for outcome in outcomes:
        if outcome.key.profile == refused_customer:
            assert (outcome.status, outcome.kind) == ("failed", "access")
        else:
            assert outcome.status == "fetched"
    for key in refused:
        entry, old = cache.get(key), before[key]
        assert entry is not None and old is not None
        assert entry.records == old.records and entry.fetched_at == old.fetched_at
        assert entry.error and "Resource Graph returned nothing" in entry.error
    for name in names[1:]:
        assert all(e.error is None for e in cache.read(name, "health"))


def test_a_failed_shared_batch_fails_every_customer_and_keeps_their_data(
    site: tuple[RunningEmulator, Config, Cache],
) -> None:
    emulator, config, cache = site
    names = _customers(config)

    async def refresh(force: bool, **options: Any) -> Any:
        async with Engine(config, cache, today=lambda: emulator.estate.as_of, **options) as e:
            return await e.refresh_all(names, ["health"], force=force)

    run(lambda: refresh(False))
    before = _records(cache, names, "health")
    emulator.add_fault(kind="server_error", status=500, route="graph.resources")
    outcomes = run(lambda: refresh(True, max_retries=0))
    assert {(o.status, o.kind) for o in outcomes} == {("failed", "service")}
    assert {o.key.profile for o in outcomes} == set(names)
    assert _records(cache, names, "health") == before
    assert all(e.error for name in names for e in cache.read(name, "health"))
    emulator.clear_faults()
    outcomes = run(lambda: refresh(True))
    assert {o.status for o in outcomes} == {"fetched"}
    assert all(cache.read(name, "health-graph") == [] for name in names)


def test_a_customer_cancelled_during_a_shared_batch_gets_nothing_written(
    site: tuple[RunningEmulator, Config, Cache],
) -> None:
    import asyncio

    emulator, config, cache = site
    names = _customers(config)
    gone, kept = names[0], names[1:]

    async def body() -> list[Any]:
        async with _engine(emulator, config, cache) as engine:
            for name in names:
                await engine.subscriptions(name)
            emulator.add_fault(kind="latency", ms=300, route="graph.resources")
            tasks = [asyncio.ensure_future(engine.refresh_domain(n, "health")) for n in names]
            batch_keys = [CacheKey(n, "health-graph", "*") for n in names]
            while not any(cache.lease(key) for key in batch_keys):  # the batch has started
                await asyncio.sleep(0.01)
            tasks[0].cancel()
            return await asyncio.gather(*tasks, return_exceptions=True)

    first, *others = run(body)
    assert isinstance(first, asyncio.CancelledError)
    assert cache.read(gone, "health") == []
    for name, outcomes in zip(kept, others, strict=True):
        assert outcomes and {o.status for o in outcomes} == {"fetched"}
        assert all(e.fetched_at is not None for e in cache.read(name, "health"))


def test_one_sign_in_for_every_customer_of_a_provider(
    site: tuple[RunningEmulator, Config, Cache],
) -> None:
    """The customers share the provider's credential; refreshing them all at once asks
    Entra for one token, not one per customer racing for the same one."""
    emulator, config, cache = site
    names = _customers(config)

    async def cold() -> Any:
        async with _engine(emulator, config, cache) as engine:
            emulator.control("DELETE", "stats")
            return await engine.refresh_all(names, force=True)

    outcomes = run(cold)
    assert outcomes and {o.status for o in outcomes} == {"fetched"}
    assert len({o.key.profile for o in outcomes}) == len(names) >= 3
    assert emulator.route_count("entra.token") == 1
