"""``btconsole check`` against the emulator over HTTPS, through the CLI: every exit
code, the diff with the previous check, every format, output safety, cron use."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from btconsole.checks import state_dir
from tests.checks.conftest import CHECK_SCHEMA, Run, Site


def validate(report: dict[str, Any]) -> None:
    schema = json.loads(CHECK_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(report)


def test_clean_estate_is_all_clear_and_says_so(clean: Site, cli: Run) -> None:
    code, out, err = cli(clean, "check", "--all")
    assert code == 0, out + err
    assert out.startswith("btconsole check ") and ": ALL CLEAR (0 critical, 0 warning" in out
    assert "== Contoso Retail [contoso-retail]: all clear" in out
    assert "changes: first check of these profiles" in out
    assert "\x1b" not in out  # not a terminal: no ANSI
    assert err == ""


def test_small_estate_is_critical_in_every_format(small: Site, cli: Run) -> None:
    code, out, _ = cli(small, "check", "--all", "--format", "json")
    assert code == 2
    report = json.loads(out)
    validate(report)
    assert report["schema"] == "btconsole.check/1"
    assert report["status"] == "critical" and report["worst"] == "critical"
    assert report["data"]["complete"] is True
    assert report["profiles"] == small.profiles
    assert report["counts"]["critical"] > 0 and report["counts"]["warning"] > 0
    fabrikam = report["customers"][1]
    # is it Azure? the ExpressRoute service issue reaching Fabrikam is its first finding
    first = fabrikam["findings"][0]
    assert (first["severity"], first["impact"], first["domain"]) == ("critical", "outage", "health")
    assert first["title"] == "Azure service issue: ExpressRoute in UK South"
    assert fabrikam["summary"]["health"]["service_issues"] == 1
    # ... and the degraded circuits in its region say so
    caused = [f for f in fabrikam["findings"] if f["azure_cause"]]
    assert {f["domain"] for f in caused} == {"circuits"}
    assert all(
        f["azure_cause"].startswith("Azure: ExpressRoute service issue in UK South since ")
        for f in caused
    )
    assert all(f["resource_id"].startswith("/subscriptions/") for f in caused)
    assert report["customers"][0]["summary"]["health"]["service_issues"] == 0
    severities = [f["severity"] for c in report["customers"] for f in c["findings"]]
    assert severities.count("critical") == report["counts"]["critical"]

    # the same cache, read-only, as text and Markdown
    code, text, _ = cli(small, "check", "--all", "--offline")
    assert code == 2
    assert ": CRITICAL (" in text.splitlines()[0] and "data: cache only (--offline)" in text
    assert "CRIT arc" in text and "WARN" in text and "since 2026-" in text
    assert "CRIT health   Azure service issue: ExpressRoute in UK South\n" in text
    assert "     Azure: ExpressRoute service issue in UK South since " in text
    assert "| azure: 1 service issue, " in text
    assert "\x1b" not in text
    code, markdown, _ = cli(small, "check", "--all", "--offline", "--format", "markdown")
    assert code == 2
    assert markdown.startswith("## btconsole check: CRITICAL\n")
    assert "### Fabrikam Logistics (`fabrikam-logistics`)" in markdown
    assert "- **CRITICAL** arc:" in markdown and "  - where: " in markdown
    assert "- **CRITICAL** health: Azure service issue: ExpressRoute in UK South" in markdown
    assert "  - azure: Azure: ExpressRoute service issue in UK South since " in markdown
    # the second offline run compares with the first: nothing changed
    assert "0 new, 0 resolved, 0 changed" in markdown


def test_diff_shows_new_and_resolved_findings_and_is_kept_private(
    clean: Site, spoiled: Site, cli: Run
) -> None:
    old_agent, evil_host = [m for m in clean.estate.machines if m.status == "Connected"][:2]
    assert cli(clean, "check", "--all")[0] == 0

    code, out, _ = cli(spoiled, "check", "--all")  # the same customers, now with problems
    assert code == 1, out
    assert ": WARNINGS (0 critical, 1 warning, 1 info" in out
    assert f"WARN arc      {old_agent.name}: agent " in out
    assert "changes since the previous check" in out and "2 new, 0 resolved" in out
    assert f"NEW      WARN contoso-retail: {old_agent.name}: agent" in out
    # terminal safety: no escape sequences or bidi overrides from Azure data
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "[31mEvil]0;title" in out
    code, markdown, _ = cli(spoiled, "check", "--all", "--offline", "--format", "markdown")
    assert code == 1
    line = next(x for x in markdown.splitlines() if "Evil" in x)
    assert "\\*bold\\* \\[x\\]\\(https://e\\.example\\) \\<b\\>\\|\\</b\\> \\`tick\\`" in line
    assert "\x1b" not in markdown

    code, out, _ = cli(clean, "check", "--all", "--format", "json")
    assert code == 0
    report = json.loads(out)
    validate(report)
    assert [f["title"].split(":")[0] for f in report["changes"]["resolved"]] == [
        old_agent.name,
        evil_host.name,
    ]
    assert report["changes"]["new"] == [] and report["changes"]["unchanged"] == 0
    directory = state_dir()
    files = list(directory.glob("check-*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_previous_check_is_keyed_by_the_set_of_profiles(clean: Site, cli: Run) -> None:
    a, b = clean.profiles
    assert cli(clean, "check", "-p", b, "-p", a)[0] == 0
    _, out, _ = cli(clean, "check", "-p", a, "-p", b, "-p", a, "--offline")
    assert "changes since the previous check" in out
    _, out, _ = cli(clean, "check", "-p", a, "--offline")
    assert "first check of these profiles" in out


def test_a_failing_subscription_makes_the_data_incomplete(clean: Site, cli: Run) -> None:
    sub = clean.subscriptions(0)[0]
    clean.emulator.add_fault(kind="forbidden", subscriptions=[sub])
    code, out, err = cli(clean, "check", "--all")
    assert code == 3, out + err
    head = out.splitlines()[0]
    assert "DATA INCOMPLETE" in head and "ALL CLEAR" not in head, out
    assert f"contoso-retail {sub}: arc never fetched: " in out and "access denied" in out
    # Resource Graph leaves the refused subscription out of its answer without an
    # error: its health domain is unknown too, never "no issues"
    assert (
        f"contoso-retail {sub}: health never fetched: Resource Graph returned nothing for "
        "this subscription: the identity cannot read it" in out
    )
    # its only subscription could not be read: the customer is unknown, never all clear
    assert "== Contoso Retail [contoso-retail]: UNKNOWN: listing Arc machines in " in out
    assert "   arc ? | circuits ? | compliance ? | spend ? | azure health ?\n" in out
    assert "no issues" not in out.split("== Contoso Retail")[1].split("== Fabrikam")[0]
    assert "CRIT all      no data: listing Arc machines in " in out
    assert "== Fabrikam Logistics [fabrikam-logistics]: all clear" in out

    # the next run still cannot get it (and backs off): still 3, with the reason
    code, out, _ = cli(clean, "check", "--all", "--format", "json")
    assert code == 3
    report = json.loads(out)
    validate(report)
    assert report["status"] == "incomplete" and report["data"]["complete"] is False
    kinds = {(p["domain"], p["scope"], p["kind"]) for p in report["data"]["problems"]}
    assert ("arc", sub, "never-fetched") in kinds
    assert ("health", sub, "never-fetched") in kinds
    reasons = {p["reason"] for p in report["data"]["problems"] if p["scope"] == sub}
    assert reasons == {"access"}
    first, second = report["customers"]
    assert first["complete"] is False and second["complete"]
    assert first["status"] == "unknown" and second["status"] == "ok"
    for domain in ("arc", "health"):
        assert first["coverage"]["domains"][domain] == {
            "state": "unknown",
            "scopes": {"fresh": 0, "stale": 0, "failed": 1, "never": 0},
            "reason": "access",
            "why": first["coverage"]["domains"][domain]["why"],
        }
    assert [(f["domain"], f["rule"], f["severity"]) for f in first["findings"]] == [
        ("all", "coverage", "critical")
    ]


def test_incomplete_wins_over_critical(small: Site, cli: Run) -> None:
    sub = small.subscriptions(0)[0]
    small.emulator.add_fault(kind="forbidden", subscriptions=[sub], route="*policy*")
    code, out, _ = cli(small, "check", "--all", "--format", "json")
    assert code == 3
    report = json.loads(out)
    validate(report)
    assert report["worst"] == "critical" and report["status"] == "incomplete"
    code, text, _ = cli(small, "check", "--all", "--offline")
    assert code == 3
    assert "DATA INCOMPLETE, CRITICAL in the data that could be read" in text.splitlines()[0]


def test_stale_cache_with_max_age_offline(clean: Site, cli: Run) -> None:
    a = clean.profiles[0]
    assert cli(clean, "check", "-p", a)[0] == 0
    assert cli(clean, "check", "-p", a, "--offline", "--max-age", "1h")[0] == 0
    time.sleep(0.3)
    code, out, _ = cli(clean, "check", "-p", a, "--offline", "--max-age", "200ms")
    assert code == 3
    assert "DATA INCOMPLETE" in out and "old (--max-age 0.2s)" in out
    # an online run with --max-age refreshes what is too old (the subscription listing
    # too), and is complete again: ages count from the start of the run
    code, out, _ = cli(clean, "check", "-p", a, "--max-age", "200ms")
    assert code == 0, out


def test_offline_on_an_empty_cache_is_incomplete(clean: Site, cli: Run) -> None:
    code, out, _ = cli(clean, "check", "--all", "--offline")
    assert code == 3
    assert "subscription listing never fetched" in out


def test_output_file_gets_the_report_and_stdout_nothing(
    clean: Site, cli: Run, tmp_path: Path
) -> None:
    target = tmp_path / "report.md"
    code, out, err = cli(clean, "check", "--all", "--format", "markdown", "--output", str(target))
    assert code == 0 and out == "" and err == ""
    assert target.read_text(encoding="utf-8").startswith("## btconsole check: ALL CLEAR")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    code, _, err = cli(clean, "check", "--all", "--output", str(tmp_path / "no" / "dir.txt"))
    assert code == 64 and "cannot write" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check"], "name the customers with --profile NAME or use --all"),
        (["check", "--all", "-p", "contoso-retail"], "not both"),
        (["check", "-p", "nope"], "no profile named 'nope'"),
        (["check", "--all", "--max-age", "soon"], "--max-age 'soon' is not a duration"),
        (["check", "--all", "--timeout", "0"], "--timeout '0' is not a duration"),
        (["check", "--all", "--format", "yaml"], "invalid choice"),
    ],
)
def test_usage_errors_exit_64(
    clean_site: Site, cli: Run, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code, out, err = cli(clean_site, *argv)
    except SystemExit as exit_:  # argparse's own errors
        code, (out, err) = int(exit_.code or 0), capsys.readouterr()
    assert code == 64
    assert message in err and out == "" and "Traceback" not in err


def test_config_problems_exit_64(cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    code, _, err = cli(None, "--config", str(empty), "check", "--all")
    assert code == 64 and "no profiles configured" in err
    monkeypatch.setenv("BTCONSOLE_TODAY", "tomorrow")
    code, _, err = cli(None, "--config", str(empty), "export", "arc", "--format", "csv", "--all")
    assert code == 64


def test_bad_today_override_exits_64(
    clean: Site, cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTCONSOLE_TODAY", "20-11-2026")
    code, _, err = cli(clean, "check", "--all")
    assert code == 64 and "BTCONSOLE_TODAY='20-11-2026' is not a date" in err


def test_installed_command_from_cron_with_the_env_file(
    clean: Site, isolated_home: Path, tmp_path: Path
) -> None:
    """The cron line of docs/checks.md: source the env file, run the installed command."""
    command = Path(sys.executable).with_name("btconsole")
    assert command.exists()
    out = tmp_path / "check.json"
    line = (
        f". {shlex.quote(str(clean.env_file))} && exec {shlex.quote(str(command))} "
        f"--config {shlex.quote(str(clean.config))} check --all --format json "
        f"--output {shlex.quote(str(out))}"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(isolated_home),
        "XDG_CACHE_HOME": str(isolated_home / "xdg_cache_home"),
        "XDG_STATE_HOME": str(isolated_home / "xdg_state_home"),
        "XDG_CONFIG_HOME": str(isolated_home / "xdg_config_home"),
        "XDG_DATA_HOME": str(isolated_home / "xdg_data_home"),
        "BTCONSOLE_TODAY": clean.estate.as_of.isoformat(),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    done = subprocess.run(
        ["/bin/sh", "-c", line], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    report = json.loads(out.read_text(encoding="utf-8"))
    validate(report)
    assert report["status"] == "ok" and report["data"]["complete"]
    assert os.listdir(isolated_home / "xdg_cache_home" / "btconsole" / "checks")


def test_a_failed_resource_graph_batch_is_incomplete_until_it_succeeds(
    clean: Site, cli: Run, tmp_path: Path
) -> None:
    """Above graph_threshold subscriptions the engine lists through Resource Graph, and
    keeps a failed batch's error on the batch key only; check must still see it."""
    lines = clean.config.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "graph.toml"
    path.write_text("\n".join([lines[0], "graph_threshold = 1", *lines[1:]]) + "\n", "utf-8")
    fabrikam = clean.profiles[1]
    assert len(clean.subscriptions(1)) > 1
    clean.emulator.add_fault(kind="forbidden", route="graph.*")
    code, out, _ = cli(None, "--config", str(path), "check", "-p", fabrikam)
    assert code == 3
    assert "refresh (Resource Graph) failed" in out
    clean.emulator.clear_faults()
    code, out, _ = cli(None, "--config", str(path), "check", "-p", fabrikam)
    assert code == 0, out
    assert any(route.startswith("graph.") for route in clean.emulator.stats()["by_route"])
