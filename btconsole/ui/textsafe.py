"""Make text from Azure safe to put on a terminal line.

Names, tags and messages from Azure are data. They reach the screen only as plain
Rich ``Segment`` text (never parsed as markup), and only after :func:`clean` removed
everything a terminal could act on:

* ESC sequences (CSI such as ``ESC [ 31 m``, OSC such as ``ESC ] 52 ; c ; ... BEL``,
  DCS/SOS/PM/APC strings, and two- or three-byte escapes), and their 8-bit C1 forms;
* any remaining C0/C1 control character and DEL;
* Unicode format characters (category ``Cf``), which include the bidi embedding,
  override and isolate controls (U+202A..U+202E, U+2066..U+2069, the "Trojan Source"
  set) and the invisible marks (LRM, RLM, ALM, ZWSP, BOM, ...). The two joiners
  ZWJ and ZWNJ stay: they shape Persian, Indic and emoji text and move nothing;
* lone surrogates (they cannot be encoded for the terminal).

Tabs, newlines and the Unicode line/paragraph separators become a space, so the
result is one line. Everything else stays, including right-to-left letters and
wide (CJK) characters; widths are measured with :func:`rich.cells.cell_len`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Literal

from rich.cells import cell_len, get_character_cell_size

__all__ = ["ELLIPSIS", "Cut", "clean", "fit"]

ELLIPSIS = "…"

Cut = Literal["end", "middle"]
"""Where :func:`fit` cuts: at the ``end`` (free text: a message reads from its start) or
in the ``middle`` (names and IDs: ``er-con…frankfurt-001``, the start and the end that
tell rows apart both survive)."""

# A string introducer (OSC, DCS, SOS, PM, APC) runs to its terminator: BEL, ST (ESC \
# or 8-bit 0x9c), or the end of the text when a hostile value never terminates it.
_STRING_SEQ = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|\Z)"
_CSI_SEQ = r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
_OTHER_ESC = r"\x1b[ -/]*[0-~]"
_ESCAPES = re.compile(f"{_STRING_SEQ}|{_CSI_SEQ}|{_OTHER_ESC}", re.DOTALL)

_SPACE_LIKE = frozenset("\t\n\r\x0b\x0c\x85\u2028\u2029")
_KEEP_FORMAT = frozenset("\u200c\u200d")  # ZWNJ, ZWJ


@lru_cache(maxsize=4096)
def _is_dropped(char: str) -> bool:
    category = unicodedata.category(char)
    if category == "Cf":
        return char not in _KEEP_FORMAT
    return category in ("Cc", "Cs")


def clean(text: object) -> str:
    """Return ``text`` as printable single-line text.

    ``None`` becomes ``""``; other non-strings go through ``str()`` first. Clean
    text (the common case) is returned unchanged without copying.
    """
    if text is None:
        return ""
    value = text if isinstance(text, str) else str(text)
    if value.isprintable():
        return value
    value = _ESCAPES.sub("", value)
    out: list[str] = []
    for char in value:
        if char.isprintable():
            out.append(char)
        elif char in _SPACE_LIKE:
            out.append(" ")
        elif not _is_dropped(char):
            # Printable in practice though Python says otherwise: spaces such as
            # NBSP (Zs), private-use icons (Co), unassigned code points (Cn).
            out.append(char)
    return "".join(out)


def fit(text: str, width: int, cut: Cut = "end") -> str:
    """Truncate ``text`` to at most ``width`` terminal cells, with "…" where it was cut.

    ``cut="end"`` keeps the start; ``cut="middle"`` keeps a third of the room for the
    start and the rest for the end (``er-contr-frankfurt-001`` in 20 cells:
    ``er-con…frankfurt-001``; ``1.47.02866.1890 (-5)`` in 14: ``1.47…1890 (-5)``).
    Cell-aware: a wide character that would straddle the limit is left out, so the
    result may be one cell narrower than ``width``. Zero-width combining marks stay
    with their base character. ``fit`` never pads. ``width <= 0`` gives ``""``.
    """
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    limit = width - 1  # room for the ellipsis
    if cut == "middle" and limit >= 2:
        head = _head(text, max(1, limit // 3))
        return head + ELLIPSIS + _tail(text[len(head) :], limit - cell_len(head))
    return _head(text, limit) + ELLIPSIS


def _head(text: str, cells: int) -> str:
    """The longest start of ``text`` in at most ``cells`` cells, with its combining marks."""
    used = 0
    end = 0
    for index, char in enumerate(text):
        size = get_character_cell_size(char)
        if used + size > cells:
            break
        used += size
        end = index + 1
    # Keep combining marks that follow the last kept character.
    while 0 < end < len(text) and get_character_cell_size(text[end]) == 0:
        end += 1
    return text[:end]


def _tail(text: str, cells: int) -> str:
    """The longest end of ``text`` in at most ``cells`` cells, starting on a character
    that takes room (never on a lone combining mark)."""
    used = 0
    start = len(text)
    for index in range(len(text) - 1, -1, -1):
        size = get_character_cell_size(text[index])
        if used + size > cells:
            break
        used += size
        start = index
    while start < len(text) and get_character_cell_size(text[start]) == 0:
        start += 1
    return text[start:]
