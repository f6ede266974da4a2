"""Logging: a private rotating file, the level from the environment, and redaction."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from btconsole import logs
from btconsole.logs import RedactingFilter, redact, setup_logging

JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21nbXQifQ.c2lnbmF0dXJlXzQ1Ng"
SECRET = "Zx8Q~verySecretClientValue.42"


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        (f"Authorization: Bearer {JWT}", JWT, "Authorization: ***"),
        (
            f"headers={{'Authorization': 'Bearer {SECRET}', 'x-ms-id': 'abc'}}",
            SECRET,
            "'x-ms-id': 'abc'",
        ),
        (f"got token {JWT} back", JWT, "got token *** back"),
        (f"bearer {SECRET} rest", SECRET, "bearer *** rest"),
        (
            f"client_id=app&client_secret={SECRET}&scope=x",
            SECRET,
            "client_id=app&client_secret=***&scope=x",
        ),
        (f'{{"client_secret": "{SECRET}", "n": 1}}', SECRET, '"client_secret": "***", "n": 1'),
        (f'{{"client_secret":"with \\"quote\\" {SECRET}"}}', SECRET, '"client_secret":"***"'),
        (f"password={SECRET} user=bob", SECRET, "password=*** user=bob"),
        (f"AZURE_CLIENT_SECRET={SECRET}", SECRET, "AZURE_CLIENT_SECRET=***"),
        (
            f'{{"refresh_token": "{SECRET}", "access_token": "{JWT}"}}',
            SECRET,
            '"refresh_token": "***"',
        ),
        (
            f"refresh_token={SECRET}&access_token={SECRET}",
            SECRET,
            "refresh_token=***&access_token=***",
        ),
        (
            f"https://st.blob.core.windows.net/c/b?sv=2022&sig={SECRET}%2F%3D&se=1",
            SECRET,
            "sig=***&se=1",
        ),
        (f"AccountName=st;AccountKey={SECRET}==;EndpointSuffix=x", SECRET, "AccountKey=***;"),
    ],
)
def test_redact_removes_secrets(text: str, gone: str, kept: str) -> None:
    out = redact(text)
    assert gone not in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        "InvalidAuthenticationToken: The access token is invalid.",
        "Password is wrong for user bob",
        "design=ok; tags={'env': 'prod'}",
        "/subscriptions/99999999-8888-7777-6666-555555555555/resourceGroups/rg",
        "",
    ],
)
def test_redact_leaves_ordinary_text(text: str) -> None:
    assert redact(text) == text


def test_secrets_never_reach_the_log_file(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs" / "btconsole.log", level=logging.DEBUG)
    log = logging.getLogger("btconsole.test")
    log.info("calling ARM with Authorization: Bearer %s", JWT)
    log.warning("token request body: %s", {"client_secret": SECRET, "grant_type": "x"})
    log.debug("SAS url https://x/y?sig=%s&sp=r", SECRET)
    logging.getLogger("azure.core.pipeline").info("password=%s", SECRET)
    try:
        raise RuntimeError(f"failed with access_token={SECRET}")
    except RuntimeError:
        log.exception("refresh failed for %s", "contoso")
    for handler in logging.getLogger().handlers:
        handler.flush()
    data = path.read_bytes()
    assert SECRET.encode() not in data
    assert JWT.encode() not in data
    for part in JWT.split("."):
        assert part.encode() not in data
    text = data.decode()
    assert "calling ARM with Authorization: ***" in text
    assert "refresh failed for contoso" in text
    assert "Traceback" in text and "access_token=***" in text
    assert "azure.core.pipeline" in text


def test_log_file_and_directory_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    old = directory / "btconsole.log"
    old.write_text("old line\n")
    old.chmod(0o644)
    path = setup_logging(directory / "btconsole.log", max_bytes=2000, backup_count=2)
    assert mode_of(directory) == 0o700
    assert mode_of(path) == 0o600
    log = logging.getLogger("btconsole.test")
    for n in range(200):
        log.info("line %d %s", n, "x" * 40)
    files = sorted(directory.iterdir())
    assert [f.name for f in files] == ["btconsole.log", "btconsole.log.1", "btconsole.log.2"]
    for item in files:
        assert mode_of(item) == 0o600, item


def test_default_path_and_env_level(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BTCONSOLE_LOG_LEVEL", "debug")
    path = setup_logging()
    assert path == logs.default_log_path()
    assert str(path).startswith(str(isolated_home))
    assert logging.getLogger().level == logging.DEBUG
    assert mode_of(path.parent) == 0o700
    monkeypatch.setenv("BTCONSOLE_LOG_LEVEL", "chatty")
    with caplog.at_level(logging.INFO):
        setup_logging()
        assert logging.getLogger().level == logging.INFO
    assert "BTCONSOLE_LOG_LEVEL='chatty' is not a log level" in caplog.text
    # Called twice: one file handler, not two.
    names = [h.get_name() for h in logging.getLogger().handlers]
    assert names.count("btconsole-file") == 1


@pytest.mark.parametrize(
    ("value", "level"),
    [("", logging.INFO), ("WARNING", logging.WARNING), ("error", logging.ERROR), ("15", 15)],
)
def test_log_level_from_env(value: str, level: int) -> None:
    assert logs.log_level_from_env({"BTCONSOLE_LOG_LEVEL": value}) == (level, None)


def test_other_handlers_see_redacted_records_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup_logging(tmp_path / "btconsole.log")
    with caplog.at_level(logging.INFO):
        logging.getLogger("btconsole.test").info("Authorization: Bearer %s", JWT)
    assert JWT not in caplog.text
    assert "Authorization: ***" in caplog.text


def test_filter_survives_a_broken_format() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s b %s", (SECRET,), None)
    assert RedactingFilter().filter(record)
    assert record.args is None
    assert "a %s b %s" in record.getMessage()


def test_filter_redacts_args_and_drops_them() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "secret %s", (f"password={SECRET}",), None
    )
    assert RedactingFilter().filter(record)
    assert record.args is None
    assert record.getMessage() == "secret password=***"


def test_redact_mapping() -> None:
    masked = logs.redact_mapping(
        {
            "Authorization": "Bearer x",
            "client_secret": "s",
            "AZURE_CLIENT_SECRET": "s",
            "note": f"token {JWT}",
            "n": 1,
        }
    )
    assert masked == {
        "Authorization": "***",
        "client_secret": "***",
        "AZURE_CLIENT_SECRET": "***",
        "note": "token ***",
        "n": 1,
    }


def test_redact_is_linear_on_hostile_input() -> None:
    # A nested-quantifier pattern took minutes on the first of these; keep it linear.
    for text in ("ab-" * 30_000, "a_" * 50_000, 'password="' + "x" * 100_000, "token=" * 20_000):
        assert len(redact(text)) <= len(text)
