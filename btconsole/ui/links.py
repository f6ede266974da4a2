"""``y`` and ``o``: what was copied, shown on one line, a portal link clickable (OSC 8).

A toast wraps a 150-character URL over eight lines, where it can be neither clicked nor
copied by hand. The :class:`CopiedBar` shows the value on one line, cut in the middle
when it is wider than the line (the end names the resource; the whole value is on the
clipboard and, for a link, in the OSC 8 target), and a link as an OSC 8 hyperlink: Rich's
``Style(link=url)``, which Textual writes as ``ESC ] 8 ; ; url ESC \\``. The URL is built
by :meth:`btconsole.ui.app.BtConsoleApp.portal_url`: printable ASCII, so it cannot end
that sequence early; the text shown is cleaned like every text from Azure.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len, get_character_cell_size
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from btconsole.ui.textsafe import ELLIPSIS, clean


def azure_id_of(payload: Any) -> str | None:
    """The Azure resource ID a row or details screen is about, or None.

    A record's ``id``, a finding's ``resource_id``, a policy assignment's ID; else the
    subscription (a finding or compliance summary about a whole subscription, a spend
    row ``(profile, subscription, currency)``). Only IDs (starting with ``/``) count.
    """
    for name in ("id", "resource_id", "assignment_id"):
        value = getattr(payload, name, None)
        if isinstance(value, str) and value.startswith("/"):
            return value
    subscription = getattr(payload, "subscription_id", None)
    if isinstance(payload, tuple) and len(payload) == 3 and isinstance(payload[1], str):
        subscription = payload[1]
    if isinstance(subscription, str) and subscription:
        return f"/subscriptions/{subscription}"
    return None


def profile_of(payload: Any) -> str | None:
    """The profile (customer) a row's payload belongs to."""
    if isinstance(payload, tuple) and payload and isinstance(payload[0], str):
        return payload[0]
    profile = getattr(payload, "profile", None)
    return profile if isinstance(profile, str) else None


class CopiedBar(Static):
    """The last value ``y`` or ``o`` copied, for the row it was copied from."""

    DEFAULT_CSS = """
    CopiedBar {
        height: 1;
        background: $boost;
        color: $foreground;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.row_key: str | None = None
        self.what = ""
        self.value = ""
        self.link: str | None = None

    def show(self, what: str, value: str, *, row_key: str | None, link: str | None = None) -> None:
        """``what`` copied: ``value`` (a ``link`` makes the value an OSC 8 hyperlink)."""
        self.row_key = row_key
        self.what = what
        self.value = value
        self.link = link
        self.display = True
        self.refresh()

    def render(self) -> Text:
        return copied_text(self.what, self.value, self.link, width=self.content_size.width)

    def hide(self) -> None:
        self.row_key = None
        self.display = False


def copied_text(what: str, value: str, link: str | None = None, *, width: int = 0) -> Text:
    """``"<what> copied  <value>"`` on one line of ``width`` cells (0: any width), the
    value cut in the middle to fit; with ``link``, the value links to it (OSC 8)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{what} copied ", style="bold")
    text.append(" ")
    shown = clean(value)
    if width > 0:
        shown = middle_cut(shown, max(width - cell_len(text.plain), 12))
    text.append(shown, style=Style(link=link, underline=True) if link else "")
    return text


def middle_cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells: its start, "…", and its end (the longer
    part: an ID or a portal URL ends with the resource's name)."""
    if cell_len(text) <= width:
        return text
    room = max(width - 1, 0)
    tail_room = room * 11 // 20
    head, used = [], 0
    for char in text:
        size = get_character_cell_size(char)
        if used + size > room - tail_room:
            break
        head.append(char)
        used += size
    tail: list[str] = []
    used = 0
    for char in reversed(text):
        size = get_character_cell_size(char)
        if used + size > tail_room:
            break
        tail.append(char)
        used += size
    return "".join(head) + ELLIPSIS + "".join(reversed(tail))
