"""Emulators with the config ``btconsole emulator serve --write-config`` writes.

``small`` serves the default small estate (findings of every severity); ``clean``
serves a smaller healthy estate (nothing to report) and ``spoiled`` the same estate
with a few problems (same customers, tenants and secrets, another emulator), so that
checking one and then the other shows findings appear and go away (a served estate is
read-only: each variant gets its own emulator). All are module-scoped; the
autouse ``isolated_home`` (tests/conftest.py) gives every test its own cache and
previous-check state. Every profile's TTLs are 1 ms, so every online check refreshes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from btconsole.cli import main
from btconsole.configtools import toml_string
from btconsole.emulator.estate import Estate
from btconsole.emulator.generate import generate
from btconsole.emulator.serve import render_env, write_config
from btconsole.emulator.server import RunningEmulator, running_emulator

CHECK_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "check-schema.json"


@dataclass
class Site:
    emulator: RunningEmulator
    config: Path
    env_file: Path
    secrets: dict[str, str]

    @property
    def estate(self) -> Estate:
        return self.emulator.estate

    @property
    def profiles(self) -> list[str]:
        return [c.slug for c in self.estate.customers]

    def subscriptions(self, index: int = 0) -> list[str]:
        return sorted(s.lower() for s in self.estate.customers[index].subscription_ids)


def _secrets(estate: Estate) -> dict[str, str]:
    found = {}
    for line in render_env(estate).splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            found[name] = value.strip("'")
    return found


def _serve(factory: pytest.TempPathFactory, estate: Estate, name: str) -> Iterator[Site]:
    with running_emulator(estate) as emulator:
        path = factory.mktemp(name) / "btconsole.toml"
        env_file = write_config(path, estate, emulator.base_url, Path(emulator.ca_path))
        with path.open("a", encoding="utf-8") as handle:
            for customer in estate.customers:
                handle.write(f"\n[profiles.{toml_string(customer.slug)}.ttl]\n")
                handle.write('arc = "1ms"\ncircuits = "1ms"\npolicy = "1ms"\nspend = "1ms"\n')
        yield Site(emulator, path, env_file, _secrets(estate))


@pytest.fixture(scope="module")
def small_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _serve(tmp_path_factory, generate(seed=1, size="small"), "small")


def clean_estate() -> Estate:
    return generate(
        seed=1,
        size="small",
        healthy=True,
        customers=2,
        subscriptions=3,
        machines=12,
        clusters=2,
        circuits=2,
        policy_states=60,
    )


#: Text from "Azure" that tries to drive a terminal and inject Markdown.
EVIL = "\x1b[31mEvil\x1b]0;title\x07 *bold* [x](https://e.example) <b>|</b> `tick` \u202e"


def spoiled_estate() -> Estate:
    """The clean estate with the first connected machine's agent far behind (a
    warning) and the second's status a hostile unknown string (info)."""
    estate = clean_estate()
    first, second = [m for m in estate.machines if m.status == "Connected"][:2]
    first.agent_version = "1.40.0"
    second.status = EVIL
    return estate


@pytest.fixture(scope="module")
def clean_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _serve(tmp_path_factory, clean_estate(), "clean")


@pytest.fixture(scope="module")
def spoiled_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _serve(tmp_path_factory, spoiled_estate(), "spoiled")


def _use(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    site.emulator.reset()
    for name, value in site.secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BTCONSOLE_TODAY", site.estate.as_of.isoformat())
    return site


@pytest.fixture
def small(small_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """The small estate, faults cleared, its secrets and its date in the environment."""
    return _use(small_site, monkeypatch)


@pytest.fixture
def clean(clean_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """The healthy estate, faults cleared, its secrets and its date in the environment."""
    return _use(clean_site, monkeypatch)


@pytest.fixture
def spoiled(spoiled_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """The spoiled variant of the healthy estate (same secrets and date)."""
    return _use(spoiled_site, monkeypatch)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The commands install a file log handler on the root logger; take it away after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """``cli(site, "check", "--all")``: run the CLI in-process with the site's config."""

    def run(site: Site | None, *argv: str) -> tuple[int, str, str]:
        args = ["--config", str(site.config), *argv] if site is not None else list(argv)
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err

    return run
