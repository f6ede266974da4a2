"""The check's options: formats, exit codes, the clock, the profiles chosen."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from btconsole.config import Config, Profile, parse_duration
from btconsole.digest import (
    SOURCE_DOMAINS,
)
from btconsole.errors import ConfigError, UsageError

SCHEMA = "btconsole.check/1"
STATE_SCHEMA = "btconsole.check-state/1"
DOMAINS = SOURCE_DOMAINS

EXIT_ALL_CLEAR = 0
EXIT_WARNING = 1
EXIT_CRITICAL = 2
EXIT_INCOMPLETE = 3

#: Testing and demo aid: pins "today" (cost queries, month to date, anomalies, ages
#: in findings) to a date, as ``YYYY-MM-DD``; the health rules' "now" is noon UTC on it.
TODAY_ENV = "BTCONSOLE_TODAY"
DEFAULT_TIMEOUT = 300.0
FORMATS = ("text", "markdown", "json")


# --------------------------------------------------------------------------- clock


@dataclass(frozen=True)
class Clock:
    """The two clocks of a check.

    ``today``/``now`` drive the health rules and the cost queries (pinned by
    ``BTCONSOLE_TODAY``); ``wall`` is the real time, always used for the age of data.
    """

    today: dt.date
    now: dt.datetime
    wall: float
    pinned: bool = False


def clock(environ: Mapping[str, str] | None = None) -> Clock:
    """The clock of this run.

    Raises:
        UsageError: ``BTCONSOLE_TODAY`` is set but is not a ``YYYY-MM-DD`` date.
    """
    env = os.environ if environ is None else environ
    wall = time.time()
    pinned = env.get(TODAY_ENV, "").strip()
    if pinned:
        try:
            today = dt.date.fromisoformat(pinned)
        except ValueError:
            raise UsageError(
                f"{TODAY_ENV}={pinned!r} is not a date in the form YYYY-MM-DD"
            ) from None
        now = dt.datetime(today.year, today.month, today.day, 12, tzinfo=dt.timezone.utc)
        return Clock(today, now, wall, pinned=True)
    now = dt.datetime.fromtimestamp(wall, dt.timezone.utc)
    return Clock(now.date(), now, wall)


def parse_max_age(text: str | None) -> float | None:
    """Seconds in a ``--max-age`` value, or None when not given.

    Raises:
        UsageError: not a duration.
    """
    if text is None:
        return None
    seconds = parse_duration(text)
    if seconds is None:
        raise UsageError(f"--max-age {text!r} is not a duration; use e.g. 90s, 30m, 6h or 1d")
    return seconds


def select_profiles(config: Config, names: Sequence[str] | None, all_: bool) -> list[Profile]:
    """The profiles a command runs on: those named, or every one with ``all_``.

    Raises:
        UsageError: both or neither of ``names`` and ``all_``.
        ConfigError: no profiles configured, or an unknown name.
    """
    if names and all_:
        raise UsageError("give either --profile NAME (repeatable) or --all, not both")
    if not config.profiles and config.lighthouse:
        raise ConfigError(
            "no customer discovered yet through the Lighthouse profile(s) "
            f"{', '.join(sorted(config.lighthouse))}: run once online to discover them"
        )
    if not config.profiles:
        where = config.path if config.exists else f"{config.path} (not created yet)"
        raise ConfigError(
            f"no profiles configured in {where}; add a [profiles.NAME] table "
            "(docs/configuration.md) or run: btconsole config init"
        )
    if not names and not all_:
        known = ", ".join(sorted(config.profiles))
        raise UsageError(f"name the customers with --profile NAME or use --all (profiles: {known})")
    if all_:
        return list(config.profiles.values())
    chosen: dict[str, Profile] = {}
    for name in names or ():
        if name in config.lighthouse and name not in config.profiles:
            # a Lighthouse profile's name: every customer it discovered
            for profile in config.profiles.values():
                if profile.provider == name:
                    chosen.setdefault(profile.name, profile)
            continue
        profile = config.profile(name)
        chosen.setdefault(profile.name, profile)
    return list(chosen.values())
