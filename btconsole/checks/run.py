"""Running ``btconsole check``: options in, report out, state kept."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from btconsole.checks.format import json_text, use_color
from btconsole.checks.jsonreport import report_json
from btconsole.checks.markdown import render_markdown
from btconsole.checks.options import DEFAULT_TIMEOUT, FORMATS, clock, parse_max_age, select_profiles
from btconsole.checks.report import CheckReport, build_report
from btconsole.checks.snapshot import load_snapshot
from btconsole.checks.state import load_previous, save_state, state_path
from btconsole.checks.text import render_text
from btconsole.config import Config, parse_duration
from btconsole.errors import UsageError
from btconsole.progress import for_stream


def render(report: CheckReport, fmt: str, *, color: bool = False) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return json_text(report_json(report))
    if fmt == "markdown":
        return render_markdown(report)
    return render_text(report, color=color)


# --------------------------------------------------------------------------- output


def write_output(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a new file is 0600: reports name customers).

    Raises:
        UsageError: the file cannot be written.
    """
    target = Path(path).expanduser()
    try:
        directory = target.parent if str(target.parent) else Path()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.fchmod(fd, target.stat().st_mode & 0o777)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            Path(tmp).replace(target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()
            raise
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def check_output_path(path: str | None) -> None:
    """Fail before any refresh when ``--output`` cannot be written.

    Raises:
        UsageError: its directory does not exist or is not writable.
    """
    if path is None:
        return
    target = Path(path).expanduser()
    directory = target.parent
    if not directory.is_dir():
        raise UsageError(f"cannot write {target}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK) or target.is_dir():
        raise UsageError(f"cannot write {target}: not a writable file path")


def quiet_logging() -> None:
    """Send log records to the log file, never to stderr (which cron mails)."""
    from btconsole.logs import setup_logging

    try:
        setup_logging()
    except OSError:
        logging.getLogger().addHandler(logging.NullHandler())


@dataclass(frozen=True)
class CheckOptions:
    profiles: Sequence[str] | None = None
    all: bool = False
    fmt: str = "text"
    offline: bool = False
    max_age: str | None = None
    output: str | None = None
    timeout: str | None = None


def parse_timeout(text: str | None) -> float:
    """Seconds in a ``--timeout`` value (default 5 minutes).

    Raises:
        UsageError: not a duration.
    """
    if text is None:
        return DEFAULT_TIMEOUT
    seconds = parse_duration(text)
    if seconds is None:
        raise UsageError(f"--timeout {text!r} is not a duration; use e.g. 90s or 5m")
    return seconds


def run_check(
    config: Config,
    options: CheckOptions,
    *,
    stdout: TextIO,
    stderr: TextIO,
    environ: Mapping[str, str] | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> int:
    """Run ``btconsole check``; return its exit code.

    Raises:
        UsageError / ConfigError: bad options or profiles (exit 64).
        CacheError: the cache cannot be opened.
    """
    if options.fmt not in FORMATS:
        raise UsageError(f"unknown format {options.fmt!r}; use one of {', '.join(FORMATS)}")
    max_age = parse_max_age(options.max_age)
    timeout = parse_timeout(options.timeout)
    from btconsole.lighthouse import with_customers

    # Lighthouse customers are discovered (or read from the cache offline) first, so
    # that --all and --profile see them exactly as configured ones
    config, discovery_problems = with_customers(config, offline=options.offline)
    profiles = select_profiles(config, options.profiles, options.all)
    check_output_path(options.output)
    now = clock(environ)
    quiet_logging()
    snapshot = load_snapshot(
        config,
        profiles,
        offline=options.offline,
        clock=now,
        max_age=max_age,
        timeout=timeout,
        engine_options=engine_options,
        records=False,
        findings=True,
        progress=for_stream(stderr, environ),
    )
    snapshot.notes.extend(discovery_problems)
    names = [p.name for p in profiles]
    path = state_path(names)
    previous, note = load_previous(path, names)
    if note:
        snapshot.notes.append(note)
    report = build_report(snapshot, previous)
    color = options.output is None and use_color(stdout, environ)
    text = render(report, options.fmt, color=color)
    if options.output:
        write_output(options.output, text)
    else:
        stdout.write(text)
        stdout.flush()
    try:
        save_state(path, report)
    except OSError as exc:
        print(
            f"btconsole: warning: cannot keep this check for the next diff "
            f"({path}: {exc.strerror or exc})",
            file=stderr,
        )
    return report.exit_code
