"""Layer contracts, checked in fresh interpreters (sys.modules does not lie).

- The Azure wrappers, the engine, the cache and the records import no Textual.
- The cache, the records, health and the engine import no Azure SDK until a refresh
  actually runs (so the console's first screen can paint from the cache without it).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_after(*modules: str) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return list(json.loads(out))


DATA_LAYER = [
    "btconsole.azure",
    "btconsole.azure.errors",
    "btconsole.azure.session",
    "btconsole.azure.common",
    "btconsole.azure.subscriptions",
    "btconsole.azure.arc",
    "btconsole.azure.circuits",
    "btconsole.azure.policy",
    "btconsole.azure.spend",
    "btconsole.azure.graph",
    "btconsole.engine",
    "btconsole.cache",
    "btconsole.records",
    "btconsole.health",
]


def test_data_layer_imports_no_textual() -> None:
    loaded = loaded_after(*DATA_LAYER)
    assert not [m for m in loaded if m == "textual" or m.startswith("textual.")]
    assert "rich" not in loaded


@pytest.mark.parametrize(
    "modules",
    [
        ["btconsole.cache", "btconsole.records"],
        ["btconsole.engine", "btconsole.health", "btconsole.config", "btconsole.credentials"],
        ["btconsole.cli"],
        # the console itself: the first screen paints from the cache with no SDK loaded
        ["btconsole.ui.app", "btconsole.ui.launch", "btconsole.ui.details"],
    ],
)
def test_cache_records_engine_import_no_azure_sdk(modules: list[str]) -> None:
    loaded = loaded_after(*modules)
    assert not [m for m in loaded if m == "azure" or m.startswith("azure.")]
    assert "aiohttp" not in loaded
