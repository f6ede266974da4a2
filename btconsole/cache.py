"""The on-disk cache: the single path to data for the UI, ``check`` and ``export``.

One SQLite file (``platformdirs.user_cache_path("btconsole") / "cache.sqlite3"`` unless
a path is given) holds one row per :class:`CacheKey` -- (profile, domain, scope) -- with
the records as JSON of :func:`~btconsole.records.records_to_plain` (reshaped into
columns and zlib-compressed: four times faster to read back, see ``docs/cache.md``),
the fetch time, the TTL, and the last refresh error with its time, the count of
consecutive failures and the time before which the refresh engine should not try again.

Stale-while-revalidate: a reader always gets what is cached at once, as an
:class:`Entry` that knows its age and whether it is stale; a failed refresh
(:meth:`Cache.put_error`) records the error and keeps the old records.

One refresh per key at a time across processes: :meth:`Cache.claim` takes a lease (a row
in the ``leases`` table, taken in one atomic statement, expiring so that a crashed
holder cannot block forever); a process that does not get it calls
:meth:`Cache.wait_for_update`, which polls ``PRAGMA data_version`` (a cheap in-memory
check) and reads the row only when another connection has committed.

Durability: WAL journal, ``synchronous=NORMAL``, every put one transaction
(:meth:`Cache.put_many` one transaction for a batch). A process killed at any point
loses nothing it committed and leaves a file that opens. ``NORMAL`` (rather than
``FULL``) only risks the last few commits on a power cut or OS crash, never the file's
integrity; the cache is refetchable, and ``FULL`` would cost an fsync per scope.

Safety: the file carries an ``application_id`` and a schema version
(``PRAGMA user_version``). A foreign SQLite file, another schema version, or a file
that is not SQLite or is corrupt is renamed ``cache.sqlite3.broken-<UTC time>`` (with
its ``-wal``/``-shm``), a new cache is built, and a warning is added to
:attr:`Cache.warnings` and logged -- never fatal. Opening and setting aside are
serialised between processes by ``flock`` on ``.cache.sqlite3.lock`` beside the file.
Files are 0600 in a 0700 directory.

This module imports neither Textual nor any Azure SDK.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import json
import logging
import os
import socket
import sqlite3
import stat
import threading
import time
import types
import typing
import uuid
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from btconsole.errors import EXIT_UNAVAILABLE, BtConsoleError
from btconsole.fsutil import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE
from btconsole.logs import redact
from btconsole.records import RECORD_TYPES, from_plain, records_from_plain, to_plain

try:  # POSIX; elsewhere opening is not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

APP_NAME = "btconsole"
CACHE_FILENAME = "cache.sqlite3"
APPLICATION_ID = 0x42544331  # "BTC1"
SCHEMA_VERSION = 2  # 2: entries.error_kind
SIDE_SUFFIXES = ("-wal", "-shm")
BUSY_TIMEOUT_MS = 5000
MAX_ERROR_CHARS = 2000
SQLITE_MAGIC = b"SQLite format 3\x00"

# Blob encodings (the ``encoding`` column), so a later version can change its mind.
# All are JSON of ``records_to_plain``: as is, or reshaped into columns (see _to_columns),
# and maybe zlib-compressed. docs/cache.md has the measurements behind the default.
ENCODING_JSON = 0
ENCODING_ZLIB_JSON = 1
ENCODING_COLUMNS = 2
ENCODING_ZLIB_COLUMNS = 3
ENCODINGS = (ENCODING_JSON, ENCODING_ZLIB_JSON, ENCODING_COLUMNS, ENCODING_ZLIB_COLUMNS)
DEFAULT_ENCODING = ENCODING_ZLIB_COLUMNS
ZLIB_LEVEL = 1

DOMAINS = ("subscriptions", "arc", "circuits", "policy", "spend")
# Derived from the domains above by btconsole.digest; not data about freshness, so
# left out of summary(). PATCHES_DOMAIN: the Arc pane's patch figures, made with the digest.
DIGEST_DOMAIN = "digest"
PATCHES_DOMAIN = "patches"
DERIVED_DOMAINS = (DIGEST_DOMAIN, PATCHES_DOMAIN)

_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

_SCHEMA = """
CREATE TABLE entries (
    profile TEXT NOT NULL,
    domain TEXT NOT NULL,
    scope TEXT NOT NULL,
    encoding INTEGER NOT NULL DEFAULT 0,
    record_count INTEGER NOT NULL DEFAULT 0,
    fetched_at REAL,
    ttl REAL NOT NULL DEFAULT 0,
    error TEXT,
    error_at REAL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    error_kind TEXT,  -- the error's reason class (btconsole.errors.REASONS)
    payload BLOB,  -- last: reading the small columns never walks its overflow pages
    PRIMARY KEY (profile, domain, scope)
);
CREATE INDEX entries_by_domain ON entries (domain, profile, scope);
CREATE TABLE leases (
    profile TEXT NOT NULL,
    domain TEXT NOT NULL,
    scope TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (profile, domain, scope)
) WITHOUT ROWID;
"""
_TABLES = frozenset({"entries", "leases"})

# Entry rows, always these columns in this order (see ``Cache._entry``).
_GET_SQL = (
    "SELECT profile, domain, scope, payload, encoding, fetched_at, ttl, error, error_at, "
    "failures, next_attempt_at, error_kind "
    "FROM entries WHERE profile=? AND domain=? AND scope=?"
)
_READ_SQL = (
    "SELECT profile, domain, scope, payload, encoding, fetched_at, ttl, error, error_at, "
    "failures, next_attempt_at, error_kind "
    "FROM entries WHERE profile=? AND domain=? ORDER BY scope"
)
# The same rows without their records: for "is it stale?" questions, which must not
# decode (for the huge estate, decoding a domain costs a good part of a second).
_PEEK_SQL = _GET_SQL.replace("payload,", "NULL,", 1)
_PEEK_READ_SQL = _READ_SQL.replace("payload,", "NULL,", 1)
_PEEK_EACH = 8  # above this many profiles, a peek reads the domain's rows in one query

_DOMAIN_SQL = (
    "SELECT profile, domain, scope, payload, encoding, fetched_at, ttl, error, error_at, "
    "failures, next_attempt_at, error_kind "
    "FROM entries WHERE domain=? ORDER BY profile, scope"
)

_PEEK_DOMAIN_SQL = _DOMAIN_SQL.replace("payload,", "NULL,", 1)

T = TypeVar("T")
_TYPE_KEY = "__record__"  # as in btconsole.records


class CacheError(BtConsoleError):
    """The cache cannot be used (disk full, locked for too long, directory not ours)."""

    title = "Cache error"
    exit_code = EXIT_UNAVAILABLE


class CacheReadOnlyError(CacheError):
    """A write was asked of a cache opened read-only."""

    title = "Cache is read-only"


@dataclass(frozen=True, order=True)
class CacheKey:
    """What one cache row is about: a domain of a profile, for one scope.

    ``scope`` is a subscription id for the listing domains, or a detail key such as
    ``"<circuit id>|AzurePrivatePeering|primary"`` for on-demand detail domains.
    """

    profile: str
    domain: str
    scope: str

    def __str__(self) -> str:
        return f"{self.profile}/{self.domain}/{self.scope}"


@dataclass(frozen=True)
class Entry:
    """One cached row: the records and what is known about their freshness.

    ``fetched_at`` is ``None`` when the key has never been fetched successfully (it
    may still carry an error). Times are epoch seconds (``time.time()``).
    """

    key: CacheKey
    records: tuple[Any, ...]
    fetched_at: float | None
    ttl: float
    error: str | None = None
    error_at: float | None = None
    failures: int = 0
    next_attempt_at: float | None = None
    # the reason class of ``error`` (btconsole.errors.REASONS)
    error_kind: str | None = None

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last successful fetch, or ``None`` if there was none."""
        if self.fetched_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.fetched_at)

    def is_stale(self, now: float | None = None) -> bool:
        """True when never fetched or older than its TTL."""
        age = self.age(now)
        return age is None or age > self.ttl

    @property
    def last_result_at(self) -> float | None:
        """When the last refresh ended, well or badly: the later of fetch and error."""
        times = [t for t in (self.fetched_at, self.error_at) if t is not None]
        return max(times) if times else None

    def in_backoff(self, now: float | None = None) -> bool:
        """True while the engine asked not to retry yet (``next_attempt_at`` in the future)."""
        if self.next_attempt_at is None:
            return False
        return (time.time() if now is None else now) < self.next_attempt_at


@dataclass(frozen=True)
class DomainSummary:
    """Counts for one profile and domain, for the status bar and ``doctor``."""

    profile: str
    domain: str
    scopes: int
    records: int
    oldest_fetch: float | None
    newest_fetch: float | None
    never_fetched: int
    errors: int
    stale: int


def default_cache_path() -> Path:
    """The cache file in the platform's user cache directory."""
    from platformdirs import user_cache_path

    return user_cache_path(APP_NAME) / CACHE_FILENAME


def default_owner() -> str:
    """A lease owner id unique to this process: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_alive(owner: str) -> bool | None:
    """Whether the process that took a lease as ``owner`` still runs.

    ``False`` only when it surely does not: the id is of :func:`default_owner`'s form,
    names this host, and no process (or only a zombie, killed but not yet reaped) has
    that pid. ``True`` for a live process, ``None`` when it cannot be known here
    (another host, another form of id, not POSIX). A pid reused by an unrelated
    process reads as alive: its lease is then waited out, never stolen.
    """
    host, _, rest = owner.partition(":")
    pid_text, sep, _ = rest.partition(":")
    if not sep or host != socket.gethostname() or not pid_text.isdigit() or os.name != "posix":
        return None
    pid = int(pid_text)
    if pid <= 0:
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    try:  # Linux: a zombie still answers kill(0)
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    fields = state.rpartition(")")[2].split()
    return not (fields and fields[0] in ("Z", "X"))


# --------------------------------------------------------------------------- blobs


def encode_records(records: Iterable[Any], encoding: int = DEFAULT_ENCODING) -> bytes:
    """Records as a stored blob in ``encoding`` (see :data:`ENCODINGS`).

    Raises:
        ValueError: unknown encoding.
    """
    plain = [_plain(record) for record in records]
    if encoding in (ENCODING_COLUMNS, ENCODING_ZLIB_COLUMNS):
        payload: Any = _to_columns(plain)
    elif encoding in (ENCODING_JSON, ENCODING_ZLIB_JSON):
        payload = plain
    else:
        raise ValueError(f"unknown cache blob encoding {encoding}")
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if encoding in (ENCODING_ZLIB_JSON, ENCODING_ZLIB_COLUMNS):
        return zlib.compress(data, ZLIB_LEVEL)
    return data


_PLAIN_FIELDS: dict[type[Any], tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """``records.to_plain(value)``, the same output, faster for a cold refresh: a type's
    field names are looked up once and scalar fields skip the recursion (the generic
    walk was 15% of a refresh's CPU: is_dataclass and fields() for every record)."""
    cls = type(value)
    names = _PLAIN_FIELDS.get(cls)
    if names is None:
        if cls is tuple:
            return [_plain(item) for item in value]
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            return to_plain(value)
        names = tuple(item.name for item in dataclasses.fields(value))
        _PLAIN_FIELDS[cls] = names
    data: dict[str, Any] = {_TYPE_KEY: cls.__name__}
    for name in names:
        item = getattr(value, name)
        kind = type(item)
        if kind in _SIMPLE_TYPES:
            data[name] = item
        elif kind is tuple:
            data[name] = [x if type(x) in _SIMPLE_TYPES else _plain(x) for x in item]
        else:
            data[name] = _plain(item)
    return data


def decode_records(blob: bytes | None, encoding: int) -> tuple[Any, ...]:
    """Records back from a stored blob; the same objects ``records_from_plain`` gives.

    Raises:
        ValueError: unknown encoding, bad compression or JSON, or unknown records.
    """
    if blob is None:
        return ()
    if encoding in (ENCODING_ZLIB_JSON, ENCODING_ZLIB_COLUMNS):
        try:
            blob = zlib.decompress(blob)
        except zlib.error as exc:
            raise ValueError(f"bad compressed blob: {exc}") from None
    elif encoding not in (ENCODING_JSON, ENCODING_COLUMNS):
        raise ValueError(f"unknown cache blob encoding {encoding}")
    data = json.loads(blob)
    if not isinstance(data, list):
        raise ValueError("cached blob is not a list")
    if encoding in (ENCODING_COLUMNS, ENCODING_ZLIB_COLUMNS):
        return _from_columns(data)
    return tuple(records_from_plain(data))


def _to_columns(plain: list[Any]) -> list[dict[str, Any]]:
    """``records_to_plain`` output as runs of one record type, column by column.

    Each run is ``{"t": type name, "n": rows, "f": [field names], "c": [columns]}``;
    a column is the list of its ``n`` plain values, or ``{"k": value}`` when all ``n``
    are the same scalar (a profile, a subscription id, a currency). Record order is kept.
    """
    runs: list[tuple[str, list[str], list[dict[str, Any]]]] = []
    for item in plain:
        name = item[_TYPE_KEY]
        if not runs or runs[-1][0] != name or len(item) - 1 != len(runs[-1][1]):
            runs.append((name, [key for key in item if key != _TYPE_KEY], []))
        runs[-1][2].append(item)
    out: list[dict[str, Any]] = []
    for name, names, items in runs:
        columns: list[Any] = []
        for field_name in names:
            values = [item[field_name] for item in items]
            first = values[0]
            kind = type(first)
            # Only scalars fold: 1 == 1.0 inside a list would lose a type.
            if kind in _SIMPLE_TYPES and all(
                type(value) is kind and value == first for value in values
            ):
                columns.append({"k": first})
            else:
                columns.append(values)
        out.append({"t": name, "n": len(items), "f": names, "c": columns})
    return out


@dataclass(frozen=True)
class _Plan:
    """How to rebuild one record type from columns: a converter per field, if needed."""

    cls: type[Any]
    converters: tuple[Callable[[Any], Any] | None, ...]
    fast: bool  # a plain frozen dataclass: fill __dict__ instead of calling __init__


_PLANS: dict[tuple[str, tuple[str, ...]], _Plan | None] = {}
_SIMPLE_TYPES = (str, int, float, bool, type(None))


def _plan(type_name: str, names: tuple[str, ...]) -> _Plan | None:
    """The plan for a run, or ``None`` when the stored fields no longer match the class
    (another btconsole version): the caller then goes through ``records_from_plain``."""
    key = (type_name, names)
    if key in _PLANS:
        return _PLANS[key]
    cls = RECORD_TYPES.get(type_name)
    plan = None
    if cls is not None and dataclasses.is_dataclass(cls):
        fields = dataclasses.fields(cls)
        if tuple(item.name for item in fields) == names and all(item.init for item in fields):
            hints = typing.get_type_hints(cls)
            converters = tuple(_converter(hints[name]) for name in names)
            fast = not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__")
            plan = _Plan(cls, converters, fast)
    _PLANS[key] = plan
    return plan


def _is_simple(hint: Any) -> bool:
    """True for a hint whose plain values are the values (str, int, float, bool, None)."""
    if hint in _SIMPLE_TYPES:
        return True
    if typing.get_origin(hint) is typing.Literal:
        return all(type(arg) in _SIMPLE_TYPES for arg in typing.get_args(hint))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return all(_is_simple(arg) for arg in typing.get_args(hint))
    return False


def _converter(hint: Any) -> Callable[[Any], Any] | None:
    """How to turn a field's plain value back into its record value (``None``: as is).

    Equivalent to :func:`_thaw` for values of the hinted type, only faster for the
    common shapes: ``tuple[str, ...]`` and tags (``tuple[tuple[str, str], ...]``).
    """
    if _is_simple(hint):
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        others = [arg for arg in args if arg is not type(None)]
        inner = _converter(others[0]) if len(others) == 1 else _thaw
        if inner is None:
            return None
        return lambda value: None if value is None else inner(value)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        if _is_simple(item):
            return tuple
        item_args = typing.get_args(item)
        if (
            typing.get_origin(item) is tuple
            and Ellipsis not in item_args
            and all(_is_simple(arg) for arg in item_args)
        ):
            return _tuple_of_tuples
    return _thaw


def _tuple_of_tuples(value: Any) -> tuple[tuple[Any, ...], ...]:
    return tuple(map(tuple, value))


def _thaw(value: Any) -> Any:
    """A plain value back to its record form: lists to tuples, tagged dicts to records."""
    if isinstance(value, list):
        return tuple(_thaw(item) for item in value)
    if isinstance(value, dict) and _TYPE_KEY in value:
        return from_plain(value)
    return value


def _from_columns(runs: list[Any]) -> tuple[Any, ...]:
    """Records back from :func:`_to_columns` output.

    Raises:
        ValueError: a malformed run or an unknown record.
    """
    out: list[Any] = []
    new = object.__new__
    for run in runs:
        try:
            type_name, count, names, columns = run["t"], run["n"], tuple(run["f"]), run["c"]
        except (KeyError, TypeError):
            raise ValueError("malformed cached run") from None
        if len(columns) != len(names):
            raise ValueError("malformed cached run")
        plan = _plan(type_name, names)
        expanded: list[Any] = []
        for index, column in enumerate(columns):
            convert = None if plan is None else plan.converters[index]
            if isinstance(column, dict):
                value = column.get("k")
                if convert is not None:
                    value = convert(value)
                expanded.append(itertools.repeat(value, count))
            elif len(column) != count:
                raise ValueError("malformed cached column")
            else:
                expanded.append(column if convert is None else list(map(convert, column)))
        rows = zip(*expanded, strict=True) if expanded else itertools.repeat((), count)
        if plan is None:
            plain = [{_TYPE_KEY: type_name, **dict(zip(names, row, strict=True))} for row in rows]
            out.extend(records_from_plain(plain))
        elif plan.fast:
            # What __init__ would do for a frozen dataclass of plain fields, without
            # a frozen __setattr__ per field: about 30% faster on 100,000 rows.
            cls, append = plan.cls, out.append
            for row in rows:
                obj = new(cls)
                obj.__dict__.update(zip(names, row))  # noqa: B905 - lengths checked above
                append(obj)
        else:
            out.extend(plan.cls(*row) for row in rows)
    return tuple(out)


def error_kind(error: str | BaseException) -> str:
    """The reason class of ``error``: its own for a project error, ``internal`` for any
    other exception (a bug), ``service`` for a bare message."""
    if isinstance(error, BtConsoleError):
        return error.reason
    return "internal" if isinstance(error, BaseException) else "service"


def _error_text(error: str | BaseException) -> str:
    if isinstance(error, BaseException):
        text = str(error) or type(error).__name__
        if not isinstance(error, BtConsoleError) and str(error):
            text = f"{type(error).__name__}: {text}"
    else:
        text = error
    text = redact(text)
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """True for "corrupt" / "not a database", not for "locked", "full" and the like."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (if it runs) for the block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


# --------------------------------------------------------------------------- files


def _make_private_dir(path: Path) -> list[str]:
    """Create ``path`` 0700 (or fix it); return warnings for a directory we cannot fix.

    A directory owned by someone else, or a shared sticky one such as ``/tmp``, is left
    alone (with a warning): the cache's own files are still 0600.

    Raises:
        CacheError: the directory cannot be created.
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        info = path.stat()
    except OSError as exc:
        raise CacheError(f"cannot create the cache directory {path}: {exc}") from exc
    mode = stat.S_IMODE(info.st_mode)
    if mode == PRIVATE_DIR_MODE or os.name != "posix":  # Windows: ACLs, not modes
        return []
    shared = bool(mode & stat.S_ISVTX) or info.st_uid != os.geteuid()
    if shared:
        return [f"cache directory {path} is shared (mode {mode:o}); leaving its mode alone"]
    try:
        path.chmod(PRIVATE_DIR_MODE)
    except OSError as exc:
        return [f"cannot make cache directory {path} private: {exc}"]
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR_MODE:
        return [f"cache directory {path} is still not 0700"]
    log.info("made cache directory %s private (was %o)", path, mode)
    return []


def _make_private_files(path: Path) -> None:
    """Make the database and its -wal/-shm 0600 where they exist and are more open."""
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_SUFFIXES)):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
            if mode != PRIVATE_FILE_MODE:
                candidate.chmod(PRIVATE_FILE_MODE)
        except FileNotFoundError:
            continue


def _create_private_file(path: Path) -> None:
    """Create an empty 0600 file at ``path`` if none is there."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


@contextlib.contextmanager
def _open_lock(path: Path) -> Iterator[None]:
    """Serialise opening (and setting aside) between processes with ``flock``."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def set_aside(path: Path) -> Path:
    """Rename ``path`` (and its -wal/-shm) to ``<name>.broken-<UTC time>``; return it."""
    base = path.with_name(f"{path.name}.broken-{_utc_stamp()}")
    target = base
    n = 1
    while target.exists():
        target = base.with_name(f"{base.name}-{n}")
        n += 1
    if path.exists():
        path.replace(target)
    for suffix in SIDE_SUFFIXES:
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.replace(Path(f"{target}{suffix}"))
    return target


def _probe(conn: sqlite3.Connection, path: Path) -> str | None:
    """Why the opened file is not a usable cache, or ``None`` if it is ours or empty.

    Raises:
        sqlite3.DatabaseError: the file is not SQLite or is corrupt.
    """
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if app_id == 0 and version == 0 and not tables:
        return None  # empty: a new cache
    if app_id != APPLICATION_ID:
        return f"{path} is another application's SQLite file (application_id {app_id:#x})"
    if version != SCHEMA_VERSION:
        return f"{path} has cache schema version {version}, this btconsole uses {SCHEMA_VERSION}"
    if not tables >= _TABLES:
        return f"{path} lacks cache tables ({', '.join(sorted(_TABLES - tables))})"
    return None


def _header_problem(path: Path) -> str | None:
    """A reason if the file's first bytes are not SQLite's (an empty file is fine)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return None
    if head and head != SQLITE_MAGIC:
        return f"{path} is not a SQLite database"
    return None


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        target,
        uri=uri,
        isolation_level=None,  # autocommit; writes use explicit BEGIN IMMEDIATE
        check_same_thread=False,  # guarded by Cache._lock
        timeout=BUSY_TIMEOUT_MS / 1000,
    )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def _init_schema(conn: sqlite3.Connection) -> None:
    """Create the tables and stamp the ids in an empty database (one transaction)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table'").fetchone():
        return  # built already: no write lock needed
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:  # another process may have built it meanwhile
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _memory_cache() -> sqlite3.Connection:
    conn = _connect(":memory:")
    _init_schema(conn)
    return conn


# --------------------------------------------------------------------------- the cache


HOLDER_CHECK_SECONDS = 1.0  # how often a waiter asks whether the holder still lives


class _UpdateWatch:
    """One waiter's state in :meth:`Cache.wait_for_update`: each :meth:`look` is a
    cheap poll that says whether the wait is over, and with which entry."""

    def __init__(self, cache: Cache, key: CacheKey, since: float | None) -> None:
        self.cache, self.key, self.since = cache, key, since
        self.seen_version: int | None = None
        self.lease_expires: float | None = None
        self.lease_gone = False
        self.next_holder_check = 0.0

    def look(self) -> tuple[bool, Entry | None]:
        """``(True, entry)`` when a result came, ``(True, None)`` when no live holder
        remains, ``(False, None)`` to keep waiting."""
        cache, key = self.cache, self.key
        version = cache._data_version()
        clock = time.monotonic()
        if not (
            version != self.seen_version
            or self.lease_gone
            or (self.lease_expires is not None and time.time() >= self.lease_expires)
            or clock >= self.next_holder_check
        ):
            return False, None
        self.seen_version = version
        self.next_holder_check = clock + HOLDER_CHECK_SECONDS
        if cache._result_time(key, self.since):
            entry = cache.get(key)
            if entry is not None:
                return True, entry
        lease = cache.lease(key)
        if lease is not None and holder_alive(lease[0]) is False:
            log.info("lease on %s: its holder %s is gone; not waiting for it", key, lease[0])
            return True, None
        if lease is None:
            if self.lease_gone:
                return True, None
            # One more look after a poll interval: a holder that releases just
            # before it stores is not taken for one that gave up.
            self.lease_gone = True
        else:
            self.lease_gone = False
            self.lease_expires = lease[1]
        return False, None


class Cache:
    """The cache file: read entries, put records or errors, lease refreshes.

    Open with :meth:`open`; use as a context manager or call :meth:`close`. One
    instance may be shared by threads (calls are serialised); each process opens its
    own. Every method may raise :class:`CacheError` when SQLite fails for a reason
    other than corruption (which is repaired by setting the file aside).
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        """Prefer :meth:`open`.

        Raises:
            CacheError: the directory cannot be created or the file cannot be opened.
        """
        self.path = path
        self.readonly = readonly
        self.warnings: list[str] = []
        self.encoding = DEFAULT_ENCODING  # how new blobs are written; reads take any
        self._lock = threading.RLock()
        self._inode: int | None = None
        self._conn: sqlite3.Connection = self._open()

    @classmethod
    def open(cls, path: Path | None = None, *, readonly: bool = False) -> Cache:
        """Open (creating or repairing as needed) the cache at ``path`` or the default.

        ``readonly`` never writes: a missing, foreign or broken file is left as it is
        and the cache reads as empty, with a warning.

        Raises:
            CacheError: the directory cannot be created or the file cannot be opened.
        """
        return cls(default_cache_path() if path is None else path, readonly=readonly)

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.close()

    # ------------------------------------------------------------------ opening

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s", message)

    def _open(self) -> sqlite3.Connection:
        if self.readonly:
            try:
                return self._open_readonly()
            except OSError as exc:  # a directory or an unreadable file in its place
                raise CacheError(f"cannot open the cache {self.path}: {exc}") from exc
        for warning in _make_private_dir(self.path.parent):
            self._warn(warning)
        try:
            with _open_lock(self.path):
                return self._open_locked()
        except OSError as exc:
            raise CacheError(f"cannot open the cache {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise CacheError(f"cannot open the cache {self.path}: {exc}") from exc

    def _open_locked(self) -> sqlite3.Connection:
        problem = _header_problem(self.path)
        if problem is None:
            _make_private_files(self.path)
            _create_private_file(self.path)
            conn = _connect(str(self.path))
            try:
                problem = _probe(conn, self.path)
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    conn.close()
                    raise
                problem = f"{self.path} is corrupt ({exc})"
            if problem is None:
                try:
                    self._configure(conn)
                    return conn
                except sqlite3.DatabaseError as exc:
                    if not _is_corruption(exc):
                        conn.close()
                        raise
                    problem = f"{self.path} is corrupt ({exc})"
            conn.close()
        self._set_aside(problem)
        _create_private_file(self.path)
        conn = _connect(str(self.path))
        self._configure(conn)
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            self._warn(f"cache {self.path} could not use WAL (journal mode {mode})")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA journal_size_limit=67108864")
        _init_schema(conn)
        _make_private_files(self.path)
        self._inode = self.path.stat().st_ino

    def _set_aside(self, problem: str) -> None:
        target = set_aside(self.path)
        self._warn(f"{problem}; set aside as {target.name} and started a new cache")

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.exists():
            self._warn(f"no cache at {self.path} yet (read-only: nothing to show)")
            return _memory_cache()
        problem = _header_problem(self.path)
        if problem is None:
            try:
                conn = _connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True)
            except sqlite3.Error as exc:
                raise CacheError(f"cannot open the cache {self.path}: {exc}") from exc
            try:
                problem = _probe(conn, self.path)
                if (
                    problem is None
                    and not conn.execute(
                        "SELECT 1 FROM sqlite_master WHERE name='entries'"
                    ).fetchone()
                ):
                    problem = f"{self.path} is an empty file"
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    conn.close()
                    raise CacheError(f"cannot read the cache {self.path}: {exc}") from exc
                problem = f"{self.path} is corrupt ({exc})"
            if problem is None:
                return conn
            conn.close()
        self._warn(f"{problem}; read-only, so it is left as it is and reads as empty")
        return _memory_cache()

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """Replace a connection that met corruption with a fresh cache."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        if self.readonly:
            self._warn(f"{self.path} is corrupt ({exc}); read-only, so it now reads as empty")
            self._conn = _memory_cache()
            return
        try:
            with _open_lock(self.path):
                try:
                    same = self.path.stat().st_ino == self._inode
                except FileNotFoundError:
                    same = False
                if same:  # nobody else has replaced it yet
                    self._set_aside(f"{self.path} is corrupt ({exc})")
                self._conn = self._open_locked()
        except (OSError, sqlite3.Error) as err:
            raise CacheError(f"cannot rebuild the cache {self.path}: {err}") from err

    def _run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` on the connection; on corruption rebuild the file and run it again.

        Raises:
            CacheError: SQLite failed for any other reason (locked, full, I/O).
        """
        with self._lock:
            try:
                return op(self._conn)
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise CacheError(f"cache {self.path}: {exc}") from exc
                self._recover(exc)
            try:
                return op(self._conn)
            except sqlite3.Error as exc:
                raise CacheError(f"cache {self.path}: {exc}") from exc

    def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in one write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``).

        Raises:
            CacheReadOnlyError: the cache was opened read-only.
            CacheError: as :meth:`_run`.
        """
        if self.readonly:
            raise CacheReadOnlyError(f"the cache {self.path} is open read-only")

        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = op(conn)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            return result

        return self._run(transaction)

    # ------------------------------------------------------------------ reading

    def _entry(self, row: Sequence[Any]) -> Entry:
        (profile, domain, scope, payload, encoding, fetched_at, ttl, error, error_at) = row[:9]
        failures, next_attempt_at, error_kind = row[9], row[10], row[11]
        key = CacheKey(profile, domain, scope)
        try:
            records = decode_records(payload, encoding)
        except (ValueError, TypeError) as exc:
            # Records from another btconsole version: treat as never fetched.
            log.warning("cache %s: cannot read cached records (%s); refetch needed", key, exc)
            records, fetched_at = (), None
        return Entry(
            key=key,
            records=records,
            fetched_at=fetched_at,
            ttl=ttl,
            error=error,
            error_at=error_at,
            failures=failures,
            next_attempt_at=next_attempt_at,
            error_kind=error_kind if error is not None else None,
        )

    def _entries(self, rows: Iterable[Sequence[Any]]) -> list[Entry]:
        # Decoding makes many small objects and no garbage cycles: pausing the cyclic
        # GC meanwhile halves the time for 100,000 records (docs/cache.md).
        with _gc_paused():
            return [self._entry(row) for row in rows]

    def get(self, key: CacheKey) -> Entry | None:
        """The entry for ``key``, or ``None`` if nothing was ever stored for it."""
        rows = self._run(
            lambda conn: conn.execute(
                _GET_SQL,
                (key.profile, key.domain, key.scope),
            ).fetchall()
        )
        return self._entry(rows[0]) if rows else None

    def peek(self, key: CacheKey) -> Entry | None:
        """Like :meth:`get` but without the records (``records == ()``): freshness only."""
        rows = self._run(
            lambda conn: conn.execute(_PEEK_SQL, (key.profile, key.domain, key.scope)).fetchall()
        )
        return self._entry(rows[0]) if rows else None

    def peek_domain(self, domain: str, profiles: Iterable[str]) -> list[Entry]:
        """Entries of ``domain`` for ``profiles`` without their records: freshness only."""

        wanted = sorted(set(profiles))

        def query(conn: sqlite3.Connection) -> list[Any]:
            if len(wanted) > _PEEK_EACH:  # many customers: one scan of the domain
                keep = set(wanted)
                rows = conn.execute(_PEEK_DOMAIN_SQL, (domain,)).fetchall()
                return [row for row in rows if row[0] in keep]
            rows = []
            for profile in wanted:
                rows.extend(conn.execute(_PEEK_READ_SQL, (profile, domain)).fetchall())
            return rows

        return [self._entry(row) for row in self._run(query)]

    def read(self, profile: str, domain: str, scope: str | None = None) -> list[Entry]:
        """Entries of one profile and domain (every scope, or just ``scope``), by scope."""
        if scope is not None:
            entry = self.get(CacheKey(profile, domain, scope))
            return [] if entry is None else [entry]
        rows = self._run(
            lambda conn: conn.execute(
                _READ_SQL,
                (profile, domain),
            ).fetchall()
        )
        return self._entries(rows)

    def read_domain(self, domain: str, profiles: Iterable[str] | None = None) -> list[Entry]:
        """Entries of ``domain`` for every profile (or those in ``profiles``).

        Ordered by profile, then scope; one indexed read, so it is the fast way to
        paint a pane for every customer at once.
        """
        wanted = None if profiles is None else sorted(set(profiles))
        if wanted is not None and not wanted:
            return []

        def query(conn: sqlite3.Connection) -> list[Any]:
            if wanted is None:
                return conn.execute(_DOMAIN_SQL, (domain,)).fetchall()
            rows: list[Any] = []
            for profile in wanted:  # one indexed range scan each; as fast as one IN (...)
                rows.extend(conn.execute(_READ_SQL, (profile, domain)).fetchall())
            return rows

        return self._entries(self._run(query))

    def scopes(self, profile: str, domain: str) -> list[str]:
        """The scopes stored for a profile and domain (no records decoded)."""
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT scope FROM entries WHERE profile=? AND domain=? ORDER BY scope",
                (profile, domain),
            ).fetchall()
        )
        return [row[0] for row in rows]

    def summary(self, now: float | None = None) -> list[DomainSummary]:
        """Per profile and domain: scopes, records, oldest/newest fetch, errors, stale."""
        at = time.time() if now is None else now
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT profile, domain, COUNT(*), COALESCE(SUM(record_count), 0), "
                "MIN(fetched_at), MAX(fetched_at), SUM(fetched_at IS NULL), "
                "SUM(error IS NOT NULL), SUM(fetched_at IS NULL OR ? - fetched_at > ttl) "
                "FROM entries WHERE domain NOT IN (?, ?) "
                "GROUP BY profile, domain ORDER BY profile, domain",
                (at, *DERIVED_DOMAINS),
            ).fetchall()
        )
        return [DomainSummary(*row) for row in rows]

    # ------------------------------------------------------------------ writing

    def _put_sql(
        self,
        conn: sqlite3.Connection,
        key: CacheKey,
        blob: bytes,
        count: int,
        ttl: float,
        at: float,
    ) -> None:
        conn.execute(
            "INSERT INTO entries (profile, domain, scope, payload, encoding, record_count, "
            "fetched_at, ttl, error, error_at, failures, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, NULL) "
            "ON CONFLICT (profile, domain, scope) DO UPDATE SET payload=excluded.payload, "
            "encoding=excluded.encoding, record_count=excluded.record_count, "
            "fetched_at=excluded.fetched_at, ttl=excluded.ttl, error=NULL, error_at=NULL, "
            "failures=0, next_attempt_at=NULL, error_kind=NULL",
            (key.profile, key.domain, key.scope, blob, self.encoding, count, at, ttl),
        )

    def put(
        self, key: CacheKey, records: Iterable[Any], *, ttl: float, now: float | None = None
    ) -> None:
        """Store a successful fetch: replace the records, clear the error and backoff.

        One transaction. Raises :class:`CacheReadOnlyError` on a read-only cache.
        """
        self.put_many([(key, records)], ttl=ttl, now=now)

    def put_many(
        self,
        items: Iterable[tuple[CacheKey, Iterable[Any]]],
        *,
        ttl: float,
        now: float | None = None,
    ) -> None:
        """Store several successful fetches in one transaction (all or none).

        Raises :class:`CacheReadOnlyError` on a read-only cache.
        """
        at = time.time() if now is None else now
        encoded = []
        for key, records in items:
            batch = tuple(records)
            encoded.append((key, encode_records(batch, self.encoding), len(batch)))

        def op(conn: sqlite3.Connection) -> None:
            for key, blob, count in encoded:
                self._put_sql(conn, key, blob, count, ttl, at)

        self._write(op)

    def put_error(
        self,
        key: CacheKey,
        error: str | BaseException,
        *,
        next_attempt_at: float | None = None,
        ttl: float = 0.0,
        now: float | None = None,
        kind: str | None = None,
    ) -> int:
        """Record a failed refresh; keep the records. Return the consecutive failures.

        The message goes through :func:`~btconsole.logs.redact` (and is capped), so no
        token or secret reaches the file. ``ttl`` is used only for a key never stored.
        Raises :class:`CacheReadOnlyError` on a read-only cache.
        """
        at = time.time() if now is None else now
        text = _error_text(error)
        if kind is None:
            kind = error_kind(error)

        def op(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO entries (profile, domain, scope, ttl, error, error_at, failures, "
                "next_attempt_at, error_kind) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) "
                "ON CONFLICT (profile, domain, scope) DO UPDATE SET error=excluded.error, "
                "error_at=excluded.error_at, failures=entries.failures + 1, "
                "next_attempt_at=excluded.next_attempt_at, error_kind=excluded.error_kind",
                (key.profile, key.domain, key.scope, ttl, text, at, next_attempt_at, kind),
            )
            row = conn.execute(
                "SELECT failures FROM entries WHERE profile=? AND domain=? AND scope=?",
                (key.profile, key.domain, key.scope),
            ).fetchone()
            return int(row[0])

        return self._write(op)

    def set_next_attempt(self, key: CacheKey, when: float | None) -> None:
        """Set (or clear, with ``None``) the time before which not to refresh ``key``."""
        self._write(
            lambda conn: conn.execute(
                "UPDATE entries SET next_attempt_at=? WHERE profile=? AND domain=? AND scope=?",
                (when, key.profile, key.domain, key.scope),
            )
        )

    def delete_scopes(self, profile: str, domain: str, keep: Collection[str]) -> int:
        """Drop the scopes of a profile and domain not in ``keep``; return how many.

        For scopes that vanished (a subscription that went away). One transaction.
        """
        keep_set = set(keep)

        def op(conn: sqlite3.Connection) -> int:
            scopes = [
                row[0]
                for row in conn.execute(
                    "SELECT scope FROM entries WHERE profile=? AND domain=?", (profile, domain)
                )
            ]
            gone = [(profile, domain, scope) for scope in scopes if scope not in keep_set]
            conn.executemany("DELETE FROM entries WHERE profile=? AND domain=? AND scope=?", gone)
            return len(gone)

        return self._write(op)

    def delete_profile(self, profile: str) -> int:
        """Drop every entry and lease of a profile (one removed from the config)."""

        def op(conn: sqlite3.Connection) -> int:
            count = conn.execute("DELETE FROM entries WHERE profile=?", (profile,)).rowcount
            conn.execute("DELETE FROM leases WHERE profile=?", (profile,))
            return int(count)

        return self._write(op)

    # ------------------------------------------------------------------ leases

    def claim(
        self, key: CacheKey, owner: str, lease_seconds: float, *, now: float | None = None
    ) -> bool:
        """Take (or renew) the refresh lease on ``key`` for ``lease_seconds``.

        True if ``owner`` now holds it: it was free, expired, already ``owner``'s, or
        held by a process of this host that is gone (killed, crashed: see
        :func:`holder_alive`), which is taken over at once rather than waited out. A
        holder on another host, or with an owner id not of :func:`default_owner`'s
        form, is waited out until its lease expires.

        One write transaction, so of two processes claiming at once exactly one wins.
        Raises :class:`CacheReadOnlyError` on a read-only cache.
        """
        at = time.time() if now is None else now
        until = at + lease_seconds
        where = (key.profile, key.domain, key.scope)

        def op(conn: sqlite3.Connection) -> bool:
            taken = conn.execute(
                "INSERT INTO leases (profile, domain, scope, owner, expires_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (profile, domain, scope) DO UPDATE SET "
                "owner=excluded.owner, expires_at=excluded.expires_at "
                "WHERE leases.owner=excluded.owner OR leases.expires_at <= ?",
                (*where, owner, until, at),
            ).rowcount
            if taken == 1:
                return True
            row = conn.execute(
                "SELECT owner FROM leases WHERE profile=? AND domain=? AND scope=?", where
            ).fetchone()
            if row is None or holder_alive(str(row[0])) is not False:
                return False
            log.info("lease on %s: its holder %s is gone; taking it over", key, row[0])
            return bool(
                conn.execute(
                    "UPDATE leases SET owner=?, expires_at=? "
                    "WHERE profile=? AND domain=? AND scope=? AND owner=?",
                    (owner, until, *where, row[0]),
                ).rowcount
                == 1
            )

        return self._write(op)

    def release(self, key: CacheKey, owner: str) -> None:
        """Give up ``owner``'s lease on ``key`` (nothing happens if another holds it)."""
        self._write(
            lambda conn: conn.execute(
                "DELETE FROM leases WHERE profile=? AND domain=? AND scope=? AND owner=?",
                (key.profile, key.domain, key.scope, owner),
            )
        )

    def lease(self, key: CacheKey, *, now: float | None = None) -> tuple[str, float] | None:
        """The live lease on ``key`` as (owner, expires_at), or ``None``."""
        at = time.time() if now is None else now
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT owner, expires_at FROM leases "
                "WHERE profile=? AND domain=? AND scope=? AND expires_at > ?",
                (key.profile, key.domain, key.scope, at),
            ).fetchall()
        )
        return (str(rows[0][0]), float(rows[0][1])) if rows else None

    def leases(self) -> list[tuple[CacheKey, str, float]]:
        """Every lease row, live or expired, as (key, owner, expires_at), by key."""
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT profile, domain, scope, owner, expires_at FROM leases "
                "ORDER BY profile, domain, scope"
            ).fetchall()
        )
        return [(CacheKey(p, d, s), str(o), float(e)) for p, d, s, o, e in rows]

    def _result_time(self, key: CacheKey, since: float | None) -> bool:
        """True if ``key`` has a result (records or error) newer than ``since``."""
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT fetched_at, error_at FROM entries WHERE profile=? AND domain=? AND scope=?",
                (key.profile, key.domain, key.scope),
            ).fetchall()
        )
        if not rows:
            return False
        times = [t for t in rows[0] if t is not None]
        return bool(times) and (since is None or max(times) > since)

    def _data_version(self) -> int:
        return int(self._run(lambda conn: conn.execute("PRAGMA data_version").fetchone()[0]))

    def wait_for_update(
        self, key: CacheKey, since: float | None, timeout: float, *, interval: float = 0.05
    ) -> Entry | None:
        """Wait for another process to store a result (records or an error) for ``key``.

        Returns the entry as soon as its ``fetched_at`` or ``error_at`` is later than
        ``since`` (``None``: any result at all). Pass the time just before the failed
        :meth:`claim`, or the previous entry's :attr:`Entry.last_result_at` -- not its
        ``fetched_at`` alone, which an older error would already pass.

        Returns ``None`` when ``timeout`` seconds pass, or when no live lease remains on
        ``key`` and no new result came (the holder gave up, died, or its process on
        this host is gone): the caller may then :meth:`claim` the key itself. A holder
        should store its result before it releases (one extra poll interval is allowed
        for one that releases first).

        Polls ``PRAGMA data_version`` every ``interval`` seconds and reads the row
        only after some other connection committed, when the lease runs out, or every
        :data:`HOLDER_CHECK_SECONDS` to see whether the holder's process still lives.
        Blocks the calling thread: in a coroutine use :meth:`wait_for_update_async`,
        which a cancellation (a ``--timeout``, SIGTERM) ends at once.
        """
        watch = _UpdateWatch(self, key, since)
        deadline = time.monotonic() + timeout
        while True:
            done, entry = watch.look()
            if done:
                return entry
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(interval, remaining))

    async def wait_for_update_async(
        self, key: CacheKey, since: float | None, timeout: float, *, interval: float = 0.05
    ) -> Entry | None:
        """:meth:`wait_for_update` for a coroutine: it polls between ``asyncio.sleep``
        calls, so cancelling the awaiting task ends the wait at once (no thread is
        left behind to keep the process alive)."""
        import asyncio

        watch = _UpdateWatch(self, key, since)
        deadline = time.monotonic() + timeout
        while True:
            done, entry = watch.look()
            if done:
                return entry
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(interval, remaining))

    # ------------------------------------------------------------------ upkeep

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` ("ok" when all is well); for ``doctor`` and tests."""
        rows = self._run(lambda conn: conn.execute("PRAGMA integrity_check").fetchall())
        return "\n".join(str(row[0]) for row in rows)
