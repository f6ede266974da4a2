"""The refresh, away from the console: customers refreshed and digested in one run.

The console used to run the engine on its own event loop and rebuild every customer's
digest and row each time a scope landed: on the huge estate a cold refresh took five
times as long inside the console as the engine alone, and every key waited behind it
(docs/performance.md). Here a refresh is one run over customers:

- each customer's domains are refreshed (the engine bounds and orders the requests);
- when a customer's domains are done, its digest is made current (in a thread) and the
  caller is told, once per customer, so a reader updates one row instead of all;
- at the end, digests made out of date by the estate-wide agent versions (a customer that
  landed later saw a newer agent) are made again and reported the same way.

:class:`RefreshRun` is that logic on any event loop. The console runs it in a process
of its own (:class:`RefreshProcess`, the child being ``python -m btconsole.refresher``):
the second core does the refresh and the SDK's memory stays out of the console. The
child speaks JSON lines on its stdout (anything printed by a library goes to its stderr,
which the parent logs); the parent asks for refreshes on the child's stdin:

    parent -> child  {"op": "refresh", "id": 1, "profiles": [...], "domains": [...],
                      "force": false}
    child -> parent  {"event": "landed", "profile": p, "domain": d, "scope": s}
                     {"event": "customer", "profile": p}     (its digest is current)
                     {"event": "status", "in_flight": n, "throttled": bool}
                     {"event": "customers", "problems": [...]}  (Lighthouse: the
                       customers changed, or the discovery's problems did)
                     {"event": "done", "id": 1, "outcomes": [...]}
                     {"event": "failed", "id": 1, "error": "..."}

Before a refresh, a Lighthouse provider's customers are discovered again when their
discovery is due (:class:`Rediscovery`): the child's engine takes the new customers at
once, and the ``customers`` event tells the console to read them from the cache.

End of input (the console quits or dies) ends the child: its engine is closed, leases
are released. Nothing here imports Textual or, until a refresh runs, an Azure SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from btconsole.cache import Cache, CacheKey
from btconsole.config import Config
from btconsole.digest import Digest, Digester, ReadMemo
from btconsole.engine import Outcome
from btconsole.errors import BtConsoleError

log = logging.getLogger(__name__)

CustomerListener = Callable[[str], None]
KeyListener = Callable[[CacheKey], None]
STATUS_EVERY = 1.0  # seconds between the child's status events while it refreshes


class RefreshProcessError(BtConsoleError):
    """The refresh process could not be started or stopped answering."""


# --------------------------------------------------------------------------- the run


class DigestMaker:
    """Makes customers' digests current, one call at a time, off the event loop."""

    def __init__(
        self, config: Config, cache: Cache, now: Callable[[], dt.datetime] | None = None
    ) -> None:
        self.config = config
        self.cache = cache
        self._now = now or (lambda: dt.datetime.now(dt.timezone.utc))
        self._made: dict[str, Digest] = {}
        self._reads = ReadMemo()
        self._lock = threading.Lock()

    def make(self, names: Sequence[str]) -> list[str]:
        """Make the digests of ``names`` current; the names made again (blocking)."""
        if self.cache.readonly or not names:
            return []
        with self._lock:
            digester = Digester(
                self.config, self.cache, self._now(), memo=self._made, reads=self._reads
            )
            digester.read(list(names))
            return list(digester.recomputed)

    def outdated(self) -> list[str]:
        """Every customer whose digest is out of date now (made again by :meth:`make`)."""
        with self._lock:
            digester = Digester(
                self.config, self.cache, self._now(), memo=self._made, reads=self._reads
            )
            digester.read(list(self.config.profiles), stale_ok=True)
            return list(digester.outdated)


class RefreshRun:
    """Refreshes customers through an engine, telling ``on_customer`` as each is done."""

    def __init__(
        self,
        engine: Any,
        digests: DigestMaker | None,
        on_customer: CustomerListener,
        rediscover: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.digests = digests
        self.on_customer = on_customer
        self.rediscover = rediscover
        # customers waiting for their digest: made in batches, one batch at a time
        self._waiting: list[tuple[str, asyncio.Future[None]]] = []
        self._maker: asyncio.Task[None] | None = None

    async def run(
        self, profiles: Sequence[str], domains: Sequence[str], *, force: bool = False
    ) -> list[Outcome]:
        """Refresh ``domains`` of ``profiles``; every outcome, in profile order.

        Profiles start together (the engine bounds the requests in flight and serves the
        earlier profiles' first); a profile whose refresh raised gets a failed outcome
        and the others carry on. Lighthouse customers are discovered again first when
        their discovery is due, or always when the refresh is forced (``rediscover``),
        so a customer whose delegation went is marked before the engine would list its
        subscriptions (and drop its data).
        """
        if self.rediscover is not None:
            await self.rediscover(force)
        # customers complete one after another, in the order asked, so each one's
        # digest is made (and its row shown) while the others are still being fetched
        self.engine.prioritise(list(profiles))
        results = await asyncio.gather(*(self._customer(name, domains, force) for name in profiles))
        if self.digests is not None:
            # a customer that landed later may have shown a newer agent version: the
            # digests made before it are out of date for that alone; made again here
            stale = await asyncio.to_thread(self.digests.outdated)
            again = await asyncio.to_thread(self.digests.make, stale)
            for name in again:
                self.on_customer(name)
            if again:
                log.info("%d digest(s) made again for the estate's agent versions", len(again))
        return [outcome for batch in results for outcome in batch]

    async def _customer(self, name: str, domains: Sequence[str], force: bool) -> list[Outcome]:
        batches = await asyncio.gather(
            *(self.engine.refresh_domain(name, domain, force=force) for domain in domains),
            return_exceptions=True,
        )
        outcomes: list[Outcome] = []
        for domain, batch in zip(domains, batches, strict=True):
            if isinstance(batch, asyncio.CancelledError):
                raise batch
            if isinstance(batch, BaseException):
                log.error("refresh of %s %s failed: %s", name, domain, batch)
                message = str(batch) or type(batch).__name__
                outcomes.append(Outcome(CacheKey(name, domain, "*"), "failed", error=message))
            else:
                outcomes.extend(batch)
        # only a fetch changes what a digest is made from (a failure changes the
        # coverage, which readers judge at read time)
        if self.digests is not None and any(o.status == "fetched" for o in outcomes):
            await self._digest(name)
        self.on_customer(name)
        return outcomes

    async def _digest(self, name: str) -> None:
        """Make ``name``'s digest current. Customers that finish while a batch is being
        made wait for the next batch: one read of the estate's metadata serves them all."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((name, done))
        if self._maker is None or self._maker.done():
            self._maker = asyncio.create_task(self._make_batches())
        await done

    async def _make_batches(self) -> None:
        assert self.digests is not None
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await asyncio.to_thread(self.digests.make, [name for name, _ in batch])
            except Exception:  # the cache failed: readers keep the last digests
                log.exception("making the digests of %s failed", [name for name, _ in batch])
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


DiscoveryListener = Callable[[list[str]], None]


class Rediscovery:
    """Lighthouse customers that come and go while the console runs.

    Called before each refresh: when a provider's last discovery is over its TTL (and
    not waiting out the backoff of one that failed), or when the user forces the
    refresh (``R``: "what is there now?"), its delegations are read again
    through the engine (with its retries) and the engine and the digests take the new
    customers. ``on_change(problems)`` is told when the customers changed (one
    delegated, one whose delegation went, now marked) or the discovery's problems did
    (a failure, or its end): the console then reads the customers from the cache.
    """

    def __init__(
        self,
        engine: Any,
        cache: Cache | None,
        digests: DigestMaker | None,
        on_change: DiscoveryListener,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.digests = digests
        self.on_change = on_change
        self._lock = asyncio.Lock()  # concurrent refreshes discover once
        self._failing: frozenset[str] = frozenset()

    async def __call__(self, force: bool = False) -> None:
        from btconsole.lighthouse import discover, discovery_due, effective_config

        config: Config | None = getattr(self.engine, "config", None)
        cache = self.cache
        if config is None or cache is None or not config.lighthouse:
            return
        async with self._lock:
            config = self.engine.config
            if not force and not discovery_due(config, cache):
                return
            try:
                problems = await discover(config, cache, force=force, engine=self.engine)
                new = effective_config(config, cache)
            except asyncio.CancelledError:
                raise
            except Exception:  # the cache failed: the customers stay as they were
                log.exception("Lighthouse discovery failed")
                return
            for problem in problems:
                log.warning("%s", problem)
            changed = new.profiles != config.profiles
            self.engine.config = new
            if self.digests is not None:
                self.digests.config = new
            failing = frozenset(p.split(":", 1)[0] for p in problems)
            if changed or failing != self._failing:
                self._failing = failing
                self.on_change(problems)


def outcome_plain(outcome: Outcome) -> dict[str, Any]:
    key = outcome.key
    return {
        "profile": key.profile,
        "domain": key.domain,
        "scope": key.scope,
        "status": outcome.status,
        "records": outcome.records,
        "error": outcome.error,
        "kind": outcome.kind,
    }


def outcome_from(data: Mapping[str, Any]) -> Outcome:
    return Outcome(
        CacheKey(str(data["profile"]), str(data["domain"]), str(data["scope"])),
        str(data["status"]),
        int(data.get("records") or 0),
        data.get("error"),
        data.get("kind"),
    )


# --------------------------------------------------------------------------- the child


class _Child:
    """The refresh process's side: requests in on stdin, events out on ``out``."""

    def __init__(
        self, cache: Cache, out: IO[str], engine: Any, digests: DigestMaker | None = None
    ) -> None:
        self.cache = cache
        self.out = out
        self.engine = engine
        self.digests = digests
        self.runs: set[asyncio.Task[None]] = set()
        self.rediscover = Rediscovery(
            engine,
            cache,
            digests,
            lambda problems: self.emit({"event": "customers", "problems": problems}),
        )

    @property
    def config(self) -> Config:
        """The customers refreshed: the configured ones and those discovered."""
        config: Config = self.engine.config
        return config

    def emit(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event, separators=(",", ":")) + "\n")
        self.out.flush()

    def landed(self, key: CacheKey) -> None:
        self.emit(
            {"event": "landed", "profile": key.profile, "domain": key.domain, "scope": key.scope}
        )

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        run = RefreshRun(
            self.engine,
            self.digests,
            lambda name: self.emit({"event": "customer", "profile": name}),
            rediscover=self.rediscover,
        )
        status = asyncio.create_task(self._status())
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                except ValueError:
                    log.error("refresh process: unreadable request %r", line[:200])
                    continue
                if request.get("op") == "refresh":
                    task = asyncio.create_task(self._refresh(run, request))
                    self.runs.add(task)
                    task.add_done_callback(self.runs.discard)
        finally:
            status.cancel()
            for task in list(self.runs):
                task.cancel()
            for task in list(self.runs):
                with contextlib.suppress(BaseException):
                    await task

    async def _refresh(self, run: RefreshRun, request: Mapping[str, Any]) -> None:
        ident = request.get("id")
        try:
            outcomes = await run.run(
                [str(p) for p in request.get("profiles", ())],
                [str(d) for d in request.get("domains", ())],
                force=bool(request.get("force")),
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # reported to the console, which shows it
            log.exception("refresh request %s failed", ident)
            self.emit({"event": "failed", "id": ident, "error": str(error) or type(error).__name__})
            return
        self.emit({"event": "done", "id": ident, "outcomes": [outcome_plain(o) for o in outcomes]})

    async def _status(self) -> None:
        last: tuple[int, bool] | None = None
        while True:
            await asyncio.sleep(STATUS_EVERY)
            now = time.monotonic()
            statuses = list(getattr(self.engine, "status", {}).values())
            current = (
                int(sum(s.in_flight for s in statuses)),
                any(s.throttled_until is not None and s.throttled_until > now for s in statuses),
            )
            if current != last:
                last = current
                self.emit({"event": "status", "in_flight": current[0], "throttled": current[1]})


def import_sdk() -> None:
    """Import what a refresh needs (the Azure SDK, aiohttp: ~1 s): done while the console
    paints its first frame, not after the first refresh was asked for."""
    import importlib

    from btconsole.azure.session import CLIENTS

    for name in ("aiohttp", "azure.identity.aio", "azure.core.pipeline.transport"):
        importlib.import_module(name)
    for module, _cls, _sub in CLIENTS.values():
        importlib.import_module(module)
    for wrapper in ("arc", "circuits", "policy", "spend", "subscriptions", "graph"):
        importlib.import_module(f"btconsole.azure.{wrapper}")


def _child_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m btconsole.refresher")
    parser.add_argument("--config", required=True)
    parser.add_argument("--cache", required=True)
    # for tests on a generated estate: its "today" and the clock digests are made at
    parser.add_argument("--today", help="the engine's today (YYYY-MM-DD)")
    parser.add_argument("--now", help="the time digests are made at (ISO 8601)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The refresh process (started by the console, not by people)."""
    args = _child_parser().parse_args(argv)
    # the protocol owns the real stdout; a library's print goes to stderr instead
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    from btconsole.config import load_config
    from btconsole.lighthouse import effective_config
    from btconsole.logs import setup_logging

    with contextlib.suppress(OSError):
        setup_logging()
    try:
        cache = Cache.open(Path(args.cache))
        # the console's customers: configured ones and those Lighthouse discovered
        # (the console discovered them before starting this process)
        config = effective_config(load_config(Path(args.config)), cache)
    except BtConsoleError as error:
        print(f"btconsole refresher: {error}", file=sys.stderr)
        return 69
    import_sdk()  # before the first request: the console starts this process early
    today = dt.date.fromisoformat(args.today) if args.today else None
    pinned = dt.datetime.fromisoformat(args.now) if args.now else None
    try:
        return asyncio.run(_serve(config, cache, out, today, pinned))
    except KeyboardInterrupt:
        return 130
    finally:
        cache.close()


async def _serve(
    config: Config,
    cache: Cache,
    out: IO[str],
    today: dt.date | None,
    pinned: dt.datetime | None,
) -> int:
    from btconsole.engine import Engine

    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM: the same clean end as end of input
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    child: _Child | None = None
    engine = Engine(
        config,
        cache,
        today=(lambda: today) if today is not None else None,
        listener=lambda key: child.landed(key) if child is not None else None,
    )
    async with engine:
        digests = DigestMaker(config, cache, (lambda: pinned) if pinned is not None else None)
        child = _Child(cache, out, engine, digests)
        with contextlib.suppress(asyncio.CancelledError):
            await child.serve()
    return 0


# --------------------------------------------------------------------------- the parent


class RefreshProcess:
    """The console's side: starts the refresh process, asks, and hears what lands.

    ``on_landed`` and ``on_customer`` are called on the event loop. The process starts
    at the first refresh and is started again if it ended; its stderr is logged, and a
    sign-in prompt on it (device code) is handed to ``on_message``.
    """

    def __init__(
        self,
        config: Config,
        cache_path: Path,
        *,
        on_landed: KeyListener,
        on_customer: CustomerListener,
        on_message: Callable[[str], None] | None = None,
        on_customers: DiscoveryListener | None = None,
        environ: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.cache_path = cache_path
        self.on_landed = on_landed
        self.on_customer = on_customer
        self.on_message = on_message
        self.on_customers = on_customers
        self.environ = dict(os.environ if environ is None else environ)
        self.extra_args = tuple(extra_args)
        self.in_flight = 0
        self.throttled = False
        self.engine: Any = None  # the engine is in the other process
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._pending: dict[int, asyncio.Future[list[Outcome]]] = {}
        self._next_id = 0
        self._stderr: deque[str] = deque(maxlen=20)
        self._start_lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the process now (it imports the SDK before it can serve a request)."""
        await self._start()

    async def _start(self) -> asyncio.subprocess.Process:
        async with self._start_lock:
            if self._process is not None and self._process.returncode is None:
                return self._process
            command = [
                sys.executable,
                "-m",
                "btconsole.refresher",
                "--config",
                str(self.config.path),
                "--cache",
                str(self.cache_path),
                *self.extra_args,
            ]
            try:
                process = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=self.environ,
                    limit=1 << 22,
                    start_new_session=True,  # a ^C in the terminal is the console's
                )
            except OSError as error:
                raise RefreshProcessError(f"cannot start the refresh process: {error}") from error
            self._process = process
            self._stderr.clear()
            self._readers = [
                asyncio.create_task(self._read_events(process)),
                asyncio.create_task(self._read_stderr(process)),
            ]
            log.info("refresh process %s started", process.pid)
            return process

    async def refresh(
        self, profiles: Sequence[str], domains: Sequence[str], *, force: bool = False
    ) -> list[Outcome]:
        """Refresh ``domains`` of ``profiles`` in the refresh process; its outcomes."""
        process = await self._start()
        self._next_id += 1
        ident = self._next_id
        future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        request = {
            "op": "refresh",
            "id": ident,
            "profiles": list(profiles),
            "domains": list(domains),
            "force": force,
        }
        assert process.stdin is not None
        try:
            process.stdin.write((json.dumps(request) + "\n").encode())
            await process.stdin.drain()
        except (ConnectionError, RuntimeError) as error:
            self._pending.pop(ident, None)
            raise RefreshProcessError(f"the refresh process is gone: {error}") from error
        try:
            return await future
        finally:
            self._pending.pop(ident, None)

    async def _read_events(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            while line := await process.stdout.readline():
                try:
                    event = json.loads(line)
                except ValueError:
                    log.warning("refresh process: unreadable line %r", line[:200])
                    continue
                try:
                    self._event(event)
                except Exception:  # a listener's bug must not stop the reading
                    log.exception("refresh event %r failed", event.get("event"))
        finally:
            code = await process.wait()
            self.in_flight, self.throttled = 0, False
            if self._pending:
                last = self._stderr[-1] if self._stderr else ""
                error = RefreshProcessError(
                    f"the refresh process ended (exit code {code})" + (f": {last}" if last else "")
                )
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(error)

    def _event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        if kind == "landed":
            self.on_landed(
                CacheKey(str(event["profile"]), str(event["domain"]), str(event["scope"]))
            )
        elif kind == "customer":
            self.on_customer(str(event["profile"]))
        elif kind == "customers":
            if self.on_customers is not None:
                self.on_customers([str(p) for p in event.get("problems") or ()])
        elif kind == "status":
            self.in_flight = int(event.get("in_flight") or 0)
            self.throttled = bool(event.get("throttled"))
        elif kind in ("done", "failed"):
            future = self._pending.get(int(event.get("id") or 0))
            if future is None or future.done():
                return
            if kind == "done":
                future.set_result([outcome_from(o) for o in event.get("outcomes", ())])
            else:
                future.set_exception(RefreshProcessError(str(event.get("error") or "failed")))

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        prompt: list[str] = []
        while raw := await process.stderr.readline():
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            self._stderr.append(line)
            log.warning("refresh process: %s", line)
            # a device-code sign-in prompt is three lines, the first "btconsole: sign in"
            if line.startswith("btconsole: sign in") or prompt:
                prompt.append(line.strip())
                if len(prompt) == 3 or "expires" in line:
                    if self.on_message is not None:
                        self.on_message("\n".join(prompt))
                    prompt = []

    async def close(self, timeout: float = 5.0) -> None:
        """End the process: end of input; if it is still importing (it reads its input
        only after), SIGTERM, which it answers the same way; then SIGKILL."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                with contextlib.suppress(Exception):
                    process.stdin.close()
            for stop, wait in ((None, 1.0), (process.terminate, timeout), (process.kill, None)):
                if stop is not None:
                    with contextlib.suppress(ProcessLookupError):
                        stop()
                try:
                    await asyncio.wait_for(process.wait(), wait)
                    break
                except asyncio.TimeoutError:
                    continue
        for task in self._readers:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, timeout)
        self._readers = []


class InProcessRefresh:
    """The same service as :class:`RefreshProcess` on the caller's own loop and engine.

    For a caller that brings its own engine (the tests' engine with their environment
    and the estate's date); the console otherwise uses the process.
    """

    def __init__(
        self,
        engine: Any,
        digests: DigestMaker | None,
        *,
        on_customer: CustomerListener,
        on_customers: DiscoveryListener | None = None,
    ) -> None:
        self.engine = engine
        rediscover = Rediscovery(
            engine, getattr(engine, "cache", None), digests, on_customers or (lambda _: None)
        )
        self._run = RefreshRun(engine, digests, on_customer, rediscover=rediscover)

    @property
    def in_flight(self) -> int:
        return int(sum(s.in_flight for s in self.engine.status.values()))

    @property
    def throttled(self) -> bool:
        now = time.monotonic()
        return any(
            s.throttled_until is not None and s.throttled_until > now
            for s in self.engine.status.values()
        )

    async def refresh(
        self, profiles: Sequence[str], domains: Sequence[str], *, force: bool = False
    ) -> list[Outcome]:
        return await self._run.run(profiles, domains, force=force)

    async def start(self) -> None:
        """Nothing to start: the engine is the caller's."""

    async def close(self) -> None:
        """Nothing of its own: the engine is its owner's to close."""


Refresher = RefreshProcess | InProcessRefresh


if __name__ == "__main__":
    sys.exit(main())
