"""The cache across processes: one refresh per key, waiting, and surviving SIGKILL.

Each test runs a small script in child processes and steps them through pipes: a child
says what it did on stdout and waits for the test's next word on stdin, so nothing
here sleeps a fixed time to "let it happen".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from btconsole.cache import Cache, CacheKey
from btconsole.records import CostRecord

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pipes")

KEY = CacheKey("contoso", "spend", "sub-1")

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from btconsole.cache import Cache, CacheKey
    from btconsole.records import CostRecord

    KEY = CacheKey("contoso", "spend", "sub-1")

    def say(*words):
        print(*words, flush=True)

    def costs(tag, n=3):
        return [
            CostRecord("contoso", "sub-1", f"2026-11-{d % 28 + 1:02d}", tag, "rg", float(d), "GBP")
            for d in range(n)
        ]

    mode, path = sys.argv[1], Path(sys.argv[2])
    cache = Cache.open(path)
    say("ready")
    if mode == "refresh":
        name = sys.argv[3]
        sys.stdin.readline()  # "go"
        since = time.time()
        if cache.claim(KEY, name, 60):
            say("claimed")
            sys.stdin.readline()  # "finish"
            cache.put(KEY, costs(name), ttl=60)
            cache.release(KEY, name)
            say("wrote")
        else:
            say("lost")
            entry = cache.wait_for_update(KEY, since, timeout=60)
            seen = "nothing" if entry is None else ",".join({r.service for r in entry.records})
            say("saw", seen)
    elif mode == "hold":
        cache.claim(KEY, "holder", float(sys.argv[3]))
        say("claimed")
        sys.stdin.readline()  # never comes: the test kills us
    elif mode == "loop":
        i = 0
        while True:
            i += 1
            cache.put(CacheKey("contoso", "spend", f"s{i % 50}"), costs(f"svc-{i}", 300), ttl=60)
            say(i)
    elif mode == "churn":
        for i in range(int(sys.argv[3])):
            cache.put_many([(CacheKey("p", "arc", f"s{j}"), costs(f"{sys.argv[4]}-{i}", 20))
                            for j in range(10)], ttl=60)
            cache.read_domain("arc")
            cache.put_error(CacheKey("p", "arc", "s0"), "throttled")
        say("done")
    cache.close()
    """
)


class Child:
    """A child process running :data:`CHILD`, talked to line by line."""

    def __init__(self, script: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def line(self) -> str:
        assert self.proc.stdout is not None
        text = self.proc.stdout.readline()
        if not text:
            assert self.proc.stderr is not None
            raise AssertionError(f"child ended: {self.proc.wait()} {self.proc.stderr.read()}")
        return text.strip()

    def send(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def finish(self) -> None:
        assert self.proc.wait(timeout=60) == 0, self.proc.stderr.read() if self.proc.stderr else ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "child.py"
    path.write_text(CHILD, encoding="utf-8")
    return path


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "cache.sqlite3"


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def test_two_processes_refreshing_one_key(script: Path, path: Path, children: list[Child]) -> None:
    Cache.open(path).close()  # created once, so neither child repairs a half-made file
    first, second = (
        Child(script, "refresh", str(path), "first"),
        Child(script, "refresh", str(path), "second"),
    )
    children += [first, second]
    assert first.line() == "ready" and second.line() == "ready"
    first.send("go")
    second.send("go")
    said = {"first": first.line(), "second": second.line()}
    assert sorted(said.values()) == ["claimed", "lost"], said
    winner, loser = (first, second) if said["first"] == "claimed" else (second, first)
    winner_name = "first" if winner is first else "second"
    winner.send("finish")
    assert winner.line() == "wrote"
    assert loser.line() == f"saw {winner_name}"
    winner.finish()
    loser.finish()
    with Cache.open(path) as cache:
        assert cache.warnings == []
        assert cache.integrity_check() == "ok"
        entry = cache.get(KEY)
        assert entry is not None
        assert {r.service for r in entry.records} == {winner_name}
        assert cache.lease(KEY) is None


def test_a_killed_holder_does_not_block_waiters(
    script: Path, path: Path, children: list[Child]
) -> None:
    holder = Child(script, "hold", str(path), "1.0")
    children.append(holder)
    assert holder.line() == "ready"
    assert holder.line() == "claimed"
    holder.kill()  # SIGKILL: no release
    with Cache.open(path) as cache:
        assert cache.lease(KEY) is not None or cache.claim(KEY, "me", 30)
        started = time.monotonic()
        assert cache.wait_for_update(KEY, since=time.time(), timeout=60, interval=0.02) is None
        assert time.monotonic() - started < 30  # ended by the lease running out, not the timeout
        assert cache.claim(KEY, "me", 30)


def test_sigkill_in_a_write_loop_loses_nothing_committed(
    script: Path, path: Path, children: list[Child]
) -> None:
    writer = Child(script, "loop", str(path))
    children.append(writer)
    assert writer.line() == "ready"
    last = 0
    while last < 60:  # past 50, so every key has been written at least once
        last = int(writer.line())
    os.kill(writer.proc.pid, signal.SIGKILL)
    writer.kill()
    with Cache.open(path) as cache:
        assert cache.warnings == []  # opens as is: nothing to set aside
        assert cache.integrity_check() == "ok"
        entry = cache.get(CacheKey("contoso", "spend", f"s{last % 50}"))
        assert entry is not None
        assert len(entry.records) == 300
        assert {r.service for r in entry.records} == {f"svc-{last}"}
        assert entry.records[0] == CostRecord(
            "contoso", "sub-1", "2026-11-01", f"svc-{last}", "rg", 0.0, "GBP"
        )
        # The next write either committed whole or not at all.
        after = cache.get(CacheKey("contoso", "spend", f"s{(last + 1) % 50}"))
        assert after is not None
        assert {r.service for r in after.records} in ({f"svc-{last + 1}"}, {f"svc-{last + 1 - 50}"})
    assert not list(path.parent.glob("*.broken-*"))


def test_concurrent_writers_and_readers(script: Path, path: Path, children: list[Child]) -> None:
    Cache.open(path).close()
    writers = [Child(script, "churn", str(path), "30", name) for name in ("a", "b", "c")]
    children += writers
    for child in writers:
        assert child.line() == "ready"
    for child in writers:
        assert child.line() == "done"
        child.finish()
    with Cache.open(path) as cache:
        assert cache.warnings == []
        assert cache.integrity_check() == "ok"
        entries = cache.read("p", "arc")
        assert len(entries) == 10
        assert all(len(entry.records) == 20 for entry in entries)
