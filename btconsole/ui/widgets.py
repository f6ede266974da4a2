"""Small shared widgets: the title bar and the status bar.

Colours come from the theme through CSS only (never a named terminal colour such as
``red``, which a light theme cannot be read on): the title's foreground is "auto"
(black or white against ``$primary``), and the status bar's states are component
classes resolved against its own background. Both pass through
:func:`~btconsole.ui.themes.readable` when drawn, so a theme change redraws them in
the new colours and no theme can hide their text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.widgets import Static

from btconsole.ui.data import DomainState
from btconsole.ui.render import age_text
from btconsole.ui.textsafe import clean
from btconsole.ui.themes import readable


class TitleBar(Static):
    """Pane name, scope (customer or all) and the row counts. Literal text only."""

    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        height: 1;
        background: $primary;
        color: auto 95%;  /* $foreground on $primary is white on white in high-contrast */
        text-style: bold;
        padding: 0 1;
        text-wrap: nowrap;  /* one line, cut with an ellipsis: a 500-character name */
        text-overflow: ellipsis;  /* would otherwise wrap onto a hidden second line */
    }
    """

    def show(self, pane: str, scope: str, shown: int | None, total: int, filter_text: str) -> None:
        """``shown`` None: no row counts (a screen without a table of rows)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(pane)
        text.append(f"  [{clean(scope)}]")
        if shown is not None:
            text.append(f"  {shown}/{total}")
        if filter_text:
            text.append(f"  /{clean(filter_text)}")
        self._text = text
        self.refresh()

    _text: Text | None = None

    def render(self) -> RenderResult:
        """The title, in black or white if the theme's own text colour would not show
        on ``$primary`` (``auto`` picks by brightness, not by contrast: white on pure
        red is 4:1)."""
        if self._text is None:
            return super().render()
        drawn = readable(self.rich_style)
        if drawn.color == self.rich_style.color:
            return self._text
        text = self._text.copy()
        text.stylize(Style(color=drawn.color))
        return text


class StatusBar(Static):
    """Profile in view, each domain's data age, refresh/throttle state, error count."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;

        & > .status-bar--scope { text-style: bold; }
        & > .status-bar--error { color: $text-error; text-style: bold; }
        & > .status-bar--warning { color: $text-warning; }
        & > .status-bar--notice { color: $text-warning; text-style: bold; }
        & > .status-bar--busy { text-style: italic; }
        & > .status-bar--hint { color: $text-muted; }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "status-bar--scope",
        "status-bar--error",
        "status-bar--warning",
        "status-bar--notice",
        "status-bar--busy",
        "status-bar--hint",
    }

    _shown: tuple[str, Sequence[DomainState], dict[str, Any]] | None = None

    def _style(self, part: str) -> Style:
        # the full style: "auto" colours resolved against this bar's own background
        return readable(self.get_component_rich_style(f"status-bar--{part}"))

    def show(
        self,
        scope: str,
        states: Sequence[DomainState],
        *,
        refreshing: bool,
        throttled: bool,
        offline: bool,
        keys_hint: str = "? help",
        listing_errors: int = 0,
        unknown: int = 0,
    ) -> None:
        """``listing_errors``: failed subscription listings (the level above every
        domain), counted with the domains' failures in ``err``; ``unknown``: customers
        none of whose subscriptions can be named (no listing was ever read)."""
        self._shown = (
            scope,
            states,
            {
                "refreshing": refreshing,
                "throttled": throttled,
                "offline": offline,
                "keys_hint": keys_hint,
                "listing_errors": listing_errors,
                "unknown": unknown,
            },
        )
        self.refresh()

    def render(self) -> RenderResult:
        """The last state shown, in the current theme's colours (drawn on each theme
        change: styles are read here, not kept from when the state arrived)."""
        if self._shown is None:
            return super().render()
        scope, states, options = self._shown
        return self._text(scope, states, **options)

    def _text(
        self,
        scope: str,
        states: Sequence[DomainState],
        *,
        refreshing: bool,
        throttled: bool,
        offline: bool,
        keys_hint: str,
        listing_errors: int,
        unknown: int,
    ) -> Text:
        error, warning, notice = self._style("error"), self._style("warning"), self._style("notice")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(clean(scope), style=self._style("scope"))
        errors, stale = listing_errors, 0
        if unknown:
            text.append(f"  {unknown} unknown", style=error)
        for state in states:
            text.append("  ")
            age = "never" if state.oldest_age is None else age_text(state.oldest_age)
            style: Style | str = ""
            if state.errors:
                style = error
            elif state.stale or state.never:
                style = warning
            text.append(f"{state.domain[:3]} {age}", style=style)
            errors += state.errors
            stale += state.stale
        if stale:
            text.append("  STALE", style=notice)
        if offline:
            text.append("  OFFLINE", style=notice)
        elif throttled:
            text.append("  THROTTLED", style=notice)
        elif refreshing:
            text.append("  refreshing…", style=self._style("busy"))
        if errors:
            text.append(f"  {errors} err", style=error)
        # the way to help stays whole: what does not fit is cut before it
        hint = Text(f"  {keys_hint}", style=self._style("hint"), no_wrap=True)
        room = self.content_region.width - hint.cell_len
        if room > 0 and text.cell_len > room:
            text.truncate(room, overflow="ellipsis")
        text.append_text(hint)
        return text
