"""Starting the console: the configured profiles, or the embedded demo.

``btconsole`` opens the configured profiles; ``btconsole demo`` starts the emulator
on a generated estate, writes a config for it in the demo's own directory, and opens
the console on that config. Both run the same app, the same cache code, the same SDK.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from btconsole.config import Config, load_config
from btconsole.errors import EXIT_OK, UsageError


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


def run_app(
    config: Config,
    *,
    cache_path: Path | None = None,
    scope: str | None = None,
    offline: bool = False,
    theme: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the console until the user quits; return the exit code."""
    from btconsole.cache import Cache
    from btconsole.logs import setup_logging
    from btconsole.ui.app import BtConsoleApp

    if scope is not None:
        config.profile(scope)  # unknown profile: a clear error, exit 64
    try:
        setup_logging()
        _audit_handler()
    except OSError as exc:
        print(f"btconsole: logging disabled: {exc}", file=sys.stderr)
    with Cache.open(cache_path, readonly=offline) as cache:
        app = BtConsoleApp(
            config, cache, scope=scope, offline=offline, theme=theme, environ=environ
        )
        result = app.run()
    return EXIT_OK if result is None else int(result)


def run_console(args: Any) -> int:
    config = load_config(args.config)
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
    from platformdirs import user_cache_path

    return user_cache_path("btconsole") / "demo"


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

    base = ensure_private_dir(demo_dir() / f"{args.size}-{args.seed}")
    estate = generate(seed=args.seed, size=args.size, as_of=dt.datetime.now(dt.timezone.utc).date())
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
            return run_app(
                config,
                cache_path=base / "cache.sqlite3",
                theme=getattr(args, "theme", None),
            )
    except (EmulatorStartError, ServeError) as exc:
        raise UsageError(f"the demo could not start: {exc}") from None
