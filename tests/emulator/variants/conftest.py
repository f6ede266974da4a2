"""Fixtures of the answer-variant tests: one emulator per module serving the variants
estate (``support.py``), a fresh cache per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from btconsole.cache import Cache
from tests.azure.conftest import Emulated
from tests.emulator.variants.support import Variants, emulated_variants


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Emulated, Variants]]:
    name = request.module.__name__.rsplit(".", 1)[-1]
    yield from emulated_variants(tmp_path_factory.mktemp(name))


@pytest.fixture
def emulated(served: tuple[Emulated, Variants]) -> Emulated:
    """The module's emulator, back at its startup state (faults cleared)."""
    served[0].emulator.reset()
    return served[0]


@pytest.fixture
def names(served: tuple[Emulated, Variants]) -> Variants:
    return served[1]


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    with Cache.open(tmp_path / "cache.sqlite3") as opened:
        yield opened
