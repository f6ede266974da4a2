"""End to end: the installed ``btconsole demo`` in a real terminal (tmux, 80x24).

It starts the emulator and the console, shows data, switches panes, filters, opens
details and quits with ``q`` and exit code 0, as a user at a terminal would. The tmux
server is private to the test (its own socket), the console's HOME and XDG
directories are the test's own, and every wait polls the screen against a deadline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

DEADLINE = 90.0  # seconds for each step, generous for a loaded CI machine


def _installed_btconsole() -> str | None:
    beside = Path(sys.executable).with_name("btconsole")
    if beside.exists():
        return str(beside)
    return shutil.which("btconsole")


pytestmark = [
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (apt install tmux)"
    ),
    pytest.mark.skipif(
        _installed_btconsole() is None, reason="the btconsole command is not installed"
    ),
    pytest.mark.timeout(240),
]


class Terminal:
    """One detached tmux session on a private server."""

    def __init__(self, socket: Path, session: str = "e2e") -> None:
        self.socket = socket
        self.session = session

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def start(self, command: str, width: int, height: int) -> None:
        self.tmux(
            "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command
        )

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def text(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", *keys)

    def screen(self) -> str:
        try:
            return self.tmux("capture-pane", "-p", "-t", self.session)
        except subprocess.CalledProcessError:
            return ""  # the session ended (the console quit)

    def wait(self, what: str, condition: Callable[[str], bool], deadline: float = DEADLINE) -> str:
        """Poll the screen until ``condition(screen)``; fail with the last screen."""
        end = time.monotonic() + deadline
        screen = ""
        while time.monotonic() < end:
            screen = self.screen()
            if condition(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-S", str(self.socket), "kill-server"], capture_output=True, timeout=30
        )


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path / "tmux.sock")
    try:
        yield term
    finally:
        term.kill()


def _wait_file(path: Path, deadline: float = DEADLINE) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.1)
    raise AssertionError(f"{path} was not written")


def _arc_counts(screen: str, customer: str) -> int:
    """Sum of the ARC c/d/x/e figures of ``customer``'s overview row (0 when absent)."""
    match = re.search(re.escape(customer) + r"\s+(\d+)/(\d+)/(\d+)/(\d+)", screen)
    return sum(int(n) for n in match.groups()) if match else 0


def _demo_command(tmp_path: Path, exit_file: Path) -> str:
    """``btconsole demo --size small`` with a fresh HOME and XDG directories of its own."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_DATA_HOME": home / ".local/share",
        "XDG_STATE_HOME": home / ".local/state",
    }
    assignments = " ".join(f"{name}={value}" for name, value in env.items())
    return (
        f"env {assignments} TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 "
        f"{_installed_btconsole()} demo --size small; echo $? > {exit_file}"
    )


def _painted_overview(screen: str) -> bool:
    """A whole overview frame: the title, and the status bar at the bottom."""
    lines = screen.rstrip("\n").splitlines()
    return bool(lines) and "Overview" in lines[0] and "help" in lines[-1]


def test_the_demo_first_overview_shows_the_estate(terminal: Terminal, tmp_path: Path) -> None:
    """Issue 12, point 11: the first overview frame of a first start (nothing cached)
    already shows every customer's figures: no '?' (not read yet), no 0/0/0/0."""
    exit_file = tmp_path / "exit-code"
    terminal.start(_demo_command(tmp_path, exit_file), 80, 24)
    screen = terminal.wait("the first overview", _painted_overview)
    lines = screen.splitlines()
    customers = ("Contoso Retail", "Fabrikam Logistics", "Northwind Health")
    rows = [line for line in lines[2:6] if line.lstrip().startswith(customers)]
    assert len(rows) == 3, screen
    for row in rows:
        assert "?" not in row, screen
        assert "0/0/0/0" not in row, screen
        assert re.search(r"\d+/\d+/\d+/\d+", row), screen
    assert "not read yet" not in screen, screen
    terminal.keys("q")
    assert _wait_file(exit_file) == "0"


def test_the_demo_outside_the_foreground_says_so(terminal: Terminal, tmp_path: Path) -> None:
    """Under ``timeout`` (its own process group) the terminal would stop the console
    (SIGTTOU) with nothing on the screen: it says why in one line and exits 64."""
    exit_file = tmp_path / "exit-code"
    command = _demo_command(tmp_path, exit_file).replace(
        f"{_installed_btconsole()} demo", f"timeout 120 {_installed_btconsole()} demo"
    )
    terminal.start(command + "; sleep 60", 80, 24)
    assert _wait_file(exit_file) == "64"
    screen = terminal.screen()
    assert "must run in the terminal's foreground" in screen, screen
    assert "Traceback" not in screen, screen
    assert not (tmp_path / "home" / ".cache" / "btconsole" / "demo").exists()


def test_the_installed_demo_in_tmux(terminal: Terminal, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    exit_file = tmp_path / "exit-code"
    env = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_DATA_HOME": home / ".local/share",
        "XDG_STATE_HOME": home / ".local/state",
    }
    assignments = " ".join(f"{name}={value}" for name, value in env.items())
    command = (
        f"env {assignments} TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 "
        f"{_installed_btconsole()} demo --size small; echo $? > {exit_file}"
    )
    terminal.start(command, 80, 24)

    # it starts and shows data (the overview, then the refreshed figures)
    screen = terminal.wait(
        "the overview with fetched data",
        lambda s: "Overview" in s and _arc_counts(s, "Fabrikam Logistics") > 0,
    )
    assert "all customers (3)" in screen

    # 2: the Arc pane
    terminal.keys("2")
    screen = terminal.wait(
        "the Arc pane", lambda s: "Arc servers and clusters" in s and "Connected" in s
    )
    total = int(re.search(r"(\d+)/(\d+)", screen.splitlines()[0]).group(2))  # type: ignore[union-attr]
    assert total > 0

    # /status:disconnected, then enter: only disconnected machines
    terminal.keys("/")
    terminal.text("status:disconnected")
    terminal.keys("Enter")
    screen = terminal.wait("the filter", lambda s: "/status:disconnected" in s.splitlines()[0])
    shown = int(re.search(r"(\d+)/(\d+)", screen.splitlines()[0]).group(1))  # type: ignore[union-attr]
    assert 0 < shown < total
    rows = [line for line in screen.splitlines()[2 : 2 + shown] if line.strip()]
    assert rows and all("Disconnected" in line for line in rows), screen

    # enter: the selected machine's details; escape: back to the filtered pane
    name = rows[0].split()[0]
    terminal.keys("Enter")
    screen = terminal.wait("the details", lambda s: s.startswith(" Arc  [") and "profile" in s)
    assert name.rstrip("…") in screen.splitlines()[0]
    terminal.keys("Escape")
    terminal.wait("the Arc pane again", lambda s: "Arc servers and clusters" in s)

    # 3: circuits, then q: the console quits with exit code 0
    terminal.keys("3")
    terminal.wait("the circuits pane", lambda s: "ExpressRoute circuits" in s)
    terminal.keys("q")
    assert _wait_file(exit_file) == "0"
