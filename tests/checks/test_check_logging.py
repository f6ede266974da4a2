"""What a check leaves in the log: one line per refresh of a profile's domain at INFO;
the Azure SDK's request, response and token lines only at DEBUG (they were ~1 MB per 15
minutes of console). Real check in-process against the emulator."""

from __future__ import annotations

import logging

import pytest
from platformdirs import user_log_path

from tests.checks.conftest import Run, Site


def _log_text() -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return (user_log_path("btconsole") / "btconsole.log").read_text(encoding="utf-8")


def test_info_logs_one_line_per_refresh_not_every_request(clean: Site, cli: Run) -> None:
    code, out, err = cli(clean, "check", "--all")
    assert code == 0, out + err
    text = _log_text()
    assert "Request URL" not in text and "Response status" not in text
    assert "get_token succeeded" not in text
    for name in clean.profiles:
        assert f"refresh {name}/arc: " in text and f"refresh {name}/spend: " in text


def test_debug_logs_the_sdk_requests(
    clean: Site, cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTCONSOLE_LOG_LEVEL", "DEBUG")
    code, out, err = cli(clean, "check", "--all")
    assert code == 0, out + err
    assert "Request URL" in _log_text()


def test_verbose_logs_the_sdk_requests(
    clean: Site, cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --verbose sets BTCONSOLE_LOG_LEVEL for the process: monkeypatch restores it after
    monkeypatch.setenv("BTCONSOLE_LOG_LEVEL", "INFO")
    code, out, err = cli(clean, "--verbose", "check", "--all")
    assert code == 0, out + err
    assert "Request URL" in _log_text()
