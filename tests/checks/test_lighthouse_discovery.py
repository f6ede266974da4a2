"""A Lighthouse discovery under failure: transient faults are retried as every other
read's (the engine's per-request retries), and one that keeps failing leaves the last
discovery's customers in place, recorded with its reason and reported by ``check``
and ``doctor``.

Everything goes through the real path: the provider's credential and the SDK clients
over HTTPS against the emulator, with its faults (btconsole/emulator/faults.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from btconsole.cache import Cache
from btconsole.config import Config, load_config
from btconsole.emulator.generate import generate
from btconsole.emulator.serve import secret_environment, write_config
from btconsole.emulator.server import RunningEmulator, running_emulator
from btconsole.lighthouse import (
    discover,
    discovery_due,
    discovery_key,
    discovery_problems,
    effective_config,
)
from tests.checks.conftest import Run


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(generate(seed=1, size="small")) as running:
        yield running


@pytest.fixture
def config(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    emulator.reset()
    path = tmp_path / "lighthouse.toml"
    write_config(path, emulator.estate, emulator.base_url, Path(emulator.ca_path), lighthouse=True)
    for name, value in secret_environment(emulator.estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    for name in ("XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return load_config(path)


def _tenants(config: Config, cache: Cache) -> set[str]:
    return {p.tenant_id for p in effective_config(config, cache).profiles.values()}


@pytest.mark.parametrize(
    ("route", "fault"),
    [
        ("subscriptions.list", {"kind": "throttle", "retry_after": 0}),
        ("subscriptions.list", {"kind": "server_error", "status": 503, "retry_after": 0}),
        ("tenants.list", {"kind": "reset"}),
    ],
    ids=["429-retry-after", "503", "connection-reset"],
)
def test_a_transient_failure_is_retried(
    emulator: RunningEmulator, config: Config, tmp_path: Path, route: str, fault: dict[str, object]
) -> None:
    emulator.add_fault(route=route, count=1, **fault)
    with Cache.open(tmp_path / "cache.sqlite3") as cache:
        assert asyncio.run(discover(config, cache)) == []
        assert _tenants(config, cache) == {c.tenant_id for c in emulator.estate.customers}
        entry = cache.peek(discovery_key("msp"))
        assert entry is not None and entry.error is None
    routes = emulator.stats()["by_route"]
    assert routes[route] == 2  # the failed request, then its retry
    assert emulator.stats()["faults"][str(fault["kind"])] == 1


def test_a_failure_that_stays_keeps_the_last_customers_and_says_why(
    emulator: RunningEmulator, config: Config, tmp_path: Path, cli: Run
) -> None:
    customers = {c.tenant_id for c in emulator.estate.customers}
    with Cache.open() as cache:  # the default cache: check and doctor read it too
        assert asyncio.run(discover(config, cache)) == []
    emulator.add_fault(kind="server_error", status=503, route="subscriptions.list")
    emulator.control("DELETE", "stats")
    with Cache.open() as cache:
        [problem] = asyncio.run(discover(config, cache))
        # three tries (the engine's two retries), then the failure is kept
        assert emulator.stats()["by_route"]["subscriptions.list"] == 3
        assert problem.startswith("msp: Lighthouse discovery failed (Azure failed): ")
        assert f"showing the {len(customers)} customer(s) of the last discovery" in problem
        assert _tenants(config, cache) == customers  # never silently dropped
        entry = cache.peek(discovery_key("msp"))
        assert entry is not None and entry.error_kind == "service"
        # not tried again before its backoff: the console's refreshes do not hammer it
        assert entry.in_backoff() and not discovery_due(config, cache)
        assert asyncio.run(discover(config, cache, force=False)) == [problem]
        assert emulator.stats()["by_route"]["subscriptions.list"] == 3
        assert discovery_problems(config, cache) == [problem]

    # check (offline: the recorded failure; online: a new one) says so, and still
    # reads every customer of the last discovery
    for argv in (("--offline",), ()):
        code, out, err = cli(
            None, "--config", str(config.path), "check", "--all", "--format", "json", *argv
        )
        report = json.loads(out)
        notes = report["data"]["notes"]
        assert any(n.startswith("msp: Lighthouse discovery failed (Azure failed)") for n in notes)
        assert len(report["profiles"]) == len(customers), err

    # doctor tells it too (its own listing fails the same way)
    code, out, err = cli(None, "--config", str(config.path), "doctor")
    assert "msp: last Lighthouse discovery failed (Azure failed)" in out, out
    assert code != 0

    # the fault goes: the next discovery recovers, and the problem is gone
    emulator.clear_faults()
    with Cache.open() as cache:
        assert asyncio.run(discover(config, cache)) == []
        assert discovery_problems(config, cache) == []
        assert _tenants(config, cache) == customers
