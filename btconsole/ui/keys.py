"""The console's key bindings by id, and the user's ``[keys]`` table checked against them.

Every binding of btconsole has an id (``app.help``, ``resource_table.sort_reverse``);
the ``[keys]`` table of the config remaps bindings by id, and the console hands it to
Textual as its keymap (:meth:`textual.app.App.set_keymap`). Before that, this module
checks it: ids that no binding has, key names Textual does not know, and clashes (a
remapped key that another binding already answers to where both are active: in the
same pane, details screen or dialog, the app's bindings included).

The registry is read from the classes' ``BINDINGS``, so a binding added there is in
help, in the checks and in the generated docs table without being listed again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.keys import Keys, _normalize_key_list, key_to_character
from textual.widgets import Input

from btconsole.config import KEY_MODIFIERS, Config, split_keys
from btconsole.errors import ConfigError

if TYPE_CHECKING:
    from textual.dom import DOMNode

# Textual's names of keys that are not characters ("escape", "f1", "pagedown", ...)
_NAMED_KEYS = frozenset(key.value for key in Keys if "+" not in key.value and "<" not in key.value)


@dataclass(frozen=True)
class BindingEntry:
    """One binding of the registry: where it works, its default keys, what it does."""

    id: str
    group: str  # the help screen's heading: "global", "table", "circuit details", ...
    keys: str  # the default keys, comma-separated (Textual's names)
    description: str
    key_display: str | None = None


def owners() -> list[tuple[str, type[DOMNode]]]:
    """(help heading, class) of every class whose BINDINGS have ids, in help order."""
    from btconsole.ui.app import BtConsoleApp
    from btconsole.ui.details import CircuitDetails, ConfirmScreen, DetailsScreen, PolicyDetails
    from btconsole.ui.panes import OverviewScreen, PaneScreen
    from btconsole.ui.screens import CommandLine, HelpScreen
    from btconsole.ui.table import ResourceTable

    return [
        ("global", BtConsoleApp),
        ("pane", PaneScreen),
        ("overview", OverviewScreen),
        ("table", ResourceTable),
        ("details", DetailsScreen),
        ("circuit details", CircuitDetails),
        ("policy details", PolicyDetails),
        ("command line", CommandLine),
        ("help", HelpScreen),
        ("confirmation", ConfirmScreen),
    ]


# the help screen shows these groups (help and confirmation say their keys themselves)
HELP_GROUPS = (
    "global",
    "pane",
    "overview",
    "table",
    "details",
    "circuit details",
    "policy details",
    "command line",
)


@cache
def registry() -> dict[str, BindingEntry]:
    """Every binding with an id, by id, in help order."""
    entries: dict[str, BindingEntry] = {}
    for group, owner in owners():
        for binding in owner.__dict__.get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id:
                entries.setdefault(
                    binding.id,
                    BindingEntry(
                        binding.id,
                        group,
                        binding.key,
                        binding.description,
                        binding.key_display,
                    ),
                )
    return entries


def contexts() -> list[tuple[str, list[tuple[type[DOMNode], bool]]]]:
    """Where keys are dispatched together: (name, [(class, only its priority keys)]).

    A pane: the app, the pane screen and its focused table (or, in the overview, the
    attention list). A details screen (not modal): the app, the screen, its table. A
    dialog (modal: help, the command line, a confirmation): the app's priority keys,
    the dialog and, on the command line, its text box.
    """
    from btconsole.ui.app import BtConsoleApp
    from btconsole.ui.details import (
        ArcDetails,
        CircuitDetails,
        ConfirmScreen,
        EventDetails,
        PolicyDetails,
        SpendDetails,
    )
    from btconsole.ui.panes import PANES
    from btconsole.ui.screens import CommandLine, HelpScreen
    from btconsole.ui.table import ResourceTable

    found: list[tuple[str, list[tuple[type[DOMNode], bool]]]] = []
    for name, pane in PANES.items():
        chain: list[tuple[type[DOMNode], bool]] = [
            (BtConsoleApp, False),
            (pane, False),
            (ResourceTable, False),
        ]
        found.append((f"the {name} pane", chain))
    for name, details in (
        ("Arc", ArcDetails),
        ("circuit", CircuitDetails),
        ("policy", PolicyDetails),
        ("spend", SpendDetails),
        ("Service Health event", EventDetails),
    ):
        found.append(
            (
                f"{name} details",
                [(BtConsoleApp, False), (details, False), (ResourceTable, False)],
            )
        )
    found.append(("help", [(BtConsoleApp, True), (HelpScreen, False)]))
    found.append(("the command line", [(BtConsoleApp, True), (CommandLine, False), (Input, False)]))
    found.append(("a confirmation", [(BtConsoleApp, True), (ConfirmScreen, False)]))
    return found


def key_problem(key: str) -> str | None:
    """Why ``key`` (one key, normalised) is not a key Textual can deliver, or None."""
    *modifiers, name = key.split("+") if key != "+" else ["+"]
    unknown = [m for m in modifiers if m not in KEY_MODIFIERS]
    if unknown:
        return f"{key!r}: unknown modifier {unknown[0]!r}"
    if name in _NAMED_KEYS or key_to_character(name) is not None:
        return None
    return (
        f"{key!r}: no such key (Textual's names: a character, f1-f24, escape, enter, tab, "
        "space, backspace, up, down, left, right, home, end, pageup, pagedown, insert, "
        "delete, or a character's name such as question_mark)"
    )


def normalise(keys: str) -> str:
    """A key list in Textual's long form (``"?"`` -> ``"question_mark"``)."""
    return _normalize_key_list(keys)


def _describe(binding: Binding) -> str:
    if binding.id:
        return f"{binding.id} ({binding.description})" if binding.description else binding.id
    action = binding.action.split(".")[-1]
    return f"Textual's {action}"


def keymap_problems(config: Config) -> list[str]:
    """Every problem of the config's ``[keys]`` table, as ``FILE:LINE: keys.ID: ...``."""
    if not config.keys:
        return []
    known = registry()
    keymap: dict[str, str] = {}
    found: list[tuple[int, str]] = []

    def add(binding_id: str, line: int | None, message: str) -> None:
        where = f"{config.path}:{line}" if line else str(config.path)
        found.append((line or 0, f"{where}: keys.{binding_id}: {message}"))

    lines = {remap.binding_id: remap.line for remap in config.keys}
    for remap in config.keys:
        if remap.binding_id not in known:
            import difflib

            close = difflib.get_close_matches(remap.binding_id, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            add(
                remap.binding_id,
                remap.line,
                f"no binding has this id{hint} (docs/configuration.md lists them)",
            )
            continue
        normal = normalise(remap.keys)
        bad = [problem for key in split_keys(normal) if (problem := key_problem(key))]
        if bad:
            add(remap.binding_id, remap.line, bad[0])
            continue
        keymap[remap.binding_id] = normal

    reported: set[tuple[str, str]] = set()
    for where, chain in contexts():
        if any(owner is Input for owner, _ in chain):
            # a character there is typed into the text box, never reaches a binding
            for owner, priority_only in chain:
                if owner is Input or priority_only:
                    continue
                for binding in owner.__dict__.get("BINDINGS", ()):
                    if not isinstance(binding, Binding) or binding.id not in keymap:
                        continue
                    typed = [k for k in split_keys(keymap[binding.id]) if key_to_character(k)]
                    if typed and (binding.id, typed[0]) not in reported:
                        reported.add((binding.id, typed[0]))
                        add(
                            binding.id,
                            lines.get(binding.id),
                            f"{typed[0]!r} is typed into the text box in {where}; "
                            "use a key that is not a character (ctrl+x, f1, up, ...)",
                        )
        for key, clash in clashes(chain, keymap):
            moved = [b for b in clash if b.id in keymap and key in split_keys(keymap[b.id])]
            first = moved[0]
            assert first.id is not None
            others = [b for b in clash if b is not first]
            if (first.id, key) in reported:
                continue
            reported.add((first.id, key))
            add(
                first.id,
                lines.get(first.id),
                f"{key!r} is already taken in {where} by "
                + " and ".join(_describe(b) for b in others)
                + "; pick another key, or move that binding too",
            )
    return [text for _line, text in sorted(found, key=lambda item: item[0])]


def clashes(
    chain: Iterable[tuple[type[DOMNode], bool]], keymap: Mapping[str, str]
) -> list[tuple[str, list[Binding]]]:
    """The keys in ``chain`` that answer to more than one binding once ``keymap`` is
    applied, where one of them is there because of the keymap (bindings sharing a key
    by default are the console's design, the nearer one winning on purpose; moved
    together onto another key they still are)."""
    by_key: dict[str, list[Binding]] = {}
    for owner, priority_only in chain:
        merged = owner._merged_bindings
        for bindings in merged.key_to_bindings.values() if merged else ():
            for binding in bindings:
                if priority_only and not binding.priority:
                    continue
                keys = keymap.get(binding.id) if binding.id else None
                for key in split_keys(keys) if keys else [binding.key]:
                    same = by_key.setdefault(key, [])
                    if not any(_same(binding, other) for other in same):
                        same.append(binding)
    known = registry()

    def defaults(binding: Binding) -> set[str]:
        entry = known.get(binding.id) if binding.id else None
        return set(split_keys(normalise(entry.keys))) if entry else {binding.key}

    found: list[tuple[str, list[Binding]]] = []
    for key, bindings in by_key.items():
        if len(bindings) < 2:
            continue
        if not any(b.id in keymap and key in split_keys(keymap[b.id]) for b in bindings if b.id):
            continue
        if set.intersection(*(defaults(b) for b in bindings)):
            continue  # moved together, as they shared a key by default
        found.append((key, bindings))
    return found


def _same(one: Binding, other: Binding) -> bool:
    """The same binding (seen twice, or Textual's own doing the same thing)."""
    if one.id and other.id:
        return one.id == other.id
    return one.action.split(".")[-1] == other.action.split(".")[-1]


def check_keymap(config: Config) -> dict[str, str]:
    """The config's keymap in Textual's form, once it has passed :func:`keymap_problems`.

    Raises:
        ConfigError: with every problem found.
    """
    problems = keymap_problems(config)
    if problems:
        count = len(problems)
        summary = problems[0] if count == 1 else f"{config.path}: {count} problems found"
        raise ConfigError(summary, problems=problems)
    return {remap.binding_id: normalise(remap.keys) for remap in config.keys}


def key_label(keys: str) -> str:
    """How help writes a key list: ``"pagedown,ctrl+f"`` -> ``"pagedown / ctrl+f"``."""
    from btconsole.ui.screens import key_label as label

    return label(keys)


def keys_in_force(entry: BindingEntry, keymap: Mapping[str, str]) -> str:
    """The keys of ``entry`` as help shows them, remapped or not."""
    if entry.id in keymap:
        return key_label(keymap[entry.id])
    return entry.key_display or key_label(entry.keys)
