"""Every shipped theme, and NO_COLOR, is readable as drawn.

The app runs as the CLI builds it (Pilot, the emulator's estate in a cache); each test
reads what the screen really holds: the compositor's lines after the app's line filters
(NO_COLOR's monochrome filter among them), one Rich style per segment. Each glyph's
foreground and background are measured with the WCAG 2 contrast ratio (>= 4.5:1), in
24-bit colour and again after the downgrade to the 256-colour palette a terminal
without truecolor gets (tmux often runs so; two colours that meet in one palette entry
are one colour there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rich.color import Color, ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.app import App
from textual.widget import Widget

from btconsole.cache import Cache
from btconsole.ui.app import BtConsoleApp
from btconsole.ui.table import LEVELS, ResourceTable, Row
from btconsole.ui.themes import (
    NO_COLOR_THEME,
    load_themes,
    readable,
    shipped_theme_dir,
    user_theme_dir,
)
from btconsole.ui.themes import contrast as theme_contrast
from btconsole.ui.widgets import StatusBar, TitleBar
from tests.ui.conftest import Served, make_app, wait_for

SIZE = (80, 24)
MINIMUM = 4.5  # WCAG 2 AA for text
SHIPPED = sorted(load_themes(shipped_theme_dir()).themes)
NO_COLOR = "NO_COLOR"
LOOKS = [*SHIPPED, NO_COLOR]  # every shipped theme, and NO_COLOR (whatever the config says)
PANES = {"1": "overview", "2": "arc", "3": "circuits", "4": "policy", "5": "spend"}
DECORATION = range(0x2500, 0x25A0)  # box drawing and block elements: borders, scrollbars


# --------------------------------------------------------------------------- measure


def _linear(channel: int) -> float:
    value = channel / 255
    return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    red, green, blue = (_linear(c) for c in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(one: tuple[int, int, int], other: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio, 1 (same luminance) to 21 (black and white)."""
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def rgb(color: Color, system: ColorSystem) -> tuple[int, int, int]:
    """The colour a terminal of ``system`` shows for ``color``."""
    shown = color.downgrade(system) if system != ColorSystem.TRUECOLOR else color
    triplet = shown.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def _name(color: Color, system: ColorSystem) -> str:
    if system == ColorSystem.EIGHT_BIT:
        return f"colour {color.downgrade(system).number}"  # ESC[38;5;Nm
    red, green, blue = rgb(color, system)
    return f"#{red:02x}{green:02x}{blue:02x}"


@dataclass(frozen=True)
class Glyphs:
    """A run of text on the screen and the colours it is drawn in."""

    text: str
    where: str
    style: Style

    @property
    def colours(self) -> tuple[Color, Color]:
        """(text colour, background) as the terminal shows them (reverse applied)."""
        fg, bg = self.style.color, self.style.bgcolor
        assert fg is not None and bg is not None, f"{self}: a terminal default colour"
        return (bg, fg) if self.style.reverse else (fg, bg)

    def ratio(self, system: ColorSystem) -> float:
        fg, bg = self.colours
        return contrast(rgb(fg, system), rgb(bg, system))

    def background(self, system: ColorSystem) -> tuple[int, int, int]:
        return rgb(self.colours[1], system)


def screen_lines(app: App[Any]) -> list[list[Segment]]:
    """Every line of the screen as the terminal receives it (line filters applied)."""
    lines = []
    background = app.screen.styles.background
    for strip in app.screen._compositor.render_strips():
        segments = list(strip)
        for line_filter in app.get_line_filters():
            segments = line_filter.apply(segments, background)
        lines.append(segments)
    return lines


def glyphs_on(app: App[Any], y: int, x0: int = 0, x1: int = 10_000) -> list[Glyphs]:
    """The runs of visible text on screen line ``y`` between columns ``x0`` and ``x1``."""
    found = []
    x = 0
    for text, style, control in screen_lines(app)[y]:
        if control or style is None:
            continue
        start, x = x, x + len(text)
        text = text[max(0, x0 - start) : max(0, x1 - start)]
        visible = "".join(ch for ch in text if not ch.isspace() and ord(ch) not in DECORATION)
        if visible:
            found.append(Glyphs(visible, f"line {y}", style))
    return found


def widget_glyphs(app: App[Any], widget: Widget, line: int) -> list[Glyphs]:
    """The text runs on ``line`` of ``widget``'s content (0 = its first content line)."""
    region = widget.content_region
    return glyphs_on(app, region.y + line, region.x, region.right)


def unreadable(glyphs: list[Glyphs]) -> list[str]:
    """Each run below the minimum, in 24-bit or in 256 colours, or dimmed (a terminal
    decides how dim is drawn: its contrast cannot be known)."""
    problems = []
    for run in glyphs:
        if run.style.dim:
            problems.append(f"{run.where}: {run.text[:30]!r} is dim")
            continue
        for system in (ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT):
            ratio = run.ratio(system)
            if ratio < MINIMUM:
                fg, bg = (_name(colour, system) for colour in run.colours)
                problems.append(
                    f"{run.where}: {run.text[:30]!r} {fg} on {bg}: {ratio:.2f}:1 ({system.name})"
                )
    return problems


# --------------------------------------------------------------------------- fixtures


# users' themes: the example of docs/usage.md (only some colours given, the rest
# derived) and a red one, on which Textual's "auto" text is white at 4:1
USER_THEMES = {
    "night-shift": """name = "night-shift"
dark = true
primary = "#3A6EA5"
background = "#0B0F14"
warning = "#E3B341"
error = "#FF5A5F"
""",
    "alarm": """name = "alarm"
dark = true
primary = "#FF0000"
secondary = "#FF0000"
""",
}


def themed_app(
    served: Served, cache: Cache, look: str, monkeypatch: pytest.MonkeyPatch
) -> BtConsoleApp:
    """The app in a shipped theme, or under NO_COLOR (over a config asking for bt), or
    in one of :data:`USER_THEMES`."""
    if look in USER_THEMES:
        directory = user_theme_dir()  # in the test's own HOME
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{look}.toml").write_text(USER_THEMES[look], encoding="utf-8")
    if look == NO_COLOR:
        # Textual reads NO_COLOR from the process (its monochrome filter), btconsole
        # from the environment it is given (the monochrome theme)
        monkeypatch.setenv("NO_COLOR", "1")
        return make_app(served, cache, offline=True, theme="bt", environ={"NO_COLOR": "1"})
    monkeypatch.delenv("NO_COLOR", raising=False)
    return make_app(served, cache, offline=True, theme=look)


def expected_theme(look: str) -> str:
    return NO_COLOR_THEME if look == NO_COLOR else look


# --------------------------------------------------------------------------- tests


def test_contrast_is_the_wcag_ratio() -> None:
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast((255, 255, 255), (255, 255, 255)) == pytest.approx(1.0)
    assert contrast((0x77, 0x77, 0x77), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)
    # the reported defect, measured the way these tests measure: 231 on 231
    white = Style(color="#ffffff", bgcolor="#fefefe")
    assert unreadable([Glyphs("Overview", "title", white)])
    assert unreadable(
        [Glyphs("help", "status", Style(color="#ffffff", bgcolor="#000000", dim=True))]
    )
    # readable in 24-bit colour, not once a 256-colour terminal rounds it (4.0:1)
    grey = Glyphs("x", "row", Style(color="#757575", bgcolor="#000000"))
    assert grey.ratio(ColorSystem.TRUECOLOR) >= MINIMUM
    assert unreadable([grey]) == ["row: 'x' colour 242 on colour 16: 4.00:1 (EIGHT_BIT)"]


def test_every_shipped_theme_is_measured() -> None:
    assert {"bt", "bt-light", "high-contrast", "monochrome"} <= set(SHIPPED)


@pytest.mark.parametrize("look", LOOKS)
async def test_every_glyph_of_every_pane_is_readable(
    served: Served, cache: Cache, look: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Title, headers, rows of every level, the cursor row (focused and not), the
    status bar: every visible character on every pane, in both tables' focus states."""
    app = themed_app(served, cache, look, monkeypatch)
    problems: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == expected_theme(look)
        for key, name in PANES.items():
            await pilot.press(key)
            await wait_for(pilot, lambda name=name: getattr(app.screen, "PANE", None) == name)
            await pilot.pause()
            states = ["focused"]
            if name == "overview":
                states.append("attention focused")
            for state in states:
                if state == "attention focused":
                    await pilot.press("tab")
                    await wait_for(
                        pilot, lambda: app.focused is not None and app.focused.id == "attention"
                    )
                    await pilot.pause()
                glyphs = [g for y in range(SIZE[1]) for g in glyphs_on(app, y)]
                assert glyphs, f"{name}: nothing drawn"
                problems += [f"{name} ({state}) {p}" for p in unreadable(glyphs)]
            if name == "overview":
                await pilot.press("tab")  # back to the customers
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("look", [*LOOKS, *USER_THEMES])
async def test_title_status_and_both_cursor_rows_are_readable(
    served: Served, cache: Cache, look: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts the defect named, each looked for where it is: the title bar, the
    status bar, the focused table's cursor row and the other table's; in a user's
    theme too, whose foregrounds on coloured bars are derived (black or white)."""
    app = themed_app(served, cache, look, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        customers = screen.query_one("#table", ResourceTable)
        attention = screen.query_one("#attention", ResourceTable)
        assert app.focused is customers
        parts = {
            "title": widget_glyphs(app, screen.query_one(TitleBar), 0),
            "status": widget_glyphs(app, screen.query_one(StatusBar), 0),
            "focused cursor": widget_glyphs(app, customers, 1 + customers.cursor_index),
            "other cursor": widget_glyphs(app, attention, 1 + attention.cursor_index),
        }
        for part, glyphs in parts.items():
            assert glyphs, f"{part}: nothing drawn"
            problems = unreadable(glyphs)
            assert not problems, f"{part}: " + "; ".join(problems)
        assert "Overview" in parts["title"][0].text


async def test_a_theme_switched_while_running_is_drawn_in_its_own_colours(
    served: Served, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``:theme NAME``: the bars and tables drop the styles of the theme before."""
    app = themed_app(served, cache, "bt", monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        for name in [*reversed(SHIPPED), "bt"]:
            app.theme = name
            await pilot.pause()
            customers = screen.query_one("#table", ResourceTable)
            attention = screen.query_one("#attention", ResourceTable)
            drawn = [
                *widget_glyphs(app, screen.query_one(TitleBar), 0),
                *widget_glyphs(app, screen.query_one(StatusBar), 0),
                *widget_glyphs(app, customers, 0),
                *widget_glyphs(app, customers, 1 + customers.cursor_index),
                *widget_glyphs(app, attention, 1 + attention.cursor_index),
            ]
            assert not unreadable(drawn), (name, unreadable(drawn))
            status = screen.query_one(StatusBar)
            offline = [run for run in widget_glyphs(app, status, 0) if run.text == "OFFLINE"]
            assert offline, "the status bar says OFFLINE"
            warning = Color.parse(app.theme_variables["text-warning"])
            assert offline[0].colours[0].get_truecolor() == warning.get_truecolor(), name


def _line_background(glyphs: list[Glyphs], system: ColorSystem) -> set[tuple[int, int, int]]:
    return {run.background(system) for run in glyphs}


def _plain_row(app: App[Any], table: ResourceTable) -> list[Glyphs]:
    """A row of ``table`` away from its cursor."""
    line = 2 if table.cursor_index == 0 else 1
    glyphs = widget_glyphs(app, table, line)
    assert glyphs, f"{table.id}: no row at line {line}"
    return glyphs


@pytest.mark.parametrize("look", LOOKS)
async def test_which_table_has_focus_shows_as_more_than_a_text_colour(
    served: Served, cache: Cache, look: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The focused table's header and cursor row each have a background of their own,
    apart from the other table's in brightness (so it shows in greys and in 256
    colours), and its cursor row is bold; tab moves all of it to the other table."""
    app = themed_app(served, cache, look, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        tables = [
            screen.query_one("#table", ResourceTable),
            screen.query_one("#attention", ResourceTable),
        ]

        def looks(table: ResourceTable) -> tuple[list[Glyphs], list[Glyphs]]:
            return widget_glyphs(app, table, 0), widget_glyphs(app, table, 1 + table.cursor_index)

        for focused, other in (tables, tables[::-1]):
            if app.focused is not focused:
                await pilot.press("tab")
                await wait_for(pilot, lambda focused=focused: app.focused is focused)
                await pilot.pause()
            (header, cursor), (other_header, other_cursor) = looks(focused), looks(other)
            assert all(run.style.bold for run in cursor), cursor
            plain = _plain_row(app, other)
            for system in (ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT):
                for mine, theirs, part in (
                    (header, other_header, "header"),
                    (cursor, other_cursor, "cursor row"),
                ):
                    (strong,) = _line_background(mine, system)
                    (weak,) = _line_background(theirs, system)
                    assert contrast(strong, weak) >= 1.5, (focused.id, part, system, strong, weak)
                # the other table's cursor is still there: its row is not a plain row
                (faint,) = _line_background(other_cursor, system)
                assert faint != _line_background(plain, system).pop(), (other.id, system)


@pytest.mark.parametrize("look", LOOKS)
async def test_rows_of_every_level_are_readable_in_both_focus_states(
    served: Served, cache: Cache, look: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of each level, and cells of each level in a plain row, drawn by the real
    table: the estate may not show every level on one screen."""
    app = themed_app(served, cache, look, monkeypatch)
    rows = [
        Row(key=level, cells=(f"{level} row", "cell"), level=level, cell_levels=(None, level))
        for level in LEVELS
    ]
    rows += [
        Row(key=f"plain-{level}", cells=("plain", level), cell_levels=(None, level))
        for level in LEVELS
    ]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        attention = app.screen.query_one("#attention", ResourceTable)
        attention.set_rows(rows)
        for focus in (False, True):
            if focus:
                attention.focus()
            await pilot.pause()
            lines = [
                widget_glyphs(app, attention, line)
                for line in range(attention.content_region.height)
            ]
            drawn = [line for line in lines if line]
            assert len(drawn) == 1 + len(rows), "a header and every row"
            problems = [p for line in drawn for p in unreadable(line)]
            assert not problems, f"focus={focus}: " + "; ".join(problems)


def test_readable_replaces_only_text_its_background_hides() -> None:
    white_on_white = Style(color="#ffffff", bgcolor="#fefefe", bold=True)
    assert readable(white_on_white) == Style(color="#000000", bgcolor="#fefefe", bold=True)
    # reverse video: the colour drawn as text is the background one
    swapped = Style(color="#202020", bgcolor="#202020", reverse=True)
    assert readable(swapped).bgcolor == Color.parse("#ffffff")
    # readable already: kept as the theme has it
    kept = Style(color="#ede7f6", bgcolor="#7b2fbe")
    assert readable(kept) is kept
    # 4.56:1 in 24-bit colour but 4.0:1 once in 256 colours: replaced
    assert readable(Style(color="#757575", bgcolor="#000000")).color == Color.parse("#ffffff")
    # the terminal's own colours are the terminal's business
    default = Style(color="default", bgcolor="#ffffff")
    assert readable(default) is default
    assert theme_contrast(Color.parse("#000000"), Color.parse("#ffffff")) == pytest.approx(21)
