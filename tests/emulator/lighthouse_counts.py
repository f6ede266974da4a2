"""Count the Cost Management requests and QPU of one MSP spend refresh, per path; and
the Resource Graph queries of one refresh of the Graph domains through Lighthouse.

``python -m tests.emulator.lighthouse_counts SIZE [SUBSCRIPTIONS|-] [PAGE_SIZE]``
``python -m tests.emulator.lighthouse_counts SIZE graph [quota]``

The second form serves the estate, writes the ``--lighthouse`` config, discovers the
customers and refreshes ``arc``, ``circuits``, ``policy`` and ``health`` of every one
through the real engine, then prints the Resource Graph queries per domain (the
emulator's quota is lifted for the count, so no query is a retried 429; with ``quota``
it is kept, and the seconds each domain's refresh took are printed too).

Serves ``generate(seed=1, size=SIZE)`` (with SUBSCRIPTIONS subscriptions when given),
signs in once as the MSP tenant and reads every customer's spend with the bodies
``btconsole.azure.spend`` sends (a 60-day daily query by service and resource group,
and the month's forecast), following ``nextLink`` pages, through the real async SDK
client: first per subscription, then per billing customer (the billing account's
customer scope) with per-subscription queries for the tenants that are not billing
customers. Prints the requests per route and the QPU the emulator counted, and checks
that the 60-day totals of every billed customer agree between the two paths.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import sys
import time
from typing import Any

from azure.core.rest import HttpRequest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.costmanagement.aio import CostManagementClient

from btconsole.emulator.estate import Estate
from btconsole.emulator.generate import MSP_NAME, generate
from btconsole.emulator.server import RunningEmulator, running_emulator

ARM_SCOPE = "https://management.azure.com/.default"
API = "2025-03-01"


def bodies(today: dt.date) -> dict[str, dict[str, Any]]:
    start = today - dt.timedelta(days=59)
    first = today.replace(day=1)
    last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    cost = {"totalCost": {"name": "Cost", "function": "Sum"}}
    return {
        "query": {
            "type": "ActualCost",
            "timeframe": "Custom",
            "timePeriod": {"from": f"{start}T00:00:00Z", "to": f"{today}T23:59:59Z"},
            "dataset": {
                "granularity": "Daily",
                "aggregation": cost,
                "grouping": [
                    {"type": "Dimension", "name": "ServiceName"},
                    {"type": "Dimension", "name": "ResourceGroupName"},
                ],
            },
        },
        "forecast": {
            "type": "ActualCost",
            "timeframe": "Custom",
            "timePeriod": {"from": f"{first}T00:00:00Z", "to": f"{last}T23:59:59Z"},
            "dataset": {"granularity": "Daily", "aggregation": cost},
            "includeActualCost": True,
            "includeFreshPartialCost": False,
        },
    }


async def refresh(
    emu: RunningEmulator, est: Estate, scopes: list[str], page_size: int | None
) -> tuple[dict[str, int], int, dict[str, float]]:
    """(requests per cost route, QPU spent, 60-day total per scope) of one refresh."""
    emu.reset()
    if page_size:
        emu.set_settings(page_size=page_size)
    msp = next(t for t in est.tenants if t.display_name == MSP_NAME)
    totals: dict[str, float] = {}
    limit = asyncio.Semaphore(16)
    credential = ClientSecretCredential(
        msp.tenant_id,
        msp.client_id,
        msp.client_secret,
        authority=emu.authority,
        disable_instance_discovery=True,
        connection_verify=str(emu.ca_path),
    )
    async with (
        credential,
        CostManagementClient(
            credential,
            base_url=emu.base_url,
            credential_scopes=[ARM_SCOPE],
            connection_verify=str(emu.ca_path),
        ) as client,
    ):

        async def one(scope: str) -> None:
            async with limit:
                total = 0.0
                for kind, body in bodies(est.as_of).items():
                    link = f"{emu.base_url}{scope}/providers/Microsoft.CostManagement/{kind}"
                    link += f"?api-version={API}"
                    while link:
                        response = await client.send_request(HttpRequest("POST", link, json=body))
                        await response.read()
                        if response.status_code == 204:
                            break
                        response.raise_for_status()
                        props = response.json()["properties"]
                        if kind == "query":
                            total += sum(row[0] for row in props["rows"])
                        link = props.get("nextLink")
                totals[scope] = total

        await asyncio.gather(*(one(scope) for scope in scopes))
    stats = emu.stats()
    routes = {k: v for k, v in stats["by_route"].items() if k.startswith("costs.")}
    return routes, sum(stats["cost_qpu_by_tenant"].values()), totals


async def main(size: str, subscriptions: int | None, page_size: int | None) -> None:
    est = generate(seed=1, size=size, **({"subscriptions": subscriptions} if subscriptions else {}))
    (account,) = est.billing_accounts
    billed = {c.tenant_id: c for c in account.customers}
    per_sub = [f"/subscriptions/{s.subscription_id}" for s in est.subscriptions]
    per_customer = [f"{account.id}/customers/{c.customer_id}" for c in account.customers]
    fallback = [
        f"/subscriptions/{sid}"
        for c in est.customers
        if c.tenant_id not in billed
        for sid in c.subscription_ids
    ]
    with running_emulator(est) as emu:
        a_routes, a_qpu, a_totals = await refresh(emu, est, per_sub, page_size)
        b_routes, b_qpu, b_totals = await refresh(emu, est, per_customer + fallback, page_size)
    print(
        f"estate {size}: {len(est.subscriptions)} subscriptions, {len(est.customers)} "
        f"customers, {len(account.customers)} billing customers; page size "
        f"{page_size or 'default'}"
    )
    print(f"per subscription: {sum(a_routes.values())} requests {a_routes}, {a_qpu} QPU")
    print(
        f"per billing customer (+{len(fallback)} subscriptions without one): "
        f"{sum(b_routes.values())} requests {b_routes}, {b_qpu} QPU"
    )
    for customer in est.customers:
        if customer.tenant_id not in billed:
            continue
        by_sub = sum(a_totals[f"/subscriptions/{sid}"] for sid in customer.subscription_ids)
        scope = f"{account.id}/customers/{billed[customer.tenant_id].customer_id}"
        if abs(by_sub - b_totals[scope]) > 1e-6 * max(1.0, abs(by_sub)):
            raise SystemExit(f"{customer.slug}: {by_sub} per subscription, {b_totals[scope]}")
    print("60-day totals agree for every billed customer")


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


if __name__ == "__main__":
    args = sys.argv[1:]
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
