"""Hostile text from Azure: shown literally, never interpreted, never breaking the layout.

A hand-made estate whose machine names, tags, subscription and customer names hold Rich
markup, terminal escape sequences (colour, OSC 52 clipboard write, clear screen), a
500-character name and right-to-left text, served by the emulator and fetched through
the real engine and SDK, then shown by the console.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Static

from btconsole.cache import Cache
from btconsole.emulator.estate import Estate
from btconsole.emulator.generate import generate
from btconsole.ui.app import BtConsoleApp
from btconsole.ui.details import ArcDetails
from btconsole.ui.panes import ArcPane, PaneScreen
from btconsole.ui.table import ResourceTable
from btconsole.ui.widgets import StatusBar, TitleBar
from tests.ui.conftest import AS_OF, Served, fill, make_app, serve, wait_for

MARKUP = "[bold red]x[/]"
LINK = "[link=http://evil]click[/link]"
SGR = "\x1b[31mred"
OSC52 = "\x1b]52;c;aGFja2Vk\x07"
CLEAR = "\x1b[2J"
LONG = "long-" + "n" * 495  # 500 characters
ARABIC = "خادم-الإنتاج"
HEBREW = "שרת-ייצור"
RLO = "\u202eevil"  # right-to-left override: must not reach the terminal

NAMES = [
    f"m-{MARKUP}",
    f"m-{LINK}",
    f"m-{SGR}{OSC52}{CLEAR}",
    LONG,
    ARABIC,
    HEBREW,
    f"m-{RLO}",
]


def hostile_estate() -> Estate:
    """One customer, a handful of machines, each name and tag hostile in its own way."""
    estate = generate(
        seed=3,
        size="small",
        as_of=AS_OF,
        customers=1,
        subscriptions=1,
        machines=len(NAMES),
        clusters=0,
        circuits=1,
        policy_assignments=1,
        policy_states=10,
        cost_days=10,
    )
    for machine, name in zip(estate.machines, NAMES, strict=True):
        machine.name = name
        machine.tags = {"owner": f"{MARKUP}{SGR}", "note": f"{LINK}{OSC52}", "rtl": ARABIC}
    estate.customers[0].display_name = f"Cust {MARKUP}{CLEAR}"
    for subscription in estate.subscriptions:
        subscription.display_name = f"Sub {LINK}{SGR}"
    return estate


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(hostile_estate(), tmp_path_factory.mktemp("emulator")) as running:
        yield running


@pytest.fixture
def cache(served: Served, tmp_path: Path) -> Iterator[Cache]:
    with Cache.open(tmp_path / "cache.sqlite3") as opened:
        asyncio.run(fill(served, opened))
        yield opened


def assert_inert(strip: Strip) -> None:
    """Nothing in the line a terminal would act on, and no markup turned into style."""
    for segment in strip:
        assert isinstance(segment, Segment)
        text = segment.text
        assert not any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in text), repr(text)
        assert "\u202e" not in text
        assert segment.style is None or segment.style.link is None, segment


def screen_lines(app: BtConsoleApp) -> list[Strip]:
    """Every line of the composed screen, as the terminal would receive it."""
    height = app.size.height
    return [Strip(list(line)) for line in app.screen._compositor.render_strips()[:height]]


async def test_hostile_names_and_tags_are_literal_and_keep_the_layout(
    served: Served, cache: Cache
) -> None:
    # the records hold the text as Azure sent it: any cleaning is the console's doing
    records = [r for e in cache.read_domain("arc") for r in e.records]
    assert sorted(r.name for r in records) == sorted(NAMES)
    assert all(dict(r.tags)["note"] == f"{LINK}{OSC52}" for r in records)
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        pane = app.screen
        assert isinstance(pane, PaneScreen)
        table = pane.query_one("#table", ResourceTable)
        assert table.total_count == len(NAMES)
        table.sort_by("name")
        await pilot.pause()

        # one line per row, all 80 cells wide; the header is the header
        header = table.render_line(0).text
        assert header.replace("▲", "").split()[:4] == ["NAME", "STATUS", "SINCE", "AGENT"]
        shown = [table.render_line(y) for y in range(1, len(NAMES) + 1)]
        for strip in shown:
            assert strip.cell_length == table.size.width
            assert_inert(strip)
        texts = [s.text for s in shown]
        assert any(t.startswith(f" m-{MARKUP} ") for t in texts), texts  # literal markup
        # names are cut in the middle: their start and end both stay, literal
        assert any(t.startswith(" m-[li") and "[/link] " in t for t in texts), texts
        assert any(t.startswith(" m-red ") for t in texts), texts  # escapes gone, text kept
        assert any(t.startswith(" long-…nnnn") for t in texts), texts
        assert any(ARABIC in t for t in texts) and any(HEBREW in t for t in texts)
        assert any(t.startswith(" m-evil ") for t in texts), texts  # bidi override dropped

        # the whole screen: 24 lines of 80 cells, nothing active anywhere
        lines = screen_lines(app)
        assert len(lines) == 24
        for line in lines:
            assert line.cell_length == 80
            assert_inert(line)
        assert "Arc servers and clusters" in lines[0].text
        assert lines[1].text.replace("▲", "").split()[:2] == ["NAME", "STATUS"]
        assert "all customers (1)" in str(pane.query_one(StatusBar).render())

        # every row's details: the title stays one line; the name and tags are literal
        for index in range(len(NAMES)):
            table.move_cursor(index)
            row = table.cursor_row
            assert row is not None
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ArcDetails))
            await pilot.pause()
            details = app.screen
            title = details.query_one(TitleBar)
            assert title.size.height == 1
            top = screen_lines(app)[0].text  # the name, cut to the line: never dropped
            assert top.startswith(" Arc  [") and len(top.strip()) > len("Arc  ["), top
            if row.payload.name == LONG:
                assert top.rstrip().endswith("…"), top
            # a long value wraps under itself at 80 columns: the value read back whole
            props = str(details.query_one("#props-text", Static).render())
            props = props.replace("\n" + " " * 22, "")
            assert f"owner={MARKUP}red" in props and f"note={LINK}" in props
            assert f"rtl={ARABIC}" in props
            for line in screen_lines(app):
                assert line.cell_length == 80
                assert_inert(line)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))

        # the clipboard gets the ID as Azure has it; the notice shows it cleaned
        table.move_cursor(0)
        await pilot.press("y")
        record: Any = table.cursor_row.payload  # type: ignore[union-attr]
        assert app.clipboard == record.id


async def test_hostile_customer_and_subscription_names_in_overview_and_spend(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=(80, 24)) as pilot:
        overview = app.screen
        assert isinstance(overview, PaneScreen)
        row = overview.table.render_line(1)
        assert row.text.startswith(" Cust [bold red]x[/]")
        await pilot.press("5")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "spend")
        await pilot.pause()
        spend = app.screen
        assert isinstance(spend, PaneScreen)
        assert spend.table.total_count >= 1
        # a subscription name is cut in the middle, literally: start and end both shown
        assert spend.table.render_line(1).text.startswith(" Sub [li…lick[/link]red ")
        for line in screen_lines(app):
            assert cell_len(line.text) == 80
            assert_inert(line)
