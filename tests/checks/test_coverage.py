"""Truth under failure, through ``btconsole check``: a customer whose data could not be
read is UNKNOWN with the reason, never "all clear" and never zeros (docs/health.md,
"Coverage").

Real path: the CLI in-process, real SDK clients over HTTPS against the emulator.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from btconsole.cache import Cache, CacheKey
from btconsole.config import load_config
from btconsole.coverage import customer_coverage
from btconsole.digest import peek_sources
from tests.checks.conftest import Run, Site


def validate(report: object) -> None:
    import jsonschema

    from tests.checks.conftest import CHECK_SCHEMA

    jsonschema.validate(report, json.loads(CHECK_SCHEMA.read_text()))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_secret_makes_the_customer_unknown(
    clean: Site, cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = clean.profiles
    monkeypatch.delenv(f"BTCONSOLE_SECRET_{first.upper().replace('-', '_')}")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    code, out, err = cli(clean, "check", "--all")
    assert code == 3, out + err
    assert "all clear, data incomplete" not in out and "no arc resources" not in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("== Contoso Retail"))
    assert header.startswith("== Contoso Retail [contoso-retail]: UNKNOWN: ")
    assert lines[lines.index(header) + 1] == (
        "   arc ? | circuits ? | compliance ? | spend ? | azure health ?"
    )
    assert "CRIT all      no data: " in out
    assert "(1 of 2 customers UNKNOWN)" in lines[0]
    assert f"== Fabrikam Logistics [{second}]: all clear" in out

    code, out, _ = cli(clean, "check", "--all", "--offline", "--format", "json")
    assert code == 3
    report = json.loads(out)
    validate(report)
    mine = report["customers"][0]
    assert mine["status"] == "unknown" and mine["complete"] is False
    assert mine["coverage"]["listing"]["state"] == "failed"
    assert mine["coverage"]["listing"]["reason"] == "credential"
    assert {d["state"] for d in mine["coverage"]["domains"].values()} == {"unknown"}
    problems = [p for p in report["data"]["problems"] if p["profile"] == first]
    assert {(p["domain"], p["scope"]) for p in problems} == {
        ("subscriptions", None),
        ("arc", None),
        ("circuits", None),
        ("policy", None),
        ("spend", None),
        ("health", None),
    }
    assert {p["reason"] for p in problems} == {"credential"}
    assert all(p["profile"] is not None for p in report["data"]["problems"])
    assert [f["rule"] for f in mine["findings"]] == ["coverage"]
    assert mine["findings"][0]["severity"] == "critical"

    # markdown says the same, and never "all clear"
    _, md, _ = cli(clean, "check", "--all", "--offline", "--format", "markdown")
    assert "UNKNOWN" in md


def test_unreachable_endpoint_makes_every_customer_unknown(
    clean: Site, cli: Run, tmp_path: Path
) -> None:
    port = _closed_port()
    text = clean.config.read_text(encoding="utf-8")
    base = clean.emulator.base_url.rstrip("/")
    moved = tmp_path / "moved.toml"
    moved.write_text(text.replace(base, f"https://127.0.0.1:{port}"), encoding="utf-8")
    site = Site(clean.emulator, moved, clean.env_file, clean.secrets)
    code, out, err = cli(site, "check", "--all", "--timeout", "60s")
    assert code == 3, out + err
    assert "DATA INCOMPLETE (2 of 2 customers UNKNOWN)" in out.splitlines()[0]
    assert out.count("UNKNOWN: ") == 2
    assert "all clear" not in out and "no circuits" not in out
    _, out, _ = cli(site, "check", "--all", "--offline", "--format", "json")
    report = json.loads(out)
    validate(report)
    assert [c["status"] for c in report["customers"]] == ["unknown", "unknown"]


def test_an_unexpected_exception_stays_on_its_scope(
    small: Site, cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in one wrapper costs that scope only: recorded as an internal error with
    its first line; every other scope and domain is read."""
    import btconsole.azure.circuits as circuits

    real = circuits.list_circuits
    index = next(i for i in range(len(small.profiles)) if len(small.subscriptions(i)) > 1)
    name, victim = small.profiles[index], small.subscriptions(index)[0]

    async def broken(session: object, subscription_id: str) -> object:
        if subscription_id.lower() == victim:
            raise RuntimeError("boom\nsecond line")
        return await real(session, subscription_id)  # type: ignore[arg-type]

    monkeypatch.setattr(circuits, "list_circuits", broken)
    code, out, err = cli(small, "check", "--all", "--format", "json")
    assert code == 3, out + err
    report = json.loads(out)
    problems = report["data"]["problems"]
    assert [(p["profile"], p["domain"], p["scope"], p["reason"]) for p in problems] == [
        (name, "circuits", victim, "internal")
    ]
    assert "internal error: RuntimeError: boom (a bug in btconsole" in problems[0]["message"]
    assert "second line" not in problems[0]["message"]
    customer = report["customers"][index]
    assert customer["status"] == "incomplete"
    assert customer["coverage"]["domains"]["circuits"]["state"] == "partial"
    missing = [f for f in customer["findings"] if f["rule"] == "coverage"]
    assert [(f["domain"], f["severity"], f["subscription_id"]) for f in missing] == [
        ("circuits", "critical", victim)
    ]
    assert missing[0]["title"].startswith(
        f"no circuits data for 1 of {len(small.subscriptions(index))} subscriptions: "
        "internal error: RuntimeError: boom"
    )
    config = load_config(small.config)
    with Cache.open() as cache:
        # the other subscriptions of the same customer and domain were read
        for sub in small.subscriptions(index):
            entry = cache.peek(CacheKey(name, "circuits", sub))
            assert entry is not None
            assert (entry.error is not None) == (sub == victim)
        coverage = customer_coverage(peek_sources(cache, [config.profile(name)])[name], 0.0)
        assert coverage.domains["circuits"].partial
        assert not coverage.domains["arc"].missing
