"""A bounded throughput check of the emulator: ``python -m btconsole.emulator.loadtest``.

Starts the emulator in a child process (so client and server do not share a GIL) on
loopback, gets a token through the emulated Entra ID, then sends a fixed number of
authenticated GETs of one subscription (``GET /subscriptions/{id}``) over HTTPS with
keep-alive from ``--concurrency`` connections, and prints requests per second and
latency percentiles. Exit status 1 when any request did not answer 200.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import multiprocessing.connection
import ssl
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from btconsole.emulator.generate import generate

ARM_SCOPE = "https://management.azure.com/.default"


def _child(conn: multiprocessing.connection.Connection, seed: int, size: str) -> None:
    from btconsole.emulator.serve import serve
    from btconsole.emulator.server import EmulatorServer

    estate = generate(seed=seed, size=size)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_message() -> None:
            if conn.recv() == "cpu":
                conn.send(time.process_time())
                return
            loop.remove_reader(conn.fileno())
            stop.set()

        loop.add_reader(conn.fileno(), on_message)

        def ready(server: EmulatorServer) -> None:
            conn.send((server.base_url, str(server.ca_path)))

        await serve(estate, port=0, out=io.StringIO(), stop=stop, on_ready=ready)

    asyncio.run(main())


@dataclass
class Result:
    requests: int
    seconds: float
    statuses: Counter[int]
    latencies: list[float]
    server_cpu: float | None = None
    """Seconds of CPU the server process used during the timed run, when known."""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def hammer(
    base_url: str,
    ca_path: str,
    *,
    seed: int,
    size: str,
    total: int,
    concurrency: int,
    server_cpu: Callable[[], float] | None = None,
) -> Result:
    estate = generate(seed=seed, size=size)
    customer = estate.customers[0]
    tenant = estate.tenant(customer.tenant_id)
    assert tenant is not None
    sub = customer.subscription_ids[0]
    ctx = ssl.create_default_context(cafile=ca_path)
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=ctx)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(
            f"{base_url}/{tenant.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "scope": ARM_SCOPE,
            },
        ) as resp:
            resp.raise_for_status()
            token = (await resp.json())["access_token"]
        url = f"{base_url}/subscriptions/{sub}?api-version=2022-12-01"
        headers = {"Authorization": f"Bearer {token}"}
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        remaining = total

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                async with session.get(url, headers=headers) as r:
                    await r.read()
                    statuses[r.status] += 1
                latencies.append(time.perf_counter() - started)

        # Warm up the connections (TLS handshakes) outside the timed run.
        remaining = concurrency
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        statuses.clear()
        latencies.clear()
        remaining = total
        cpu_before = server_cpu() if server_cpu else None
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        cpu = server_cpu() - cpu_before if server_cpu and cpu_before is not None else None
    return Result(total, elapsed, statuses, latencies, cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m btconsole.emulator.loadtest")
    parser.add_argument("--requests", type=int, default=5000, help="timed requests (5000)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections (16)")
    parser.add_argument("--size", default="small", help="estate size (small)")
    parser.add_argument("--seed", type=int, default=1, help="estate seed (1)")
    args = parser.parse_args(argv)
    if args.requests < 1 or not 1 <= args.concurrency <= 256:
        print("loadtest: --requests must be >= 1 and --concurrency 1..256", file=sys.stderr)
        return 64

    mp = multiprocessing.get_context("spawn")
    parent, child = mp.Pipe()
    proc = mp.Process(target=_child, args=(child, args.seed, args.size), daemon=True)
    proc.start()
    try:
        if not parent.poll(60):
            print("loadtest: the emulator did not start within 60 s", file=sys.stderr)
            return 1
        base_url, ca_path = parent.recv()

        def server_cpu() -> float:
            parent.send("cpu")
            return float(parent.recv())

        result = asyncio.run(
            hammer(
                base_url,
                ca_path,
                seed=args.seed,
                size=args.size,
                total=args.requests,
                concurrency=args.concurrency,
                server_cpu=server_cpu,
            )
        )
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join()
    ms = 1000
    print(
        f"{result.requests} GET /subscriptions/{{id}} over HTTPS keep-alive, "
        f"{args.concurrency} connections: {result.seconds:.2f} s, "
        f"{result.per_second:,.0f} requests/s"
    )
    print(
        f"latency ms: median {statistics.median(result.latencies) * ms:.1f}, "
        f"p90 {result.percentile(90) * ms:.1f}, p99 {result.percentile(99) * ms:.1f}, "
        f"max {max(result.latencies) * ms:.1f}"
    )
    if result.server_cpu is not None:
        print(
            f"server CPU: {result.server_cpu:.2f} s, "
            f"{result.server_cpu / result.requests * 1e6:.0f} µs per request "
            f"(at most {result.requests / result.server_cpu:,.0f} requests/s on one free core)"
        )
    print("statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(result.statuses.items())))
    return 0 if set(result.statuses) == {200} else 1


if __name__ == "__main__":
    sys.exit(main())
