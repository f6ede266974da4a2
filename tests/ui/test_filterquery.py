"""filterquery: the `/` language (plain, key:value, !negate, quotes), pure."""

from __future__ import annotations

from btconsole.ui.filterquery import Term, matcher, parse, resolve_key
from btconsole.ui.table import Column, Row

COLUMNS = [
    Column("name", "Name", 20),
    Column("status", "Status", 12),
    Column("subscription", "Subscription", 20),
    Column("location", "Region", 12),
]


def row(name: str, status: str, sub: str = "prod", location: str = "westeurope") -> Row:
    return Row(key=name, cells=(name, status, sub, location))


def test_parse_plain_keyed_and_negated() -> None:
    assert parse("web") == [Term(None, "web", False)]
    assert parse("status:disconnected") == [Term("status", "disconnected", False)]
    assert parse("!prod") == [Term(None, "prod", True)]
    assert parse("!status:connected") == [Term("status", "connected", True)]
    assert parse("  a   b ") == [Term(None, "a", False), Term(None, "b", False)]


def test_parse_quotes_group_words() -> None:
    assert parse('"web 01" name:"db 2"') == [
        Term(None, "web 01", False),
        Term("name", "db 2", False),
    ]
    assert parse('!"a b"') == [Term(None, "a b", True)]
    # still typing: an open quote runs to the end
    assert parse('name:"half typ') == [Term("name", "half typ", False)]


def test_parse_drops_empty_terms_while_typing() -> None:
    assert parse("") == []
    assert parse("status:") == []
    assert parse("!") == []
    assert parse('""') == []
    assert parse(":x") == [Term(None, ":x", False)]


def test_resolve_key_by_key_label_and_unique_prefix() -> None:
    assert resolve_key("STATUS", COLUMNS) == 1
    assert resolve_key("region", COLUMNS) == 3  # label
    assert resolve_key("location", COLUMNS) == 3  # key
    assert resolve_key("stat", COLUMNS) == 1
    assert resolve_key("s", COLUMNS) is None  # status, subscription: ambiguous
    assert resolve_key("sub", COLUMNS) == 2
    assert resolve_key("nope", COLUMNS) is None


def test_matcher_plain_matches_any_cell_case_insensitively() -> None:
    match = matcher(parse("WEST"), COLUMNS)
    assert match(row("vm1", "Connected"))
    assert not match(row("vm1", "Connected", location="eastus"))


def test_matcher_keyed_only_looks_at_its_column() -> None:
    match = matcher(parse("status:conn"), COLUMNS)
    assert match(row("vm1", "Connected"))
    assert not match(row("conn-vm", "Expired"))  # the name does not count
    assert not matcher(parse("status:vm1"), COLUMNS)(row("vm1", "Connected"))


def test_matcher_negation_and_and() -> None:
    rows = [row("web1", "Connected"), row("web2", "Disconnected"), row("db1", "Disconnected")]
    match = matcher(parse("web !status:disc"), COLUMNS)
    assert [r.key for r in rows if match(r)] == ["web1"]
    match = matcher(parse("!web"), COLUMNS)
    assert [r.key for r in rows if match(r)] == ["db1"]


def test_matcher_unknown_key_is_plain_text() -> None:
    match = matcher(parse("10.0.0.1:443"), COLUMNS)
    assert match(row("10.0.0.1:443", "Connected"))
    assert not match(row("10.0.0.1", "Connected"))
    assert matcher(parse("https://portal"), COLUMNS)(row("see https://portal.azure.com", "x"))


def test_matcher_matches_cleaned_text() -> None:
    hostile = row("\x1b[31mevil\x1b[0m", "Connected")
    assert matcher(parse("evil"), COLUMNS)(hostile)
    assert not matcher(parse("31m"), COLUMNS)(hostile)
    markup = row("[bold red]x[/]", "Connected")
    assert matcher(parse("[bold"), COLUMNS)(markup)
