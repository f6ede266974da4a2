"""Help (generated from the bindings) and the ``:`` command line with completion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static


class HelpScreen(ModalScreen[None]):
    """Every key binding with its description, grouped by where it works."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close help", id="help.close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 76; max-width: 100%; height: 90%; border: round $primary;
        background: $surface; padding: 0 1; }
    """

    def __init__(self, rows: Sequence[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("btconsole keys", style="bold")
        text.append("   (escape closes)\n")
        where = None
        for group, key, description in self.rows:
            if group != where:
                where = group
                text.append(f"\n{group}\n", style="bold underline")
            text.append(f"  {key:<14}", style="bold")
            text.append(f"{description}\n")
        text.append("\nfilter: plain text, key:value (status:disconnected), !negate\n")
        text.append("command line: :arc :circuits :policy :spend :customer NAME :all :theme NAME\n")
        with VerticalScroll():
            yield Static(text, id="help-text")


class CommandLine(ModalScreen[str | None]):
    """``:`` then a command; tab or right arrow completes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="command.cancel"),
    ]
    DEFAULT_CSS = """
    CommandLine { align: left bottom; background: transparent; }
    CommandLine > Input#command, CommandLine > Input#command:focus {
        dock: bottom; width: 100%; height: 1; border: none; padding: 0 1; background: $boost;
    }
    """

    def __init__(self, words: Sequence[str]) -> None:
        super().__init__()
        self.words = list(words)

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder=":arc  :customer NAME  :all  (tab completes)",
            suggester=SuggestFromList(self.words, case_sensitive=False),
            id="command",
        )

    def on_mount(self) -> None:
        self.set_focus(self.query_one(Input))

    def on_key(self, event: events.Key) -> None:
        """Keys typed straight after ":" reach the screen before the input has focus."""
        box = self.query_one(Input)
        if event.is_printable and event.character is not None:
            event.stop()
            event.prevent_default()
            box.insert_text_at_cursor(event.character)
        elif event.key == "enter":
            event.stop()
            self.dismiss(box.value)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def key_tab(self) -> None:
        box = self.query_one(Input)
        if box._suggestion:  # accept the suggestion, as the right arrow does
            box.value = box._suggestion
            box.cursor_position = len(box.value)
