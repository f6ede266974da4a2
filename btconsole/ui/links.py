"""``y`` and ``o``: what was copied, shown on one line, a portal link clickable (OSC 8).

A toast wraps a 150-character URL over eight lines, where it can be neither clicked nor
copied by hand. The :class:`CopiedBar` shows the value on one line (cut at the right
edge, the whole value being on the clipboard), and a link as an OSC 8 hyperlink: Rich's
``Style(link=url)``, which Textual writes as ``ESC ] 8 ; ; url ESC \\``. The URL is built
by :meth:`btconsole.ui.app.BtConsoleApp.portal_url`: printable ASCII, so it cannot end
that sequence early; the text shown is cleaned like every text from Azure.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from btconsole.ui.textsafe import clean


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
        self.value = ""
        self.link: str | None = None

    def show(self, what: str, value: str, *, row_key: str | None, link: str | None = None) -> None:
        """``what`` copied: ``value`` (a ``link`` makes the value an OSC 8 hyperlink)."""
        self.row_key = row_key
        self.value = value
        self.link = link
        self.update(copied_text(what, value, link))
        self.display = True

    def hide(self) -> None:
        self.row_key = None
        self.display = False


def copied_text(what: str, value: str, link: str | None = None) -> Text:
    """``"<what> copied  <value>"`` on one line; with ``link``, the value links to it."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{what} copied ", style="bold")
    text.append(" ")
    text.append(clean(value), style=Style(link=link, underline=True) if link else "")
    return text
