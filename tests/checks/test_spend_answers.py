"""``btconsole check`` and ``btconsole export`` on the hard Cost Management answers of
tests/spend_estate.py: 204s, refunds, JPY and EUR against a GBP fallback, a daily cost
of 1e308, and Azure text full of terminal control characters."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.checks.conftest import Run, Site, _serve, _use
from tests.spend_estate import (
    EVIL_SERVICE,
    FALLBACK,
    REFUND,
    refunded_subscription,
    spend_estate,
    use_fallback_currency,
)

#: What must never reach a file or a terminal: C0 (but the CSV's own CR LF), DEL, C1,
#: bidi overrides and isolates.
UNSAFE = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: :data:`EVIL_SERVICE` as every cleaned cell shows it: its text, none of its controls.
CLEANED = "Azure[2J Arc]52;c;ZXZpbA==cra"
#: A figure nobody can read: 20 digits or more (1e308 printed in full has 309).
HUGE = re.compile(r"\d[\d,]{19,}")


@pytest.fixture(scope="module")
def spend_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for site in _serve(tmp_path_factory, spend_estate(), "spend"):
        text = site.config.read_text(encoding="utf-8")
        site.config.write_text(use_fallback_currency(text, "fabrikam-logistics"), "utf-8")
        yield site


@pytest.fixture
def site(spend_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    return _use(spend_site, monkeypatch)


def _no_inf(constant: str) -> float:
    raise AssertionError(f"JSON holds {constant}")


def test_check_text_shows_unknown_never_inf_or_an_invented_forecast(site: Site, cli: Run) -> None:
    code, out, err = cli(site, "check", "--all")
    assert code == 1, err  # warnings (the dropped rows); the data is all there
    assert "Traceback" not in err
    for bad in ("inf", "nan", "Infinity"):
        assert not re.search(rf"\b{bad}\b", out, re.IGNORECASE), out
    assert not HUGE.search(out), out
    assert "forecast JPY unknown" in out  # its forecast rows were absurd: unknown
    assert "1 cost row dropped (amount not believable)" in out
    assert "1e+308 JPY (beyond 1e+15 either way)" in out
    # Fabrikam bills in EUR, its profile says GBP: its forecast is EUR, never GBP 0.00
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("== Fabrikam Logistics"))
    fabrikam = lines[header + 1]
    assert "forecast EUR " in fabrikam, out
    assert f"forecast {FALLBACK}" not in out and f"{FALLBACK} 0.00" not in out
    assert not UNSAFE.search(out)


def test_check_json_has_only_finite_numbers(site: Site, cli: Run, tmp_path: Path) -> None:
    target = tmp_path / "check.json"
    code, _, err = cli(site, "check", "--all", "--format", "json", "--output", str(target))
    assert code == 1, err
    report = json.loads(target.read_text(encoding="utf-8"), parse_constant=_no_inf)
    rules = {f["rule"] for c in report["customers"] for f in c["findings"]}
    assert {"rejected-amount/cost", "rejected-amount/forecast", "rejected-amount/budget"} <= rules
    contoso = next(c for c in report["customers"] if c["profile"] == "contoso-retail")
    assert contoso["summary"]["forecast"] == {}
    assert 0 < contoso["summary"]["spend_mtd"]["JPY"] < 1e15


def test_a_forecast_204_with_costs_says_the_forecast_is_unknown(site: Site, cli: Run) -> None:
    sub = refunded_subscription(site.estate)
    site.emulator.add_fault(
        kind="costmanagement_no_content", route="costs.forecast_*", subscriptions=[sub]
    )
    code, out, err = cli(site, "check", "--profile", "fabrikam-logistics")
    assert code == 0, err  # an info finding; nothing is missing from the report
    assert "forecast EUR unknown" in out
    assert "forecast unknown" in out and "Cost Management gave no forecast" in out
    assert f"{FALLBACK} 0.00" not in out


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_export_spend_keeps_refunds_and_drops_the_absurd_row(site: Site, cli: Run) -> None:
    code, out, err = cli(site, "export", "spend", "--all", "--format", "csv")
    assert code == 0, err
    assert not UNSAFE.search(out.replace("\r\n", "\n").replace("\n", ""))
    rows = _csv(out)
    totals = {(r["profile"], r["currency"]): r["amount"] for r in rows if r["line"] == "total"}
    assert set(totals) == {("contoso-retail", "JPY"), ("fabrikam-logistics", "EUR")}
    assert all(abs(Decimal(v)) < Decimal("1e15") for v in totals.values())
    est = site.estate
    sub = refunded_subscription(est)
    storage = next(r for r in rows if r["subscription_id"] == sub and r["service"] == "Storage")
    series = next(s for s in est.costs_in(sub) if s.service_name == "Storage")
    month = [
        v for d, v in zip(est.cost_dates(), series.daily, strict=True) if d.month == est.as_of.month
    ]
    assert REFUND in month
    assert Decimal(storage["amount"]) == Decimal(repr(sum(month))).quantize(Decimal("0.01"))
    # the hostile service name is there, as text only
    services = {r["service"] for r in rows}
    assert CLEANED in services and EVIL_SERVICE not in services


def test_export_arc_csv_neutralises_control_characters(site: Site, cli: Run) -> None:
    code, out, err = cli(site, "export", "arc", "--all", "--format", "csv")
    assert code == 0, err
    body = out.replace("\r\n", "")
    assert not UNSAFE.search(body), [m.group() for m in UNSAFE.finditer(body)][:5]
    statuses = {r["status"] for r in _csv(out)}
    assert CLEANED in statuses


def test_installed_export_of_a_1e308_cost_does_not_crash(
    site: Site, isolated_home: Path, tmp_path: Path
) -> None:
    """The case of the issue, as a user runs it: exit 0, not 70 with InvalidOperation."""
    command = Path(sys.executable).with_name("btconsole")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(isolated_home),
        "XDG_CACHE_HOME": str(isolated_home / "xdg_cache_home"),
        "XDG_STATE_HOME": str(isolated_home / "xdg_state_home"),
        "XDG_CONFIG_HOME": str(isolated_home / "xdg_config_home"),
        "XDG_DATA_HOME": str(isolated_home / "xdg_data_home"),
        "BTCONSOLE_TODAY": site.estate.as_of.isoformat(),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        **site.secrets,
    }
    out = tmp_path / "spend.csv"
    argv = ["--config", str(site.config), "export", "spend", "--all", "--format", "csv"]
    done = subprocess.run(
        [str(command), *argv, "--output", str(out)],
        env={**env, "LANG": os.environ.get("LANG", "C.UTF-8")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    text = out.read_text(encoding="utf-8")
    assert "JPY" in text and not HUGE.search(text)
