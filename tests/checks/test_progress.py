"""A long ``check`` or ``export`` shows its refresh on a terminal's stderr (issue 12,
point 10), and nothing anywhere else.

The installed ``btconsole`` runs against the emulator with its stderr on a real
pseudo-terminal (stdout a pipe, as when a report is redirected) or on a pipe. The
display is rich's live progress, erased at the end; its last frame (drawn just before
the erase) has the final counts. Waits poll the terminal's output against a generous
deadline; nothing depends on timing.
"""

from __future__ import annotations

import io
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from btconsole.progress import LiveProgress, PlainProgress, for_stream
from tests.checks.conftest import Site

if sys.platform != "win32":
    import fcntl
    import pty
    import termios

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")

DEADLINE = 60.0
DOMAINS = ("arc", "circuits", "policy", "spend")
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SGR = re.compile(r"\x1b\[([0-9;]*)m")
HIDE, SHOW = "\x1b[?25l", "\x1b[?25h"


def _command() -> Path:
    command = Path(sys.executable).with_name("btconsole")
    assert command.exists()
    return command


def _env(site: Site, home: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "xdg_cache_home"),
        "XDG_STATE_HOME": str(home / "xdg_state_home"),
        "XDG_CONFIG_HOME": str(home / "xdg_config_home"),
        "XDG_DATA_HOME": str(home / "xdg_data_home"),
        "BTCONSOLE_TODAY": site.estate.as_of.isoformat(),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "TERM": "xterm-256color",
    }
    env.update(site.secrets)
    env.update(extra)
    return env


@dataclass
class Terminal:
    """A child whose stderr is a pseudo-terminal; what it wrote there so far."""

    proc: subprocess.Popen[bytes]
    chunks: list[bytes]

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")

    def until(self, what: str, condition: Callable[[str], bool]) -> None:
        end = time.monotonic() + DEADLINE
        while not condition(self.text):
            if self.proc.poll() is not None:
                raise AssertionError(f"ended ({self.proc.returncode}) before {what}: {self.text!r}")
            assert time.monotonic() < end, f"never saw {what}: {self.text!r}"
            time.sleep(0.05)


@contextmanager
def _on_terminal(
    site: Site, home: Path, *argv: str, config: Path | None = None, **env: str
) -> Iterator[Terminal]:
    """``btconsole *argv`` with stderr on a 100x30 pseudo-terminal, stdout a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    try:
        proc = subprocess.Popen(
            [str(_command()), "--config", str(config or site.config), *argv],
            env=_env(site, home, **env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal is gone
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield Terminal(proc, chunks)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=DEADLINE)
        reader.join(timeout=DEADLINE)
        os.close(master)


def _finish(terminal: Terminal) -> tuple[int, bytes, str]:
    out, _ = terminal.proc.communicate(timeout=DEADLINE)
    return terminal.proc.returncode, out, terminal.text


def _piped(
    site: Site, home: Path, *argv: str, config: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(_command()), "--config", str(config or site.config), *argv],
        env=_env(site, home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=DEADLINE,
    )


def _visible(raw: str) -> str:
    """The terminal's output without its control sequences."""
    return CSI.sub("", raw).replace("\r", "")


def _cursor_restored(raw: str) -> bool:
    return HIDE in raw and raw.rfind(SHOW) > raw.rfind(HIDE)


def _scopes(site: Site) -> int:
    return sum(len(c.subscription_ids) for c in site.estate.customers)


def _final_counts(raw: str, site: Site) -> None:
    """The last frame: every domain's scopes done, every customer done."""
    text = _visible(raw)
    n = _scopes(site)
    for domain in DOMAINS:
        assert re.search(rf"\b{domain}\b[^\n]*\b{n}/{n} done", text), (domain, text)
    customers = len(site.estate.customers)
    assert re.search(rf"\bcustomers\b[^\n]*\b{customers}/{customers} done", text), text


def _home(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    home.mkdir()
    return home


def test_export_shows_progress_on_a_terminal_and_writes_the_same_rows(
    small: Site, tmp_path: Path
) -> None:
    argv = ("export", "arc", "--all", "--format", "csv")
    with _on_terminal(small, _home(tmp_path, "tty"), *argv) as terminal:
        code, out, raw = _finish(terminal)
    assert code == 0, raw
    _final_counts(raw, small)
    assert "btconsole: refreshing" in _visible(raw) or "btconsole: reading" in _visible(raw)
    assert _cursor_restored(raw), raw
    assert "Traceback" not in raw

    piped = _piped(small, _home(tmp_path, "pipe"), *argv)
    assert piped.returncode == 0
    assert piped.stderr == b""  # nothing extra when stderr is not a terminal
    assert out == piped.stdout  # byte-identical
    assert out.count(b"\n") > 10


#: What a check's text report says about the moment it ran.
MOMENT = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d UTC|\b\d+s old\b")


def test_check_shows_progress_on_a_terminal_and_reports_the_same(
    small: Site, tmp_path: Path
) -> None:
    with _on_terminal(small, _home(tmp_path, "tty"), "check", "--all") as terminal:
        code, out, raw = _finish(terminal)
    _final_counts(raw, small)
    assert _cursor_restored(raw)
    assert SHOW not in raw[raw.rfind(SHOW) + len(SHOW) :]
    assert _visible(raw[raw.rfind(SHOW) :]).strip() == ""  # erased; nothing after it

    piped = _piped(small, _home(tmp_path, "pipe"), "check", "--all")
    assert piped.stderr == b""
    assert code == piped.returncode == 2
    # the same report, but for the minute it was made and the data's age in seconds
    assert MOMENT.sub(b"#", out) == MOMENT.sub(b"#", piped.stdout)
    assert b"\x1b" not in out  # stdout is a pipe: no colour there either


def test_no_color_draws_the_progress_without_colour(small: Site, tmp_path: Path) -> None:
    argv = ("export", "policy", "--all", "--format", "json")
    with _on_terminal(small, _home(tmp_path, "tty"), *argv, NO_COLOR="1") as terminal:
        code, _, raw = _finish(terminal)
    assert code == 0
    _final_counts(raw, small)
    colours = {
        int(param)
        for params in SGR.findall(raw)
        for param in params.split(";")
        if param and (30 <= int(param) <= 49 or 90 <= int(param) <= 107)
    }
    assert colours == set(), raw


def test_a_dumb_terminal_gets_a_plain_line(small: Site, tmp_path: Path) -> None:
    with _on_terminal(small, _home(tmp_path, "tty"), "check", "--all", TERM="dumb") as terminal:
        code, _, raw = _finish(terminal)
    assert code == 2
    assert "\x1b" not in raw
    lines = raw.replace("\r", "").strip().splitlines()
    assert lines and all(line.startswith("btconsole: ") for line in lines), lines
    n, customers = _scopes(small), len(small.estate.customers)
    assert lines[-1].startswith(f"btconsole: refreshed {customers}/{customers} customers: ")
    assert f"arc {n}/{n} done; circuits {n}/{n} done" in lines[-1]


def test_a_throttled_wait_is_shown_and_sigterm_takes_the_display_down(
    small: Site, tmp_path: Path
) -> None:
    """A 429 with Retry-After 30 s closes one customer's gate: the display names it;
    SIGTERM then ends the command with the cursor back and one clean last line."""
    small.emulator.add_fault(kind="throttle", route="budgets.list", retry_after=30, count=1)
    with _on_terminal(small, _home(tmp_path, "tty"), "check", "--all") as terminal:
        terminal.until(
            "the throttled line",
            lambda raw: re.search(r"throttled: \S+ waiting \d+s", _visible(raw)) is not None,
        )
        terminal.proc.send_signal(signal.SIGTERM)
        code, out, raw = _finish(terminal)
    assert code == 143
    assert out == b""
    assert _cursor_restored(raw)
    after = _visible(raw[raw.rfind(SHOW) :]).strip()
    assert after == "btconsole: terminated", after
    assert "Traceback" not in raw


def test_the_display_is_taken_down_at_the_timeout(small: Site, tmp_path: Path) -> None:
    small.emulator.add_fault(kind="hang", route="budgets.list")
    argv = ("check", "--all", "--timeout", "1s")
    with _on_terminal(small, _home(tmp_path, "tty"), *argv) as terminal:
        code, out, raw = _finish(terminal)
    assert code == 3
    assert b"did not finish within 1s" in out
    assert _cursor_restored(raw)
    assert _visible(raw[raw.rfind(SHOW) :]).strip() == ""
    # the last frame was drawn after the refresh gave up (how far it got is timing)
    assert "btconsole: reading the cache" in _visible(raw), raw


def test_scopes_fresh_in_the_cache_count_as_done(small: Site, tmp_path: Path) -> None:
    """With hour-long TTLs a second export refreshes nothing: every scope is done."""
    config = tmp_path / "hour.toml"
    config.write_text(small.config.read_text().replace('"1ms"', '"1h"'))
    home = _home(tmp_path, "home")
    argv = ("export", "circuits", "--all", "--format", "csv")
    first = _piped(small, home, *argv, config=config)
    assert first.returncode == 0 and first.stderr == b""
    requests = small.emulator.stats()["total"]
    with _on_terminal(small, home, *argv, config=config) as terminal:
        code, out, raw = _finish(terminal)
    assert small.emulator.stats()["total"] == requests  # nothing was fetched
    assert code == 0
    assert out == first.stdout
    _final_counts(raw, small)


def test_only_a_terminal_gets_progress() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert for_stream(io.StringIO(), {}) is None
    assert isinstance(for_stream(Tty(), {"TERM": "dumb"}), PlainProgress)
    live = for_stream(Tty(), {"TERM": "xterm", "NO_COLOR": "1"})
    assert isinstance(live, LiveProgress) and not live.color
    closed = io.StringIO()
    closed.close()
    assert for_stream(closed, {}) is None  # isatty() on a closed stream raises


def test_a_dumb_terminal_interrupted_says_where_the_refresh_stopped(
    small: Site, tmp_path: Path
) -> None:
    small.emulator.add_fault(kind="hang", route="budgets.list")
    with _on_terminal(small, _home(tmp_path, "tty"), "check", "--all", TERM="dumb") as terminal:
        end = time.monotonic() + DEADLINE
        while small.emulator.stats()["faults"].get("hang", 0) == 0:  # inside the refresh
            assert terminal.proc.poll() is None and time.monotonic() < end, terminal.text
            time.sleep(0.05)
        terminal.proc.send_signal(signal.SIGTERM)
        code, out, raw = _finish(terminal)
    assert code == 143 and out == b""
    lines = raw.replace("\r", "").strip().splitlines()
    assert lines[-1] == "btconsole: terminated", lines
    n, customers = _scopes(small), len(small.estate.customers)
    assert lines[-2].startswith(f"btconsole: refresh stopped at 0/{customers} customers: ")
    # the hung domain (health, read through Resource Graph, comes after it)
    assert re.search(rf"; spend 0/{n} done; health \d+/{n} done \(\d+s\)$", lines[-2]), lines
