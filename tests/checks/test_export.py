"""``btconsole export`` against the emulator: CSV round trips, JSON, the spend statement."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from btconsole.checks import clock, load_snapshot
from btconsole.cli import main
from btconsole.config import load_config
from btconsole.export import COLUMNS, DOMAINS, csv_cell, render_csv, rows_for
from tests.checks.conftest import Run, Site


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture(scope="module")
def filled_cache(small_site: Site, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory (XDG_CACHE_HOME) that one online export filled for the module."""
    home = tmp_path_factory.mktemp("filled")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        for name, value in small_site.secrets.items():
            patch.setenv(name, value)
        patch.setenv("BTCONSOLE_TODAY", small_site.estate.as_of.isoformat())
        small_site.emulator.reset()
        argv = ["--config", str(small_site.config), "export", "arc", "--all", "--format", "csv"]
        assert main([*argv, "--output", str(home / "arc.csv")]) == 0
    return home


@pytest.fixture
def cached(small: Site, filled_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    """The small estate with the module's filled cache: use --offline."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(filled_cache))
    return small


def test_csv_round_trips_and_json_has_the_same_rows(cached: Site, cli: Run) -> None:
    small = cached
    config = load_config(small.config)
    snapshot = load_snapshot(config, list(config.profiles.values()), offline=True, clock=clock())
    for domain in DOMAINS:
        columns = COLUMNS[domain]
        rows = rows_for(domain, snapshot)
        assert rows, f"the small estate has {domain} rows"
        text = render_csv(columns, rows)
        back = read_csv(text)
        assert back == [{c: csv_cell(row.get(c)) for c in columns} for row in rows]
        assert list(back[0]) == list(columns)
        code, out, _ = cli(small, "export", domain, "--all", "--format", "csv", "--offline")
        assert code == 0 and out == text
        code, out, _ = cli(small, "export", domain, "--all", "--format", "json", "--offline")
        data = json.loads(out)
        assert data["schema"] == "btconsole.export/1" and data["domain"] == domain
        assert data["complete"] is True and data["columns"] == list(columns)
        assert data["rows"] == [
            {c: float(v) if isinstance(v, Decimal) else v for c, v in row.items()}
            for row in ({c: row.get(c) for c in columns} for row in rows)
        ]


def test_csv_output_file(cached: Site, cli: Run, tmp_path: Path) -> None:
    small = cached
    target = tmp_path / "circuits.csv"
    code, out, _ = cli(
        small,
        "export",
        "circuits",
        "--all",
        "--format",
        "csv",
        "--offline",
        "--output",
        str(target),
    )
    assert code == 0 and out == ""
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    states = {r["name"]: r["health"] for r in rows}
    assert len(states) == len(small.estate.circuits)
    assert {"healthy", "down"} <= set(states.values())


def test_arc_export_has_a_row_per_resource(cached: Site, cli: Run) -> None:
    small = cached
    code, out, _ = cli(
        small, "export", "arc", "-p", "contoso-retail", "--format", "csv", "--offline"
    )
    assert code == 0
    rows = read_csv(out)
    estate = small.estate
    subs = {s.lower() for s in estate.customers[0].subscription_ids}
    expected = [m for m in estate.machines if m.subscription_id.lower() in subs]
    expected += [c for c in estate.clusters if c.subscription_id.lower() in subs]
    assert sorted(r["name"] for r in rows) == sorted(x.name for x in expected)
    offline = [r for r in rows if r["status"] not in ("Connected",)]
    assert offline and all(r["resource_id"].startswith("/subscriptions/") for r in rows)
    assert {r["customer"] for r in rows} == {"Contoso Retail"}


def test_spend_statement_lines_and_totals_per_currency(cached: Site, cli: Run) -> None:
    small = cached
    code, out, _ = cli(small, "export", "spend", "--all", "--format", "csv", "--offline")
    assert code == 0
    rows = read_csv(out)
    for profile in small.profiles:
        mine = [r for r in rows if r["profile"] == profile]
        items = [r for r in mine if r["line"] == "item"]
        totals = [r for r in mine if r["line"] == "total"]
        assert items and totals
        assert mine[-len(totals) :] == totals  # totals close each customer's statement
        keys = [(r["subscription_id"], r["service"], r["currency"]) for r in items]
        assert len(keys) == len(set(keys))  # one line per subscription and service
        for total in totals:
            lines = [Decimal(r["amount"]) for r in items if r["currency"] == total["currency"]]
            assert Decimal(total["amount"]) == sum(lines)
            assert total["subscription_id"] == "" and total["service"] == ""
        assert all(r["month"] == small.estate.as_of.strftime("%Y-%m") for r in mine)


def test_export_of_incomplete_data_writes_rows_and_exits_3(small: Site, cli: Run) -> None:
    sub = small.subscriptions(1)[0]
    small.emulator.add_fault(kind="forbidden", subscriptions=[sub])
    code, out, err = cli(small, "export", "arc", "-p", small.profiles[1], "--format", "csv")
    assert code == 3
    assert read_csv(out), "what could be had is still exported"
    assert err.startswith("btconsole: warning: data incomplete") and sub in err
    assert sub not in {r["subscription_id"] for r in read_csv(out)}


def test_export_usage_errors(small: Site, cli: Run, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(small, "export", "arc", "--format", "csv")
    assert code == 64 and "--profile NAME or use --all" in err
    with pytest.raises(SystemExit) as info:
        cli(small, "export", "costs", "--all", "--format", "csv")
    assert info.value.code == 64
    capsys.readouterr()


def test_health_export_has_events_alerts_resource_health_and_patch_state(
    cached: Site, cli: Run
) -> None:
    small = cached
    code, out, _ = cli(small, "export", "health", "--all", "--format", "csv", "--offline")
    assert code == 0
    rows = read_csv(out)
    estate = small.estate
    by_kind: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    # one row per event and customer, across its subscriptions; resolved ones too
    events = [r for r in rows if r["id"] in {e.tracking_id for e in estate.service_events}]
    assert len({(r["profile"], r["id"]) for r in events}) == len(events)
    issues = {e.tracking_id for e in estate.service_events if e.event_type == "ServiceIssue"}
    assert {r["id"] for r in by_kind["ServiceIssue"]} == issues
    assert {"Active", "Resolved"} <= {r["state"] for r in by_kind["ServiceIssue"]}
    # every alert, by its ARM id
    alerts = sorted(r["id"].rsplit("/", 1)[-1].lower() for r in by_kind["Alert"])
    assert alerts == sorted(a.alert_id.lower() for a in estate.alerts)
    # what is not Available, with who caused it
    unwell = [h for h in estate.resource_health if h.availability_state != "Available"]
    assert len(by_kind["ResourceHealth"]) == len(unwell)
    assert {r["cause"] for r in by_kind["ResourceHealth"]} <= {"platform", "user", ""}
    # one assessment per assessed Arc machine, its counts as numbers, and a count the
    # assessment did not give as an empty cell (unknown), never 0
    assessed = sorted(p.machine_id.lower() for p in estate.patch_assessments)
    assert sorted(r["target"].lower() for r in by_kind["PatchAssessment"]) == assessed
    counts = [r["critical_updates"] for r in by_kind["PatchAssessment"]]
    assert any(c.isdigit() and int(c) > 0 for c in counts)
    assert all(c.isdigit() or c == "" for c in counts)
    assert {r["customer"] for r in rows} <= {c.display_name for c in estate.customers}
