"""RefreshRun (btconsole.refresher): customers refreshed, digested and reported one by
one, through the real engine and SDK clients against the emulator."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from btconsole.cache import Cache
from btconsole.digest import Digester
from btconsole.engine import DOMAINS, Engine
from btconsole.refresher import DigestMaker, RefreshRun
from tests.azure.conftest import Emulated, run


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    with Cache.open(tmp_path / "cache.sqlite3") as opened:
        yield opened


def test_customers_complete_in_the_order_asked_each_with_a_current_digest(
    fresh: Emulated, cache: Cache
) -> None:
    from btconsole.azure.session import AzureSession

    names = [p.name for p in fresh.config.profiles.values()]
    assert len(names) >= 3
    order = [names[2], names[0], names[1]]  # not the config's
    config = replace(fresh.config, refresh_concurrency=1)  # one request at a time
    day = fresh.emulator.estate.as_of
    now = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.timezone.utc)
    done: list[str] = []

    def customer(name: str) -> None:
        done.append(name)

    async def body() -> None:
        engine = Engine(
            config,
            cache,
            session_factory=lambda p: AzureSession(p, config, environ=fresh.environ),
            today=lambda: day,
        )
        async with engine:
            # an earlier refresh ranked the customers in the config's order: this run's
            # order is the one that counts now
            await engine.refresh_all(names, ("circuits",))
            refresh = RefreshRun(engine, DigestMaker(config, cache, lambda: now), customer)
            outcomes = await refresh.run(order, DOMAINS, force=True)
            assert {o.status for o in outcomes} == {"fetched"}

    run(body)
    assert done[: len(order)] == order
    # every digest current at the end (one made before a later customer showed a newer
    # agent version was made again): a reader has nothing to make
    reader = Digester(config, cache, now)
    reader.read(names)
    assert reader.recomputed == []
