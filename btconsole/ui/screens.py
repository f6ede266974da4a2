"""Help (generated from the bindings) and the ``:`` command line.

The command line completes the word under the cursor (:mod:`btconsole.ui.commandline`
holds the grammar, matching and history; this module only shows them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static

from btconsole.ui.commandline import Grammar, complete, matches, suggestion
from btconsole.ui.textsafe import clean

# how a key is written in help: Textual's names for the keys that are characters
KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "colon": ":",
    "greater_than_sign": ">",
    "less_than_sign": "<",
    "exclamation_mark": "!",
}
KEY_COLUMN_MAX = 22  # a longer key list goes on its own line, the description below


def key_label(keys: str) -> str:
    """``"pagedown,ctrl+f"`` -> ``"pagedown / ctrl+f"``; ``"question_mark"`` -> ``"?"``."""
    return " / ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(",") if k.strip())


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

    def __init__(
        self, rows: Sequence[tuple[str, str, str]], key: Callable[[str, str], str] | None = None
    ) -> None:
        super().__init__()
        self.rows = rows
        self.key = key

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text(self.rows, self.key), id="help-text")


def _default_key(_binding_id: str, default: str) -> str:
    return default


def help_text(
    rows: Sequence[tuple[str, str, str]], key_in_force: Callable[[str, str], str] | None = None
) -> Text:
    """The help's text: per group, each key column-aligned before its description,
    with at least two spaces between them (a key list too long for the column goes
    on its own line). ``key_in_force(binding_id, default)``: a key for the notes."""
    k = key_in_force or _default_key
    widest = max((cell_len(key) for _group, key, _description in rows), default=0)
    column = min(widest, KEY_COLUMN_MAX) + 2
    text = Text()
    text.append("btconsole keys", style="bold")
    text.append(f"   ({k('help.close', 'escape')} closes)\n")
    where = None
    for group, key, description in rows:
        if group != where:
            where = group
            text.append(f"\n{group}\n", style="bold underline")
        key_text = clean(key)
        if cell_len(key_text) + 2 > column:
            text.append(f"  {key_text}\n", style="bold")
            text.append(" " * (column + 2))
        else:
            text.append(f"  {key_text}", style="bold")
            text.append(" " * (column - cell_len(key_text)))
        text.append(f"{clean(description)}\n")
    text.append("\nfilter: plain text, key:value (status:disconnected), !negate\n")
    text.append(
        "command line: :arc :circuits :policy :spend :health :customer NAME :all :theme NAME\n"
        f"  {k('command.complete', 'tab')} completes the word, "
        f"{k('command.earlier', 'up')}/{k('command.later', 'down')} recall earlier commands\n"
    )
    return text


class _GrammarSuggester(Suggester):
    """The grey suggestion: the last word completed when one name fits it."""

    def __init__(self, grammar: Grammar) -> None:
        super().__init__(use_cache=True, case_sensitive=True)
        self.grammar = grammar

    async def get_suggestion(self, value: str) -> str | None:
        return suggestion(self.grammar, value)


class CommandLine(ModalScreen[str | None]):
    """``:`` then a command: tab completes the word, up/down walk the history."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,ctrl+c", "cancel", "Cancel", id="command.cancel"),
        Binding("tab", "complete", "Complete the word (lists the choices)", id="command.complete"),
        Binding("up", "history(-1)", "Earlier command (starting as typed)", id="command.earlier"),
        Binding("down", "history(1)", "Later command", id="command.later"),
    ]
    DEFAULT_CSS = """
    CommandLine { align: left bottom; background: transparent; }
    CommandLine > Vertical#command-box { dock: bottom; height: auto; }
    CommandLine Static#candidates { height: auto; max-height: 4; padding: 0 1;
        background: $panel; display: none; }
    CommandLine Static#candidates.-visible { display: block; }
    CommandLine Input#command, CommandLine Input#command:focus {
        width: 100%; height: 1; border: none; padding: 0 1; background: $boost;
    }
    """

    def __init__(self, grammar: Grammar, history: Sequence[str] = ()) -> None:
        super().__init__()
        self.grammar = grammar
        self.history = list(history)
        self._position = len(self.history)  # len: the line being typed, not history
        self._draft = ""
        self._recalled: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="command-box"):
            yield Static(id="candidates")
            yield Input(
                placeholder=":arc  :customer NAME  :all  (tab completes, up: history)",
                suggester=_GrammarSuggester(self.grammar),
                id="command",
            )

    @property
    def box(self) -> Input:
        return self.query_one("#command", Input)

    def on_mount(self) -> None:
        self.set_focus(self.box)

    def on_key(self, event: events.Key) -> None:
        """Keys typed straight after ":" reach the screen before the input has focus."""
        box = self.box
        if event.is_printable and event.character is not None:
            event.stop()
            event.prevent_default()
            box.insert_text_at_cursor(event.character)
        elif event.key == "enter":
            event.stop()
            self._submit_text(box.value)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit_text(event.value)

    def _submit_text(self, value: str) -> None:
        """Run the line, unless its name fits several: then list them and stay."""
        ambiguous = self.ambiguous(value)
        if ambiguous:
            self.show_candidates(ambiguous, f"{len(ambiguous)} match, type more: ")
            return
        self.dismiss(value)

    def ambiguous(self, value: str) -> list[str]:
        """The names the line's argument fits, when it fits more than one."""
        words = value.strip().lstrip(":").split()
        if len(words) < 2:
            return []
        verb = self.grammar.verb(words[0])
        if verb is None or not self.grammar.takes_argument(verb):
            return []
        found = matches(self.grammar.arguments[verb], words[1])
        return found if len(found) > 1 else []

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.value == self.box.value and event.value != self._recalled:
            # typed (not recalled): up searches from this text again
            self._position = len(self.history)
            self._recalled = None

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_complete(self) -> None:
        box = self.box
        done = complete(self.grammar, box.value, box.cursor_position)
        if done.value != box.value:
            box.value = done.value
        box.cursor_position = done.cursor
        if done.candidates:
            self.show_candidates(list(done.candidates))
        else:
            self.show_candidates([])

    def show_candidates(self, names: Sequence[str], lead: str = "") -> None:
        """List ``names`` above the line (nothing: hide the list)."""
        shown = self.query_one("#candidates", Static)
        if not names:
            shown.remove_class("-visible")
            return
        text = Text()
        if lead:
            text.append(lead, style="bold")
        text.append("  ".join(clean(n) for n in names))
        shown.update(text)
        shown.add_class("-visible")

    def action_history(self, step: int) -> None:
        """Walk the history: up to older, down to newer, then back to what was typed.

        With text typed, only the commands starting with it (as a shell's prefix search).
        """
        box = self.box
        if self._position == len(self.history):
            self._draft = box.value
        prefix = self._draft.lower()
        index = self._position + step
        while 0 <= index < len(self.history):
            entry = self.history[index]
            if entry.lower().startswith(prefix) and entry != box.value:
                self._show(index, entry)
                return
            index += step
        if step > 0:
            self._show(len(self.history), self._draft)

    def _show(self, position: int, value: str) -> None:
        self._position = position
        self._recalled = value
        box = self.box
        box.value = value
        box.cursor_position = len(value)
