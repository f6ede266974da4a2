"""The console under Pilot on the hard Cost Management answers of tests/spend_estate.py:
a forecast Azure did not give reads ``?`` (never ``0.00 GBP``), a 1e308 cost never
shows as ``inf`` or ``nan%``, and the 204 subscription leaves the rest of the spend."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from btconsole.cache import Cache
from btconsole.config import load_config
from btconsole.emulator.serve import secret_environment, write_config
from btconsole.emulator.server import running_emulator
from btconsole.ui.panes import PaneScreen
from tests.spend_estate import FALLBACK, spend_estate, use_fallback_currency
from tests.ui.conftest import Served, fill, make_app, wait_for

SIZE = (160, 48)
NOT_A_NUMBER = re.compile(r"\b(inf|nan|Infinity)\b|\d[\d,]{19,}", re.IGNORECASE)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    estate = spend_estate()
    with running_emulator(estate) as emulator:
        path = tmp_path_factory.mktemp("spend-ui") / "config.toml"
        write_config(path, estate, emulator.base_url, Path(emulator.ca_path))
        text = use_fallback_currency(path.read_text(encoding="utf-8"), "fabrikam-logistics")
        path.write_text(text, encoding="utf-8")
        yield Served(emulator, estate, path, load_config(path), secret_environment(estate))


def _cells(screen: PaneScreen) -> dict[str, tuple[str, ...]]:
    return {row.key: row.cells for row in screen.table._set.rows}


async def test_overview_and_spend_show_unknown_forecasts_and_no_inf(
    served: Served, tmp_path: Path
) -> None:
    with Cache.open(tmp_path / "cache.sqlite3") as cache:
        await fill(served, cache)
        noon = dt.datetime.combine(served.estate.as_of, dt.time(12), dt.timezone.utc)
        app = make_app(served, cache, offline=True, clock=lambda: noon)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, PaneScreen)
            await wait_for(pilot, lambda: screen.table.total_count == 2)
            overview = _cells(screen)
            # contoso's JPY forecast rows were absurd: unknown; its MTD leaves out 1e308
            assert overview["contoso-retail"][4] == "5,719 JPY"
            assert overview["contoso-retail"][7] == "? JPY"
            # fabrikam bills in EUR (its fallback says GBP), one subscription answered 204
            assert overview["fabrikam-logistics"][7].endswith(" EUR")
            assert FALLBACK not in overview["fabrikam-logistics"][7]
            await pilot.press("5")
            await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "spend")
            spend = app.screen
            assert isinstance(spend, PaneScreen)
            await wait_for(pilot, lambda: spend.table.total_count == 2)
            rows = _cells(spend)
            contoso = next(c for k, c in rows.items() if k.startswith("contoso-retail|"))
            assert contoso[2] == "? JPY"
            for cells in (*overview.values(), *rows.values()):
                for cell in cells:
                    assert not NOT_A_NUMBER.search(cell), cells
