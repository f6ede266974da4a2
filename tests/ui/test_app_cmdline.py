"""The ``:`` line (history, completion, ambiguous names), ``y``/``o`` and the help rows,
through the real app under Pilot against the emulator's small estate.

The history lives in the state directory, which the suite's ``isolated_home`` fixture
points at a fresh directory for every test (``XDG_STATE_HOME``).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from rich.segment import Segment
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Input, Static

from btconsole.cache import Cache
from btconsole.ui.app import BtConsoleApp
from btconsole.ui.commandline import (
    HISTORY_ENTRIES,
    Grammar,
    complete,
    history_path,
    load_history,
    save_history,
)
from btconsole.ui.details import CircuitDetails
from btconsole.ui.links import CopiedBar, copied_text, middle_cut
from btconsole.ui.panes import ArcPane, OverviewScreen, PaneScreen
from btconsole.ui.screens import CommandLine, HelpScreen
from btconsole.ui.table import ResourceTable
from tests.ui.conftest import (
    Notes,
    Served,
    fresh_copy,
    make_app,
    type_text,
    wait_for,
)
from tests.ui.test_app_snapshots import make, snapshot_cache  # noqa: F401 (fixtures)

SIZE = (80, 24)
CUSTOMERS = ("contoso-retail", "fabrikam-logistics", "northwind-health")


async def open_line(app: BtConsoleApp, pilot: Any) -> Input:
    await pilot.press("colon")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandLine))
    return app.screen.query_one("#command", Input)


def candidates_shown(app: BtConsoleApp) -> str:
    shown = app.screen.query_one("#candidates", Static)
    return str(shown.render()) if shown.display else ""


def screen_lines(app: BtConsoleApp) -> list[Strip]:
    return [Strip(list(line)) for line in app.screen._compositor.render_strips()]


# --------------------------------------------------------------------------- history


async def test_history_is_kept_across_runs_and_walked_with_up_and_down(
    served: Served, cache: Cache, filled: Path, tmp_path: Path
) -> None:
    first = make_app(served, cache, offline=True)
    async with first.run_test(size=SIZE) as pilot:
        for command in ("arc", "customer fabrikam-logistics", "policy"):
            box = await open_line(first, pilot)
            box.value = command
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(first.screen, PaneScreen))
        await wait_for(pilot, lambda: first.current_mode == "policy")

    path = history_path()
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["commands"] == [
        "arc",
        "customer fabrikam-logistics",
        "policy",
    ]

    # a second run, another cache: the history is the state directory's, not the app's
    with fresh_copy(filled, tmp_path / "second") as second_cache:
        second = make_app(served, second_cache, offline=True)
        async with second.run_test(size=SIZE) as pilot:
            box = await open_line(second, pilot)
            await pilot.press("up")
            assert box.value == "policy"
            await pilot.press("up")
            assert box.value == "customer fabrikam-logistics"
            await pilot.press("up")
            assert box.value == "arc"
            await pilot.press("up")  # the oldest: stays
            assert box.value == "arc"
            await pilot.press("down", "down")
            assert box.value == "policy"
            await pilot.press("down")  # past the newest: the (empty) line typed
            assert box.value == ""

            # typed text first: up recalls only the commands starting with it
            await type_text(pilot, "cu")
            await pilot.press("up")
            assert box.value == "customer fabrikam-logistics"
            await pilot.press("up")
            assert box.value == "customer fabrikam-logistics"
            await pilot.press("down")
            assert box.value == "cu"

            # run a recalled command: it moves to the end of the history
            await pilot.press("up", "enter")
            await wait_for(pilot, lambda: second.scope == "fabrikam-logistics")
    assert load_history(path) == ["arc", "policy", "customer fabrikam-logistics"]


async def test_a_corrupt_history_is_ignored_and_replaced(served: Served, cache: Cache) -> None:
    path = history_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe not json at all")
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        box = await open_line(app, pilot)
        await pilot.press("up")
        assert box.value == ""
        box.value = "spend"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "spend")
    assert load_history(path) == ["spend"]


async def test_a_history_that_cannot_be_written_is_said_once_and_the_command_runs(
    served: Served, cache: Cache
) -> None:
    path = history_path()
    path.parent.parent.mkdir(parents=True)
    path.parent.write_text("a file where the state directory should be")
    app = make_app(served, cache, offline=True)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        box = await open_line(app, pilot)
        box.value = "circuits"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "circuits")
        item = notes.find("command history not saved")
        assert item is not None and item[2] == "warning"
        box = await open_line(app, pilot)
        await pilot.press("up")  # still recalled within this run
        assert box.value == "circuits"
        box.value = "spend"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "spend")
        assert len([n for n in notes.items if "command history" in n[1]]) == 1


def test_history_files_that_are_not_ours_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "state" / "command-history.json"
    assert load_history(path) == []  # missing
    path.parent.mkdir()
    for text in ("[1, 2]", '{"schema": 99, "commands": ["arc"]}', '{"schema": 1}', "{"):
        path.write_text(text)
        assert load_history(path) == [], text
    path.write_text(" " * (300 * 1024))  # too large to be a history: not even parsed
    assert load_history(path) == []
    # entries are cleaned and bounded; non-strings dropped
    path.write_text(json.dumps({"schema": 1, "commands": ["arc", 3, "\x1b[2Jspend", ""]}))
    assert load_history(path) == ["arc", "spend"]
    for n in range(HISTORY_ENTRIES + 20):
        entries = save_history(path, f"customer c{n}")
    assert len(entries) == HISTORY_ENTRIES
    assert entries[-1] == f"customer c{HISTORY_ENTRIES + 19}"
    assert load_history(path) == entries


# --------------------------------------------------------------------------- completion


def test_completion_replaces_the_word_under_the_cursor() -> None:
    grammar = Grammar(
        verbs=("overview", "arc", "circuits", "customer", "all", "theme"),
        arguments={"customer": CUSTOMERS, "theme": ("bt", "bt-light", "high-contrast")},
        aliases={"cust": "customer", "ctx": "customer"},
    )
    assert complete(grammar, "cu", 2).value == "customer "
    assert complete(grammar, "customer co", 11).value == "customer contoso-retail"
    # the word is replaced whole, whatever was typed after the cursor within it
    done = complete(grammar, "customer coXX", 11)
    assert done.value == "customer contoso-retail"
    # the verb, with a name after it: the name stays
    done = complete(grammar, "cus fab", 3)
    assert (done.value, done.cursor) == ("customer fab", 8)
    assert complete(grammar, "ctx NORTH", 9).value == "ctx northwind-health"
    # several: the common start, and the candidates
    done = complete(grammar, "c", 1)
    assert (done.value, done.candidates) == ("c", ("circuits", "customer"))
    done = complete(grammar, "theme b", 7)
    assert (done.value, done.candidates) == ("theme bt", ("bt", "bt-light"))
    # nothing fits: unchanged, every name listed
    done = complete(grammar, "customer zz", 11)
    assert (done.value, done.candidates) == ("customer zz", CUSTOMERS)


async def test_tab_completes_the_verb_then_the_name_typed_after_it(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        box = await open_line(app, pilot)
        await type_text(pilot, "cu")
        await pilot.press("tab")
        assert box.value == "customer "
        await type_text(pilot, "co")
        assert box.value == "customer co"  # not "customer contoso-retailco"
        await pilot.press("tab")
        assert box.value == "customer contoso-retail"
        assert box.cursor_position == len(box.value)
        # the grey suggestion is the line with its last word completed
        box.value = "customer nor"
        box.cursor_position = len(box.value)
        await wait_for(pilot, lambda: box._suggestion == "customer northwind-health")
        await pilot.press("enter")  # runs what is typed, not the suggestion
        await wait_for(pilot, lambda: isinstance(app.screen, PaneScreen))
        assert app.scope == "northwind-health"  # "nor" fits one customer

        # several names fit: tab lists them
        box = await open_line(app, pilot)
        await type_text(pilot, "c")
        await pilot.press("tab")
        assert box.value == "c"
        assert candidates_shown(app).split() == ["circuits", "customer"]
        await type_text(pilot, "i")
        await pilot.press("tab")
        assert box.value == "circuits"
        assert candidates_shown(app) == ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "circuits")


async def test_an_ambiguous_name_lists_the_candidates(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        # "o" starts no customer's name and is in all three: the line stays, listing them
        box = await open_line(app, pilot)
        await type_text(pilot, "ctx o")
        await pilot.press("enter")
        await wait_for(pilot, lambda: candidates_shown(app) != "")
        assert isinstance(app.screen, CommandLine)
        shown = candidates_shown(app)
        assert shown.startswith("3 match")
        assert all(name in shown for name in CUSTOMERS), shown
        assert app.scope is None
        await type_text(pilot, "n")  # "on": contoso-retail only
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.scope == "contoso-retail")
        assert box.value == "ctx on"

        # from elsewhere (the palette runs commands too): a notice naming them
        app.run_command("customer o")
        item = notes.find("no single customer matches 'o'")
        assert item is not None and item[2] == "error"
        assert item[1].endswith(": " + ", ".join(CUSTOMERS))
        app.run_command("customer nobody")
        item = notes.find("no single customer matches 'nobody'")
        assert item is not None and ", ".join(CUSTOMERS) in item[1]
        app.run_command("theme contrast")
        await wait_for(pilot, lambda: app.theme == "high-contrast")
        assert app.scope == "contoso-retail"


# --------------------------------------------------------------------------- y and o


def test_a_value_too_wide_is_cut_in_the_middle_keeping_its_end() -> None:
    assert middle_cut("short", 10) == "short"
    cut = middle_cut("/subscriptions/0000/resourceGroups/rg/machines/web-01", 30)
    assert cell_len(cut) <= 30 and cut.endswith("machines/web-01") and "…" in cut
    wide = middle_cut("名前" * 20 + "-end", 15)  # wide characters: cells, not characters
    assert cell_len(wide) <= 15 and wide.endswith("-end")
    text = copied_text("ID", "/x/\x1b]52;c;aGk=\x07y", width=0)
    assert text.plain == "ID copied  /x/y"


async def test_o_copies_the_portal_link_and_shows_it_on_one_line_as_an_osc8_link(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ArcPane))
        pane = app.screen
        assert isinstance(pane, ArcPane)
        row = pane.table.cursor_row
        assert row is not None
        record: Any = row.payload
        profile = served.config.profile(record.profile)
        url = f"{profile.cloud.portal}#@{profile.tenant_id}/resource{record.id}"

        await pilot.press("o")
        assert app.clipboard == url  # OSC 52
        bar = pane.query_one(CopiedBar)
        await wait_for(pilot, lambda: bar.is_mounted and bar.size.height == 1)
        # the bar is the notice: no toast over it
        assert notes.items == []
        await pilot.pause()

        # on screen: one line, just above the status bar, the URL linked with OSC 8
        lines = screen_lines(app)
        found = [i for i, line in enumerate(lines) if "portal link copied" in line.text]
        assert len(found) == 1, [line.text for line in lines]
        line = lines[found[0]]
        assert found[0] == SIZE[1] - 2
        # cut in the middle: the start of the URL and the resource's name both show
        assert line.text.strip().startswith(
            f"portal link copied  {profile.cloud.portal.rstrip('/')}"
        )
        assert line.text.rstrip().endswith(record.name) and "…" in line.text
        assert line.cell_length == SIZE[0]
        linked = [s for s in line if isinstance(s, Segment) and s.style and s.style.link]
        assert linked and {s.style.link for s in linked} == {url}  # type: ignore[union-attr]
        written = line.render(app.console)
        assert f";{url}\x1b\\" in written and written.count("\x1b]8;") >= 2

        # y: the ID, said and shown; the bar then belongs to the ID
        await pilot.press("y")
        assert app.clipboard == record.id
        await wait_for(pilot, lambda: "ID copied" in str(bar.render()))
        assert bar.value == record.id and str(bar.render()).endswith(record.name)

        # another row: what was copied no longer describes it
        await pilot.press("down")
        await wait_for(pilot, lambda: not bar.display)


async def test_o_on_the_attention_list_links_the_finding_and_a_hostile_id_stays_inert(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        attention = screen.query_one("#attention", ResourceTable)
        await wait_for(pilot, lambda: attention.total_count > 0)
        await pilot.press("tab")
        await wait_for(pilot, lambda: attention.has_focus)
        for index, row in enumerate(attention.visible_rows):
            if getattr(row.payload, "resource_id", None):
                attention.move_cursor(index)
                break
        finding: Any = attention.cursor_row.payload  # type: ignore[union-attr]
        await pilot.press("o")
        assert isinstance(app.clipboard, str) and app.clipboard.endswith(finding.resource_id)

    hostile = "/subscriptions/x/rg/a b\x1b]52;c;aGFjaw==\x07\x1b\\\u202e/évil"
    url = app.portal_url("contoso-retail", hostile)
    assert url.isascii() and url.isprintable() and " " not in url and "\\" not in url
    assert url.endswith("/resource/subscriptions/x/rg/a%20b/%C3%A9vil"), url


async def test_y_and_o_in_every_pane_copy_the_azure_id_the_row_is_about(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        # the customers table: a customer is no Azure resource
        await pilot.press("y")
        item = notes.find("no Azure resource selected")
        assert item is not None and item[2] == "warning"
        assert app.clipboard == ""

        await pilot.press("4")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "policy")
        assignment: Any = app.screen.table.cursor_row.payload  # type: ignore[attr-defined]
        await pilot.press("o")
        profile = served.config.profile(assignment.profile)
        portal = f"{profile.cloud.portal}#@{profile.tenant_id}/resource"
        assert app.clipboard == f"{portal}{assignment.assignment_id}"
        assert "/policyassignments/" in assignment.assignment_id.lower()

        await pilot.press("5")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "spend")
        owner, subscription, _currency = app.screen.table.cursor_row.payload  # type: ignore[attr-defined]
        await pilot.press("y")
        assert app.clipboard == f"/subscriptions/{subscription}"
        await pilot.press("o")
        profile = served.config.profile(owner)
        assert app.clipboard == (
            f"{profile.cloud.portal}#@{profile.tenant_id}/resource/subscriptions/{subscription}"
        )


async def test_y_and_o_on_a_details_screen_copy_what_it_is_about(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: getattr(app.screen, "PANE", None) == "circuits")
        pane = app.screen
        assert isinstance(pane, PaneScreen)
        record: Any = pane.table.cursor_row.payload  # type: ignore[union-attr]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CircuitDetails))
        await pilot.press("o")
        profile = served.config.profile(record.profile)
        url = f"{profile.cloud.portal}#@{profile.tenant_id}/resource{record.id}"
        assert app.clipboard == url
        bar = app.screen.query_one(CopiedBar)
        await wait_for(pilot, lambda: bar.is_mounted and bar.size.height == 1)
        await pilot.pause()
        lines = screen_lines(app)
        assert "portal link copied" in lines[SIZE[1] - 2].text  # just above the key hint
        assert {s.style.link for s in lines[SIZE[1] - 2] if s.style and s.style.link} == {url}
        assert lines[SIZE[1] - 2].text.rstrip().endswith(record.name)
        await pilot.press("y")
        assert app.clipboard == record.id
        await wait_for(pilot, lambda: str(bar.render()).startswith("ID copied"))


# --------------------------------------------------------------------------- help, ctrl+c


async def test_help_rows_keep_keys_and_descriptions_apart(served: Served, cache: Cache) -> None:
    app = make_app(served, cache, offline=True)
    async with app.run_test(size=(80, 60)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one("#help-text", Static).render())
        lines = text.splitlines()
        assert "  pagedown / ctrl+f  " in text
        assert "pagedown,ctrl+f" not in text
        pairs = set()
        for this, following in zip(lines, [*lines[1:], ""], strict=True):
            key, gap, description = this.strip().partition("  ")
            if gap:  # the key, at least two spaces, the description
                pairs.add((key, description.strip()))
            else:  # a key list too long for the column: the description below it
                pairs.add((key, following.strip()))
        for _where, key, description in app.key_map():
            assert (key, description) in pairs, (key, description)
        # descriptions start in one column within each group
        columns = {ln.index(d) for ln in lines for _w, k, d in app.key_map() if ln.endswith(d)}
        assert len(columns) == 1, columns
        assert "\ncommand line\n" in text
        assert "  q / ctrl+c  " in text


async def test_ctrl_c_quits_like_q_and_cancels_the_command_line(
    served: Served, cache: Cache
) -> None:
    app = make_app(served, cache, offline=True)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_line(app, pilot)
        await type_text(pilot, "arc")
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: isinstance(app.screen, PaneScreen))
        assert app.current_mode == "overview"
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_code == 0
    assert notes.find("to quit") is None


# --------------------------------------------------------------------------- snapshots


async def _ambiguous_name(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await pilot.press("colon")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandLine))
    box = app.screen.query_one("#command", Input)
    box.cursor_blink = False
    await type_text(pilot, "ctx o")
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen.query_one("#candidates", Static).display)


async def _portal_link(pilot: Pilot[Any]) -> None:
    await pilot.press("2")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ArcPane))
    await pilot.press("o")
    await wait_for(pilot, lambda: pilot.app.screen.query_one(CopiedBar).size.height == 1)


@pytest.mark.parametrize("run_before", [_ambiguous_name, _portal_link], ids=lambda f: f.__name__)
def test_snapshot(
    snap_compare: Any,
    make: Callable[..., BtConsoleApp],  # noqa: F811 (the fixture imported above)
    run_before: Callable[..., Any],
) -> None:
    assert snap_compare(make(), terminal_size=SIZE, run_before=run_before)
