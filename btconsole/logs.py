"""Logging: one rotating, private log file, and redaction of secrets in every record.

:func:`setup_logging` installs a rotating file handler (0600 file in a 0700 directory,
``platformdirs.user_log_path("btconsole")`` unless a path is given) on the root logger,
at the level named by ``BTCONSOLE_LOG_LEVEL`` (default ``INFO``). Every record goes
through :class:`RedactingFilter` as it is made (a wrapped log record factory) and again
in that handler; it replaces bearer tokens, JWTs, ``Authorization`` values, client
secrets, passwords, OAuth tokens and SAS signatures with ``***``. :func:`redact` does
the same to any string; the cache stores error messages through it.

This module imports neither Textual nor any Azure SDK.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from btconsole.fsutil import PRIVATE_FILE_MODE, ensure_private_dir

APP_NAME = "btconsole"
LOG_FILENAME = "btconsole.log"
LOG_LEVEL_ENV = "BTCONSOLE_LOG_LEVEL"
DEFAULT_LEVEL = logging.INFO
MASK = "***"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"

# Names whose values are secrets, in ``name=value``, ``name: value`` and
# ``"name": "value"`` forms (any case; an ``AZURE_``-style prefix is allowed).
_SECRET_NAMES = (
    "client_secret",
    "client_assertion",
    "password",
    "passwd",
    "pwd",
    "secret",
    "refresh_token",
    "access_token",
    "id_token",
    "token",
    "sig",
    "accountkey",
    "sharedaccesskey",
    "api_key",
    "apikey",
)
# Not preceded by a letter or digit, so ``AZURE_CLIENT_SECRET`` and ``x-api_key`` match
# but ``mysecret`` does not; a lookbehind, not a prefix pattern, keeps matching linear.
_NAME = r"(?<![A-Za-z0-9])(?:" + "|".join(_SECRET_NAMES) + r")"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values (``Authorization: Bearer x``, ``'Authorization': 'x'``).
    (
        re.compile(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*)([\"']?)[^\"'\r\n]+\2"),
        rf"\1\2{MASK}\2",
    ),
    # Bearer tokens anywhere.
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), rf"\1 {MASK}"),
    # JWTs and other base64url JSON (``eyJ`` is ``{"``), whole or in part.
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{6,}(?:\.[A-Za-z0-9_\-]*){0,2}"), MASK),
    # Quoted values: "client_secret": "x", 'password': 'x', password="x y".
    (
        re.compile(rf"(?i)({_NAME}[\"']?\s*[:=]\s*)([\"'])(?:\\.|(?!\2).)*\2"),
        rf"\1\2{MASK}\2",
    ),
    # Unquoted values: client_secret=x&..., password: x, ...&sig=x.
    (
        re.compile(rf"(?i)({_NAME}\s*[:=]\s*)(?![\"'\s])[^\s&\"',;}}\])]+"),
        rf"\1{MASK}",
    ),
)


def redact(text: str) -> str:
    """``text`` with secrets (tokens, JWTs, passwords, SAS signatures...) replaced by ``***``.

    Conservative by design: it may mask a harmless value that looks like a secret,
    never the other way round for the forms it knows.
    """
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redact a record's message (with its args merged in), traceback and stack.

    The message is formatted once, redacted, and stored back with no args, so a secret
    passed as an argument is gone before any handler or formatter sees it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we can, redacted
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def _redacting_factory(
    base: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        _FILTER.filter(record)
        return record

    factory._btconsole_redacting = True  # type: ignore[attr-defined]
    return factory


def install_redaction() -> None:
    """Redact every log record as it is made, whichever logger or handler it meets.

    Wraps the log record factory once (calling again does nothing), so records are
    redacted before any handler -- ours, a test's, a library's -- sees them.
    """
    current = logging.getLogRecordFactory()
    if not getattr(current, "_btconsole_redacting", False):
        logging.setLogRecordFactory(_redacting_factory(current))


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A :class:`~logging.handlers.RotatingFileHandler` whose files are always 0600."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
        try:
            if os.fstat(fd).st_mode & 0o777 != PRIVATE_FILE_MODE:
                os.fchmod(fd, PRIVATE_FILE_MODE)
        except BaseException:
            os.close(fd)
            raise
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # noqa: PTH123


def log_level_from_env(environ: dict[str, str] | None = None) -> tuple[int, str | None]:
    """The level named by ``BTCONSOLE_LOG_LEVEL`` and a problem message if it is not valid.

    Accepts level names in any case (``debug``, ``WARNING``) or numbers; anything else
    gives ``INFO`` and a message saying so.
    """
    env = os.environ if environ is None else environ
    raw = env.get(LOG_LEVEL_ENV, "").strip()
    if not raw:
        return DEFAULT_LEVEL, None
    if raw.isdigit():
        return int(raw), None
    level = logging.getLevelName(raw.upper())
    if isinstance(level, int):
        return level, None
    return DEFAULT_LEVEL, f"{LOG_LEVEL_ENV}={raw!r} is not a log level; using INFO"


#: The Azure SDK's chatty loggers: every HTTP request and response, every token, at INFO
#: (~1 MB of log per 15 minutes of console). Kept at WARNING unless the level is DEBUG.
SDK_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy", "azure.identity")


def quiet_sdk_loggers(level: int) -> None:
    """Let the SDK's request/response and token logs through only at ``DEBUG``."""
    sdk_level = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(sdk_level)


def default_log_path() -> Path:
    """The log file in the platform's user log directory."""
    from platformdirs import user_log_path

    return user_log_path(APP_NAME) / LOG_FILENAME


def setup_logging(
    path: Path | None = None,
    *,
    level: int | str | None = None,
    max_bytes: int = 5 * 1024 * 1024,
    backup_count: int = 3,
) -> Path:
    """Send every log record (redacted) to a private rotating file; return its path.

    Installs the handler on the root logger, replacing one installed by an earlier
    call, sets the root level (``level`` if given, else ``BTCONSOLE_LOG_LEVEL``) and
    calls :func:`install_redaction`; the handler also carries a
    :class:`RedactingFilter` of its own.

    Raises:
        OSError: the directory or the file cannot be created or made private.
    """
    log_path = default_log_path() if path is None else path
    ensure_private_dir(log_path.parent)
    problem = None
    if level is None:
        level, problem = log_level_from_env()
    handler = PrivateRotatingFileHandler(
        log_path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    handler.set_name(f"{APP_NAME}-file")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == handler.get_name():
            root.removeHandler(old)
            old.close()
    install_redaction()
    root.addHandler(handler)
    root.setLevel(level)
    quiet_sdk_loggers(root.level)
    if problem:
        logging.getLogger(__name__).warning("%s", problem)
    return log_path


def redact_mapping(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with values of secret-looking keys masked (for debug dumps)."""
    names = re.compile(rf"(?i){_NAME}$|^(?:proxy-)?authorization$")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if names.search(key):
            out[key] = MASK
        elif isinstance(value, str):
            out[key] = redact(value)
        else:
            out[key] = value
    return out
