"""The [keys] table: its shape (btconsole.config), its ids, key names and clashes
(btconsole.ui.keys), and `btconsole config validate` explaining each with FILE:LINE."""

from __future__ import annotations

from pathlib import Path

import pytest

from btconsole.cli import main
from btconsole.config import KeyRemap, parse_config
from btconsole.errors import ConfigError
from btconsole.ui.keys import keymap_problems

HEAD = 'theme = "bt"\n\n[keys]\n'


def problems_of(text: str, path: Path = Path("c.toml")) -> list[str]:
    try:
        config = parse_config(text, path)
    except ConfigError as error:
        return error.problems or [error.message]
    return keymap_problems(config)


def test_ids_quoted_or_dotted_give_the_same_remaps_with_their_lines() -> None:
    config = parse_config(
        HEAD + 'app.help = "f1, question_mark"\n"resource_table.sort_reverse" = "x"\n',
        Path("c.toml"),
    )
    assert config.keys == (
        KeyRemap("app.help", "f1,question_mark", 4),
        KeyRemap("resource_table.sort_reverse", "x", 5),
    )
    assert config.keymap() == {"app.help": "f1,question_mark", "resource_table.sort_reverse": "x"}
    assert keymap_problems(config) == []


def test_no_keys_table_is_no_keymap() -> None:
    config = parse_config('theme = "bt"\n', Path("c.toml"))
    assert config.keys == () and keymap_problems(config) == []


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("app.help = 3", 'keys.app.help: must be a string of keys such as "f1"'),
        ('app.help = ""', "keys.app.help: '' is not a list of keys"),
        ('app.help = "f1,"', "keys.app.help: 'f1,' is not a list of keys"),
        ('app.help = "ctrl+ x"', "keys.app.help: 'ctrl+ x' is not a key"),
        ('app.help = "ctlr+x"', "keys.app.help: 'ctlr+x': unknown modifier 'ctlr'"),
        ('help = "f1"', "keys.help: 'help' is not a binding id"),
        ('a.b.c = "f1"', "keys.a.b.c: 'a.b.c' is not a binding id"),
        # known to the console's bindings
        ('app.hlep = "f1"', "keys.app.hlep: no binding has this id; did you mean 'app.help'?"),
        ('app.help = "notakey"', "keys.app.help: 'notakey': no such key"),
        ('app.help = "ctrl+notakey"', "keys.app.help: 'ctrl+notakey': no such key"),
    ],
)
def test_a_bad_line_is_named_with_its_file_and_line(line: str, problem: str) -> None:
    found = problems_of(HEAD + line + "\n")
    assert len(found) == 1, found
    assert found[0].startswith("c.toml:4: " + problem), found


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        # onto a key another binding uses, where both work
        (
            'app.help = "r"',
            "keys.app.help: 'r' is already taken in the overview pane by app.refresh",
        ),
        (
            'resource_table.sort_reverse = "r"\napp.refresh = "f5"',
            "keys.resource_table.sort_reverse: 'r' is already taken in Arc details by "
            "details.refresh",
        ),
        (
            'circuit.stats = "a"',
            "keys.circuit.stats: 'a' is already taken in circuit details by circuit.arp",
        ),
        # Textual's own keys count
        (
            'app.refresh = "ctrl+q"',
            "keys.app.refresh: 'ctrl+q' is already taken in the overview pane by Textual's quit",
        ),
        # two ids moved onto one key
        (
            'app.arc = "f2"\napp.spend = "f2"',
            "keys.app.arc: 'f2' is already taken in the overview pane by app.spend",
        ),
        # typed into the command line's text box
        ('command.complete = "x"', "keys.command.complete: 'x' is typed into the text box"),
        # in a dialog: the app's priority ":" still answers there
        (
            'help.close = "colon"',
            "keys.help.close: 'colon' is already taken in help by app.command",
        ),
    ],
)
def test_clashes_are_refused(lines: str, problem: str) -> None:
    found = problems_of(HEAD + lines + "\n")
    assert len(found) == 1, found
    assert found[0].startswith("c.toml:4: " + problem), found


@pytest.mark.parametrize(
    "lines",
    [
        'app.arc = "3"\napp.circuits = "2"',  # swapped
        'resource_table.sort_reverse = "x"',  # s left to circuit.stats in circuit details
        'app.help = "?"',  # the default, written as a character
        'details.refresh = "f5"\napp.refresh = "f5"',  # not both active: details wins
        'confirm.yes = "enter"',  # only in the confirmation dialog
        'app.quit = "q,ctrl+q"',  # onto Textual's quit: the same action
    ],
)
def test_no_clash(lines: str) -> None:
    assert problems_of(HEAD + lines + "\n") == []


def test_config_validate_explains_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(HEAD + 'app.help = "r"\napp.hlep = "f1"\n', encoding="utf-8")
    code = main(["config", "validate", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 64 and out == ""
    assert err.splitlines() == [
        f"{path}:4: keys.app.help: 'r' is already taken in the overview pane by app.refresh "
        "(Refresh pane); pick another key, or move that binding too",
        f"{path}:5: keys.app.hlep: no binding has this id; did you mean 'app.help'? "
        "(docs/configuration.md lists them)",
        "btconsole: 2 configuration problems",
    ]
    path.write_text(HEAD + 'app.help = "f1"\n', encoding="utf-8")
    code = main(["config", "validate", "--config", str(path)])
    out, _ = capsys.readouterr()
    assert code == 0 and "1 key(s) remapped" in out


def test_unknown_top_level_key_names_keys_among_the_known() -> None:
    found = problems_of("kyes = 1\n")
    assert found == ["c.toml:1: kyes: unknown key; did you mean 'keys'?"]


def test_config_show_prints_the_keys_table_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(HEAD + 'app.help = "f1, question_mark"\n', encoding="utf-8")
    assert main(["config", "show", "--config", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert parse_config(out, path).keymap() == {"app.help": "f1,question_mark"}
