"""What a long ``check`` or ``export`` is doing, shown on a terminal's stderr.

A refresh (:func:`btconsole.checks.snapshot.refresh`) feeds a :class:`RefreshProgress`:
the scopes each domain has once the subscription listings are known, each scope as it
lands (done or failed), each domain of a customer as it settles (the scopes fresh in
the cache count as done), and every quarter second the profiles whose throttling gate
is closed. :func:`for_stream` picks how it is shown:

- stderr not a terminal (piped, redirected, cron): nothing at all (``None``);
- ``TERM=dumb``: a few plain lines (a throttled wait, a line every 10 s, the summary);
- otherwise rich's live progress display, erased when the refresh is over; without
  colour under ``NO_COLOR``.

Nothing is ever written to stdout (the report goes there). rich is imported only when
the live display starts. Names shown are the configured profile names and the fixed
domain names, drawn as plain text (never markup).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import RenderableType

DOMAINS = ("arc", "circuits", "policy", "spend", "health")
THROTTLED_SHOWN = 3  # profiles named on the throttled line
PUSH_EVERY = 0.1  # seconds between updates of the live display between ticks
PLAIN_EVERY = 10.0  # seconds between plain status lines (TERM=dumb)
READING = "reading the cache"  # the phase after the refresh


def for_stream(stream: TextIO, environ: Mapping[str, str] | None = None) -> RefreshProgress | None:
    """The progress display for ``stream`` (stderr), or ``None`` when it is no terminal."""
    env = os.environ if environ is None else environ
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    if env.get("TERM") == "dumb":
        return PlainProgress(stream)
    return LiveProgress(stream, color=not env.get("NO_COLOR"))


def clean(text: str) -> str:
    """``text`` without control characters (a profile name comes from the config)."""
    return "".join(ch for ch in text if ch.isprintable())


def format_elapsed(seconds: float) -> str:
    """``12s``, ``3m05s``, ``1h02m``."""
    total = int(max(0.0, seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"


@dataclass
class DomainTally:
    """One domain's scopes over every customer."""

    expected: dict[str, set[str]] = field(default_factory=dict)  # profile -> scopes
    ended: dict[str, dict[str, bool]] = field(default_factory=dict)  # profile -> scope -> failed

    @property
    def total(self) -> int:
        return sum(len(scopes) for scopes in self.expected.values())

    @property
    def finished(self) -> int:
        return sum(len(scopes) for scopes in self.ended.values())

    @property
    def failed(self) -> int:
        return sum(sum(scopes.values()) for scopes in self.ended.values())


class RefreshProgress:
    """The counts of a refresh; subclasses show them. Fed from the event loop only."""

    def __init__(self) -> None:
        self.profiles: list[str] = []
        self.listed: set[str] = set()  # profiles whose scopes are known
        self.settled: dict[str, set[str]] = {}  # profile -> domains settled
        self.domains = {domain: DomainTally() for domain in DOMAINS}
        self.throttled: dict[str, float] = {}  # profile -> seconds left
        self.in_flight = 0
        self.phase = "refreshing"
        self.started = time.monotonic()

    # ------------------------------------------------------------------ feeding

    def start(self, profiles: Sequence[str]) -> None:
        """The refresh of ``profiles`` begins."""
        self.profiles = list(profiles)
        self.started = time.monotonic()
        self._show()

    def scopes(self, profile: str, domain: str, scopes: Iterable[str]) -> None:
        """The scopes ``domain`` of ``profile`` has (from its subscription listing)."""
        tally = self.domains.get(domain)
        if tally is None or domain in self.settled.get(profile, ()):
            return
        tally.expected[profile] = set(scopes)
        self.listed.add(profile)
        self._changed()

    def landed(self, profile: str, domain: str, scope: str, *, failed: bool) -> None:
        """A scope's refresh ended (its records or its error are in the cache)."""
        tally = self.domains.get(domain)
        if tally is None:
            return
        tally.ended.setdefault(profile, {})[scope] = failed
        tally.expected.setdefault(profile, set()).add(scope)
        self._changed()

    def settle(self, profile: str, domain: str, results: Iterable[tuple[str, bool]]) -> None:
        """``domain`` of ``profile`` is over: every (scope, failed) it had. Scopes
        fresh in the cache, never refreshed, count as done."""
        tally = self.domains.get(domain)
        if tally is None:
            return
        ended = dict(results)
        tally.ended[profile] = ended
        tally.expected[profile] = set(ended)
        self.listed.add(profile)
        self.settled.setdefault(profile, set()).add(domain)
        self._changed()

    def waits(self, throttled: Mapping[str, float], in_flight: int) -> None:
        """Seconds left on each closed throttling gate; scopes being fetched."""
        self.throttled = {name: left for name, left in throttled.items() if left > 0}
        self.in_flight = in_flight
        self._changed(tick=True)

    def reading(self) -> None:
        """The refresh is over; the cached data is being read."""
        self.phase = READING
        self.throttled, self.in_flight = {}, 0
        self._changed(tick=True)

    def stop(self) -> None:
        """Take the display down (idempotent; safe on any interruption)."""

    # ------------------------------------------------------------------ reading

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def customers_done(self) -> int:
        return sum(1 for name in self.profiles if len(self.settled.get(name, ())) == len(DOMAINS))

    def domain_text(self, domain: str) -> str:
        """``120/400 done, 3 failed`` (``listing subscriptions`` before any is known)."""
        tally = self.domains[domain]
        if not tally.expected and len(self.listed) < len(self.profiles):
            return "listing subscriptions"
        text = f"{tally.finished}/{tally.total} done"
        failed = tally.failed
        if failed:
            text += f", {failed} failed"
        return text

    def throttle_text(self) -> str | None:
        """``throttled: contoso waiting 12s, adatum 3s``, or ``None``."""
        if not self.throttled:
            return None
        waits = sorted(self.throttled.items(), key=lambda item: (-item[1], item[0]))
        parts = [
            f"{clean(name)} {'waiting ' if i == 0 else ''}{max(1, round(left))}s"
            for i, (name, left) in enumerate(waits[:THROTTLED_SHOWN])
        ]
        if len(waits) > THROTTLED_SHOWN:
            parts.append(f"{len(waits) - THROTTLED_SHOWN} more")
        return "throttled: " + ", ".join(parts)

    def summary(self, what: str | None = None) -> str:
        """One line: every domain's counts and the time so far."""
        domains = "; ".join(f"{d} {self.domain_text(d)}" for d in DOMAINS)
        return (
            f"{what or self.phase} {self.customers_done}/{len(self.profiles)} customers: "
            f"{domains} ({format_elapsed(self.elapsed)})"
        )

    # ------------------------------------------------------------------ showing

    def _show(self) -> None:
        """Start showing (after :meth:`start`)."""

    def _changed(self, *, tick: bool = False) -> None:
        """The counts changed (``tick``: the throttling gates were looked at, or the
        phase changed; called a few times a second at most)."""


class PlainProgress(RefreshProgress):
    """For ``TERM=dumb``: whole lines only, rarely."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._last_line = 0.0
        self._told_throttled: set[str] = set()
        self._open = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(f"btconsole: {text}\n")
            self.stream.flush()
        except (OSError, ValueError):
            self._open = False

    def _show(self) -> None:
        self._open = True
        self._last_line = time.monotonic()

    def _changed(self, *, tick: bool = False) -> None:
        if not self._open or not tick:
            return
        for name, left in sorted(self.throttled.items()):
            if name not in self._told_throttled:
                self._write(f"{clean(name)}: throttled, waiting {max(1, round(left))}s")
        self._told_throttled = set(self.throttled)
        if time.monotonic() - self._last_line >= PLAIN_EVERY:
            self._last_line = time.monotonic()
            self._write(self.summary())

    def stop(self) -> None:
        if self._open:
            # else interrupted, timed out, or a bug
            over = self.phase == READING and self.customers_done == len(self.profiles)
            self._write(self.summary("refreshed" if over else "refresh stopped at"))
            self._open = False


class LiveProgress(RefreshProgress):
    """rich's live progress display: a row per domain, the throttled wait, elapsed."""

    def __init__(self, stream: TextIO, *, color: bool = True) -> None:
        super().__init__()
        self.stream = stream
        self.color = color
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._customers: Any = None
        # read by rich's refresh thread: replaced whole, never changed in place
        self._throttle_line: str | None = None
        self._pushed = 0.0

    def _show(self) -> None:
        from rich.console import Console, Group
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
        )
        from rich.text import Text

        owner = self

        class _Display(Progress):
            def get_renderables(self) -> Iterable[RenderableType]:
                head = Text(f"btconsole: {owner.phase} ", style="bold")
                head.append(format_elapsed(owner.elapsed), style="cyan")
                throttle = owner._throttle_line
                parts: list[RenderableType] = [head, self.make_tasks_table(self.tasks)]
                if throttle:
                    parts.append(Text(f"  {throttle}", style="yellow"))
                yield Group(*parts)

        console = Console(
            file=self.stream,
            no_color=not self.color,
            highlight=False,
            emoji=False,
            markup=False,
        )
        self._progress = _Display(
            TextColumn("  {task.description:<10}", markup=False),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[counts]}", markup=False),
            console=console,
            transient=True,
            refresh_per_second=4,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._customers = self._progress.add_task("customers", total=None, counts="")
        for domain in DOMAINS:
            self._tasks[domain] = self._progress.add_task(domain, total=None, counts="")
        self._update()
        self._progress.start()

    def _update(self) -> None:
        progress = self._progress
        if progress is None:
            return
        progress.update(
            self._customers,
            total=len(self.profiles) or None,
            completed=self.customers_done,
            counts=f"{self.customers_done}/{len(self.profiles)} done"
            + (f", {self.in_flight} scopes in progress" if self.in_flight else ""),
        )
        for domain, task in self._tasks.items():
            tally = self.domains[domain]
            known = bool(tally.expected) or len(self.listed) >= len(self.profiles)
            progress.update(
                task,
                total=tally.total if known else None,
                completed=tally.finished,
                counts=self.domain_text(domain),
            )
        self._throttle_line = self.throttle_text()

    def _changed(self, *, tick: bool = False) -> None:
        # keys land by the thousand on a large estate: counted at once, shown at most
        # every PUSH_EVERY seconds (the ticks keep the display current)
        now = time.monotonic()
        if tick or now - self._pushed >= PUSH_EVERY:
            self._pushed = now
            self._update()

    def stop(self) -> None:
        progress = self._progress
        if progress is not None:
            try:
                self._update()  # the last counts, whatever the last push showed
            finally:
                self._progress = None
                progress.stop()  # a last frame, then erased; the cursor shown again
