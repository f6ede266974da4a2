"""Small shared widgets: the title bar and the status bar."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from btconsole.ui.data import DomainState
from btconsole.ui.render import age_text
from btconsole.ui.textsafe import clean


class TitleBar(Static):
    """Pane name, scope (customer or all) and the row counts. Literal text only."""

    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        height: 1;
        background: $primary;
        color: $foreground;
        text-style: bold;
        padding: 0 1;
        text-wrap: nowrap;  /* one line, cut with an ellipsis: a 500-character name */
        text-overflow: ellipsis;  /* would otherwise wrap onto a hidden second line */
    }
    """

    def show(self, pane: str, scope: str, shown: int, total: int, filter_text: str) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(pane)
        text.append(f"  [{clean(scope)}]")
        text.append(f"  {shown}/{total}")
        if filter_text:
            text.append(f"  /{clean(filter_text)}")
        self.update(text)


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
    }
    """

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
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(clean(scope), style="bold")
        errors, stale = listing_errors, 0
        if unknown:
            text.append(f"  {unknown} unknown", style="bold red")
        for state in states:
            text.append("  ")
            age = "never" if state.oldest_age is None else age_text(state.oldest_age)
            style = ""
            if state.errors:
                style = "bold red"
            elif state.stale or state.never:
                style = "yellow"
            text.append(f"{state.domain[:3]} {age}", style=style)
            errors += state.errors
            stale += state.stale
        if stale:
            text.append("  STALE", style="bold yellow")
        if offline:
            text.append("  OFFLINE", style="bold yellow")
        elif throttled:
            text.append("  THROTTLED", style="bold yellow")
        elif refreshing:
            text.append("  refreshing…", style="italic")
        if errors:
            text.append(f"  {errors} err", style="bold red")
        text.append(f"  {keys_hint}", style="dim")
        self.update(text)
