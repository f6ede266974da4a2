"""Timings of the resource table with many rows, for the benchmark harness.

:func:`measure` loads synthetic Arc-like rows into a :class:`ResourceTable` in a
headless app (``run_test`` at 200x50) and times, with ``perf_counter`` (or
another clock, see :func:`measure`):

``set_rows``
    ``set_rows(rows)`` on a table that is sorted by name: search strings, the sort
    and the filter are all recomputed.
``filter``
    One typed keystroke: ``set_filter(query)`` for the next prefix of a query
    being typed (``arc-0``, ``status:disc``, ``!westeu``, ``contoso prod``), plus
    the repaint, see below. Cached results of earlier queries are dropped first,
    so no keystroke is answered from the cache; narrowing from the previous
    keystroke's result (the one cache a typist always has) stays.
``filter_erase``
    One backspace while erasing those queries, plus the repaint. These are
    answered from the per-query result cache.
``sort``
    ``sort_by`` a column not sorted by before (its sort cache cleared), plus the
    repaint.
``page_down``
    ``action_page_down()`` plus the repaint.
``filter_frame``
    The same keystrokes, end to end through Textual: the time from posting a
    key to a focused ``Input`` (whose ``Changed`` handler calls ``set_filter``,
    as a pane does) until the app hands the next frame to its driver. This
    includes Textual's own frame pacing (the screen repaints on a 1/60 s timer),
    so it is the latency a user sees, not our work.

"The repaint" is done synchronously, so it is the cost of producing the frame,
not of waiting for one: the table's ``render_lines`` for the whole visible
region (``render_line`` for every visible line, through Textual's style
cache), then the screen compositor's full update rendered to the escape
sequences a terminal would receive. Only the final ``write`` to a terminal is
missing. It is an upper bound on the real repaint, which only re-renders the
dirty region.

Run it: ``python -m btconsole.ui.table_bench [rows] [runs] [--cpu]``; ``--cpu``
reads the app thread's CPU time instead of the wall clock, which on a busy
machine separates our cost from waiting for a core.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Input

from btconsole.ui.table import Column, Level, ResourceTable, Row

__all__ = ["ARC_COLUMNS", "arc_rows", "measure"]

# The clock every timing reads; measure(clock=...) swaps it (thread CPU time
# shows our cost on a machine busy with other work, where wall time cannot).
_clock: Callable[[], float] = time.perf_counter

ARC_COLUMNS: tuple[Column, ...] = (
    Column("name", "Name", 26, min_width=14, priority=0),
    Column("customer", "Customer", 14, min_width=8, priority=1),
    Column("subscription", "Subscription", 18, min_width=10, priority=3),
    Column("group", "Resource group", 18, min_width=10, priority=4),
    Column("location", "Location", 12, min_width=8, priority=3),
    Column("status", "Status", 13, min_width=10, priority=0),
    Column("since", "Since", 7, min_width=5, align="right", priority=2),
    Column("agent", "Agent", 8, min_width=6, priority=2),
    Column("os", "OS", 20, min_width=8, priority=4),
    Column("fqdn", "FQDN", 34, min_width=12, priority=5),
)

_CUSTOMERS = ["contoso", "fabrikam", "northwind", "adatum", "litware", "tailspin", "wingtip"]
_LOCATIONS = ["westeurope", "northeurope", "uksouth", "ukwest", "eastus", "swedencentral"]
_STATUSES: list[tuple[str, Level, int]] = [
    ("Connected", "ok", 85),
    ("Disconnected", "critical", 8),
    ("Expired", "warning", 4),
    ("Error", "critical", 2),
    ("AwaitingConnection", "info", 1),
]
_OSES = ["Windows Server 2022", "Windows Server 2019", "Ubuntu 22.04", "RHEL 9.3", "SLES 15"]
_QUERIES = ["arc-0", "status:disc", "!westeu", "contoso prod"]


def arc_rows(count: int, seed: int = 7) -> list[Row]:
    """``count`` synthetic rows shaped like the Arc pane's."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    statuses = [s for s in _STATUSES for _ in range(s[2])]
    rows: list[Row] = []
    for i in range(count):
        customer = _CUSTOMERS[i % len(_CUSTOMERS)]
        env = rng.choice(["prod", "test", "dev"])
        status, level, _weight = rng.choice(statuses)
        seconds = rng.randrange(60, 90 * 86400)
        minor = rng.randrange(38, 46)
        name = f"arc-{customer[:4]}-{env}-{i:05d}"
        cells = (
            name,
            customer,
            f"{customer}-{env}-{i % 40:02d}",
            f"rg-{env}-{rng.choice(['web', 'db', 'app', 'edge'])}",
            rng.choice(_LOCATIONS),
            status,
            _age(seconds),
            f"1.{minor}",
            rng.choice(_OSES),
            f"{name}.{customer}.corp.example.com",
        )
        rows.append(
            Row(
                key=f"/subscriptions/{i % 300:04d}/machines/{name}",
                cells=cells,
                level=level,
                cell_levels=(None, None, None, None, None, level, None, None, None, None),
                sort_values=(
                    name,
                    customer,
                    cells[2],
                    cells[3],
                    cells[4],
                    status,
                    seconds,
                    (1, minor),
                    cells[8],
                    cells[9],
                ),
            )
        )
    return rows


def _age(seconds: int) -> str:
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _keystrokes(count: int) -> list[str]:
    """Filter texts as typed: each query char by char, then erased char by char."""
    texts: list[str] = []
    while len(texts) < count:
        for query in _QUERIES:
            texts.extend(query[: n + 1] for n in range(len(query)))
            texts.extend(query[:n] for n in range(len(query) - 1, -1, -1))
    return texts[:count]


class _BenchApp(App[None]):
    def __init__(self, rows: Sequence[Row]) -> None:
        super().__init__()
        self.rows = rows
        self.frames: list[float] = []
        self.filtered_at = 0.0

    def compose(self) -> ComposeResult:
        yield Input(id="filter")
        yield ResourceTable(ARC_COLUMNS, id="table")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one(ResourceTable).set_filter(event.value)
        self.filtered_at = _clock()

    def _display(self, screen: Any, renderable: Any) -> None:
        # Headless apps skip producing terminal output; produce it, as a terminal
        # app would, so a frame's cost is counted in full, and note when it ended.
        super()._display(screen, renderable)
        if renderable is not None and hasattr(renderable, "render_segments"):
            renderable.render_segments(self.console)
            self.frames.append(_clock())


def _repaint(app: _BenchApp, table: ResourceTable) -> None:
    """Produce the frame now: every visible table line, then the whole screen."""
    table.render_lines(table.size.region)
    screen = app.screen
    update = screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    if update is not None and hasattr(update, "render_segments"):
        update.render_segments(app.console)


def _timed(action: Callable[[], None]) -> float:
    start = _clock()
    action()
    return (_clock() - start) * 1000


async def _measure(rows: int, runs: int) -> dict[str, list[float]]:
    data = arc_rows(rows)
    app = _BenchApp(data)
    results: dict[str, list[float]] = {
        "set_rows": [],
        "filter": [],
        "filter_erase": [],
        "sort": [],
        "page_down": [],
        "filter_frame": [],
    }
    async with app.run_test(size=(200, 50)) as pilot:
        table = app.query_one(ResourceTable)
        table.sort_by("name")
        table.set_rows(data)  # warm-up
        await pilot.pause()
        for _ in range(runs):
            results["set_rows"].append(_timed(lambda: table.set_rows(data)))
            await pilot.pause()

        table.focus()
        table.set_filter("x")  # warm-up: builds the search text in sort order
        table.set_filter("")
        await pilot.pause()
        previous = ""
        for text in _keystrokes(8 * runs + 40):
            figure = "filter" if len(text) > len(previous) else "filter_erase"
            previous = text
            if len(results[figure]) == runs:
                table.set_filter(text)  # keep the typing realistic, untimed
                continue
            if figure == "filter":
                table._set.forget_filter_results()

            def keystroke(text: str = text) -> None:
                table.set_filter(text)
                _repaint(app, table)

            results[figure].append(_timed(keystroke))
            await pilot.pause()
            if len(results["filter"]) == len(results["filter_erase"]) == runs:
                break
        table.set_filter("")

        columns = [c.key for c in ARC_COLUMNS]
        for run in range(runs):
            column = columns[run % len(columns)]
            table._set.forget_sort_caches()  # as if never sorted by: nothing cached

            def sort(column: str = column) -> None:
                table.sort_by(column, reverse=False)
                _repaint(app, table)

            results["sort"].append(_timed(sort))
            await pilot.pause()
        table.sort_by("name", reverse=False)

        table.action_first()
        await pilot.pause()
        for _ in range(runs):

            def page_down() -> None:
                table.action_page_down()
                _repaint(app, table)

            results["page_down"].append(_timed(page_down))
            await pilot.pause()

        field = app.query_one(Input)
        field.focus()
        await pilot.pause()
        measured = 0
        for text in _keystrokes(8 * runs + 40):
            if measured == runs:
                break
            previous = field.value
            if len(text) > len(previous):
                key, character = _key_for(text[-1]), text[-1]
                table._set.forget_filter_results()
            else:
                key, character = "backspace", None
            app.frames.clear()
            app.filtered_at = 0.0
            start = _clock()
            app.post_message(events.Key(key, character))
            frame = None
            for _ in range(500):
                await asyncio.sleep(0.001)
                if app.filtered_at:
                    after = [t for t in app.frames if t >= app.filtered_at]
                    if after:
                        frame = after[0]
                        break
            if frame is not None and character is not None:
                results["filter_frame"].append((frame - start) * 1000)
                measured += 1
            await pilot.pause()
    return results


def _key_for(character: str) -> str:
    from textual.keys import _character_to_key

    return _character_to_key(character)


def measure(
    rows: int = 50_000, runs: int = 20, *, clock: Callable[[], float] = time.perf_counter
) -> dict[str, list[float]]:
    """Time the table with ``rows`` rows; raw timings in milliseconds per figure.

    Figures (see the module docstring): ``set_rows``, ``filter``,
    ``filter_erase``, ``sort``, ``page_down``, ``filter_frame``; each a list of
    ``runs`` timings. ``clock`` defaults to wall time (``perf_counter``);
    ``time.thread_time`` gives the CPU time of the app's thread instead.
    """
    global _clock
    previous, _clock = _clock, clock
    try:
        return asyncio.run(_measure(rows, runs))
    finally:
        _clock = previous


def _main(argv: Sequence[str]) -> int:
    cpu = "--cpu" in argv
    numbers = [arg for arg in argv if arg != "--cpu"]
    rows = int(numbers[0]) if numbers else 50_000
    runs = int(numbers[1]) if len(numbers) > 1 else 20
    results = measure(rows, runs, clock=time.thread_time if cpu else time.perf_counter)
    kind = "thread CPU time" if cpu else "wall time"
    print(f"ResourceTable, {rows:,} rows, {runs} runs, 200x50, {kind} (ms)")
    print(f"{'figure':<14}{'median':>9}{'min':>9}{'max':>9}")
    for figure, values in results.items():
        if values:
            median = statistics.median(values)
            print(f"{figure:<14}{median:>9.2f}{min(values):>9.2f}{max(values):>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
