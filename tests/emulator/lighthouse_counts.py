"""Count the requests and Cost Management QPU of one MSP spend refresh, per path; and
the Resource Graph queries of one refresh of the Graph domains through Lighthouse.

``python -m tests.emulator.lighthouse_counts SIZE [SUBSCRIPTIONS|-] [PAGE_SIZE]``
``python -m tests.emulator.lighthouse_counts SIZE graph [quota]``
``python -m tests.emulator.lighthouse_counts SIZE all``

The ``all`` form counts one cold refresh of every domain of every customer three ways:
one profile per customer, one Lighthouse sign-in, one Lighthouse sign-in with its
billing account (:func:`all_counts`).

The second form serves the estate, writes the ``--lighthouse`` config, discovers the
customers and refreshes ``arc``, ``circuits``, ``policy`` and ``health`` of every one
through the real engine, then prints the Resource Graph queries per domain (the
emulator's quota is lifted for the count, so no query is a retried 429; with ``quota``
it is kept, and the seconds each domain's refresh took are printed too).

The first form:

Serves ``generate(seed=1, size=SIZE)`` (with SUBSCRIPTIONS subscriptions when given)
and runs the real engine over the config ``btconsole emulator serve --lighthouse
--write-config`` writes (one provider sign-in, its partner billing account): every
discovered customer's spend domain is refreshed (forced, every scope), twice, each
time with a cache of its own:

1. per subscription: the customers' ``billing_scope`` taken away, as without
   ``billing_account``: one cost query, one forecast and one budget listing per
   subscription;
2. at the billing account's customer scope: one cost query and one forecast per billed
   customer, budgets per subscription, the customers that are not billed per
   subscription.

Prints the requests per route (``costs.*`` and ``budgets.*``; ``nextLink`` pages
count) and the QPU the emulator counted for the MSP tenant, and checks that every
customer's spend agrees between the two: month to date and 60-day totals per
subscription and currency to a millionth, the month's forecast per currency to half a
cent a subscription (each per-subscription forecast is rounded to the cent).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from btconsole import health
from btconsole.cache import Cache
from btconsole.config import Config, load_config
from btconsole.emulator.generate import generate
from btconsole.emulator.serve import secret_environment, write_config
from btconsole.emulator.server import RunningEmulator, running_emulator
from btconsole.engine import Engine
from btconsole.lighthouse import discover, effective_config
from btconsole.records import CostRecord, ForecastRecord

ROUTES = ("costs.", "budgets.")


@dataclasses.dataclass
class Refresh:
    routes: dict[str, int]
    qpu: int
    costs: dict[str, list[CostRecord]]  # by customer
    forecasts: dict[str, list[ForecastRecord]]
    billed: int


async def refresh(
    emu: RunningEmulator, config_path: Path, where: Path, *, billed: bool, page_size: int | None
) -> Refresh:
    """One forced spend refresh of every discovered customer through the engine."""

    def reset() -> None:
        emu.reset()  # stats, and settings: the page size is set again
        if page_size:
            emu.set_settings(page_size=page_size)

    reset()
    config = load_config(config_path)
    today = emu.estate.as_of
    with Cache.open(where / "cache.sqlite") as cache:
        problems = await discover(config, cache)
        assert not problems, problems
        effective: Config = effective_config(config, cache)
        if not billed:
            profiles = {
                name: dataclasses.replace(p, billing_scope=None)
                for name, p in effective.profiles.items()
            }
            effective = dataclasses.replace(effective, profiles=profiles)
        names = [p.name for p in effective.profiles.values() if p.provider]
        reset()  # count the refresh only, not the discovery
        async with Engine(effective, cache, today=lambda: today) as engine:
            outcomes = await engine.refresh_all(names, ("spend",), force=True)
        failed = [o for o in outcomes if o.status == "failed"]
        assert not failed, failed[:3]
        costs: dict[str, list[CostRecord]] = {}
        forecasts: dict[str, list[ForecastRecord]] = {}
        for name in names:
            records = [r for e in cache.read(name, "spend") for r in e.records]
            costs[name] = [r for r in records if isinstance(r, CostRecord)]
            forecasts[name] = [r for r in records if isinstance(r, ForecastRecord)]
        stats = emu.stats()
        routes = {k: v for k, v in stats["by_route"].items() if k.startswith(ROUTES)}
        return Refresh(
            routes,
            sum(stats["cost_qpu_by_tenant"].values()),
            costs,
            forecasts,
            sum(1 for n in names if effective.profiles[n].billing_scope),
        )


def _totals(costs: list[CostRecord], today: dt.date) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {
        sub: dict(money) for sub, money in health.spend_mtd_by_subscription(costs, today).items()
    }
    sixty: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in costs:
        sixty[(r.subscription_id, r.currency)].append(r.amount)
    for (sub, currency), amounts in sixty.items():
        out.setdefault(f"{sub} (60 days)", {})[currency] = math.fsum(amounts)
    return out


def agree(a: Refresh, b: Refresh, today: dt.date, subscriptions: dict[str, int]) -> None:
    """Raise SystemExit naming the first customer whose spend differs between paths."""
    for name in a.costs:
        left, right = _totals(a.costs[name], today), _totals(b.costs[name], today)
        if sorted(left) != sorted(right):
            raise SystemExit(f"{name}: subscriptions differ: {sorted(left)} / {sorted(right)}")
        for key, money in left.items():
            for currency, amount in money.items():
                other = right[key].get(currency)
                if other is None or abs(amount - other) > 1e-6 * max(1.0, abs(amount)):
                    raise SystemExit(f"{name} {key}: {amount} {currency} / {other}")
        fa = health.forecast_total(a.forecasts[name], today, a.costs[name])
        fb = health.forecast_total(b.forecasts[name], today, b.costs[name])
        if sorted(fa) != sorted(fb):
            raise SystemExit(f"{name}: forecast currencies differ: {fa} / {fb}")
        for currency, amount in fa.items():
            if abs(amount - fb[currency]) > 0.005 * subscriptions[name] + 1e-9:
                raise SystemExit(f"{name}: forecast {amount} / {fb[currency]} {currency}")


async def main(size: str, subscriptions: int | None, page_size: int | None) -> None:
    est = generate(seed=1, size=size, **({"subscriptions": subscriptions} if subscriptions else {}))
    (account,) = est.billing_accounts
    os.environ.update(secret_environment(est, lighthouse=True))
    with running_emulator(est) as emu, tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        config = where / "lighthouse.toml"
        write_config(config, est, emu.base_url, Path(emu.ca_path), lighthouse=True)
        results = {}
        for label, billed in (("per-subscription", False), ("billing", True)):
            (where / label).mkdir()
            results[label] = await refresh(
                emu, config, where / label, billed=billed, page_size=page_size
            )
    a, b = results["per-subscription"], results["billing"]
    print(
        f"estate {size}: {len(est.subscriptions)} subscriptions, {len(est.customers)} "
        f"customers, {len(account.customers)} billing customers; page size "
        f"{page_size or 'default'}"
    )
    print(f"per subscription: {sum(a.routes.values())} requests {a.routes}, {a.qpu} QPU")
    print(
        f"billing customer scope ({b.billed} customers billed, the others per subscription): "
        f"{sum(b.routes.values())} requests {b.routes}, {b.qpu} QPU"
    )
    by_name: dict[str, int] = {}
    for name, records in a.costs.items():
        by_name[name] = max(1, len({r.subscription_id for r in records}))
    agree(a, b, est.as_of, by_name)
    print("month to date, 60-day totals and forecasts agree for every customer")


async def graph_counts(size: str, *, quota: bool = False) -> None:
    """Resource Graph queries of one Lighthouse refresh of every Graph domain."""
    import os
    import tempfile
    from pathlib import Path

    from btconsole.cache import Cache
    from btconsole.config import load_config
    from btconsole.emulator.routes import graph as graph_route
    from btconsole.emulator.serve import secret_environment, write_config
    from btconsole.engine import GRAPH_DOMAINS, Engine
    from btconsole.lighthouse import discover, effective_config

    est = generate(seed=1, size=size)
    if not quota:
        graph_route.QUOTA = 1_000_000  # count queries, not retried 429s
    os.environ.update(secret_environment(est, lighthouse=True))
    with tempfile.TemporaryDirectory() as where, running_emulator(est) as emu:
        path = Path(where) / "lighthouse.toml"
        write_config(path, est, emu.base_url, Path(emu.ca_path), lighthouse=True)
        config = load_config(path)
        with Cache.open(Path(where) / "cache.sqlite3") as cache:
            assert await discover(config, cache) == []
            config = effective_config(config, cache)
            customers = [p for p in config.profiles.values() if p.provider is not None]
            names = [p.name for p in customers]
            engine = Engine(config, cache, today=lambda: est.as_of)
            async with engine:
                for name in names:  # the subscription listings: not what is counted
                    await engine.subscriptions(name)
                counts: dict[str, int] = {}
                seconds: dict[str, float] = {}
                for domain in GRAPH_DOMAINS:
                    emu.reset()
                    started = time.monotonic()
                    outcomes = await engine.refresh_all(names, [domain])
                    seconds[domain] = round(time.monotonic() - started, 1)
                    bad = [o for o in outcomes if o.status != "fetched"]
                    if bad:
                        raise SystemExit(f"{domain}: {len(bad)} scopes not fetched: {bad[0]}")
                    counts[domain] = emu.route_count("graph.resources")
    print(
        f"estate {size}: {len(est.subscriptions)} subscriptions, {len(customers)} "
        f"Lighthouse customers; graph_threshold {config.graph_threshold}"
    )
    print(f"Resource Graph requests per refresh: {sum(counts.values())} {counts}")
    if quota:
        print(f"with Resource Graph's quota ({graph_route.QUOTA}/5 s), seconds: {seconds}")


async def all_counts(size: str) -> None:
    """Requests of one cold refresh of every domain of every customer (what
    ``btconsole check --all`` sends), three ways: one profile per customer; one
    Lighthouse sign-in reading spend per subscription; one Lighthouse sign-in with its
    partner billing account. Discovery is counted apart. Resource Graph's quota is
    lifted so that no count includes a retried 429."""
    from btconsole.emulator.routes import graph as graph_route
    from btconsole.engine import DOMAINS

    est = generate(seed=1, size=size)
    graph_route.QUOTA = 1_000_000
    os.environ.update(secret_environment(est))
    os.environ.update(secret_environment(est, lighthouse=True))
    rows: list[tuple[str, dict[str, int], int, int]] = []
    with running_emulator(est) as emu, tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        for label in ("per-customer profiles", "Lighthouse", "Lighthouse + billing account"):
            lighthouse = label != "per-customer profiles"
            path = where / f"{len(rows)}.toml"
            write_config(path, est, emu.base_url, Path(emu.ca_path), lighthouse=lighthouse)
            config = load_config(path)
            emu.reset()
            with Cache.open(where / f"{len(rows)}.sqlite") as cache:
                if lighthouse:
                    assert await discover(config, cache) == []
                    config = effective_config(config, cache)
                    if label == "Lighthouse":
                        profiles = {
                            n: dataclasses.replace(p, billing_scope=None)
                            for n, p in config.profiles.items()
                        }
                        config = dataclasses.replace(config, profiles=profiles)
                discovery = sum(emu.stats()["by_route"].values())
                emu.reset()
                names = list(config.profiles)
                async with Engine(config, cache, today=lambda: est.as_of) as engine:
                    outcomes = await engine.refresh_all(names, DOMAINS, force=True)
                failed = [o for o in outcomes if o.status == "failed"]
                assert not failed, failed[:3]
                stats = emu.stats()
                qpu = sum(stats["cost_qpu_by_tenant"].values())
                rows.append((label, dict(stats["by_route"]), qpu, discovery))
    print(f"estate {size}: {len(est.subscriptions)} subscriptions, {len(est.customers)} customers")
    print("| path | requests | sign-ins | Resource Graph | Cost Management (QPU) | discovery |")
    print("|---|---|---|---|---|---|")
    for label, routes, qpu, discovery in rows:
        tokens = routes.get("entra.token", 0)
        graph = routes.get("graph.resources", 0)
        costs = sum(v for k, v in routes.items() if k.startswith("costs."))
        total = sum(routes.values())
        print(f"| {label} | {total:,} | {tokens} | {graph:,} | {costs:,} ({qpu:,}) | {discovery} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) > 1 and args[1] == "all":
        asyncio.run(all_counts(args[0]))
        raise SystemExit(0)
    if len(args) > 1 and args[1] == "graph":
        asyncio.run(graph_counts(args[0], quota=args[2:] == ["quota"]))
        raise SystemExit(0)
    asyncio.run(
        main(
            args[0] if args else "huge",
            int(args[1]) if len(args) > 1 and args[1] != "-" else None,
            int(args[2]) if len(args) > 2 else None,
        )
    )
