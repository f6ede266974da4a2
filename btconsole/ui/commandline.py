"""The ``:`` line's grammar, name matching, completion and history (no Textual here).

A command is a verb and at most one argument (``customer NAME``, ``theme NAME``).
Completion works on the word under the cursor and *replaces* it: ``cu`` + tab gives
``customer `` and ``customer co`` + tab gives ``customer contoso-retail``; text after
the word is kept. Names match exactly, else by their start, else anywhere in them;
when several match, the candidates are what the user sees, never a silent guess.

History is a small JSON file in the state directory (0600 in a 0700 directory), newest
last, bounded in entries and size; a file that cannot be read or parsed is ignored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from btconsole.fsutil import write_private_file
from btconsole.ui.textsafe import clean

log = logging.getLogger(__name__)

HISTORY_SCHEMA = 1
HISTORY_ENTRIES = 200  # newest kept; older fall off
HISTORY_ENTRY_CHARS = 500  # a longer line is not a command anyone retypes
HISTORY_FILE_BYTES = 256 * 1024  # a bigger file is not ours: ignored, never read whole


# --------------------------------------------------------------------------- grammar


@dataclass(frozen=True)
class Grammar:
    """Verbs (canonical, in the order they are offered) and each verb's arguments.

    ``arguments[verb]`` is the names the verb takes (customers, themes); a verb not in
    it takes none. ``aliases`` maps other spellings to a canonical verb; they run but
    are not offered as completions (``cu`` completes to ``customer``, not ``cust``).
    """

    verbs: tuple[str, ...]
    arguments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)

    def verb(self, word: str) -> str | None:
        """The canonical verb ``word`` spells (case-insensitive), or None."""
        word = word.lower()
        if word in self.verbs:
            return word
        return self.aliases.get(word)

    def takes_argument(self, verb: str) -> bool:
        return verb in self.arguments


def matches(names: Sequence[str], word: str) -> list[str]:
    """The names ``word`` picks, case-insensitively: an exact match alone, else every
    name starting with it, else every name containing it (in the order given)."""
    wanted = word.lower()
    exact = [n for n in names if n.lower() == wanted]
    if exact:
        return exact[:1]
    start = [n for n in names if n.lower().startswith(wanted)]
    if start:
        return start
    return [n for n in names if wanted in n.lower()]


# --------------------------------------------------------------------------- completion


@dataclass(frozen=True)
class Completion:
    """The line after a tab: its text, the cursor, and the candidates to list (if
    more than one name fits the word, or none does)."""

    value: str
    cursor: int
    candidates: tuple[str, ...] = ()


def _word_at(text: str, cursor: int) -> tuple[int, int, int]:
    """(start, end, index) of the word under ``cursor``; index 0 is the verb."""
    cursor = max(0, min(cursor, len(text)))
    start = cursor
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    end = cursor
    while end < len(text) and not text[end].isspace():
        end += 1
    index = len(text[:start].split())
    return start, end, index


def _common_prefix(names: Sequence[str]) -> str:
    """The longest start all ``names`` share, case-insensitively (spelled as the first)."""
    if not names:
        return ""
    first = names[0]
    size = len(first)
    for name in names[1:]:
        size = min(size, len(name))
        for i in range(size):
            if first[i].lower() != name[i].lower():
                size = i
                break
    return first[:size]


def candidates_for(grammar: Grammar, text: str, cursor: int) -> tuple[str, ...]:
    """What the word under the cursor could be: verbs for the first word, the verb's
    names for the second, nothing after that."""
    start, _end, index = _word_at(text, cursor)
    if index == 0:
        return grammar.verbs
    if index == 1:
        verb = grammar.verb(text[:start].split()[0])
        if verb is not None:
            return grammar.arguments.get(verb, ())
    return ()


def complete(grammar: Grammar, text: str, cursor: int) -> Completion:
    """Complete the word under the cursor, replacing the whole word.

    One candidate: the word becomes it (and a verb that takes a name gets a space after
    it). Several: the word grows to what they share, and they are listed. None: the
    line is unchanged and the names the word could have been are listed.
    """
    start, end, index = _word_at(text, cursor)
    names = candidates_for(grammar, text, cursor)
    typed = text[start:cursor]
    found = matches(names, typed) if typed else list(names)
    if not found:
        return Completion(text, cursor, tuple(names))
    if len(found) == 1:
        word = found[0]
        rest = text[end:]
        if index == 0 and grammar.takes_argument(word) and not rest:
            word += " "
        return Completion(text[:start] + word + rest, start + len(word))
    shared = _common_prefix(found)
    if len(shared) > len(typed) and shared.lower().startswith(typed.lower()):
        return Completion(text[:start] + shared + text[end:], start + len(shared), tuple(found))
    return Completion(text, cursor, tuple(found))


def suggestion(grammar: Grammar, text: str) -> str | None:
    """The grey suggestion after ``text`` (cursor at its end): the line with its last
    word completed, when exactly one name starts with it."""
    start, _end, _index = _word_at(text, len(text))
    typed = text[start:]
    if not typed:
        return None
    names = candidates_for(grammar, text, len(text))
    found = [n for n in names if n.lower().startswith(typed.lower())]
    if len(found) != 1 or len(found[0]) == len(typed):
        return None
    return text[:start] + typed + found[0][len(typed) :]


# --------------------------------------------------------------------------- history


def history_path() -> Path:
    """``command-history.json`` in btconsole's state directory (beside ``log/``)."""
    from platformdirs import user_state_path

    return user_state_path("btconsole") / "command-history.json"


def load_history(path: Path) -> list[str]:
    """The commands kept at ``path``, oldest first; [] if missing or not usable."""
    try:
        if path.stat().st_size > HISTORY_FILE_BYTES:
            log.warning("command history %s is too large; ignored", path)
            return []
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
        log.warning("command history %s not usable (%s); starting afresh", path, exc)
        return []
    if not isinstance(data, dict) or data.get("schema") != HISTORY_SCHEMA:
        log.warning("command history %s has another schema; starting afresh", path)
        return []
    commands = data.get("commands")
    if not isinstance(commands, list):
        return []
    kept = [_entry(c) for c in commands if isinstance(c, str)]
    return [c for c in kept if c][-HISTORY_ENTRIES:]


def _entry(command: str) -> str:
    return clean(command).strip()[:HISTORY_ENTRY_CHARS]


def remember(entries: Sequence[str], command: str) -> list[str]:
    """``entries`` with ``command`` last (an earlier copy of it moves), bounded."""
    command = _entry(command)
    if not command:
        return list(entries)
    kept = [e for e in entries if e != command]
    kept.append(command)
    return kept[-HISTORY_ENTRIES:]


def save_history(path: Path, command: str) -> list[str]:
    """Add ``command`` to the history at ``path`` (merged with what another console
    wrote meanwhile) and return the new list.

    Raises:
        OSError: the file cannot be written.
    """
    entries = remember(load_history(path), command)
    text = json.dumps({"schema": HISTORY_SCHEMA, "commands": entries}, ensure_ascii=False)
    write_private_file(path, text + os.linesep)
    return entries
