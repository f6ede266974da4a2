"""Keys are the user's: the config's [keys] table remaps bindings by id (Pilot, the
emulator's small estate, the config loaded from a file as the CLI loads it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import Static

from btconsole.cache import Cache
from btconsole.config import Config, load_config
from btconsole.errors import ConfigError
from btconsole.ui.app import BtConsoleApp
from btconsole.ui.details import ArcDetails
from btconsole.ui.keys import contexts, registry
from btconsole.ui.panes import ArcPane, OverviewScreen, PaneScreen
from btconsole.ui.screens import HelpScreen
from btconsole.ui.widgets import StatusBar
from tests.ui.conftest import Served, make_app, wait_for

SIZE = (100, 30)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def with_keys(served: Served, directory: Path, keys: str) -> Config:
    """The emulator's config with a [keys] table at its end, loaded from the file."""
    path = directory / "keys.toml"
    path.write_text(served.config_path.read_text(encoding="utf-8") + "\n[keys]\n" + keys)
    return load_config(path)


REMAPPED = """\
app.help = "f1"
resource_table.sort_reverse = "x"
details.back = "backspace"
command.complete = "ctrl+t"
help.close = "f1,escape"
"""


def help_text(app: BtConsoleApp) -> str:
    return str(app.screen.query_one("#help-text", Static).render())


async def test_remapped_keys_run_their_action_and_the_old_keys_do_not(
    served: Served, cache: Cache, tmp_path: Path
) -> None:
    app = make_app(served, cache, offline=True, config=with_keys(served, tmp_path, REMAPPED))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        # help: "?" no longer opens it, f1 does
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = help_text(app)
        assert re.search(r"\n  f1  +Help\n", text), text
        assert re.search(r"\n  x  +Reverse sort\n", text)
        assert re.search(r"\n  backspace  +Back\n", text)
        assert not re.search(r"\n  \?  +Help\n", text)
        assert not re.search(r"\n  s  +Reverse sort\n", text)
        assert re.search(r"\n  ctrl\+t  +Complete the word", text)
        # the notes too
        assert "(f1 closes)" in text and "ctrl+t completes the word" in text
        assert "tab completes" not in text
        await pilot.press("q")  # no longer closes help
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, PaneScreen))
        # the status bar's hint names the key in force
        assert "f1 help" in str(app.screen.query_one(StatusBar).render())

        # the table: "s" does nothing now, "x" reverses the sort
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        screen = app.screen
        assert isinstance(screen, ArcPane)
        table = screen.table
        await wait_for(pilot, lambda: table.total_count > 0)
        assert not table.sort_reverse
        await pilot.press("s")
        assert not table.sort_reverse
        await pilot.press("x")
        assert table.sort_reverse

        # details: the hint says backspace, escape stays, backspace goes back
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcDetails))
        hint = str(app.screen.query_one("#hint", Static).render())
        assert "backspace back" in hint and "escape back" not in hint
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ArcDetails)
        await pilot.press("backspace")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))


async def test_swapped_keys_trade_places(served: Served, cache: Cache, tmp_path: Path) -> None:
    # two bindings trading keys is no clash: each key runs the other action
    config = with_keys(served, tmp_path, 'app.arc = "3"\napp.circuits = "2"\n')
    app = make_app(served, cache, offline=True, config=config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        await pilot.press("2")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", "") == "circuits")
        rows = {description: key for _where, key, description in app.key_map()}
        assert rows["Arc"] == "3" and rows["Circuits"] == "2"
        palette = {command: hint for command, hint, _action in app.palette_commands()}
        assert palette["Go to arc"] == "key 3" and palette["Go to circuits"] == "key 2"


def test_the_console_refuses_a_keymap_that_clashes(
    served: Served, cache: Cache, tmp_path: Path
) -> None:
    # the app is built the way the CLI builds it: the same lines `config validate` prints
    config = with_keys(served, tmp_path, 'app.help = "r"\nnope.zzz = "f2"\n')
    with pytest.raises(ConfigError) as caught:
        make_app(served, cache, offline=True, config=config)
    lines = caught.value.problems
    path = tmp_path / "keys.toml"
    count = path.read_text().count("\n")
    assert lines == [
        f"{path}:{count - 1}: keys.app.help: 'r' is already taken in the overview pane by "
        "app.refresh (Refresh pane); pick another key, or move that binding too",
        f"{path}:{count}: keys.nope.zzz: no binding has this id (docs/configuration.md lists them)",
    ]


# ------------------------------------------------------------------ registry and docs


def test_every_binding_id_is_somewhere_keys_are_dispatched() -> None:
    # a binding in a class the clash check does not know would escape it
    reached: set[str] = set()
    for _where, chain in contexts():
        for owner, _priority in chain:
            merged = owner._merged_bindings
            for bindings in merged.key_to_bindings.values() if merged else ():
                reached.update(b.id for b in bindings if b.id)
    assert set(registry()) <= reached, set(registry()) - reached


def keys_table() -> str:
    """The docs' table of every binding id, generated from the registry."""
    lines = ["| id | default key | where | what it does |", "|---|---|---|---|"]
    for entry in registry().values():
        keys = ", ".join(f"`{key}`" for key in entry.keys.split(","))
        lines.append(f"| `{entry.id}` | {keys} | {entry.group} | {entry.description} |")
    return "\n".join(lines) + "\n"


def test_docs_list_every_binding_id_with_its_default_key() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("<!-- keys table: generated")
    start = text.index("\n", start) + 1
    end = text.index("<!-- end of keys table -->")
    assert text[start:end] == keys_table(), (
        "docs/configuration.md's [keys] table is out of date; replace it with:\n" + keys_table()
    )
