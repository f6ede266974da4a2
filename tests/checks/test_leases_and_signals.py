"""A ``check`` cut short leaves no lease that stalls the next one (issue 11, point 6).

The installed ``btconsole`` runs as a child process against the emulator; a hang
fault on the budgets route keeps it inside a refresh, holding the spend scopes'
leases, until the test ends it with SIGTERM (what ``timeout`` and systemd send) or
SIGKILL. The next ``check --timeout 15s`` must then finish with complete data: after
SIGTERM because the leases were released, after SIGKILL because a lease whose holder
process is gone from this host is taken over at once. Waits poll a condition (the
emulator's fault counter, the cache's lease rows) against a generous deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from btconsole.cache import Cache, CacheKey
from tests.checks.conftest import Run, Site

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

DEADLINE = 60.0


def _command() -> Path:
    command = Path(sys.executable).with_name("btconsole")
    assert command.exists()
    return command


def _env(site: Site, home: Path) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "xdg_cache_home"),
        "XDG_STATE_HOME": str(home / "xdg_state_home"),
        "XDG_CONFIG_HOME": str(home / "xdg_config_home"),
        "XDG_DATA_HOME": str(home / "xdg_data_home"),
        "BTCONSOLE_TODAY": site.estate.as_of.isoformat(),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    env.update(site.secrets)
    return env


def _cache_path(home: Path) -> Path:
    return home / "xdg_cache_home" / "btconsole" / "cache.sqlite3"


def _leases(path: Path) -> list[tuple[CacheKey, str, float]]:
    if not path.exists():
        return []
    with Cache.open(path, readonly=True) as cache:
        return cache.leases()


def _until(what: str, condition: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    """Poll ``condition`` until it holds; fail if the child ends or the deadline passes."""
    end = time.monotonic() + DEADLINE
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"check ended ({proc.returncode}) before {what}")
        assert time.monotonic() < end, f"never saw {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def _stuck(site: Site, home: Path, *argv: str) -> Iterator[subprocess.Popen[str]]:
    """The installed ``btconsole *argv`` stuck in its spend refresh (the budgets route
    hangs), holding the spend leases under its own pid."""
    site.emulator.add_fault(kind="hang", route="budgets.list")
    proc = subprocess.Popen(
        [str(_command()), "--config", str(site.config), *argv],
        env=_env(site, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    owner = f"{socket.gethostname()}:{proc.pid}:"
    path = _cache_path(home)
    try:
        _until("a request hang", lambda: site.emulator.stats()["faults"].get("hang", 0) > 0, proc)
        _until(
            "the spend leases",
            lambda: any(
                key.domain == "spend" and who.startswith(owner) for key, who, _ in _leases(path)
            ),
            proc,
        )
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=DEADLINE)


@pytest.fixture
def started(clean: Site, isolated_home: Path) -> Iterator[subprocess.Popen[str]]:
    """A ``check --all`` of the clean estate stuck in its spend refresh."""
    with _stuck(clean, isolated_home, "check", "--all", "--format", "json") as proc:
        yield proc


def _second_check(site: Site, home: Path) -> subprocess.CompletedProcess[str]:
    """``check --all --timeout 15s``: complete data (exit 0) means it waited for no
    lease; a wait would have ended at the timeout with exit 3."""
    site.emulator.clear_faults()
    return subprocess.run(
        [
            str(_command()),
            "--config",
            str(site.config),
            "check",
            "--all",
            "--format",
            "json",
            "--timeout",
            "15s",
        ],
        env=_env(site, home),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def _complete(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, (done.stdout, done.stderr)
    report = json.loads(done.stdout)
    assert report["status"] == "ok" and report["data"]["complete"], report["data"]


def test_sigterm_releases_the_leases_and_the_next_check_is_complete(
    clean: Site, isolated_home: Path, started: subprocess.Popen[str]
) -> None:
    started.send_signal(signal.SIGTERM)
    out, err = started.communicate(timeout=DEADLINE)
    assert started.returncode == 143, (out, err)
    assert err.strip().splitlines()[-1] == "btconsole: terminated"
    assert "Traceback" not in err
    assert _leases(_cache_path(isolated_home)) == []
    _complete(_second_check(clean, isolated_home))


def test_sigint_releases_the_leases_too(
    clean: Site, isolated_home: Path, started: subprocess.Popen[str]
) -> None:
    started.send_signal(signal.SIGINT)
    out, err = started.communicate(timeout=DEADLINE)
    assert started.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1] == "btconsole: interrupted"
    assert _leases(_cache_path(isolated_home)) == []


def test_export_on_sigterm_releases_its_leases(clean: Site, isolated_home: Path) -> None:
    with _stuck(clean, isolated_home, "export", "spend", "--all", "--format", "csv") as proc:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 143, (out, err)
    assert err.strip().splitlines()[-1] == "btconsole: terminated"
    assert _leases(_cache_path(isolated_home)) == []


def test_after_sigkill_the_next_check_takes_the_dead_holders_leases_over(
    clean: Site, isolated_home: Path, started: subprocess.Popen[str]
) -> None:
    pid = started.pid
    started.kill()
    started.communicate(timeout=DEADLINE)
    assert started.returncode == -signal.SIGKILL
    left = _leases(_cache_path(isolated_home))
    owner = f"{socket.gethostname()}:{pid}:"
    assert left and all(who.startswith(owner) for _, who, _ in left)
    assert all(expires > time.time() + 60 for _, _, expires in left)  # would block ~300 s
    _complete(_second_check(clean, isolated_home))
    assert _leases(_cache_path(isolated_home)) == []


def test_a_lease_held_on_another_host_is_waited_for_no_longer_than_timeout(
    clean: Site, cli: Run, isolated_home: Path
) -> None:
    """Another host's holder cannot be seen to be gone: its lease is waited out, but
    never past ``--timeout`` (the wait used to run in a thread that outlived it)."""
    name = clean.profiles[0]
    with Cache.open(_cache_path(isolated_home)) as cache:
        for sub in clean.subscriptions(0):
            assert cache.claim(CacheKey(name, "spend", sub), "elsewhere:4242:feedbeef", 300)
    began = time.monotonic()
    code, out, _ = cli(clean, "check", "-p", name, "--timeout", "2s")
    assert time.monotonic() - began < 30
    assert code == 3, out
    assert "did not finish within 2s" in out
    with Cache.open(_cache_path(isolated_home)) as cache:
        assert {who for _, who, _ in cache.leases()} == {"elsewhere:4242:feedbeef"}


def test_offline_with_a_directory_in_the_caches_place_is_exit_69(
    clean: Site, cli: Run, isolated_home: Path
) -> None:
    _cache_path(isolated_home).mkdir(parents=True)
    for argv in (
        ("check", "--all", "--offline"),
        ("export", "arc", "--all", "--offline", "--format", "csv"),
        ("check", "--all"),
    ):
        code, out, err = cli(clean, *argv)
        assert code == 69, (argv, err)
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith("btconsole: cannot open the cache ")
        assert "Is a directory" in lines[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_offline_with_an_unreadable_cache_file_is_exit_69(
    clean: Site, cli: Run, isolated_home: Path
) -> None:
    path = _cache_path(isolated_home)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    path.chmod(0)
    for argv in (("check", "--all", "--offline"), ("check", "--all")):
        code, _, err = cli(clean, *argv)
        assert code == 69, (argv, err)
        assert len(err.strip().splitlines()) == 1 and "Permission denied" in err


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.timeout(240)
def test_the_console_on_sigterm_releases_its_leases_and_restores_the_terminal(
    clean: Site, isolated_home: Path, tmp_path: Path
) -> None:
    """The installed console in a real terminal (a private tmux server), its spend
    refresh stuck on a hanging route, ended with SIGTERM: it exits 143, its leases
    are gone and the terminal is back in cooked mode."""
    clean.emulator.add_fault(kind="hang", route="budgets.list")
    env = _env(clean, isolated_home) | {"TERM": "xterm-256color", "LANG": "C.UTF-8"}
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    exit_file, stty_file = tmp_path / "exit-code", tmp_path / "stty"
    command = (
        f"env -i {assignments} {shlex.quote(str(_command()))} "
        f"--config {shlex.quote(str(clean.config))}; echo $? > {exit_file}; "
        f"stty -a > {stty_file}"
    )
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30", command],
        check=True,
        timeout=30,
    )
    path = _cache_path(isolated_home)
    mine = f"{socket.gethostname()}:"
    try:
        end = time.monotonic() + DEADLINE
        held: list[str] = []
        while not held:
            assert time.monotonic() < end, "the console never held a spend lease"
            assert not exit_file.exists(), f"the console ended: {exit_file.read_text()}"
            held = [
                who
                for key, who, _ in _leases(path)
                if key.domain == "spend" and who.startswith(mine)
            ]
            time.sleep(0.05)
        # the lease is the refresh process's (btconsole.refresher); the console is its
        # parent, and ending the console ends it
        child = int(held[0].split(":")[1])
        pid = _parent_of(child)
        os.kill(pid, signal.SIGTERM)
        while not (stty_file.exists() and stty_file.read_text().strip()):
            assert time.monotonic() < end, "the console did not end on SIGTERM"
            time.sleep(0.05)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)
    assert exit_file.read_text().strip() == "143"
    assert _leases(path) == []
    assert _state_of(child) in ("gone", "Z")  # the refresh process ended with it
    modes = stty_file.read_text().split()
    assert "icanon" in modes and "echo" in modes  # not -icanon/-echo: Textual let go


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces)."""
    text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    return text[text.rindex(")") + 2 :].split()


def _parent_of(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def _state_of(pid: int) -> str:
    try:
        return _stat_fields(pid)[0]
    except OSError:
        return "gone"


def test_a_hanging_sign_in_is_given_up_at_timeout(clean: Site, cli: Run) -> None:
    """The token request goes through no thread either: --timeout ends it."""
    clean.emulator.add_fault(kind="hang", route="entra.token")
    began = time.monotonic()
    code, out, _ = cli(clean, "check", "--all", "--timeout", "2s")
    assert time.monotonic() - began < 30
    assert code == 3, out
    assert "did not finish within 2s" in out
