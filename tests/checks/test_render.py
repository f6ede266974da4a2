"""Pure parts of check and export: output safety, colour, exit codes, the statement."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from btconsole.checks import (
    Clock,
    ProfileData,
    Snapshot,
    build_report,
    clean,
    json_text,
    load_previous,
    md_code,
    md_escape,
    render_text,
    state_path,
    use_color,
)
from btconsole.config import KNOWN_CLOUDS, Profile
from btconsole.export import csv_cell, render_csv, spend_rows
from btconsole.health import Finding
from btconsole.records import ArcRecord, CostRecord

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc)
SUB = "00000000-0000-0000-0000-00000000000a"


def profile(name: str = "acme") -> Profile:
    return Profile(
        name=name,
        display_name=name.title(),
        tenant_id="11111111-1111-1111-1111-111111111111",
        auth="cli",
        cloud=KNOWN_CLOUDS["AzureCloud"],
    )


def snapshot(records: dict[str, list[object]], *, complete: bool = True) -> Snapshot:
    data = ProfileData(profile(), records=records, oldest_fetch=NOW.timestamp())
    if not complete:
        from btconsole.checks import DataProblem

        data.problems.append(DataProblem("acme", "arc", SUB, "never-fetched", "arc never fetched"))
    return Snapshot([data], Clock(NOW.date(), NOW, NOW.timestamp()), offline=True, max_age=None)


def machine(status: str, name: str = "web-01", since: str = "2026-11-18T00:00:00Z") -> ArcRecord:
    return ArcRecord(
        profile="acme",
        id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/{name}",
        name=name,
        kind="machine",
        subscription_id=SUB,
        resource_group="rg",
        location="uksouth",
        status=status,
        last_status_change=since,
    )


def test_clean_removes_terminal_controls_and_bidi() -> None:
    assert clean("a\x1b[2Jb\x9b31mc\u202ed\ne\tf\x00") == "a[2Jb31mcd e f"


def test_markdown_escapes_every_markup_character() -> None:
    text = "*a* _b_ [c](d) <e> `f` # g | h ~i~ !j &k @l $m \\n"
    escaped = md_escape(text)
    assert escaped == (
        "\\*a\\* \\_b\\_ \\[c\\]\\(d\\) \\<e\\> \\`f\\` \\# g \\| h "
        "\\~i\\~ \\!j \\&k \\@l \\$m \\\\n"
    )
    assert md_escape("line\n# heading") == "line \\# heading"
    assert md_code("a`b") == "``a`b``" and md_code("`x") == "`` `x ``"


def test_json_escapes_c1_and_bidi_but_stays_valid() -> None:
    text = json_text({"name": "a\x9b31m\u202eb\x1b"})
    assert "\x9b" not in text and "\u202e" not in text and "\x1b" not in text
    assert json.loads(text) == {"name": "a\x9b31m\u202eb\x1b"}


def test_exit_code_precedence() -> None:
    critical = snapshot({"arc": [machine("Error")]})
    assert build_report(critical, None).exit_code == 2
    warning = snapshot({"arc": [machine("Disconnected", "db")]})
    assert build_report(warning, None).exit_code == 1
    info = snapshot({"arc": [machine("AwaitingConnection")]})
    assert build_report(info, None).exit_code == 0  # info findings do not change the code
    both = snapshot({"arc": [machine("Error")]}, complete=False)
    report = build_report(both, None)
    assert report.exit_code == 3 and report.worst == "critical"
    assert report.verdict == "DATA INCOMPLETE, CRITICAL in the data that could be read"
    empty = build_report(snapshot({}, complete=False), None)
    assert empty.exit_code == 3 and "ALL CLEAR" not in render_text(empty)


def test_colour_only_on_a_terminal_without_no_color() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert use_color(Tty(), {"TERM": "xterm"})
    assert not use_color(Tty(), {"TERM": "xterm", "NO_COLOR": "1"})
    assert not use_color(Tty(), {"TERM": "dumb"})
    assert not use_color(io.StringIO(), {"TERM": "xterm"})
    report = build_report(snapshot({"arc": [machine("Error")]}), None)
    assert "\x1b[1;31mCRIT\x1b[0m" in render_text(report, color=True)
    assert "\x1b" not in render_text(report)


def test_previous_state_that_cannot_be_read_starts_over(tmp_path: Path) -> None:
    path = state_path(["b", "a", "b"], tmp_path)
    assert path == state_path(["a", "b"], tmp_path)
    assert load_previous(path, ["a", "b"]) == (None, None)
    path.write_text("{not json", encoding="utf-8")
    previous, note = load_previous(path, ["a", "b"])
    assert previous is None and note and "starting over" in note
    path.write_text(
        json.dumps(
            {
                "schema": "btconsole.check-state/1",
                "profiles": ["a"],
                "checked_at": "x",
                "findings": [],
            }
        ),
        encoding="utf-8",
    )
    assert load_previous(path, ["a", "b"])[0] is None  # another set of profiles


def test_resolved_findings_are_listed() -> None:
    before = Finding("warning", "arc", "acme", "status", "db: Arc server disconnected", SUB, "/x")
    from btconsole.checks import PreviousCheck

    report = build_report(snapshot({}), PreviousCheck("2026-11-19T07:00:00Z", (before,)))
    text = render_text(report)
    assert "changes since the previous check (2026-11-19 07:00 UTC): 0 new, 1 resolved" in text
    assert "RESOLVED WARN acme: db: Arc server disconnected" in text


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "' x"),  # the tab is a control character: a space, still guarded
        (" =1+1", "' =1+1"),
        ("\x1b]52;c;ZXZpbA==\x07=cmd", "]52;c;ZXZpbA===cmd"),  # OSC 52 made inert
        ("plain", "plain"),
        (-12.5, "-12.5"),
        (Decimal("-3.10"), "-3.10"),
        (None, ""),
        (True, "true"),
        (float("inf"), ""),  # unknown, never "inf"
        (float("nan"), ""),
        (Decimal("Infinity"), ""),
    ],
)
def test_csv_cells_are_guarded_against_formulas(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_round_trips_awkward_text() -> None:
    rows = [{"a": 'comma, "quote"', "b": "line\nbreak"}, {"a": "=1+1", "b": "ünïcödé"}]
    text = render_csv(("a", "b"), rows)
    back = list(csv.DictReader(io.StringIO(text, newline="")))
    assert back == [{k: csv_cell(v) for k, v in row.items()} for row in rows]


def test_spend_statement_never_adds_currencies() -> None:
    def cost(day: str, service: str, amount: float, currency: str) -> CostRecord:
        return CostRecord("acme", SUB, day, service, "rg", amount, currency)

    costs = [
        cost("2026-11-01", "Storage", 10.005, "GBP"),
        cost("2026-11-02", "Storage", 5.0, "GBP"),
        cost("2026-11-02", "Storage", 7.0, "EUR"),
        cost("2026-10-31", "Storage", 99.0, "GBP"),  # last month: not in the statement
        cost("2026-11-03", "Backup", 1.0, "GBP"),
    ]
    rows = spend_rows(snapshot({"spend": costs}).profiles, snapshot({"spend": costs}))
    items = [(r["service"], r["currency"], r["amount"]) for r in rows if r["line"] == "item"]
    assert items == [
        ("Backup", "GBP", Decimal("1.00")),
        ("Storage", "EUR", Decimal("7.00")),
        ("Storage", "GBP", Decimal("15.01")),
    ]
    totals = {r["currency"]: r["amount"] for r in rows if r["line"] == "total"}
    assert totals == {"EUR": Decimal("7.00"), "GBP": Decimal("16.01")}


def test_headless_modules_import_no_textual_or_sdk() -> None:
    import subprocess

    code = (
        "import sys; import btconsole.checks, btconsole.export, btconsole.doctor; "
        "bad = [m for m in sys.modules if m.startswith(('textual', 'azure'))]; "
        "print(','.join(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_export_cents_of_refunds_and_of_amounts_beyond_rounding() -> None:
    from btconsole.export import _cents

    assert _cents(-12.345) == Decimal("-12.35")  # a refund, rounded half away from zero
    assert _cents(1e15) == Decimal("1000000000000000.00")
    for bad in (1e308, float("inf"), float("nan")):
        assert _cents(bad) is None  # unknown: was decimal.InvalidOperation (exit 70)
