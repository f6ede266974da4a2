"""The console's test kit: an emulator with a real written config, caches, the app.

The app is built the way the CLI builds it (``btconsole.ui.launch.run_app``): a config
written by ``btconsole emulator serve --write-config`` for a running emulator, loaded by
the normal loader, a :class:`~btconsole.cache.Cache` on disk, and :class:`BtConsoleApp`.
Only the engine differs: it takes the profiles' secrets from the test's environment and
the estate's "today" (the estate is generated for a fixed date).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from btconsole.cache import Cache, CacheKey
from btconsole.config import Config, load_config
from btconsole.emulator.estate import Estate
from btconsole.emulator.generate import generate
from btconsole.emulator.serve import secret_environment, write_config
from btconsole.emulator.server import RunningEmulator, running_emulator
from btconsole.engine import Engine
from btconsole.ui.app import BtConsoleApp

AS_OF = dt.date(2026, 11, 20)
FIXED_NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
FIXED_EPOCH = FIXED_NOW.timestamp()
LISTING_DOMAINS = ("subscriptions", "arc", "circuits", "policy", "spend", "health")


def small_estate() -> Estate:
    """The small estate of seed 1 on a fixed date, with no time-dependent metrics.

    A ``flapping`` device's availability depends on the wall clock (the emulator drops
    it to 0 a few minutes an hour); it is pinned ``down`` so that what the console shows
    is the same on every run.
    """
    estate = generate(seed=1, size="small", as_of=AS_OF)
    for circuit in estate.circuits:
        for peering in circuit.peerings:
            if peering.primary == "flapping":
                peering.primary = "down"
            if peering.secondary == "flapping":
                peering.secondary = "up"
    return estate


@dataclass
class Served:
    """A running emulator, the config written for it, and the profiles' secrets."""

    emulator: RunningEmulator
    estate: Estate
    config_path: Path
    config: Config
    environ: dict[str, str]

    def engine_factory(self) -> Callable[[Config, Cache, Callable[[CacheKey], None]], Engine]:
        """What ``BtConsoleApp(engine_factory=...)`` takes: the CLI's engine, with our env."""
        from btconsole.azure.session import AzureSession

        def make(config: Config, cache: Cache, listener: Callable[[CacheKey], None]) -> Engine:
            return Engine(
                config,
                cache,
                session_factory=lambda p: AzureSession(p, config, environ=self.environ),
                today=lambda: self.estate.as_of,
                listener=listener,
            )

        return make

    def config_with(self, directory: Path, **profile_settings: str) -> Config:
        """The written config with extra settings in every profile (as a user edits it)."""
        text = self.config_path.read_text(encoding="utf-8")
        extra = "".join(f"{key} = {value}\n" for key, value in profile_settings.items())
        lines = []
        for line in text.splitlines(keepends=True):
            lines.append(line)
            if line.startswith("display_name = "):
                lines.append(extra)
        path = directory / "config.toml"
        path.write_text("".join(lines), encoding="utf-8")
        return load_config(path)


@contextlib.contextmanager
def serve(estate: Estate, directory: Path) -> Iterator[Served]:
    """Run the emulator on ``estate`` and write a config for it in ``directory``."""
    with running_emulator(estate) as emulator:
        path = directory / "config.toml"
        write_config(path, estate, emulator.base_url, Path(emulator.ca_path))
        yield Served(emulator, estate, path, load_config(path), secret_environment(estate))


async def fill(served: Served, cache: Cache) -> None:
    """Run the engine once over every profile (what the console's first refresh does)."""
    async with served.engine_factory()(served.config, cache, lambda key: None) as engine:
        await engine.refresh_all(list(served.config.profiles))


def copy_entries(source: Cache, target: Cache, *, now: float, ttl: float | None = None) -> int:
    """Copy every listing entry of ``source`` into ``target`` as fetched at ``now``."""
    count = 0
    for domain in LISTING_DOMAINS:
        for entry in source.read_domain(domain):
            target.put(entry.key, entry.records, ttl=entry.ttl if ttl is None else ttl, now=now)
            count += 1
    return count


def fresh_copy(source: Path, directory: Path) -> Cache:
    """A new cache in ``directory`` holding ``source``'s entries as fetched just now.

    Fresh however long ago ``source`` was filled (circuits' TTL is two minutes), so
    an app started on it refreshes nothing until asked to.
    """
    target = Cache.open(directory / "cache.sqlite3")
    with Cache.open(source, readonly=True) as filled:
        copy_entries(filled, target, now=time.time())
    return target


def make_app(served: Served, cache: Cache, **kwargs: Any) -> BtConsoleApp:
    """The app as the CLI builds it, with the test's engine and environment."""
    kwargs.setdefault("environ", {})
    kwargs.setdefault("refresh_interval", 3600)
    config = kwargs.pop("config", served.config)
    if not kwargs.get("offline"):
        kwargs.setdefault("engine_factory", served.engine_factory())
    return BtConsoleApp(config, cache, **kwargs)


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], tries: int = 400) -> None:
    """Pause until ``condition()`` is true (bounded; no fixed sleeps)."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"condition not met after {tries} pauses: {condition}")


# --------------------------------------------------------------------------- fixtures
# A module that needs another estate defines its own ``served`` (module fixtures win).


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The small estate served for the module (one emulator per test module)."""
    with serve(small_estate(), tmp_path_factory.mktemp("emulator")) as running:
        yield running


@pytest.fixture(scope="module")
def filled(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache file the engine filled once from the module's emulator (copy it to use it)."""
    path = tmp_path_factory.mktemp("filled") / "cache.sqlite3"
    with Cache.open(path) as cache:
        asyncio.run(fill(served, cache))
    return path


@pytest.fixture
def cache(filled: Path, tmp_path: Path) -> Iterator[Cache]:
    """This test's own copy of the filled cache, every entry fresh."""
    with fresh_copy(filled, tmp_path) as opened:
        yield opened


class Notes:
    """Every notification the app raised (toasts expire; these do not)."""

    def __init__(self, app: BtConsoleApp) -> None:
        self.items: list[tuple[str, str, str]] = []
        original = app.notify

        def notify(
            message: str, *, title: str = "", severity: Any = "information", **kw: Any
        ) -> None:
            self.items.append((str(title), str(message), str(severity)))
            original(message, title=title, severity=severity, **kw)

        app.notify = notify  # type: ignore[method-assign]

    def find(self, text: str) -> tuple[str, str, str] | None:
        for item in self.items:
            if text in item[0] or text in item[1]:
                return item
        return None

    def __contains__(self, text: str) -> bool:
        return self.find(text) is not None


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])
