"""The benchmark harness: start-up, refresh, table and memory figures, side by side.

``python -m btconsole.bench`` (or ``make bench``) runs the real stack against the
emulator's ``huge`` estate and writes ``docs/performance.md`` (figure | target | median |
min | max | runs, plus how it was measured) and ``docs/bench-results.json`` (every raw
timing). ``--quick`` does the same on the small estate with one run of each and no
warm-up, so the test suite can keep the harness working (its numbers mean nothing).

How each figure is taken (every measured thing runs in its own child process, so the
harness's own memory and CPU stay out of it):

- The emulator runs as a child process (``python -m btconsole.bench _emulator``: the
  same :func:`btconsole.emulator.serve.serve` as ``btconsole emulator serve``, on an
  estate whose "today" is the real UTC date) with a ``latency`` fault of 30 ms on every
  ARM request. It writes the config the console and ``check`` then use.
- Cold refresh: a child (``_refresh``) imports the Azure SDK modules (timed apart),
  opens an empty cache and times ``Engine.refresh_all()`` over every profile and
  domain at the config's ``refresh_concurrency``. The baseline (``_refresh --mode
  baseline``) calls the same wrappers with the same SDK clients, one call after the
  other, subscription by subscription, no Resource Graph, nothing cached. Requests are
  the emulator's own count (``/_emulator/stats``), zeroed before each run.
- Warm start: the installed ``btconsole --config CFG --offline`` in a pseudo-terminal
  (200x50, ``TERM=xterm-256color``) with ``XDG_CACHE_HOME`` at the cache the last cold
  refresh filled and ``BTCONSOLE_BENCH_FILE`` set: the app writes the first painted
  frame's time (since ``btconsole`` was imported) and its peak RSS, and quits; the
  harness times the whole process from fork to exit.
- ``btconsole check --offline --all`` on the same cache: whole-process wall time.
- Arc pane: a child (``_arc_pane``) runs the console headless on the same cache,
  switches to the Arc pane and reports the time to its filled table and the peak RSS.
- Table: a child (``_table``) runs :func:`btconsole.ui.table_bench.measure`.

Everything talks to 127.0.0.1 only; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import json
import os
import platform
import resource
import select
import shlex
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LATENCY_MS = 30
MB = 1024.0  # ru_maxrss is in KiB on Linux
ANALYSIS_MARKER = "<!-- analysis: written by hand; the harness keeps everything below -->"
PTY_SIZE = (50, 200)  # rows, columns
CHILD_TIMEOUT = 900.0  # seconds: no child may run longer than this


# --------------------------------------------------------------------------- figures


@dataclass
class Figure:
    """One row of the results table."""

    key: str
    section: str
    label: str
    unit: str
    values: list[float]
    target: str = ""  # human text, e.g. "<= 0.6 s"
    limit: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def met(self) -> bool | None:
        median = self.median
        if self.limit is None or median is None:
            return None
        return median >= self.limit if self.higher_is_better else median <= self.limit

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["median"] = self.median
        data["min"] = min(self.values) if self.values else None
        data["max"] = max(self.values) if self.values else None
        data["runs"] = len(self.values)
        data["met"] = self.met
        return data


@dataclass
class Options:
    """What one harness run measures."""

    quick: bool = False
    runs: int = 5
    warmup: int = 1
    baseline_runs: int = 1
    table_rows: int = 50_000
    table_runs: int = 20
    size: str = "huge"
    seed: int = 1
    output_dir: Path = Path("docs")
    work_dir: Path | None = None
    keep_work: bool = False
    only: str | None = None  # "refresh" or "single": just that section
    concurrency: int | None = None  # refresh_concurrency for the refresh (default: Config's)
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr))


# --------------------------------------------------------------------------- helpers


def _stats(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return f"median {statistics.median(values):.3f}, min {min(values):.3f}, max {max(values):.3f}"


def _load() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def _children_cpu() -> float:
    """CPU seconds of every waited-for child so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a running process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def default_concurrency() -> int:
    """The ``refresh_concurrency`` a config gets when it does not set one."""
    from dataclasses import fields

    from btconsole.config import Config

    default = next(f.default for f in fields(Config) if f.name == "refresh_concurrency")
    assert isinstance(default, int)
    return default


def refresh_floor(run: Mapping[str, Any], latency: float, cores: int) -> float:
    """The true floor of a cold refresh: the largest of what the requests' latency allows
    at the concurrency, the client's CPU, and the client's plus the emulator's CPU spread
    over every core."""
    floors = [run["requests"] * latency / int(run["concurrency"]), float(run.get("cpu_s", 0.0))]
    if run.get("emulator_cpu_s") is not None:
        floors.append((float(run.get("cpu_s", 0.0)) + float(run["emulator_cpu_s"])) / cores)
    return float(max(floors))


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _btconsole_command() -> list[str]:
    """The installed ``btconsole`` next to this interpreter (else ``python -m btconsole``)."""
    script = Path(sys.executable).with_name("btconsole")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "btconsole"]


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RuntimeError(f"{path}: expected a JSON object")
    return data


def _run_child(
    args: Sequence[str], env: Mapping[str, str], result: Path, *, timeout: float = CHILD_TIMEOUT
) -> dict[str, Any]:
    """Run ``python -m btconsole.bench ARGS --result RESULT`` and return its JSON result."""
    result.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "btconsole.bench", *args, "--result", str(result)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0 or not result.exists():
        raise RuntimeError(
            f"bench child {args[0]} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    return _read_json(result)


# --------------------------------------------------------------------------- emulator


@dataclass
class Emulator:
    """The emulator child process and what it told us."""

    process: subprocess.Popen[bytes]
    base_url: str
    ca_path: Path
    config: Path
    secrets: dict[str, str]

    def control(self, method: str, path: str) -> Any:
        """Call a control route (loopback, trusting the emulator's CA)."""
        context = ssl.create_default_context(cafile=str(self.ca_path))
        request = urllib.request.Request(  # noqa: S310 - https on loopback only
            f"{self.base_url}/_emulator/{path}", method=method
        )
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:  # noqa: S310
            body = answer.read()
        return json.loads(body) if body else None

    def stats(self) -> dict[str, Any]:
        data = self.control("GET", "stats")
        return data if isinstance(data, dict) else {}

    def zero_stats(self) -> None:
        self.control("DELETE", "stats")


def _parse_env_file(path: Path) -> dict[str, str]:
    """``export NAME='value'`` lines (as ``render_env`` writes them) as a mapping."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            parts = shlex.split(value)
            env[name] = parts[0] if parts else ""
    return env


@contextlib.contextmanager
def running_emulator_child(
    work: Path, size: str, seed: int, as_of: dt.date, latency_ms: int
) -> Iterator[Emulator]:
    """Start ``python -m btconsole.bench _emulator`` and wait for its banner."""
    faults = work / "faults.toml"
    faults.write_text(
        f'seed = 1\n\n[[faults]]\nkind = "latency"\nms = {latency_ms}\n', encoding="utf-8"
    )
    config = work / "config.toml"
    errors = (work / "emulator.stderr").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "btconsole.bench",
            "_emulator",
            "--size",
            size,
            "--seed",
            str(seed),
            "--as-of",
            as_of.isoformat(),
            "--faults",
            str(faults),
            "--config",
            str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=errors,
        bufsize=0,
    )
    try:
        base_url = ca_path = None
        deadline = time.monotonic() + 180
        assert process.stdout is not None
        fd = process.stdout.fileno()
        pending = b""
        ready_seen = False
        while time.monotonic() < deadline and not ready_seen:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").strip()
                if "listening on " in line:
                    base_url = line.split("listening on ", 1)[1].strip()
                elif line.startswith("CA bundle: "):
                    ca_path = Path(line[len("CA bundle: ") :].strip())
                elif line.startswith("press Ctrl-C"):
                    ready_seen = True
        if base_url is None or ca_path is None or not config.exists():
            problem = (work / "emulator.stderr").read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"the emulator child did not start: {problem.strip()[-1000:]}")
        secrets = _parse_env_file(config.with_name(config.name + ".env"))
        emulator = Emulator(process, base_url, ca_path, config, secrets)
        yield emulator
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
        errors.close()


# --------------------------------------------------------------------------- pty runs

# The empty-app floor: the least a Textual app started the same way costs. One screen
# with one Static, painted once; it writes when that frame was painted (CLOCK_MONOTONIC,
# system-wide, so the harness can subtract the moment it forked) and quits at once, as
# the console does under BTCONSOLE_BENCH_FILE. Run with ``python -c`` so nothing but
# Textual is imported (``python -m btconsole.bench`` would import the harness too).
EMPTY_APP = """
import json, sys, time
from textual.app import App
from textual.widgets import Static

class Empty(App):
    def compose(self):
        yield Static("btconsole bench: the empty-app floor")

    def on_mount(self):
        self.call_after_refresh(self.painted)

    def painted(self):
        with open(sys.argv[1], "w", encoding="utf-8") as handle:
            json.dump({"painted_at": time.monotonic()}, handle)
        self.exit()

Empty().run()
"""


def installed_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` as an installed btconsole starts in: Python may keep its bytecode.

    An editable install under ``PYTHONDONTWRITEBYTECODE`` (set on some build machines)
    compiles every btconsole module from source on every start (~0.1-0.2 s), which no
    installed wheel does; Textual's own modules were compiled at install time.
    """
    out = dict(env)
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out


def run_in_pty(
    command: Sequence[str], env: Mapping[str, str], *, timeout: float = 120.0
) -> tuple[float, int, float]:
    """Run ``command`` in a pseudo-terminal: (wall seconds from fork to exit, exit status,
    CPU seconds the process used).

    Output is read and dropped as it comes (a terminal that never reads would block the
    app). The child is killed at ``timeout``.
    """
    import fcntl
    import pty
    import struct
    import termios

    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: size the terminal, then become the command
        try:
            rows, cols = PTY_SIZE
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.execvpe(command[0], list(command), dict(env))  # noqa: S606
        finally:
            os._exit(127)
    deadline = started + timeout
    try:
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                os.kill(pid, signal.SIGKILL)
                break
            ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the terminal's other end closed
                    break
                if not chunk:
                    break
    finally:
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - started
        os.close(fd)
    return elapsed, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- the harness


class Harness:
    """One run of every figure; results in :attr:`figures` and :attr:`raw`."""

    def __init__(self, options: Options) -> None:
        self.o = options
        self.figures: list[Figure] = []
        self.raw: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self.as_of = dt.datetime.now(dt.timezone.utc).date()

    def log(self, line: str) -> None:
        self.o.log(f"bench: {line}")

    def env(self, work: Path, emulator: Emulator, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTCONSOLE_")}
        env.update(emulator.secrets)
        env.update(
            XDG_CACHE_HOME=str(work / "xdg-cache"),
            XDG_STATE_HOME=str(work / "xdg-state"),
            XDG_CONFIG_HOME=str(work / "xdg-config"),
            XDG_DATA_HOME=str(work / "xdg-data"),
            TERM="xterm-256color",
            COLUMNS=str(PTY_SIZE[1]),
            LINES=str(PTY_SIZE[0]),
        )
        env.pop("NO_COLOR", None)
        env.update(extra)
        return env

    def cache_path(self, work: Path) -> Path:
        return work / "xdg-cache" / "btconsole" / "cache.sqlite3"

    def run(self) -> None:
        o = self.o
        self.meta = {
            "command": "python -m btconsole.bench" + (" --quick" if o.quick else ""),
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "quick": o.quick,
            "size": o.size,
            "seed": o.seed,
            "runs": o.runs,
            "warmup": o.warmup,
            "baseline_runs": o.baseline_runs,
            "table_rows": o.table_rows,
            "latency_ms": LATENCY_MS,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "git_commit": _git_commit(),
            "load_before": _load(),
        }
        work = o.work_dir or Path(tempfile.mkdtemp(prefix="btconsole-bench-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            self.log(f"work directory {work}; starting the emulator ({o.size} estate)")
            with running_emulator_child(work, o.size, o.seed, self.as_of, LATENCY_MS) as emu:
                self.meta["emulator"] = {"base_url": emu.base_url, "process": "child"}
                if o.only in (None, "refresh"):
                    self.cold_refresh(work, emu)
                    self.meta["load_after_refresh"] = _load()
                if o.only in (None, "refresh", "console"):
                    self.console_refresh(work, emu)
                if o.only in (None, "single"):
                    self.single_customer(work, emu)
                if o.only is None:
                    self.warm_start(work, emu)
                    self.check(work, emu)
                    self.arc_pane(work, emu)
            if o.only is None:
                self.table(work)
        finally:
            self.meta["load_after"] = _load()
            self.meta["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(
                timespec="seconds"
            )
            if o.work_dir is None and not o.keep_work:
                shutil.rmtree(work, ignore_errors=True)

    # ------------------------------------------------------------------ 2. cold refresh

    def _refresh_once(self, work: Path, emu: Emulator, mode: str) -> dict[str, Any]:
        cache = self.cache_path(work)
        for suffix in ("", "-wal", "-shm", ".lock"):
            cache.with_name(cache.name + suffix).unlink(missing_ok=True)
        emu.zero_stats()
        emulator_before = _process_cpu(emu.process.pid)
        result = _run_child(
            [
                "_refresh",
                "--mode",
                mode,
                "--config",
                str(emu.config),
                "--cache",
                str(cache),
                "--as-of",
                self.as_of.isoformat(),
                "--concurrency",
                str(self.o.concurrency or default_concurrency()),
                "--log",
                str(work / "refresh.log"),
            ],
            self.env(work, emu),
            work / f"refresh-{mode}.json",
        )
        emulator_after = _process_cpu(emu.process.pid)
        if emulator_before is not None and emulator_after is not None:
            result["emulator_cpu_s"] = emulator_after - emulator_before
        stats = emu.stats()
        result["requests"] = int(stats.get("total", 0))
        result["by_status"] = stats.get("by_status", {})
        result["load"] = _load()
        return result

    def cold_refresh(self, work: Path, emu: Emulator) -> None:
        o = self.o
        engine: list[dict[str, Any]] = []
        for n in range(o.warmup + o.runs):
            result = self._refresh_once(work, emu, "engine")
            warm = n < o.warmup
            self.log(
                f"cold refresh{' (warm-up)' if warm else ''}: {result['wall_s']:.2f} s, "
                f"{result['requests']} requests, {result['failed']} failed; first customer "
                f"complete at {result.get('first_customer_s') or 0:.2f} s, half of them at "
                f"{result.get('half_customers_s') or 0:.2f} s"
            )
            if not warm:
                engine.append(result)
        baseline: list[dict[str, Any]] = []
        for _ in range(o.baseline_runs):
            result = self._refresh_once(work, emu, "baseline")
            self.log(f"baseline: {result['wall_s']:.2f} s, {result['requests']} requests")
            baseline.append(result)
        # the warm start reads the cache of one more engine refresh (the baseline stores
        # nothing, so refill it)
        last = self._refresh_once(work, emu, "engine")
        self.raw["cold_refresh"] = engine
        self.raw["baseline"] = baseline
        self.raw["cache_fill"] = last
        concurrency = int(engine[0]["concurrency"]) if engine else default_concurrency()
        self.meta["refresh_concurrency"] = concurrency
        latency = LATENCY_MS / 1000.0
        walls = [r["wall_s"] for r in engine]
        base_walls = [r["wall_s"] for r in baseline]
        cores = os.cpu_count() or 1
        floors = [refresh_floor(r, latency, cores) for r in engine]
        section = f"2. Cold refresh, {self.o.size} estate, {LATENCY_MS} ms per request"
        self.figures += [
            Figure(
                "refresh_wall",
                section,
                f"engine, every domain x subscription (concurrency {concurrency}, "
                "logging as the CLI has it)",
                "s",
                walls,
            ),
            Figure(
                "refresh_requests",
                section,
                "requests (emulator count)",
                "",
                [float(r["requests"]) for r in engine],
            ),
            Figure(
                "refresh_latency_floor",
                section,
                f"requests x {LATENCY_MS} ms / concurrency",
                "s",
                [r["requests"] * latency / concurrency for r in engine],
            ),
            Figure(
                "refresh_emulator_cpu",
                section,
                "CPU time of the emulator during the refresh",
                "s",
                [r["emulator_cpu_s"] for r in engine if r.get("emulator_cpu_s") is not None],
            ),
            Figure(
                "refresh_shared_cpu_floor",
                section,
                f"(client + emulator CPU) / {cores} cores",
                "s",
                [
                    (r["cpu_s"] + r["emulator_cpu_s"]) / cores
                    for r in engine
                    if r.get("emulator_cpu_s") is not None
                ],
            ),
            Figure(
                "refresh_floor",
                section,
                "floor = largest of the latency floor, the client's CPU and the shared CPU",
                "s",
                floors,
            ),
            Figure(
                "refresh_floor_ratio",
                section,
                "engine wall / floor",
                "x",
                [w / f for w, f in zip(walls, floors, strict=True) if f > 0],
                "<= 1.3x",
                1.3,
            ),
            Figure(
                "refresh_cpu",
                section,
                "CPU time of the refreshing process (user + system)",
                "s",
                [r["cpu_s"] for r in engine if "cpu_s" in r],
            ),
            Figure(
                "refresh_cpu_per_request",
                section,
                "CPU per request in the refreshing process",
                "ms",
                [
                    1000 * r["cpu_s"] / r["requests"]
                    for r in engine
                    if r.get("cpu_s") and r["requests"]
                ],
            ),
            Figure(
                "refresh_rss",
                section,
                "peak RSS of the refreshing process",
                "MB",
                [r["max_rss_kb"] / MB for r in engine],
            ),
            Figure(
                "refresh_digests",
                section,
                "then: every customer's digest made from the new records (wall)",
                "s",
                [r["digests_s"] for r in engine if "digests_s" in r],
            ),
            Figure(
                "refresh_sdk_import",
                section,
                "SDK import in the refreshing process (before the clock)",
                "s",
                [r["import_s"] for r in engine],
            ),
            Figure(
                "baseline_wall",
                section,
                "baseline: same wrappers, sequential per subscription",
                "s",
                base_walls,
            ),
            Figure(
                "baseline_cpu",
                section,
                "baseline CPU time (user + system)",
                "s",
                [r["cpu_s"] for r in baseline if "cpu_s" in r],
            ),
            Figure(
                "baseline_requests",
                section,
                "baseline requests (emulator count)",
                "",
                [float(r["requests"]) for r in baseline],
            ),
            Figure(
                "speedup",
                section,
                "speed-up: baseline median / engine run",
                "x",
                [statistics.median(base_walls) / w for w in walls if w > 0] if base_walls else [],
                ">= 10x",
                10.0,
                higher_is_better=True,
            ),
        ]

    # ------------------------------------------------------------------ 5. one customer, cold

    def single_customer(self, work: Path, emu: Emulator) -> None:
        """One customer's Arc data from an empty cache, whole process, against what
        ``az rest`` does with one Resource Graph POST (az is measured when on PATH; else
        its floor: a fresh ``python -S`` that gets one token and makes that POST)."""
        o = self.o
        from btconsole.config import load_config

        config = load_config(emu.config)
        profile = next(iter(config.profiles.values()))
        env = self.env(work, emu)
        cache = work / "single" / "cache.sqlite3"
        floor_args = json.dumps(
            {
                "token_url": f"{profile.cloud.authority_host.rstrip('/')}/{profile.tenant_id}"
                "/oauth2/v2.0/token",
                "client_id": profile.client_id,
                "secret": env.get(profile.client_secret_env or "", ""),
                "scope": profile.cloud.token_scope,
                "graph_url": f"{profile.cloud.resource_manager.rstrip('/')}/providers/"
                f"Microsoft.ResourceGraph/resources?api-version={GRAPH_API_VERSION}",
                "query": _arc_query(),
                "ca": profile.cloud.ca_bundle,
            }
        )
        ours: list[float] = []
        rss: list[float] = []
        floor: list[float] = []
        runs: list[dict[str, Any]] = []
        for n in range(o.warmup + o.runs):
            for suffix in ("", "-wal", "-shm", ".lock"):
                cache.with_name(cache.name + suffix).unlink(missing_ok=True)
            emu.zero_stats()
            started = time.perf_counter()
            result = _run_child(
                [
                    "_single",
                    "--config",
                    str(emu.config),
                    "--cache",
                    str(cache),
                    "--profile",
                    profile.name,
                    "--log",
                    str(work / "single.log"),
                ],
                env,
                work / "single.json",
            )
            result["process_s"] = time.perf_counter() - started
            stats = emu.stats()
            routes = stats.get("by_route", {})
            result["requests"] = int(stats.get("total", 0))
            result["path"] = (
                "Resource Graph"
                if any("resourcegraph" in str(r).lower() for r in routes)
                else "per subscription"
            )
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-S", "-c", STDLIB_GRAPH_POST, floor_args],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            result["floor_s"] = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"the stdlib Resource Graph POST failed: {done.stderr[-1000:]}")
            result["floor_rows"] = int(done.stdout.strip() or 0)
            self.log(
                f"single customer{' (warm-up)' if n < o.warmup else ''}: "
                f"{result['process_s']:.2f} s ({result['records']} records, "
                f"{result['requests']} requests, {result['path']}), "
                f"stdlib POST {result['floor_s']:.2f} s "
                f"({result['floor_rows']} rows)"
            )
            if n >= o.warmup:
                runs.append(result)
                ours.append(result["process_s"])
                rss.append(result["max_rss_kb"] / MB)
                floor.append(result["floor_s"])
        self.raw["single_customer"] = runs
        az = shutil.which("az")
        section = "5. Cold single-customer answer (one customer's Arc data, empty cache)"
        self.figures += [
            Figure(
                "single_wall",
                section,
                "btconsole: a fresh process refreshes one customer's Arc data (fork to exit)",
                "s",
                ours,
            ),
            Figure("single_rss", section, "its peak RSS", "MB", rss),
            Figure(
                "single_floor",
                section,
                "az's floor: fresh `python -S`, one token, one Resource Graph POST"
                + (" (az is on PATH but not signed in to the emulator)" if az else "")
                + " (az itself is not installed here)",
                "s",
                floor,
            ),
            Figure(
                "single_ratio",
                section,
                "btconsole / az floor",
                "x",
                [a / b for a, b in zip(ours, floor, strict=True) if b > 0],
                "<= 1x (az's start-up not in the floor)",
                1.0,
            ),
        ]

    # ------------------------------------------------------------------ 1. warm start

    def empty_floor(self, work: Path) -> tuple[list[float], list[float]]:
        """The empty app's first frame since fork and its start-and-quit, in the pty."""
        o = self.o
        paint: list[float] = []
        wall: list[float] = []
        result = work / "empty-app.json"
        env = installed_env({k: v for k, v in os.environ.items() if not k.startswith("BTCONSOLE_")})
        env.update(TERM="xterm-256color", COLUMNS=str(PTY_SIZE[1]), LINES=str(PTY_SIZE[0]))
        for n in range(o.warmup + o.runs):
            result.unlink(missing_ok=True)
            forked = time.monotonic()
            elapsed, status, _cpu = run_in_pty([sys.executable, "-c", EMPTY_APP, str(result)], env)
            if not result.exists():
                raise RuntimeError(f"the empty app wrote no {result.name} (exit {status})")
            painted = float(_read_json(result)["painted_at"]) - forked
            self.log(
                f"empty app{' (warm-up)' if n < o.warmup else ''}: paint {painted:.3f} s, "
                f"process {elapsed:.3f} s"
            )
            if n >= o.warmup:
                paint.append(painted)
                wall.append(elapsed)
        self.raw["empty_app"] = [
            {"paint_s": p, "wall_s": w} for p, w in zip(paint, wall, strict=True)
        ]
        return paint, wall

    def warm_start(self, work: Path, emu: Emulator) -> None:
        o = self.o
        floor_paint, floor_wall = self.empty_floor(work)
        paint: list[float] = []
        since_fork: list[float] = []
        wall: list[float] = []
        cpus: list[float] = []
        rss: list[float] = []
        runs: list[dict[str, Any]] = []
        bench_file = work / "first-paint.json"
        command = [*_btconsole_command(), "--config", str(emu.config), "--offline"]
        for n in range(o.warmup + o.runs):
            bench_file.unlink(missing_ok=True)
            env = installed_env(self.env(work, emu, BTCONSOLE_BENCH_FILE=str(bench_file)))
            forked = time.monotonic()
            elapsed, status, cpu = run_in_pty(command, env)
            if not bench_file.exists():
                raise RuntimeError(f"the console wrote no {bench_file.name} (exit {status})")
            figures = _read_json(bench_file)
            figures.update(wall_s=elapsed, exit=status, cpu_s=cpu, load=_load())
            figures["paint_since_fork_s"] = float(figures["painted_at"]) - forked
            self.log(
                f"warm start{' (warm-up)' if n < o.warmup else ''}: paint "
                f"{figures['paint_since_fork_s']:.3f} s since fork "
                f"({figures['first_paint_s']:.3f} s since import), process {elapsed:.3f} s, "
                f"{figures['rows']} rows, azure imported: {figures['azure_imported']}"
            )
            if n < o.warmup:
                continue
            runs.append(figures)
            paint.append(float(figures["first_paint_s"]))
            since_fork.append(figures["paint_since_fork_s"])
            wall.append(elapsed)
            cpus.append(figures["cpu_s"])
            rss.append(figures["max_rss_kb"] / MB)
        self.raw["warm_start"] = runs
        section = f"1. Warm start, {self.o.size} estate cached"
        empty_paint = statistics.median(floor_paint)
        empty_wall = statistics.median(floor_wall)
        self.figures += [
            Figure(
                "empty_paint",
                section,
                "floor: empty Textual app (one Static), first frame since fork, same pty",
                "s",
                floor_paint,
            ),
            Figure(
                "empty_quit",
                section,
                "floor: empty Textual app, start-and-quit, whole process",
                "s",
                floor_wall,
            ),
            Figure(
                "first_paint_fork",
                section,
                "(a) first painted frame since fork",
                "s",
                since_fork,
            ),
            Figure(
                "first_paint_ratio",
                section,
                "(a) first painted frame / the empty app's (its median, same run)",
                "x",
                [p / empty_paint for p in since_fork],
                "<= 1.6x",
                1.6,
            ),
            Figure(
                "first_paint",
                section,
                "(a) first painted frame, in-app (since btconsole import)",
                "s",
                paint,
            ),
            Figure(
                "start_quit_wall",
                section,
                "(b) start-and-quit, whole process in a pty",
                "s",
                wall,
            ),
            Figure(
                "start_quit_ratio",
                section,
                "(b) start-and-quit / the empty app's (its median, same run)",
                "x",
                [w / empty_wall for w in wall],
                "<= 1.3x",
                1.3,
            ),
            Figure(
                "start_quit_cpu",
                section,
                "(b) CPU time of that process (user + system)",
                "s",
                cpus,
            ),
        ]
        self.figures.append(
            Figure(
                "overview_rss",
                f"4. Memory, {self.o.size} estate in the console",
                "peak RSS at the first painted overview",
                "MB",
                rss,
                "<= 200 MB",
                200.0,
            )
        )

    def check(self, work: Path, emu: Emulator) -> None:
        o = self.o
        walls: list[float] = []
        runs: list[dict[str, Any]] = []
        command = [*_btconsole_command(), "check", "--config", str(emu.config)]
        command += ["--offline", "--all"]
        for n in range(o.warmup + o.runs):
            before = _children_cpu()
            started = time.perf_counter()
            done = subprocess.run(
                command,
                env=installed_env(self.env(work, emu)),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            elapsed = time.perf_counter() - started
            cpu = _children_cpu() - before
            if done.returncode not in (0, 1, 2, 3):
                raise RuntimeError(f"btconsole check failed ({done.returncode}): {done.stderr}")
            self.log(f"check --offline --all: {elapsed:.3f} s (exit {done.returncode})")
            if n >= o.warmup:
                walls.append(elapsed)
                runs.append(
                    {
                        "wall_s": elapsed,
                        "cpu_s": cpu,
                        "exit": done.returncode,
                        "report_chars": len(done.stdout),
                    }
                )
        self.raw["check"] = runs
        cpu_figure = Figure(
            "check_cpu",
            f"1. Warm start, {self.o.size} estate cached",
            "(c) CPU time of that process (user + system)",
            "s",
            [r["cpu_s"] for r in runs],
        )
        # insert after the warm-start rows of section 1
        index = next(i for i, f in enumerate(self.figures) if f.key == "start_quit_cpu") + 1
        self.figures.insert(
            index,
            Figure(
                "check_offline",
                f"1. Warm start, {self.o.size} estate cached",
                "(c) btconsole check --offline --all, whole process",
                "s",
                walls,
                "<= 0.3 s",
                0.3,
            ),
        )
        self.figures.insert(index + 1, cpu_figure)

    # ------------------------------------------------------------------ 4. memory, Arc pane

    def arc_pane(self, work: Path, emu: Emulator) -> None:
        o = self.o
        runs: list[dict[str, Any]] = []
        for n in range(o.warmup + o.runs):
            result = _run_child(
                ["_arc_pane", "--config", str(emu.config)],
                installed_env(self.env(work, emu)),
                work / "arc-pane.json",
            )
            self.log(
                f"arc pane: {result['rows']} rows in {result['switch_s']:.3f} s, "
                f"peak RSS {result['max_rss_kb'] / MB:.0f} MB"
            )
            if n >= o.warmup:
                runs.append(result)
        self.raw["arc_pane"] = runs
        self.figures += [
            Figure(
                "arc_rss",
                f"4. Memory, {self.o.size} estate in the console",
                "peak RSS after switching to the Arc pane (headless console, 200x50)",
                "MB",
                [r["max_rss_kb"] / MB for r in runs],
                "<= 200 MB",
                200.0,
                note=f"{runs[0]['rows']:,} rows" if runs else "",
            ),
            Figure(
                "arc_switch",
                f"4. Memory, {self.o.size} estate in the console",
                "time to the filled Arc pane after pressing 2",
                "s",
                [r["switch_s"] for r in runs],
                "<= 0.3 s",
                0.3,
            ),
            Figure(
                "arc_filter_frame",
                f"4. Memory, {self.o.size} estate in the console",
                "filter keystroke on that pane -> the frame showing it (key event to driver)",
                "ms",
                [ms for r in runs for ms in r.get("filter_frame_ms", [])],
                "<= 20 ms",
                20.0,
            ),
        ]

    # ------------------------------------------------------------------ in-console refresh

    def console_refresh(self, work: Path, emu: Emulator) -> None:
        """The cold refresh inside the console, against the engine alone (same run)."""
        o = self.o
        runs: list[dict[str, Any]] = []
        for n in range(o.warmup + o.runs):
            cache = work / "console-cache" / "cache.sqlite3"
            for suffix in ("", "-wal", "-shm", ".lock"):
                cache.with_name(cache.name + suffix).unlink(missing_ok=True)
            emu.zero_stats()
            result = _run_child(
                [
                    "_console_refresh",
                    "--config",
                    str(emu.config),
                    "--cache",
                    str(cache),
                    "--log",
                    str(work / "console-refresh.log"),
                ],
                self.env(work, emu),
                work / "console-refresh.json",
            )
            result["requests"] = int(emu.stats().get("total", 0))
            keys = sorted(result["key_frame_ms"])
            p95 = keys[int(0.95 * (len(keys) - 1))] if keys else None
            result["key_frame_p95_ms"] = p95
            self.log(
                f"in-console refresh{' (warm-up)' if n < o.warmup else ''}: "
                f"{result['wall_s']:.2f} s, {result['requests']} requests, "
                f"{len(keys)} keys (p95 {p95 if p95 is None else round(p95, 1)} ms)"
            )
            if n >= o.warmup:
                runs.append(result)
        self.raw["console_refresh"] = runs
        engine = self.raw.get("cold_refresh", [])
        engine_wall = statistics.median([r["wall_s"] for r in engine]) if engine else None
        engine_cpu = (
            statistics.median([r["cpu_s"] for r in engine if "cpu_s" in r]) if engine else None
        )
        section = f"2b. Cold refresh inside the console, {self.o.size} estate"
        cpu = [r["console_cpu_s"] + (r["child_cpu_s"] or 0.0) for r in runs]
        self.figures += [
            Figure(
                "console_refresh_wall",
                section,
                "in-console cold refresh (console + its refresh process), wall",
                "s",
                [r["wall_s"] for r in runs],
            ),
            Figure(
                "console_refresh_cpu",
                section,
                "CPU of the console and its refresh process (user + system)",
                "s",
                cpu,
            ),
            Figure(
                "console_refresh_cpu_console",
                section,
                "of it, the console's own CPU",
                "s",
                [r["console_cpu_s"] for r in runs],
            ),
        ]
        if engine_wall:
            self.figures.append(
                Figure(
                    "console_refresh_wall_ratio",
                    section,
                    "wall / the engine alone's (its median, same run)",
                    "x",
                    [r["wall_s"] / engine_wall for r in runs],
                    "<= 1.2x",
                    1.2,
                )
            )
        if engine_cpu:
            self.figures.append(
                Figure(
                    "console_refresh_cpu_ratio",
                    section,
                    "CPU / the engine alone's (its median, same run)",
                    "x",
                    [c / engine_cpu for c in cpu],
                    "<= 1.3x",
                    1.3,
                )
            )
        self.figures += [
            Figure(
                "console_refresh_keys",
                section,
                f"key -> the frame showing it during the refresh (a key every {KEY_EVERY} s), "
                "95th percentile",
                "ms",
                [r["key_frame_p95_ms"] for r in runs if r["key_frame_p95_ms"] is not None],
                "<= 50 ms",
                50.0,
                note=f"{sum(len(r['key_frame_ms']) for r in runs)} keys, "
                f"{sum(r['keys_missed'] for r in runs)} whose row moved before its frame",
            ),
            Figure(
                "console_refresh_rss",
                section,
                "peak RSS of the console during the refresh",
                "MB",
                [r["max_rss_kb"] / MB for r in runs],
                "<= 200 MB",
                200.0,
            ),
            Figure(
                "console_refresh_child_rss",
                section,
                "peak RSS of its refresh process (SDK and engine, out of the console)",
                "MB",
                [r["child_rss_kb"] / MB for r in runs if r.get("child_rss_kb")],
            ),
        ]

    # ------------------------------------------------------------------ 3. table

    def table(self, work: Path) -> None:
        o = self.o
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTCONSOLE_")}
        result = _run_child(
            ["_table", "--rows", str(o.table_rows), "--runs", str(o.table_runs)],
            env,
            work / "table.json",
        )
        self.raw["table"] = result
        timings: dict[str, list[float]] = result["timings"]
        section = f"3. Table, {o.table_rows:,} rows (ResourceTable, 200x50)"
        labels = {
            "filter": "filter keystroke: set_filter + full repaint",
            "filter_frame": "filter keystroke -> frame, through Textual (key event to driver)",
            "page_down": "page-down + full repaint",
            "sort": "sort by a new column + full repaint",
            "set_rows": "load every row (set_rows)",
        }
        for key, label in labels.items():
            target = key in ("filter", "filter_frame", "page_down")
            self.figures.append(
                Figure(
                    f"table_{key}",
                    section,
                    label,
                    "ms",
                    list(timings.get(key, [])),
                    "<= 16 ms" if target else "",
                    16.0 if target else None,
                )
            )
        self.log("table: " + ", ".join(f"{k} {_stats(v)}" for k, v in timings.items()))

    # ------------------------------------------------------------------ output

    def results(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "figures": [f.as_json() for f in self.figures],
            "raw": self.raw,
        }


# --------------------------------------------------------------------------- the report


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "x":
        return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"
    return f"{value:,.0f}"


def _verdict(figure: Figure) -> str:
    met = figure.met
    if met is None:
        return ""
    median = figure.median
    assert median is not None and figure.limit is not None
    if met:
        return "met"
    if figure.unit == "x" and not figure.higher_is_better:
        return f"**missed** ({median / figure.limit:.1f}x the target)"
    if figure.higher_is_better:
        return f"**missed** ({figure.limit / median:.1f}x short)" if median else "**missed**"
    return (
        f"**missed** by {_fmt(median - figure.limit, figure.unit)} ({median / figure.limit:.1f}x)"
    )


def render_markdown(results: Mapping[str, Any], analysis: str | None) -> str:
    meta = results["meta"]
    figures = sorted(
        (Figure(**_figure_fields(f)) for f in results["figures"]), key=lambda f: f.section[:2]
    )
    lines = [
        "# Performance",
        "",
        "Measured by the benchmark harness (`btconsole/bench.py`); this page down to the"
        " analysis is written by it. Reproduce with:",
        "",
        "```console",
        "$ make bench          # = .venv/bin/python -m btconsole.bench [--runs N] ...",
        "```",
        "",
        f"This run: `{meta['command']}`.",
        "",
        f"Measured {meta['started_at']} – {meta.get('finished_at', '?')} on "
        f"{meta['cpus']} CPUs ({meta['platform']}, Python {meta['python']}), commit "
        f"`{meta.get('git_commit')}`; {meta['size']} estate (seed {meta['seed']}); "
        f"{meta['runs']} runs after {meta['warmup']} warm-up per figure, baseline "
        f"{meta['baseline_runs']} run(s); emulator in a child process with "
        f"{meta['latency_ms']} ms latency injected on every ARM request; engine at its "
        f"default `refresh_concurrency` ({meta.get('refresh_concurrency', '?')}).",
        "",
        "Load average (1, 5, 15 min) — the machine is shared: before "
        + ", ".join(
            f"{label} {' / '.join(f'{x:.2f}' for x in meta[key])}"
            for label, key in (
                ("start", "load_before"),
                ("after the refresh runs", "load_after_refresh"),
                ("end", "load_after"),
            )
            if key in meta
        )
        + ".",
        "",
    ]
    if meta.get("quick"):
        lines += [
            "**Quick mode** (`--quick`): small estate, one run, no warm-up. These numbers"
            " only show that the harness works; they are not the product's figures.",
            "",
        ]
    section = None
    for figure in figures:
        if figure.section != section:
            section = figure.section
            lines += [
                "",
                f"### {section}",
                "",
                "| figure | target | median | min | max | runs | verdict |",
                "|---|---|---|---|---|---|---|",
            ]
        values = figure.values
        label = figure.label + (f" ({figure.note})" if figure.note else "")
        lines.append(
            f"| {label} | {figure.target or '—'} | {_fmt(figure.median, figure.unit)} | "
            f"{_fmt(min(values) if values else None, figure.unit)} | "
            f"{_fmt(max(values) if values else None, figure.unit)} | {len(values)} | "
            f"{_verdict(figure)} |"
        )
    missed = [f for f in figures if f.met is False]
    lines += ["", "## Targets missed", ""]
    if missed:
        lines += [f"- {f.label}: median {_fmt(f.median, f.unit)}, {_verdict(f)}" for f in missed]
    else:
        lines.append("None.")
    lines += ["", "Raw timings of every run: [bench-results.json](bench-results.json).", ""]
    lines += [ANALYSIS_MARKER, ""]
    lines.append(analysis.strip() + "\n" if analysis else "## Analysis\n\n(not written yet)\n")
    return "\n".join(lines)


def _figure_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    names = (
        "key",
        "section",
        "label",
        "unit",
        "values",
        "target",
        "limit",
        "higher_is_better",
        "note",
    )
    return {name: data[name] for name in names if name in data}


def existing_analysis(path: Path) -> str | None:
    """The hand-written analysis below the marker of an existing report, if any."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    _, marker, rest = text.partition(ANALYSIS_MARKER)
    return rest.strip() or None if marker else None


def write_outputs(results: Mapping[str, Any], output_dir: Path) -> tuple[Path, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    report = output_dir / "performance.md"
    raw = output_dir / "bench-results.json"
    raw.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    report.write_text(render_markdown(results, existing_analysis(report)), encoding="utf-8")
    return report, raw


# --------------------------------------------------------------------------- children


def _child_emulator(args: argparse.Namespace) -> int:
    from btconsole.emulator.faults import load_faults_file
    from btconsole.emulator.generate import generate
    from btconsole.emulator.serve import serve

    estate = generate(seed=args.seed, size=args.size, as_of=dt.date.fromisoformat(args.as_of))
    faults = load_faults_file(Path(args.faults))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(estate, faults=faults, write_config_path=Path(args.config)))
    return 0


SDK_MODULES = (
    "aiohttp",
    "azure.identity.aio",
    "azure.core.pipeline.transport",
)


def _import_sdk() -> float:
    from btconsole.azure.session import CLIENTS

    started = time.perf_counter()
    for name in SDK_MODULES:
        importlib.import_module(name)
    for module, _cls, _sub in CLIENTS.values():
        importlib.import_module(module)
    for wrapper in ("arc", "circuits", "policy", "spend", "subscriptions", "graph"):
        importlib.import_module(f"btconsole.azure.{wrapper}")
    return time.perf_counter() - started


async def _engine_refresh(config: Any, cache: Any, today: dt.date) -> dict[str, Any]:
    from btconsole.engine import Engine

    landed: dict[str, float] = {}  # profile -> when its last scope landed

    def listener(key: Any) -> None:
        landed[key.profile] = time.perf_counter()

    async with Engine(config, cache, today=lambda: today, listener=listener) as engine:
        started = time.perf_counter()
        outcomes = await engine.refresh_all()
        elapsed = time.perf_counter() - started
    # customers complete progressively, in the order given (Engine.refresh_all)
    done = sorted(at - started for at in landed.values())
    statuses: dict[str, int] = {}
    for outcome in outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    return {
        "wall_s": elapsed,
        "keys": len(outcomes),
        "records": sum(o.records for o in outcomes),
        "statuses": statuses,
        "failed": statuses.get("failed", 0),
        "errors": sorted({o.error for o in outcomes if o.error})[:5],
        "first_customer_s": done[0] if done else None,
        "half_customers_s": done[len(done) // 2] if done else None,
    }


async def _baseline_refresh(config: Any, today: dt.date) -> dict[str, Any]:
    """What a script does: for each subscription, the same wrapper calls one after another."""
    from btconsole.azure import spend
    from btconsole.azure.arc import list_arc
    from btconsole.azure.circuits import list_circuits
    from btconsole.azure.errors import AzureError
    from btconsole.azure.policy import summarize
    from btconsole.azure.session import AzureSession
    from btconsole.azure.subscriptions import list_subscriptions

    records = keys = failed = 0
    errors: set[str] = set()
    started = time.perf_counter()
    for profile in config.profiles.values():
        async with AzureSession(profile, config) as session:
            subscriptions = await list_subscriptions(session)
            for sub in subscriptions:
                sid = sub.subscription_id
                try:
                    records += len(await list_arc(session, sid))
                    records += len(await list_circuits(session, sid))
                    _compliance, assignments = await summarize(session, sid)
                    records += 1 + len(assignments)
                    records += len(await spend.daily_costs(session, sid, today))
                    await spend.month_forecast(session, sid, today)
                    records += 1 + len(await spend.budgets(session, sid))
                    keys += 4
                except AzureError as error:
                    failed += 1
                    errors.add(str(error))
    return {
        "wall_s": time.perf_counter() - started,
        "keys": keys,
        "records": records,
        "statuses": {},
        "failed": failed,
        "errors": sorted(errors)[:5],
    }


def _child_refresh(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from btconsole.cache import Cache
    from btconsole.config import load_config
    from btconsole.logs import setup_logging

    setup_logging(Path(args.log))  # as the CLI: a private file, BTCONSOLE_LOG_LEVEL, redacted
    import_s = _import_sdk()
    config = load_config(Path(args.config))
    if args.concurrency:
        config = replace(config, refresh_concurrency=args.concurrency)
    today = dt.date.fromisoformat(args.as_of)
    cache_path = Path(args.cache)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cpu_before = _self_cpu()
    with Cache.open(cache_path) as cache:
        if args.mode == "engine":
            result = asyncio.run(_engine_refresh(config, cache, today))
        else:
            result = asyncio.run(_baseline_refresh(config, today))
        cpu_after = _self_cpu()
        if args.mode == "engine":
            # what the console's overview and `btconsole check` do when data has landed:
            # make each customer's digest (btconsole.digest), which a warm start reads
            from btconsole.digest import Digester

            started = time.perf_counter()
            digester = Digester(config, cache, dt.datetime.now(dt.timezone.utc))
            digester.read(list(config.profiles))
            result.update(
                digests_s=time.perf_counter() - started,
                digests_cpu_s=_self_cpu() - cpu_after,
                digests_made=len(digester.recomputed),
            )
    result.update(
        cpu_s=cpu_after - cpu_before,
        mode=args.mode,
        import_s=import_s,
        concurrency=config.refresh_concurrency,
        profiles=len(config.profiles),
        max_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    )
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")
    return 0


GRAPH_API_VERSION = "2021-03-01"  # azure-mgmt-resourcegraph's, as the engine sends

# What `az rest --method post --url .../Microsoft.ResourceGraph/resources` does, minus
# az's own start-up: one client-credentials token from Entra, one POST. Run as
# `python -S -c STDLIB_GRAPH_POST ARGS_JSON`; prints the rows it got.
STDLIB_GRAPH_POST = """
import json, ssl, sys, urllib.parse, urllib.request
a = json.loads(sys.argv[1])
ctx = ssl.create_default_context(cafile=a["ca"])
form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": a["client_id"],
    "client_secret": a["secret"], "scope": a["scope"]}).encode()
with urllib.request.urlopen(urllib.request.Request(a["token_url"], data=form), context=ctx) as r:
    token = json.load(r)["access_token"]
options = {"resultFormat": "objectArray", "$top": 1000}  # every row in one page
body = json.dumps({"query": a["query"], "options": options}).encode()
request = urllib.request.Request(a["graph_url"], data=body, headers={
    "Authorization": "Bearer " + token, "Content-Type": "application/json"})
with urllib.request.urlopen(request, context=ctx) as r:
    print(len(json.load(r)["data"]))
"""


def _arc_query() -> str:
    from btconsole.azure.graph import ARC_QUERY

    return ARC_QUERY


async def _single_refresh(config: Any, cache: Any, profile: str) -> dict[str, Any]:
    from btconsole.engine import Engine

    async with Engine(config, cache) as engine:
        outcomes = await engine.refresh_domain(profile, "arc")
    return {
        "records": sum(o.records for o in outcomes),
        "failed": sum(o.status == "failed" for o in outcomes),
    }


def _child_single(args: argparse.Namespace) -> int:
    from btconsole.cache import Cache
    from btconsole.config import load_config
    from btconsole.logs import setup_logging

    setup_logging(Path(args.log))
    config = load_config(Path(args.config))
    cache_path = Path(args.cache)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with Cache.open(cache_path) as cache:
        result = asyncio.run(_single_refresh(config, cache, args.profile))
    if result["failed"]:
        raise RuntimeError(f"the single-customer refresh failed: {result}")
    result["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")
    return 0


ARC_FILTER_TEXT = "connected"  # typed key by key into the Arc pane's filter (matches many rows)


async def _arc_pane(config: Any, cache: Any) -> dict[str, Any]:
    from textual import events

    from btconsole.ui.app import BtConsoleApp
    from btconsole.ui.panes import PaneScreen

    class FrameApp(BtConsoleApp):
        """The console, noting each frame it hands the driver and the Arc filter then."""

        frames: list[tuple[float, str]]

        def _display(self, screen: Any, renderable: Any) -> None:
            # headless apps skip making terminal output: make it, as a terminal would
            super()._display(screen, renderable)
            if renderable is not None and hasattr(renderable, "render_segments"):
                renderable.render_segments(self.console)
                shown = screen.table.filter_text if isinstance(screen, PaneScreen) else ""
                self.frames.append((time.perf_counter(), shown))

    environ = {k: v for k, v in os.environ.items() if k != "BTCONSOLE_BENCH_FILE"}
    app = FrameApp(config, cache, offline=True, environ=environ)
    app.frames = []
    filter_ms: list[float] = []
    async with app.run_test(size=(PTY_SIZE[1], PTY_SIZE[0])) as pilot:
        await pilot.pause()
        started = time.perf_counter()
        await pilot.press("2")
        rows = 0
        for _ in range(3000):  # at most ~30 s
            screen = app.screen
            if isinstance(screen, PaneScreen) and screen.PANE == "arc":
                rows = screen.table.total_count
                if rows:
                    break
            await asyncio.sleep(0.01)
        await pilot.pause()
        elapsed = time.perf_counter() - started
        await pilot.press("slash")  # the filter line, focused
        await pilot.pause()
        for n in range(1, len(ARC_FILTER_TEXT) + 1):
            text, character = ARC_FILTER_TEXT[:n], ARC_FILTER_TEXT[n - 1]
            app.frames.clear()
            start = time.perf_counter()
            app.post_message(events.Key(character, character))
            frame = None
            for _ in range(2000):  # at most ~2 s
                await asyncio.sleep(0.001)
                frame = next((t for t, shown in app.frames if shown == text), None)
                if frame is not None:
                    break
            if frame is not None:
                filter_ms.append((frame - start) * 1000)
            await pilot.pause()
    return {"rows": rows, "switch_s": elapsed, "filter_frame_ms": filter_ms}


def _child_arc_pane(args: argparse.Namespace) -> int:
    from btconsole.cache import Cache
    from btconsole.config import load_config

    config = load_config(Path(args.config))
    with Cache.open(None, readonly=True) as cache:
        result = asyncio.run(_arc_pane(config, cache))
    result["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")
    return 0


def _child_table(args: argparse.Namespace) -> int:
    from btconsole.ui.table_bench import measure

    timings = measure(rows=args.rows, runs=args.runs)
    result = {
        "rows": args.rows,
        "runs": args.runs,
        "timings": {k: list(v) for k, v in timings.items()},
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")
    return 0


KEY_EVERY = 0.1  # seconds between the keys pressed during the in-console refresh


async def _console_refresh(config: Any, cache: Any) -> dict[str, Any]:
    """The console on an empty cache, refreshing through its refresh process, with a
    key (down, up, ...) every ``KEY_EVERY`` s until the refresh is done: each key's
    time to the frame that shows its cursor move, the console's CPU and peak RSS, and
    the refresh process's CPU and peak RSS (read from /proc before it ends)."""
    from textual import events

    from btconsole.refresher import RefreshProcess
    from btconsole.ui.app import BtConsoleApp
    from btconsole.ui.panes import PaneScreen

    class FrameApp(BtConsoleApp):
        """The console, telling when a frame shows the overview's cursor at a row."""

        wanted: tuple[int, asyncio.Event] | None = None

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            if renderable is not None and hasattr(renderable, "render_segments"):
                renderable.render_segments(self.console)  # as a terminal's driver would
                wanted = self.wanted
                if (
                    wanted is not None
                    and isinstance(screen, PaneScreen)
                    and screen.table.cursor_index == wanted[0]
                ):
                    wanted[1].set()

    environ = {k: v for k, v in os.environ.items() if k != "BTCONSOLE_BENCH_FILE"}
    app = FrameApp(config, cache, environ=environ)
    ended: list[float] = []
    refresh = app.data.refresh

    async def timed_refresh(*args: Any, **kwargs: Any) -> Any:
        try:
            return await refresh(*args, **kwargs)
        finally:
            ended.append(time.perf_counter())  # the refresh's outcomes are in

    app.data.refresh = timed_refresh  # type: ignore[method-assign]
    keys_ms: list[float] = []
    missed = 0
    cpu_before = _self_cpu()
    async with app.run_test(size=(PTY_SIZE[1], PTY_SIZE[0])) as pilot:
        deadline = time.monotonic() + 60
        while not app.data.refreshing:  # the first tick, right after the first frame
            if time.monotonic() > deadline:
                raise RuntimeError("the console never started its refresh")
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        refresher = app.data.refresher
        child_cpu: float | None = None
        child_rss_kb: float | None = None
        while app.data.refreshing:
            table = app.screen.table if isinstance(app.screen, PaneScreen) else None
            if table is not None and table.total_count > 1:
                # down, or up from the last row: the frame that shows the cursor there
                down = table.cursor_index < table.total_count - 1
                target = table.cursor_index + (1 if down else -1)
                event = asyncio.Event()
                app.wanted = (target, event)
                began = time.perf_counter()
                app.post_message(events.Key("down" if down else "up", None))
                try:
                    await asyncio.wait_for(event.wait(), 2.0)
                    keys_ms.append((time.perf_counter() - began) * 1000)
                except asyncio.TimeoutError:  # the rows moved under the cursor meanwhile
                    missed += 1
                app.wanted = None
            if isinstance(refresher, RefreshProcess) and refresher.running:
                pid = refresher._process.pid if refresher._process else None
                if pid is not None:
                    child_cpu = _process_cpu(pid) or child_cpu
                    child_rss_kb = _process_hwm_kb(pid) or child_rss_kb
            await asyncio.sleep(KEY_EVERY)
        wall = (ended[-1] if ended else time.perf_counter()) - started
        console_cpu = _self_cpu() - cpu_before
        await pilot.pause()
    return {
        "wall_s": wall,
        "console_cpu_s": console_cpu,
        "child_cpu_s": child_cpu,
        "child_rss_kb": child_rss_kb,
        "key_frame_ms": keys_ms,
        "keys_missed": missed,
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _process_hwm_kb(pid: int) -> float | None:
    """A running process's peak RSS (VmHWM, KiB) from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _child_console_refresh(args: argparse.Namespace) -> int:
    from btconsole.cache import Cache
    from btconsole.config import load_config
    from btconsole.logs import setup_logging

    setup_logging(Path(args.log))  # as the console: a private file, redacted
    config = load_config(Path(args.config))
    cache_path = Path(args.cache)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with Cache.open(cache_path) as cache:
        result = asyncio.run(_console_refresh(config, cache))
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")
    return 0


def _child_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m btconsole.bench (child)")
    sub = parser.add_subparsers(dest="child", required=True)
    emulator = sub.add_parser("_emulator")
    emulator.add_argument("--size", required=True)
    emulator.add_argument("--seed", type=int, default=1)
    emulator.add_argument("--as-of", required=True)
    emulator.add_argument("--faults", required=True)
    emulator.add_argument("--config", required=True)
    refresh = sub.add_parser("_refresh")
    refresh.add_argument("--mode", choices=("engine", "baseline"), required=True)
    refresh.add_argument("--config", required=True)
    refresh.add_argument("--cache", required=True)
    refresh.add_argument("--as-of", required=True)
    refresh.add_argument("--concurrency", type=int)
    refresh.add_argument("--log", required=True)
    refresh.add_argument("--result", required=True)
    single = sub.add_parser("_single")
    single.add_argument("--config", required=True)
    single.add_argument("--cache", required=True)
    single.add_argument("--profile", required=True)
    single.add_argument("--log", required=True)
    single.add_argument("--result", required=True)
    arc = sub.add_parser("_arc_pane")
    arc.add_argument("--config", required=True)
    arc.add_argument("--result", required=True)
    console = sub.add_parser("_console_refresh")
    console.add_argument("--config", required=True)
    console.add_argument("--cache", required=True)
    console.add_argument("--log", required=True)
    console.add_argument("--result", required=True)
    table = sub.add_parser("_table")
    table.add_argument("--rows", type=int, required=True)
    table.add_argument("--runs", type=int, required=True)
    table.add_argument("--result", required=True)
    return parser


CHILDREN: dict[str, Callable[[argparse.Namespace], int]] = {
    "_emulator": _child_emulator,
    "_refresh": _child_refresh,
    "_single": _child_single,
    "_arc_pane": _child_arc_pane,
    "_console_refresh": _child_console_refresh,
    "_table": _child_table,
}


# --------------------------------------------------------------------------- entry point


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m btconsole.bench",
        description="Measure warm start, cold refresh, table and memory figures against "
        "the emulator and write docs/performance.md and docs/bench-results.json.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small estate, 1 run, no warm-up, 5,000-row table (checks the harness works)",
    )
    parser.add_argument("--runs", type=_positive, help="measured runs per figure (default 5)")
    parser.add_argument(
        "--baseline-runs",
        type=_count,
        help="runs of the slow sequential baseline (default 1; 0 skips it)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("docs"),
        help="where performance.md and bench-results.json go (default docs)",
    )
    parser.add_argument(
        "--work-dir", type=Path, help="keep the emulator config, cache and results here"
    )
    parser.add_argument(
        "--only",
        choices=("refresh", "single"),
        help="measure just the cold refresh, or just the cold single-customer answer",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        help="refresh_concurrency for the cold refresh (default: the config default)",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: rewrite performance.md from the bench-results.json in "
        "--output-dir (after a change to the report's layout or analysis)",
    )
    return parser


def options_from(args: argparse.Namespace) -> Options:
    if args.quick:
        options = Options(
            quick=True,
            runs=1,
            warmup=0,
            baseline_runs=1,
            table_rows=5_000,
            table_runs=5,
            size="small",
        )
    else:
        options = Options()
    if args.runs is not None:
        options.runs = args.runs
    if args.baseline_runs is not None:
        options.baseline_runs = args.baseline_runs
    options.output_dir = args.output_dir
    options.work_dir = args.work_dir
    options.only = args.only
    options.concurrency = args.concurrency
    return options


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in CHILDREN:
        child = _child_parser().parse_args(argv)
        return CHILDREN[child.child](child)
    args = build_parser().parse_args(argv)
    options = options_from(args)
    if args.render_only:
        results = _read_json(options.output_dir / "bench-results.json")
        report, _ = write_outputs(results, options.output_dir)
        print(f"wrote {report}")
        return 0
    harness = Harness(options)
    harness.run()
    results = harness.results()
    results["meta"]["command"] = " ".join(
        ["python -m btconsole.bench", *(shlex.quote(a) for a in argv)]
    )
    report, raw = write_outputs(results, options.output_dir)
    print(render_markdown(results, None).split(ANALYSIS_MARKER)[0].rstrip())
    print(f"\nwrote {report} and {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
