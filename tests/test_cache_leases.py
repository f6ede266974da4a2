"""Leases never outlive their holder (issue 11, point 6): a lease whose holder process
is gone from this host is taken over at once; a live holder's, or another host's, is
not; a waiter stops waiting for a holder that is gone, and an async wait ends when
its task is cancelled.

Holders are real child processes: a live one blocks on its stdin; a dead one has
exited and been reaped (or killed and left a zombie).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from btconsole.cache import Cache, CacheKey, default_owner, holder_alive

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX processes")

KEY = CacheKey("contoso", "spend", "sub-1")
HOST = socket.gethostname()


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    with Cache.open(tmp_path / "cache.sqlite3") as opened:
        yield opened


@pytest.fixture
def live() -> Iterator[subprocess.Popen[bytes]]:
    """A child process that runs until the test ends it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)
    assert proc.stdin is not None
    proc.stdin.close()


def dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert proc.wait(timeout=60) == 0
    return proc.pid


def owner_of(pid: int, host: str = HOST) -> str:
    return f"{host}:{pid}:0badf00d"


def test_default_owner_names_this_host_and_process() -> None:
    owner = default_owner()
    assert owner.startswith(f"{HOST}:{os.getpid()}:")
    assert holder_alive(owner) is True


def test_holder_alive_knows_only_what_it_can_see(live: subprocess.Popen[bytes]) -> None:
    assert holder_alive(owner_of(live.pid)) is True
    assert holder_alive(owner_of(dead_pid())) is False
    assert holder_alive(owner_of(dead_pid(), host=f"not-{HOST}")) is None  # another host
    for odd in ("holder", "", f"{HOST}:", f"{HOST}:abc:x", f"{HOST}:0:x", f"{HOST}:-5:x"):
        assert holder_alive(odd) is None, odd


def test_claim_takes_over_a_lease_whose_holder_is_gone(cache: Cache) -> None:
    gone = owner_of(dead_pid())
    assert cache.claim(KEY, gone, 300)
    assert cache.claim(KEY, "me", 30)
    owner, expires = cache.leases()[0][1:]
    assert owner == "me" and expires < time.time() + 60


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_claim_takes_over_from_a_killed_holder_not_yet_reaped(cache: Cache) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert cache.claim(KEY, owner_of(proc.pid), 300)
        os.kill(proc.pid, signal.SIGKILL)
        # a zombie until reaped: wait for the kill to land (its state in /proc), not a time
        stat = Path(f"/proc/{proc.pid}/stat")
        deadline = time.monotonic() + 60
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert cache.claim(KEY, "me", 30)
    finally:
        proc.wait(timeout=60)
        assert proc.stdin is not None
        proc.stdin.close()


def test_claim_leaves_a_live_holders_lease_alone(
    cache: Cache, live: subprocess.Popen[bytes]
) -> None:
    assert cache.claim(KEY, owner_of(live.pid), 300)
    assert not cache.claim(KEY, "me", 30)
    assert cache.lease(KEY) is not None and cache.lease(KEY)[0] == owner_of(live.pid)  # type: ignore[index]


def test_claim_leaves_another_hosts_lease_alone(cache: Cache) -> None:
    """Its pid means nothing here: wait for the lease to expire."""
    elsewhere = owner_of(dead_pid(), host=f"not-{HOST}")
    assert cache.claim(KEY, elsewhere, 300)
    assert not cache.claim(KEY, "me", 30)
    assert not cache.claim(KEY, "me", 30, now=time.time() + 299)
    assert cache.claim(KEY, "me", 30, now=time.time() + 301)  # expired


def test_claim_leaves_this_processs_other_owners_alone(cache: Cache) -> None:
    """Two engines in one process (the console and a detail fetch) have owner ids with
    the same pid: alive, so neither takes the other's lease."""
    assert cache.claim(KEY, default_owner(), 300)
    assert not cache.claim(KEY, default_owner(), 30)


def test_a_waiter_stops_waiting_when_the_holder_dies(
    cache: Cache, live: subprocess.Popen[bytes]
) -> None:
    assert cache.claim(KEY, owner_of(live.pid), 300)
    assert cache.wait_for_update(KEY, since=None, timeout=0.1, interval=0.02) is None
    assert not cache.claim(KEY, "me", 30)  # that was the timeout: the holder lives
    live.kill()
    live.wait(timeout=60)
    began = time.monotonic()
    assert cache.wait_for_update(KEY, since=None, timeout=300, interval=0.02) is None
    assert time.monotonic() - began < 60  # not the lease's 300 s
    assert cache.claim(KEY, "me", 30)


def test_an_async_wait_ends_when_its_task_is_cancelled(
    cache: Cache, live: subprocess.Popen[bytes]
) -> None:
    """The engine's wait for another holder: ``--timeout`` (asyncio.wait_for) and
    SIGTERM (the main task cancelled) end it, and no thread is left behind."""
    assert cache.claim(KEY, owner_of(live.pid), 300)

    async def body() -> None:
        await asyncio.wait_for(cache.wait_for_update_async(KEY, None, 300, interval=0.02), 0.2)

    began = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(body())
    assert time.monotonic() - began < 60


def test_an_async_wait_returns_the_holders_result(cache: Cache, tmp_path: Path) -> None:
    assert cache.claim(KEY, "holder", 300)
    since = time.time() - 1

    async def body() -> object:
        waiting = asyncio.ensure_future(cache.wait_for_update_async(KEY, since, 60, interval=0.01))
        await asyncio.sleep(0)  # the waiter has taken its first look
        with Cache.open(tmp_path / "cache.sqlite3") as holder:
            holder.put(KEY, [], ttl=60)
            holder.release(KEY, "holder")
        return await waiting

    entry = asyncio.run(body())
    assert entry is not None and getattr(entry, "fetched_at", None) is not None
