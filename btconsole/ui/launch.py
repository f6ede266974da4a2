"""Starting the console: the configured profiles, or the embedded demo.

``btconsole`` opens the configured profiles; ``btconsole demo`` starts the emulator
on a generated estate, writes a config for it in the demo's own directory, and opens
the console on that config. Both run the same app, the same cache code, the same SDK.

The demo's first start reads its estate before the first paint (:func:`prefill`):
through the same engine and SDK clients, over HTTPS from the emulator, into the demo's
own cache, so its first frame shows the estate rather than customers not read yet.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from btconsole.config import Config, load_config
from btconsole.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from btconsole.cache import Cache
    from btconsole.engine import Engine, Outcome


def _audit_handler() -> None:
    from platformdirs import user_log_path

    from btconsole.logs import PrivateRotatingFileHandler

    path = user_log_path("btconsole") / "audit.log"
    from btconsole.fsutil import ensure_private_dir

    ensure_private_dir(path.parent)
    handler = PrivateRotatingFileHandler(path, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    audit = logging.getLogger("btconsole.audit")
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)


def require_foreground_terminal() -> None:
    """Refuse to start the console where the terminal would stop it.

    A process outside the terminal's foreground process group (``btconsole &``, or
    under ``timeout`` without ``--foreground``, which starts its command in a group of
    its own) is stopped by the kernel (SIGTTOU) when the console sets the terminal up:
    it would hang with nothing on the screen.

    Raises:
        UsageError: stdin is a terminal whose foreground group is not ours.
    """
    stdin = sys.__stdin__
    try:
        if stdin is None or not stdin.isatty():
            return
        foreground = os.tcgetpgrp(stdin.fileno())
    except (OSError, ValueError):  # no controlling terminal: let the app say so
        return
    if foreground != os.getpgrp():
        raise UsageError(
            "the console must run in the terminal's foreground (started in the background, "
            "or under 'timeout' without --foreground?)"
        )


def run_app(
    config: Config,
    *,
    cache_path: Path | None = None,
    scope: str | None = None,
    offline: bool = False,
    theme: str | None = None,
    environ: Mapping[str, str] | None = None,
    before: Callable[[Cache], object] | None = None,
) -> int:
    """Run the console until the user quits; return the exit code.

    ``before`` runs on the opened cache before the app starts (the demo's prefill).
    """
    from btconsole.cache import Cache
    from btconsole.logs import setup_logging
    from btconsole.ui.app import BtConsoleApp

    if scope is not None:
        config.profile(scope)  # unknown profile: a clear error, exit 64
    require_foreground_terminal()
    try:
        setup_logging()
        _audit_handler()
    except OSError as exc:
        print(f"btconsole: logging disabled: {exc}", file=sys.stderr)
    with Cache.open(cache_path, readonly=offline) as cache:
        if before is not None:
            before(cache)
        app = BtConsoleApp(
            config, cache, scope=scope, offline=offline, theme=theme, environ=environ
        )
        result = app.run()
    return EXIT_OK if result is None else int(result)


def run_console(args: Any) -> int:
    from btconsole.lighthouse import with_customers

    # Lighthouse customers: discovered now when due (offline: as cached), so the
    # console and its refresh process see them exactly as configured customers
    config, problems = with_customers(load_config(args.config), offline=args.offline, force=False)
    for problem in problems:
        print(f"btconsole: warning: {problem}", file=sys.stderr)
    if not config.profiles and config.lighthouse:
        how = (
            "the cache holds no discovery: start once online"
            if args.offline
            else "btconsole doctor lists the delegations the provider sees"
        )
        raise UsageError(
            f"no customer discovered through Lighthouse profile(s) "
            f"{', '.join(sorted(config.lighthouse))} in {config.path}"
            + (" (the discovery failed: see the warning above)" if problems else "")
            + f"; {how}"
        )
    if not config.profiles:
        where = config.path if config.exists else f"{config.path} (not created yet)"
        raise UsageError(
            f"no profiles configured in {where}. Create a starter config with "
            "'btconsole config init', add a [profiles.NAME] table per customer "
            "(docs/configuration.md), or try the built-in demo: btconsole demo"
        )
    profiles = args.profiles or []
    if len(profiles) > 1:
        raise UsageError("the console takes at most one --profile (or none for all customers)")
    return run_app(
        config,
        scope=profiles[0] if profiles else None,
        offline=args.offline,
        theme=args.theme,
    )


def demo_dir() -> Path:
    """Where the demo keeps each estate's config, certificates and cache."""
    from platformdirs import user_cache_path

    return user_cache_path("btconsole") / "demo"


def demo_cache_path(base: Path) -> Path:
    """The demo estate's own cache in ``base``: never the user's cache.

    Raises:
        UsageError: ``base`` would put it at the user's cache file.
    """
    from btconsole.cache import default_cache_path

    path = base / "cache.sqlite3"
    if path.resolve() == default_cache_path().resolve():
        raise UsageError(f"the demo's cache {path} would be the console's own cache")
    return path


def unread(config: Config, cache: Cache) -> list[tuple[str, str]]:
    """The (profile, pane domain) pairs of which some scope was never read (or nothing is
    known at all): what the console's first frame would show as not read yet."""
    from btconsole.ui.data import PANE_DOMAINS

    pairs = []
    for profile in config.profiles:
        for domain in PANE_DOMAINS:
            entries = cache.peek_domain(domain, [profile])
            if not entries or any(entry.fetched_at is None for entry in entries):
                pairs.append((profile, domain))
    return pairs


def prefill(
    config: Config,
    cache: Cache,
    *,
    now: dt.datetime | None = None,
    engine_factory: Callable[[Config, Cache, Callable[[Any], None]], Engine] | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> Sequence[Outcome]:
    """Read what was never read into ``cache`` before the console's first paint.

    The real path: :class:`btconsole.engine.Engine` with the profiles' SDK clients (over
    HTTPS from the demo's emulator), every scope fetched and stored as a refresh would,
    then each customer's digest made, as the overview's first read would. Data read
    before (even past its TTL) is left to the console's background refresh, so a
    second start paints at once. Returns the engine's outcomes (none when nothing was
    unread); a scope that failed shows in the console as it would after any refresh.
    ``engine_factory`` is what ``BtConsoleApp(engine_factory=...)`` takes (for tests);
    ``progress(done, total)`` is called as each customer's data has landed.
    """
    import asyncio

    from btconsole.engine import Engine
    from btconsole.ui.data import DataSource

    pairs = unread(config, cache)
    if not pairs:
        return []

    customers: dict[str, list[str]] = {}
    for profile, domain in pairs:
        customers.setdefault(profile, []).append(domain)

    async def read() -> list[Outcome]:
        make = engine_factory or (lambda config, cache, listener: Engine(config, cache))
        async with make(config, cache, lambda key: None) as engine:

            async def customer(profile: str, domains: list[str]) -> list[Outcome]:
                batches = await asyncio.gather(
                    *(engine.refresh_domain(profile, domain) for domain in domains)
                )
                return [outcome for batch in batches for outcome in batch]

            outcomes: list[Outcome] = []
            tasks = [customer(profile, domains) for profile, domains in customers.items()]
            for done, landed in enumerate(asyncio.as_completed(tasks), start=1):
                outcomes += await landed
                if progress is not None:
                    progress(done, len(tasks))
        return outcomes

    outcomes = asyncio.run(read())
    DataSource(config, cache).remake_health(
        list(config.profiles), now or dt.datetime.now(dt.timezone.utc)
    )
    return outcomes


class _Progress:
    """``reading the demo estate… 12/60 customers``: one line, redrawn in place on a
    terminal (a large estate takes a while); on anything else, the line once."""

    LABEL = "btconsole demo: reading the demo estate…"

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        print(self.LABEL, file=stream, end="" if self.live else "\n", flush=True)

    def __call__(self, done: int, total: int) -> None:
        if self.live:
            end = "\n" if done == total else ""
            print(f"\r{self.LABEL} {done}/{total} customers", file=self.stream, end=end, flush=True)


def run_demo(args: Any) -> int:
    """Start the emulator on a generated estate and open the console on it."""
    from btconsole.emulator.generate import generate
    from btconsole.emulator.serve import (
        ServeError,
        secret_environment,
        tls_dir_for,
        write_config,
    )
    from btconsole.emulator.server import EmulatorStartError, running_emulator
    from btconsole.fsutil import ensure_private_dir

    require_foreground_terminal()  # before the emulator starts and the estate is read
    base = ensure_private_dir(demo_dir() / f"{args.size}-{args.seed}")
    # "now" is this hour: at 07:35 nothing generated "an hour ago" may lie in the future
    now = dt.datetime.now(dt.timezone.utc)
    estate = generate(seed=args.seed, size=args.size, as_of=now.date(), hour=now.hour)
    config_path = base / "config.toml"
    print(
        f"btconsole demo: starting the emulator ({args.size} estate, seed {args.seed})…",
        file=sys.stderr,
    )
    try:
        with running_emulator(estate, tls_dir=tls_dir_for(config_path)) as emulator:
            write_config(config_path, estate, emulator.base_url, Path(emulator.ca_path))
            os.environ.update(secret_environment(estate))
            config = load_config(config_path)

            def read_first(cache: Cache) -> None:
                if unread(config, cache):
                    prefill(config, cache, progress=_Progress(sys.stderr))

            return run_app(
                config,
                cache_path=demo_cache_path(base),
                theme=getattr(args, "theme", None),
                before=read_first,
            )
    except (EmulatorStartError, ServeError) as exc:
        raise UsageError(f"the demo could not start: {exc}") from None
