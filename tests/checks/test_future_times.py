"""Times ahead of now read as future, never as ``0s`` ago (issue 11, point 7).

An Arc machine whose last status change Azure dates in year 9999: ``check`` (through
the emulator and the installed command path in-process) and the console's rows say
``in ...y``; ages a little ahead (clock skew) still read as now.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator

import pytest

from btconsole import checks, health
from btconsole.emulator.estate import Estate
from btconsole.records import ArcRecord
from btconsole.ui import render
from tests.checks.conftest import Run, Site, _serve, _use, clean_estate

FAR = "9999-12-31T00:00:00Z"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
YEAR = 365 * 86400


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (3599, "59m"),
        (2 * 86400, "2d"),
        (400 * 86400, "1y"),
        (-30, "0s"),  # within the clock-skew slack: now
        (-health.FUTURE_SLACK_SECONDS, "0s"),
        (-3 * 3600, "in 3h"),
        (-7974 * YEAR - 5, "in 7974y"),
    ],
)
def test_one_age_format_everywhere(seconds: float, text: str) -> None:
    assert health.age_text(seconds) == text
    assert render.age_text(seconds) == text
    assert checks.format_age(seconds) == text


def machine(changed: str | None, status: str = "Disconnected") -> ArcRecord:
    return ArcRecord(
        profile="contoso",
        id="/subscriptions/s/resourceGroups/arc/providers/Microsoft.HybridCompute/machines/m1",
        name="m1",
        kind="machine",
        subscription_id="s",
        resource_group="arc",
        location="uksouth",
        status=status,
        last_status_change=changed,
        agent_version="1.49.02928.2047",
        error_codes=(),
        error_messages=(),
    )


def test_a_far_future_status_change_is_a_future_finding_and_cell() -> None:
    finding = health.arc_status_finding(machine(FAR), NOW)
    assert finding is not None
    assert re.search(r"disconnected, status change dated in \d{4}y$", finding.title)
    assert "in the future" in finding.detail and " 0m" not in finding.title
    assert finding.severity == "warning"
    row = render.arc_rows([machine(FAR)], customers={}, subscriptions={}, now=NOW)[0]
    assert re.fullmatch(r"in \d{4}y", row.cells[2])
    attention = render.attention_rows([finding], customers={}, now=NOW)[0]
    assert re.fullmatch(r"in \d{4}y", attention.cells[4])


def test_a_change_a_few_seconds_ahead_is_clock_skew_not_future() -> None:
    ahead = (NOW + dt.timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    finding = health.arc_status_finding(machine(ahead), NOW)
    assert finding is not None and finding.title.endswith("disconnected for 0m")
    row = render.arc_rows([machine(ahead)], customers={}, subscriptions={}, now=NOW)[0]
    assert row.cells[2] == "0s"


def test_a_time_past_year_9999_in_utc_is_the_farthest_time_not_unknown() -> None:
    moment = health.parse_time("9999-12-31T23:00:00-05:00")
    assert moment == dt.datetime.max.replace(tzinfo=dt.timezone.utc)


def future_estate() -> Estate:
    estate = clean_estate()
    first = next(m for m in estate.machines if m.status == "Connected")
    first.status = "Disconnected"
    first.last_status_change = FAR
    return estate


@pytest.fixture(scope="module")
def future_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _serve(tmp_path_factory, future_estate(), "future")


@pytest.fixture
def future(future_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    return _use(future_site, monkeypatch)


def test_check_shows_a_year_9999_status_change_as_future(future: Site, cli: Run) -> None:
    name = next(m.name for m in future.estate.machines if m.last_status_change == FAR)
    code, out, err = cli(future, "check", "--all")
    assert code == 1, (out, err)  # a warning
    line = next(text for text in out.splitlines() if name in text)
    assert re.search(r"status change dated in \d{4}y", line), line
    assert "for 0m" not in line and " 0s" not in line
    code, out, _ = cli(future, "check", "--all", "--offline", "--format", "json")
    found = [
        f
        for customer in json.loads(out)["customers"]
        for f in customer["findings"]
        if name in f["title"]
    ]
    assert len(found) == 1 and re.search(r"dated in \d{4}y", found[0]["title"])
    assert found[0]["since"].startswith("9999-12-31")
