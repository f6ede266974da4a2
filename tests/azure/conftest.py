"""An emulator plus a real btconsole config for it, as a user would have.

``emulated`` runs the emulator on the small estate and writes the config that
``btconsole emulator serve --write-config`` writes, then loads it through the normal
config loader; each profile's secret comes from its environment variable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from btconsole.config import Config, Profile, load_config
from btconsole.emulator.generate import generate
from btconsole.emulator.serve import render_env, write_config
from btconsole.emulator.server import RunningEmulator, running_emulator

T = TypeVar("T")


@dataclass
class Emulated:
    emulator: RunningEmulator
    config: Config
    environ: dict[str, str]

    def profile(self, index: int = 0) -> Profile:
        return list(self.config.profiles.values())[index]

    def session(self, profile: Profile | None = None, **kwargs: Any) -> Any:
        from btconsole.azure.session import AzureSession

        return AzureSession(profile or self.profile(), self.config, environ=self.environ, **kwargs)


def _environ(estate: Any) -> dict[str, str]:
    environ = {}
    for line in render_env(estate).splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            environ[name] = value.strip("'")
    return environ


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulated]:
    estate = generate(seed=1, size="small")
    with running_emulator(estate) as emulator:
        path = tmp_path_factory.mktemp("cfg") / "config.toml"
        write_config(path, estate, emulator.base_url, Path(emulator.ca_path))
        yield Emulated(emulator, load_config(path), _environ(estate))


@pytest.fixture
def fresh(emulated: Emulated) -> Emulated:
    """The module's emulator, reset to its startup state (no faults, stats zeroed)."""
    emulated.emulator.reset()
    return emulated


def run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(factory())
