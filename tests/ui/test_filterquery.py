"""filterquery: the `/` language (plain, key:value, key:=value, comparisons, !negate,
quotes), pure."""

from __future__ import annotations

import pytest

from btconsole.ui.filterquery import (
    CompiledTerm,
    FilterError,
    Term,
    cell_value,
    check_kinds,
    compile_query,
    matcher,
    parse,
    query_value,
    resolve_key,
)
from btconsole.ui.render import ARC_COLUMNS, ATTENTION_COLUMNS, POLICY_COLUMNS, SPEND_COLUMNS
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


def test_text_that_is_not_a_key_stays_plain_text() -> None:
    match = matcher(parse("10.0.0.1:443"), COLUMNS)
    assert match(row("10.0.0.1:443", "Connected"))
    assert not match(row("10.0.0.1", "Connected"))
    # quotes make ":" plain text, for text that looks like a key
    assert matcher(parse('"https://portal"'), COLUMNS)(row("see https://portal.azure.com", "x"))
    assert parse('"status:x"') == [Term(None, "status:x", False)]
    assert parse("a->b") == [Term(None, "a->b", False)]
    assert parse('"!x"') == [Term(None, "!x", False)]  # a quoted "!" is text


def test_unknown_or_ambiguous_key_is_an_error_with_a_hint() -> None:
    with pytest.raises(FilterError) as raised:
        compile_query("nope:web", COLUMNS)
    hint = str(raised.value)
    assert "no column 'nope'" in hint and "status" in hint and '"nope:web"' in hint
    assert "\n" not in hint
    with pytest.raises(FilterError, match="'s' could be status, subscription"):
        compile_query("s:x", COLUMNS)
    with pytest.raises(FilterError):
        compile_query("https://portal", COLUMNS)


def test_matcher_matches_cleaned_text() -> None:
    hostile = row("\x1b[31mevil\x1b[0m", "Connected")
    assert matcher(parse("evil"), COLUMNS)(hostile)
    assert not matcher(parse("31m"), COLUMNS)(hostile)
    markup = row("[bold red]x[/]", "Connected")
    assert matcher(parse("[bold"), COLUMNS)(markup)


# --------------------------------------------------------------------------- word starts


ARC = [
    Row("1", ("vm1", "Connected")),
    Row("2", ("vm2", "Disconnected")),
    Row("3", ("vm3", "AwaitingConnection")),
    Row("4", ("vm4", "Expired")),
    Row("5", ("prod-web-01", "Error")),
]


def keys(query: str, rows: list[Row] = ARC, columns: list[Column] = COLUMNS) -> list[str]:
    match = matcher(parse(query), columns)
    return [r.key for r in rows if match(r)]


def test_key_value_matches_at_a_word_start_in_its_column() -> None:
    assert keys("status:connected") == ["1"]
    assert keys("!status:connected") == ["2", "3", "4", "5"]  # Disconnected stays
    assert keys("status:disc") == ["2"]
    assert keys("status:conn") == ["1"]
    assert keys("name:web") == ["5"]  # after "-": a word
    assert keys("name:eb") == []  # inside a word
    assert keys("eb") == ["5"]  # plain text: anywhere in the row
    assert keys("connected") == ["1", "2"]  # plain text is a substring
    ages = [Row("a", ("x", "1d")), Row("b", ("y", "91d")), Row("c", ("z", "10d"))]
    assert keys("status:1d", ages) == ["a"]  # not 91d
    assert keys("status:1", ages) == ["a", "c"]


def test_exact_match_is_the_whole_cell_case_insensitively() -> None:
    assert parse("status:=Connected") == [Term("status", "Connected", False, ":=")]
    assert keys("status:=CONNECTED") == ["1"]
    assert keys("status:=conn") == []
    assert keys("!status:=connected") == ["2", "3", "4", "5"]
    assert keys('name:="prod-web-01"') == ["5"]


# --------------------------------------------------------------------------- comparisons


def test_cell_and_query_values() -> None:
    assert cell_value("45s") == ("age", 45)
    assert cell_value("12m") == ("age", 720)
    assert cell_value("3h") == ("age", 10800)
    assert cell_value("14d") == ("age", 14 * 86400)
    assert cell_value("1d12h") == ("age", 1.5 * 86400)
    assert cell_value("2w") == ("age", 14 * 86400)
    assert cell_value("12") == ("number", 12)
    assert cell_value("1,234 eur") == ("number", 1234)
    assert cell_value("12.5%") == ("number", 12.5)
    assert cell_value("-3.5") == ("number", -3.5)
    for text in ("-", "", "3/1", "10 gbps", "1.47.02866.1890", "2026-11-20", "1,23", "web"):
        assert cell_value(text) is None, text
    assert query_value("7D") == ("age", 7 * 86400)
    assert query_value("1,000") == ("number", 1000)
    assert query_value("90%") == ("number", 90)
    assert query_value("7x") is None


def test_parse_comparisons() -> None:
    assert parse("since>7d") == [Term("since", "7d", False, ">")]
    assert parse("since<=2h") == [Term("since", "2h", False, "<=")]
    assert parse("noncomp>=10") == [Term("noncomp", "10", False, ">=")]
    assert parse("!mtd<1000") == [Term("mtd", "1000", True, "<")]
    assert parse("since> since>= status:=") == []  # still typing


SINCE = [
    Column("name", "NAME", 10),
    Column("since", "SINCE", 5),
    Column("cpu", "CPU", 5),
]
AGED = [
    Row("a", ("a", "45s", "5")),
    Row("b", ("b", "2h", "10")),
    Row("c", ("c", "7d", "10.5")),
    Row("d", ("d", "8d", "1,000")),
    Row("e", ("e", "91d", "-")),
    Row("f", ("f", "-", "x")),
]


def test_ages_compare_as_durations_and_numbers_as_numbers() -> None:
    assert keys("since>7d", AGED, SINCE) == ["d", "e"]
    assert keys("since>=7d", AGED, SINCE) == ["c", "d", "e"]
    assert keys("since<=2h", AGED, SINCE) == ["a", "b"]
    assert keys("since<1w", AGED, SINCE) == ["a", "b"]
    assert keys("since>90m", AGED, SINCE) == ["b", "c", "d", "e"]
    assert keys("cpu>=10", AGED, SINCE) == ["b", "c", "d"]
    assert keys("cpu>999", AGED, SINCE) == ["d"]
    assert keys("cpu<10 since<1h", AGED, SINCE) == ["a"]  # ANDed
    # "-" is no value: never passes a comparison, so its negation keeps it
    assert keys("!since>7d", AGED, SINCE) == ["a", "b", "c", "f"]
    # a number bound never reads an age column, nor an age bound a number column
    assert keys("since>5", AGED, SINCE) == []
    assert keys("cpu>1d", AGED, SINCE) == []


def test_malformed_comparison_is_an_error_with_a_hint() -> None:
    with pytest.raises(FilterError, match=r"since>abc: compare with a number .*since>7d"):
        compile_query("since>abc", SINCE)
    with pytest.raises(FilterError):
        compile_query("since>>7d", SINCE)


def test_check_kinds_rejects_a_comparison_the_column_cannot_answer() -> None:
    kinds = {0: frozenset[str](), 1: frozenset({"age"}), 2: frozenset({"number"})}

    def check(query: str) -> None:
        check_kinds(compile_query(query, SINCE), SINCE, kinds.__getitem__)

    check("since>7d cpu>=10 name:x")
    with pytest.raises(FilterError, match=r"SINCE holds ages: since>7d, since>7h or since>7m"):
        check("since>7")
    with pytest.raises(FilterError, match=r"CPU holds numbers: cpu>10"):
        check("cpu>1d")
    with pytest.raises(FilterError, match=r"NAME holds no numbers or ages"):
        check("name<3")


def test_the_panes_columns_answer_the_documented_keys() -> None:
    assert compile_query("noncomp>=10", POLICY_COLUMNS)[0] == CompiledTerm(
        2, "10", False, ">=", "number", 10.0
    )
    assert resolve_key("non-comp", POLICY_COLUMNS) == 2  # the header, dash and all
    assert resolve_key("NON-COMP", POLICY_COLUMNS) == 2
    assert resolve_key("sub", POLICY_COLUMNS) == 1  # a key's start before a header's
    assert resolve_key("mtd", SPEND_COLUMNS) == 1
    assert resolve_key("since", ATTENTION_COLUMNS) == 4
    assert resolve_key("resource-group", ARC_COLUMNS) == 11
    assert resolve_key("resourcegroup", ARC_COLUMNS) == 11
    assert resolve_key("group", ARC_COLUMNS) == 11
    spend = Row("s", ("Production", "1,234 EUR", "2,000 EUR", "3,000 EUR", "41.1%", "-", "C"))
    assert matcher(parse("mtd>1000"), list(SPEND_COLUMNS))(spend)
    assert not matcher(parse("mtd>1234"), list(SPEND_COLUMNS))(spend)
    assert matcher(parse("used<50"), list(SPEND_COLUMNS))(spend)
