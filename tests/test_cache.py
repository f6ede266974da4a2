"""The SQLite cache: round trips, freshness, errors, leases, repair and permissions.

Also holds :func:`huge_estate` (realistic synthetic records at the "huge" estate size)
and a benchmark: ``.venv/bin/python -m tests.test_cache`` fills a cache and prints
``read_domain`` times per domain and blob encoding.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from btconsole import cache as cache_module
from btconsole.cache import (
    APPLICATION_ID,
    ENCODING_COLUMNS,
    ENCODING_JSON,
    ENCODING_ZLIB_COLUMNS,
    ENCODINGS,
    SCHEMA_VERSION,
    Cache,
    CacheError,
    CacheKey,
    CacheReadOnlyError,
    Entry,
    decode_records,
    encode_records,
)
from btconsole.errors import BtConsoleError
from btconsole.records import (
    RECORD_TYPES,
    ArcRecord,
    BudgetRecord,
    CircuitRecord,
    ComplianceRecord,
    CostRecord,
    DeviceAvailability,
    ForecastRecord,
    PeeringRecord,
    PolicyAssignmentRecord,
    PolicyStateRecord,
    SubscriptionRecord,
    records_from_plain,
    records_to_plain,
)

SUB = "99999999-8888-7777-6666-555555555555"
SUB2 = "11111111-2222-3333-4444-555555555555"
TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQifQ.c2lnbmF0dXJlXzEyMw"
)
SECRET = "Zx8Q~verySecretClientValue.42"


def sample_records(profile: str = "contoso", sub: str = SUB) -> list[Any]:
    """One (or more) record of every registered type, with nesting, None, unicode."""
    peering = PeeringRecord(
        "AzurePrivatePeering",
        "AzurePrivatePeering",
        "Enabled",
        12076,
        65001,
        100,
        "10.0.0.0/30",
        "10.0.0.4/30",
        "Succeeded",
    )
    circuit = CircuitRecord(
        profile=profile,
        id=f"/subscriptions/{sub}/resourceGroups/rg-net/providers/Microsoft.Network/"
        "expressRouteCircuits/er-lon",
        name="er-lon",
        subscription_id=sub,
        resource_group="rg-net",
        location="uksouth",
        provider="BT",
        peering_location="London",
        bandwidth_mbps=1000,
        sku_tier="Premium",
        sku_family="MeteredData",
        circuit_state="Enabled",
        provider_state="Provisioned",
        service_key=None,
        peerings=(peering, PeeringRecord("MicrosoftPeering", "MicrosoftPeering", "Disabled")),
        availability=(
            DeviceAvailability("AzurePrivatePeering", "primary", 100.0, 99.5),
            DeviceAvailability("AzurePrivatePeering", "secondary", None, 0.0),
        ),
        tags=(("customer", "Contoso Ltd — UK"), ("env", "prod")),
    )
    records: list[Any] = [
        SubscriptionRecord(profile, sub, "Contoso Production", "Enabled", SUB2),
        SubscriptionRecord(profile, SUB2, "Contoso Dev", "Disabled"),
        ArcRecord(
            profile,
            f"/subscriptions/{sub}/resourceGroups/rg/providers/"
            "Microsoft.HybridCompute/machines/srv-01",
            "srv-01",
            "machine",
            sub,
            "rg",
            "uksouth",
            "Disconnected",
            "2026-11-19T10:00:00Z",
            "1.45",
            "Ubuntu 22.04",
            "linux",
            "22.04",
            "srv-01.corp.example",
            None,
            None,
            ("E1", "E2"),
            ("agent down", "heartbeat lost ✗"),
            (("a", "1"), ("b", "")),
        ),
        ArcRecord(profile, "id-k8s", "aks-01", "cluster", sub, "rg", "uksouth", "Connected"),
        circuit,
        PolicyAssignmentRecord(profile, sub, "asg-1", "Require tags", 12, 2, ("d1", "d2")),
        ComplianceRecord(profile, sub, 90, 10, 100, 3),
        PolicyStateRecord(profile, sub, "res-1", "asg-1", "d1", "NonCompliant", None, "t", "l"),
        CostRecord(profile, sub, "2026-11-01", "Virtual Machines", "rg", 12.5, "GBP"),
        CostRecord(profile, sub, "2026-11-02", "Virtual Machines", "rg", 13.0, "GBP"),
        CostRecord(profile, sub, "2026-11-02", "Storage", "rg", 0.0, "EUR"),
        BudgetRecord(profile, sub, "budget", 5000.0, 1234.56, None, "GBP"),
        ForecastRecord(profile, sub, "2026-11", 1234.56, 4321.0, "GBP"),
    ]
    # Any record type added later gets an automatic sample, so "every type" stays true.
    have = {type(item).__name__ for item in records}
    records.extend(
        auto_record(cls) for name, cls in sorted(RECORD_TYPES.items()) if name not in have
    )
    assert {type(item).__name__ for item in records} == set(RECORD_TYPES)
    return records


def auto_value(hint: Any, name: str) -> Any:
    """A non-trivial value for a field hint (the first non-None choice of a union)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return args[-1]
    if origin in (typing.Union, types.UnionType):
        return auto_value(next(arg for arg in args if arg is not type(None)), name)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return (auto_value(args[0], name), auto_value(args[0], name + "2"))
        return tuple(auto_value(arg, f"{name}{i}") for i, arg in enumerate(args))
    if hint is str:
        return f"{name}-välue"
    if hint is bool:
        return True
    if hint is int:
        return 42
    if hint is float:
        return 2.5
    if dataclasses.is_dataclass(hint):
        return auto_record(hint)
    raise AssertionError(f"no sample for {hint!r}")


def auto_record(cls: Any) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: auto_value(hints[f.name], f.name) for f in dataclasses.fields(cls)})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cachedir" / "cache.sqlite3"


@pytest.fixture
def cache(path: Path) -> Any:
    with Cache.open(path) as opened:
        yield opened


KEY = CacheKey("contoso", "arc", SUB)


def mode_of(target: Path) -> int:
    return stat.S_IMODE(target.stat().st_mode)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_record_type_round_trips_in_every_encoding(path: Path, encoding: int) -> None:
    records = sample_records()
    with Cache.open(path) as cache:
        cache.encoding = encoding
        cache.put(KEY, records, ttl=300)
    with Cache.open(path) as cache:
        entry = cache.get(KEY)
    assert entry is not None
    assert entry.records == tuple(records)
    assert [type(item) for item in entry.records] == [type(item) for item in records]
    assert hash(entry.records) == hash(tuple(records))
    # The same objects the records module's own JSON round trip gives.
    again = records_from_plain(json.loads(json.dumps(records_to_plain(records))))
    assert list(entry.records) == again


def test_columns_keep_order_across_mixed_runs() -> None:
    records = sample_records()
    mixed = [records[8], records[0], records[9], records[8], records[4], records[4]]
    for encoding in ENCODINGS:
        assert decode_records(encode_records(mixed, encoding), encoding) == tuple(mixed)
    assert decode_records(encode_records([], ENCODING_COLUMNS), ENCODING_COLUMNS) == ()


def test_columns_fold_constant_values() -> None:
    costs = [
        CostRecord("p", SUB, f"2026-11-{d:02d}", "VM", "rg", float(d), "GBP") for d in range(1, 29)
    ]
    runs = json.loads(encode_records(costs, ENCODING_COLUMNS))
    assert len(runs) == 1
    columns = dict(zip(runs[0]["f"], runs[0]["c"], strict=True))
    assert columns["profile"] == {"k": "p"}
    assert columns["currency"] == {"k": "GBP"}
    assert len(columns["amount"]) == 28
    # Compressed columns are much smaller than plain JSON for repetitive rows.
    assert (
        len(encode_records(costs, ENCODING_ZLIB_COLUMNS))
        < len(encode_records(costs, ENCODING_JSON)) / 3
    )


def test_columns_from_another_version_go_through_records_from_plain() -> None:
    # A stored run that lacks an optional field (an older btconsole): still readable.
    run = {
        "t": "SubscriptionRecord",
        "n": 2,
        "f": ["profile", "subscription_id", "display_name", "state"],
        "c": [{"k": "p"}, ["a", "b"], ["A", "B"], {"k": "Enabled"}],
    }
    blob = json.dumps([run]).encode()
    assert decode_records(blob, ENCODING_COLUMNS) == (
        SubscriptionRecord("p", "a", "A", "Enabled"),
        SubscriptionRecord("p", "b", "B", "Enabled"),
    )


def test_unreadable_records_read_as_never_fetched(cache: Cache, path: Path) -> None:
    cache.put(KEY, sample_records()[:2], ttl=300, now=1000.0)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE entries SET payload=?, encoding=0", (b'[{"__record__": "Gone"}]',))
    conn.commit()
    conn.close()
    entry = cache.get(KEY)
    assert entry is not None
    assert entry.records == ()
    assert entry.fetched_at is None
    assert entry.is_stale(1001.0)


# --------------------------------------------------------------------------- freshness


def test_entry_age_and_staleness(cache: Cache) -> None:
    cache.put(KEY, sample_records()[:1], ttl=60, now=1000.0)
    entry = cache.get(KEY)
    assert entry is not None
    assert entry.fetched_at == 1000.0
    assert entry.ttl == 60
    assert entry.age(1030.0) == 30.0
    assert not entry.is_stale(1060.0)
    assert entry.is_stale(1060.5)
    assert entry.error is None and entry.failures == 0
    assert cache.get(CacheKey("contoso", "arc", "nope")) is None


def test_put_error_keeps_records_and_counts_failures(cache: Cache) -> None:
    records = sample_records()[:3]
    cache.put(KEY, records, ttl=60, now=1000.0)
    assert cache.put_error(KEY, "HTTP 503 from ARM", now=1100.0, next_attempt_at=1130.0) == 1
    assert cache.put_error(KEY, TimeoutError("timed out"), now=1130.0) == 2
    entry = cache.get(KEY)
    assert entry is not None
    assert entry.records == tuple(records)
    assert entry.fetched_at == 1000.0
    assert entry.error == "TimeoutError: timed out"
    assert entry.error_at == 1130.0
    assert entry.failures == 2
    assert entry.next_attempt_at is None
    assert entry.is_stale(1130.0)
    assert entry.last_result_at == 1130.0
    # A success clears the error and the backoff.
    cache.put(KEY, records[:1], ttl=60, now=1200.0)
    entry = cache.get(KEY)
    assert entry is not None
    assert (entry.error, entry.error_at, entry.failures, entry.next_attempt_at) == (
        None,
        None,
        0,
        None,
    )


def test_put_error_on_a_new_key_and_backoff(cache: Cache) -> None:
    cache.put_error(KEY, BtConsoleError("Access denied to subscription"), next_attempt_at=2000.0)
    entry = cache.get(KEY)
    assert entry is not None
    assert entry.records == ()
    assert entry.fetched_at is None
    assert entry.age() is None
    assert entry.is_stale()
    assert entry.error == "Access denied to subscription"
    assert entry.in_backoff(1999.0) and not entry.in_backoff(2000.0)
    cache.set_next_attempt(KEY, None)
    entry = cache.get(KEY)
    assert entry is not None and not entry.in_backoff(0.0)


def test_put_error_redacts_and_caps_the_message(cache: Cache) -> None:
    cache.put_error(KEY, "x" * 10_000)
    entry = cache.get(KEY)
    assert entry is not None and entry.error is not None
    assert len(entry.error) <= cache_module.MAX_ERROR_CHARS


def test_secrets_never_reach_the_cache_file(path: Path) -> None:
    with Cache.open(path) as cache:
        cache.put(KEY, sample_records()[:1], ttl=60)
        cache.put_error(
            KEY,
            f"401 calling ARM: Authorization: Bearer {TOKEN}; "
            f'body {{"client_secret": "{SECRET}"}}; password={SECRET}',
        )
        entry = cache.get(KEY)
        assert entry is not None and entry.error is not None
        assert "***" in entry.error
        raw = b"".join(
            Path(f"{path}{suffix}").read_bytes()
            for suffix in ("", "-wal")
            if Path(f"{path}{suffix}").exists()
        )
    for secret in (TOKEN, SECRET, TOKEN.split(".")[1]):
        assert secret.encode() not in raw
    assert b"401 calling ARM" in raw


# --------------------------------------------------------------------------- listing


def test_read_and_read_domain(cache: Cache) -> None:
    for profile in ("contoso", "fabrikam", "adatum"):
        for scope in (SUB2, SUB):
            cache.put(CacheKey(profile, "arc", scope), sample_records(profile, scope)[2:4], ttl=60)
        cache.put(CacheKey(profile, "spend", SUB), sample_records(profile)[8:], ttl=60)
    entries = cache.read("contoso", "arc")
    assert [entry.key.scope for entry in entries] == sorted([SUB, SUB2])
    assert [entry.key for entry in cache.read("contoso", "arc", SUB)] == [KEY]
    assert cache.read("contoso", "arc", "missing") == []
    every = cache.read_domain("arc")
    assert [(e.key.profile, e.key.scope) for e in every] == sorted(
        (p, s) for p in ("contoso", "fabrikam", "adatum") for s in (SUB, SUB2)
    )
    some = cache.read_domain("arc", ["fabrikam", "contoso", "nobody"])
    assert {e.key.profile for e in some} == {"contoso", "fabrikam"}
    assert cache.read_domain("arc", []) == []
    assert cache.read_domain("policy") == []
    assert cache.scopes("contoso", "arc") == sorted([SUB, SUB2])


def test_put_many_is_one_transaction(cache: Cache) -> None:
    good = [(CacheKey("p", "arc", f"s{i}"), sample_records()[2:3]) for i in range(3)]
    cache.put_many(good, ttl=60, now=5.0)
    assert len(cache.read("p", "arc")) == 3

    class Boom:
        """Not a record: fails while encoding, before anything is written."""

    with pytest.raises(TypeError):
        cache.put_many(
            [(CacheKey("p", "arc", "s9"), sample_records()[2:3]), (KEY, [Boom()])], ttl=1
        )
    assert cache.get(CacheKey("p", "arc", "s9")) is None
    # A failure inside the transaction (here a NULL scope) rolls the whole batch back.
    bad = CacheKey("p", "arc", None)  # type: ignore[arg-type]
    with pytest.raises(CacheError):
        cache.put_many([(CacheKey("p", "arc", "s8"), []), (bad, [])], ttl=1)
    assert cache.get(CacheKey("p", "arc", "s8")) is None
    assert len(cache.read("p", "arc")) == 3


def test_delete_scopes_and_profile(cache: Cache) -> None:
    for scope in ("a", "b", "c"):
        cache.put(CacheKey("p", "arc", scope), [], ttl=60)
    cache.put(CacheKey("p", "policy", "a"), [], ttl=60)
    cache.put(CacheKey("q", "arc", "a"), [], ttl=60)
    assert cache.delete_scopes("p", "arc", keep={"b"}) == 2
    assert cache.scopes("p", "arc") == ["b"]
    assert cache.scopes("p", "policy") == ["a"]
    assert cache.scopes("q", "arc") == ["a"]
    assert cache.delete_scopes("p", "arc", keep=set()) == 1
    assert cache.delete_profile("q") == 1
    assert cache.read_domain("arc") == []


def test_summary(cache: Cache) -> None:
    cache.put(CacheKey("p", "arc", "a"), sample_records()[2:4], ttl=100, now=1000.0)
    cache.put(CacheKey("p", "arc", "b"), sample_records()[2:3], ttl=100, now=1050.0)
    cache.put_error(CacheKey("p", "arc", "b"), "throttled", now=1060.0)
    cache.put_error(CacheKey("p", "arc", "c"), "forbidden", now=1060.0)
    cache.put(CacheKey("q", "spend", "a"), sample_records()[8:11], ttl=100, now=1000.0)
    summary = {(s.profile, s.domain): s for s in cache.summary(now=1120.0)}
    arc = summary[("p", "arc")]
    assert (arc.scopes, arc.records, arc.errors, arc.never_fetched) == (3, 3, 2, 1)
    assert (arc.oldest_fetch, arc.newest_fetch) == (1000.0, 1050.0)
    assert arc.stale == 2  # "a" is 120 s old with a 100 s TTL; "c" never fetched
    assert summary[("q", "spend")].records == 3


# --------------------------------------------------------------------------- leases


def test_claim_release_and_expiry(cache: Cache) -> None:
    assert cache.claim(KEY, "a", 30, now=100.0)
    assert not cache.claim(KEY, "b", 30, now=110.0)
    assert cache.lease(KEY, now=110.0) == ("a", 130.0)
    assert cache.claim(KEY, "a", 30, now=120.0)  # the holder renews
    assert cache.lease(KEY, now=120.0) == ("a", 150.0)
    cache.release(KEY, "b")  # not the holder: nothing happens
    assert not cache.claim(KEY, "b", 30, now=149.0)
    assert cache.claim(KEY, "b", 30, now=150.0)  # expired: a crashed holder cannot block
    assert cache.lease(KEY, now=150.0) == ("b", 180.0)
    cache.release(KEY, "b")
    assert cache.lease(KEY, now=150.0) is None
    assert cache.claim(KEY, "c", 30, now=151.0)
    other = CacheKey("contoso", "arc", SUB2)
    assert cache.claim(other, "d", 30, now=151.0)  # leases are per key


def test_one_cache_shared_by_threads(cache: Cache) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                cache.put(CacheKey("p", "arc", f"t{n}-{i:02d}"), sample_records()[2:3], ttl=60)
                cache.read_domain("arc")
                cache.claim(CacheKey("p", "arc", "shared"), f"thread-{n}", 30)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache.read("p", "arc")) == 80
    assert cache.integrity_check() == "ok"


def test_claim_with_two_connections_only_one_wins(path: Path) -> None:
    with Cache.open(path) as one, Cache.open(path) as two:
        assert one.claim(KEY, "one", 30)
        assert not two.claim(KEY, "two", 30)
        one.release(KEY, "one")
        assert two.claim(KEY, "two", 30)


def test_wait_for_update_sees_a_write_from_another_connection(path: Path) -> None:
    with Cache.open(path) as waiter, Cache.open(path) as holder:
        since = time.time() - 1
        assert holder.claim(KEY, "holder", 30)
        started = threading.Event()

        def refresh() -> None:
            started.wait(10)
            holder.put(KEY, sample_records()[2:3], ttl=60)
            holder.release(KEY, "holder")

        thread = threading.Thread(target=refresh)
        thread.start()
        started.set()
        entry = waiter.wait_for_update(KEY, since, timeout=10)
        thread.join()
    assert entry is not None
    assert entry.records == tuple(sample_records()[2:3])


def test_wait_for_update_allows_a_holder_that_releases_before_it_stores(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Cache.open(path) as waiter, Cache.open(path) as holder:
        assert holder.claim(KEY, "holder", 30)
        holder.release(KEY, "holder")  # released first ...
        real_lease = waiter.lease

        def lease_then_store(key: CacheKey, *, now: float | None = None) -> Any:
            found = real_lease(key, now=now)
            if found is None and holder.get(KEY) is None:
                holder.put(KEY, sample_records()[2:3], ttl=60)  # ... stored just after
            return found

        monkeypatch.setattr(waiter, "lease", lease_then_store)
        entry = waiter.wait_for_update(KEY, since=None, timeout=10, interval=0.01)
    assert entry is not None and len(entry.records) == 1


def test_wait_for_update_sees_an_error_too(cache: Cache) -> None:
    cache.claim(KEY, "h", 30)
    cache.put_error(KEY, "boom", now=500.0)
    entry = cache.wait_for_update(KEY, since=400.0, timeout=5)
    assert entry is not None and entry.error == "boom"


def test_wait_for_update_returns_none_without_a_holder_or_on_timeout(cache: Cache) -> None:
    cache.put(KEY, [], ttl=60, now=100.0)
    started = time.monotonic()
    assert cache.wait_for_update(KEY, since=200.0, timeout=30) is None  # nobody refreshing
    assert time.monotonic() - started < 5
    assert cache.claim(KEY, "holder", 60)
    started = time.monotonic()
    assert cache.wait_for_update(KEY, since=200.0, timeout=0.2, interval=0.02) is None
    assert 0.2 <= time.monotonic() - started < 5
    # An expired lease ends the wait early.
    cache.release(KEY, "holder")
    assert cache.claim(KEY, "holder", 0.3)
    started = time.monotonic()
    assert cache.wait_for_update(KEY, since=200.0, timeout=30, interval=0.02) is None
    assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- repair


def side_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.broken-*"))


def assert_works(cache: Cache) -> None:
    cache.put(KEY, sample_records()[2:3], ttl=60)
    entry = cache.get(KEY)
    assert entry is not None and entry.records == tuple(sample_records()[2:3])
    assert cache.integrity_check() == "ok"


def test_random_bytes_are_set_aside(path: Path) -> None:
    path.parent.mkdir(mode=0o700)
    junk = random.Random(7).randbytes(64 * 1024)
    path.write_bytes(junk)
    Path(f"{path}-wal").write_bytes(b"junk wal")
    with Cache.open(path) as cache:
        assert len(cache.warnings) == 1
        assert "not a SQLite database" in cache.warnings[0]
        assert "set aside" in cache.warnings[0]
        assert_works(cache)
    aside = side_files(path)
    names = sorted(p.name for p in aside)
    assert len(names) == 2 and names[1] == f"{names[0]}-wal"
    assert names[0].startswith("cache.sqlite3.broken-20") and names[0].endswith("Z")
    assert Path(path.parent / names[0]).read_bytes() == junk


def test_corrupt_file_with_sqlite_header_is_set_aside(path: Path) -> None:
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with Cache.open(path) as cache:
        assert cache.warnings and "set aside" in cache.warnings[0]
        assert_works(cache)
    assert side_files(path)


def test_foreign_sqlite_file_is_set_aside(path: Path) -> None:
    path.parent.mkdir(mode=0o700)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.execute("INSERT INTO moz_places (url) VALUES ('https://example.com')")
    conn.commit()
    conn.close()
    with Cache.open(path) as cache:
        assert len(cache.warnings) == 1
        assert "another application's SQLite file" in cache.warnings[0]
        assert_works(cache)
    (aside,) = side_files(path)
    kept = sqlite3.connect(aside)
    assert kept.execute("SELECT url FROM moz_places").fetchall() == [("https://example.com",)]
    kept.close()


def test_other_schema_version_is_set_aside(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Cache.open(path) as cache:
        cache.put(KEY, sample_records()[2:3], ttl=60)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with caplog.at_level("WARNING", logger="btconsole.cache"), Cache.open(path) as cache:
        assert len(cache.warnings) == 1
        assert f"schema version {SCHEMA_VERSION + 1}" in cache.warnings[0]
        assert cache.get(KEY) is None  # a new, empty cache
        assert_works(cache)
    assert cache.warnings[0] in caplog.text
    assert len(side_files(path)) >= 1


def test_a_good_cache_opens_without_warnings(path: Path) -> None:
    with Cache.open(path) as cache:
        assert_works(cache)
    with Cache.open(path) as cache:
        assert cache.warnings == []
        assert cache.get(KEY) is not None
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert side_files(path) == []


def test_corruption_found_while_reading_is_repaired(path: Path) -> None:
    with Cache.open(path) as cache:
        items = [
            (CacheKey("p", "spend", f"s{i:03d}"), sample_records()[8:11] * 40) for i in range(200)
        ]
        cache.put_many(items, ttl=60)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * page_size
    data[2 * page_size :] = b"\x5a" * (len(data) - 2 * page_size)  # keep the schema page
    path.write_bytes(bytes(data))
    with Cache.open(path) as cache:
        cache.read_domain("spend")  # meets the damage (at open or now), repairs, goes on
        assert any("corrupt" in warning for warning in cache.warnings)
        assert_works(cache)
    assert side_files(path)


# --------------------------------------------------------------------------- read-only


def test_readonly_reads_and_refuses_writes(path: Path) -> None:
    with Cache.open(path) as cache:
        cache.put(KEY, sample_records()[2:3], ttl=60)
    before = {p.name: p.stat().st_mtime_ns for p in path.parent.iterdir() if p.name == path.name}
    with Cache.open(path, readonly=True) as ro:
        assert ro.warnings == []
        assert [e.key for e in ro.read_domain("arc")] == [KEY]
        assert ro.summary()[0].records == 1
        with pytest.raises(CacheReadOnlyError):
            ro.put(KEY, [], ttl=1)
        with pytest.raises(CacheReadOnlyError):
            ro.put_error(KEY, "x")
        with pytest.raises(CacheReadOnlyError):
            ro.claim(KEY, "me", 10)
    assert {
        p.name: p.stat().st_mtime_ns for p in path.parent.iterdir() if p.name == path.name
    } == before
    assert issubclass(CacheReadOnlyError, CacheError)
    assert issubclass(CacheError, BtConsoleError)


def test_readonly_missing_or_broken_file_reads_as_empty(path: Path) -> None:
    with Cache.open(path, readonly=True) as ro:
        assert ro.read_domain("arc") == []
        assert "no cache" in ro.warnings[0]
    assert not path.exists()
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"not sqlite at all")
    with Cache.open(path, readonly=True) as ro:
        assert ro.read_domain("arc") == []
        assert "left as it is" in ro.warnings[0]
    assert path.read_bytes() == b"not sqlite at all"
    assert side_files(path) == []


# --------------------------------------------------------------------------- permissions


def test_new_files_are_private(path: Path) -> None:
    old = os.umask(0o022)
    try:
        with Cache.open(path) as cache:
            cache.put(KEY, sample_records(), ttl=60)
            assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
            assert mode_of(path.parent) == 0o700
            for target in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                assert mode_of(target) == 0o600, target
    finally:
        os.umask(old)
    for leftover in path.parent.iterdir():
        assert mode_of(leftover) == 0o600, leftover


def test_existing_open_directory_and_files_are_fixed(path: Path) -> None:
    path.parent.mkdir(mode=0o755)
    path.parent.chmod(0o755)
    with Cache.open(path) as cache:
        cache.put(KEY, [], ttl=60)
    path.parent.chmod(0o755)
    for target in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if target.exists():
            target.chmod(0o644)
    with Cache.open(path) as cache:
        assert cache.get(KEY) is not None
        assert mode_of(path.parent) == 0o700
        for target in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if target.exists():
                assert mode_of(target) == 0o600


def test_shared_sticky_directory_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with Cache.open(shared / "cache.sqlite3") as cache:
        assert mode_of(shared) == 0o1777
        assert any("shared" in warning for warning in cache.warnings)
        assert mode_of(shared / "cache.sqlite3") == 0o600


def test_default_path_is_in_the_user_cache_dir(isolated_home: Path) -> None:
    path = cache_module.default_cache_path()
    assert path.name == "cache.sqlite3"
    assert str(path).startswith(str(isolated_home))
    with Cache.open() as cache:
        assert cache.path == path
        assert mode_of(path.parent) == 0o700


def test_modules_import_neither_textual_nor_azure() -> None:
    code = (
        "import sys, btconsole.cache, btconsole.records, btconsole.logs\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'azure'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_entry_is_frozen() -> None:
    entry = Entry(KEY, (), None, 60.0)
    with pytest.raises(AttributeError):
        entry.ttl = 1.0  # type: ignore[misc]
    assert str(KEY) == f"contoso/arc/{SUB}"


def test_sqlite_failures_become_cache_errors(path: Path) -> None:
    cache = Cache.open(path)
    cache.close()
    with pytest.raises(CacheError):
        cache.get(KEY)


# --------------------------------------------------------------------------- the huge estate


def huge_estate(
    seed: int = 1,
    *,
    profiles: int = 60,
    subscriptions: int = 300,
    machines: int = 20_000,
    clusters: int = 600,
    circuits: int = 120,
    assignments: int = 8,
    services: int = 6,
    resource_groups_per_service: int = 1,
    days: int = 60,
) -> dict[str, list[tuple[CacheKey, list[Any]]]]:
    """Synthetic records at the "huge" estate size, by domain, as the engine would put them.

    The emulator's "huge" knobs: 60 customers, 300 subscriptions, 20,000 machines and
    600 clusters, 120 circuits, 8 assignments per subscription (100,000 policy states
    summarised into per-assignment rows), 60 days of cost per subscription, service and
    resource group (4-8 services a subscription, one resource group each: 6 on average).
    """
    rng = random.Random(seed)
    subs: list[tuple[str, str]] = []
    for index in range(subscriptions):
        profile = f"customer-{index % profiles:02d}"
        subs.append(
            (profile, f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4000-8000-{index:012d}")
        )
    out: dict[str, list[tuple[CacheKey, list[Any]]]] = {}

    by_profile: dict[str, list[str]] = {}
    for profile, sub in subs:
        by_profile.setdefault(profile, []).append(sub)
    out["subscriptions"] = [
        (
            CacheKey(profile, "subscriptions", "*"),
            [
                SubscriptionRecord(
                    profile, sub, f"{profile} sub {n}", "Enabled", "tenant-" + profile
                )
                for n, sub in enumerate(ss)
            ],
        )
        for profile, ss in by_profile.items()
    ]

    statuses = ["Connected"] * 16 + ["Disconnected", "Expired", "Error", "AwaitingConnection"]
    arc: dict[tuple[str, str], list[Any]] = {key: [] for key in subs}
    for n in range(machines + clusters):
        profile, sub = subs[n % subscriptions]
        cluster = n >= machines
        name = f"{'aks' if cluster else 'srv'}-{profile}-{n:05d}"
        rg = f"rg-arc-{n % 5}"
        provider = (
            "Microsoft.Kubernetes/connectedClusters"
            if cluster
            else "Microsoft.HybridCompute/machines"
        )
        status = rng.choice(statuses)
        arc[(profile, sub)].append(
            ArcRecord(
                profile=profile,
                id=f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider}/{name}",
                name=name,
                kind="cluster" if cluster else "machine",
                subscription_id=sub,
                resource_group=rg,
                location=rng.choice(["uksouth", "ukwest", "westeurope"]),
                status=status,
                last_status_change=f"2026-11-{rng.randint(1, 20):02d}T{rng.randint(0, 23):02d}:14Z",
                agent_version=None
                if cluster
                else f"1.{rng.randint(40, 46)}.0{rng.randint(1000, 9999)}.1",
                os_name=None
                if cluster
                else rng.choice(
                    [
                        "Windows Server 2022 Datacenter",
                        "Ubuntu 22.04.4 LTS",
                        "Red Hat Enterprise Linux 9.3",
                    ]
                ),
                os_type=None if cluster else rng.choice(["windows", "linux"]),
                os_version=None if cluster else f"10.0.{rng.randint(17000, 20400)}",
                fqdn=None if cluster else f"{name}.corp.example.com",
                kubernetes_version=f"1.{rng.randint(27, 30)}.{rng.randint(0, 9)}"
                if cluster
                else None,
                distribution="AKS_edge_essentials" if cluster else None,
                error_codes=("AZCM0026",) if status == "Error" else (),
                error_messages=("Heartbeat lost",) if status == "Error" else (),
                tags=(
                    ("customer", profile),
                    ("env", rng.choice(["prod", "dev"])),
                    ("costCentre", f"CC{rng.randint(1000, 9999)}"),
                ),
            )
        )
    out["arc"] = [(CacheKey(p, "arc", s), records) for (p, s), records in arc.items()]

    circ: dict[tuple[str, str], list[Any]] = {key: [] for key in subs}
    for n in range(circuits):
        profile, sub = subs[(n * 7) % subscriptions]
        name = f"er-{profile}-{n:03d}"
        circ[(profile, sub)].append(
            CircuitRecord(
                profile,
                f"/subscriptions/{sub}/resourceGroups/rg-connectivity/providers/Microsoft.Network/expressRouteCircuits/{name}",
                name,
                sub,
                "rg-connectivity",
                "uksouth",
                "BT",
                rng.choice(["London", "London2", "Amsterdam"]),
                rng.choice([200, 500, 1000, 10000]),
                "Premium",
                "MeteredData",
                "Enabled",
                "Provisioned",
                f"{rng.getrandbits(64):016x}",
                (
                    PeeringRecord(
                        "AzurePrivatePeering",
                        "AzurePrivatePeering",
                        "Enabled",
                        12076,
                        65000 + n,
                        100 + n,
                        "10.0.0.0/30",
                        "10.0.0.4/30",
                        "Succeeded",
                    ),
                    PeeringRecord(
                        "MicrosoftPeering",
                        "MicrosoftPeering",
                        "Enabled",
                        12076,
                        65000 + n,
                        200 + n,
                        "81.2.0.0/30",
                        "81.2.0.4/30",
                        "Succeeded",
                    ),
                ),
                tuple(
                    DeviceAvailability(pt, dev, rng.choice([100.0, 100.0, 99.2, 0.0]), 100.0)
                    for pt in ("AzurePrivatePeering", "MicrosoftPeering")
                    for dev in ("primary", "secondary")
                ),
                (("customer", profile),),
            )
        )
    out["circuits"] = [(CacheKey(p, "circuits", s), records) for (p, s), records in circ.items()]

    policy = []
    for profile, sub in subs:
        records: list[Any] = [ComplianceRecord(profile, sub, 300, 33, 333, 4)]
        for a in range(assignments):
            records.append(
                PolicyAssignmentRecord(
                    profile,
                    sub,
                    f"/subscriptions/{sub}/providers/Microsoft.Authorization/policyAssignments/{rng.getrandbits(64):016x}",
                    f"Assignment {a}: require tag 'customer'",
                    rng.randint(0, 80),
                    rng.randint(0, 4),
                    tuple(
                        f"/providers/Microsoft.Authorization/policyDefinitions/{rng.getrandbits(64):016x}"
                        for _ in range(2)
                    ),
                )
            )
        policy.append((CacheKey(profile, "policy", sub), records))
    out["policy"] = policy

    names = [
        "Virtual Machines",
        "Storage",
        "Azure Arc",
        "ExpressRoute",
        "Log Analytics",
        "Backup",
        "Key Vault",
        "Bandwidth",
    ]
    spend = []
    for profile, sub in subs:
        records = []
        for service in rng.sample(names, k=services):
            for r in range(resource_groups_per_service):
                level = rng.uniform(5, 400)
                for d in range(days):
                    day = time.strftime("%Y-%m-%d", time.gmtime(1_758_326_400 + d * 86_400))
                    records.append(
                        CostRecord(
                            profile,
                            sub,
                            day,
                            service,
                            f"rg-{service.split()[0].lower()}-{r}",
                            round(level * rng.uniform(0.9, 1.1), 2),
                            "GBP",
                        )
                    )
        records.append(BudgetRecord(profile, sub, "budget-monthly", 5000.0, 1234.5, 4321.0, "GBP"))
        records.append(ForecastRecord(profile, sub, "2026-11", 1234.5, 4321.0, "GBP"))
        spend.append((CacheKey(profile, "spend", sub), records))
    out["spend"] = spend
    return out


def fill_cache(cache: Cache, estate: dict[str, list[tuple[CacheKey, list[Any]]]]) -> None:
    """Put every domain of ``estate`` (one transaction a domain)."""
    for items in estate.values():
        cache.put_many(items, ttl=900)


def test_huge_estate_helper_fills_a_cache(path: Path) -> None:
    # A smaller cut of the same generator, so the helper stays tested and fast.
    estate = huge_estate(profiles=3, subscriptions=6, machines=60, clusters=6, circuits=6)
    with Cache.open(path) as cache:
        fill_cache(cache, estate)
        for domain, items in estate.items():
            entries = cache.read_domain(domain)
            assert len(entries) == len(items)
            assert sum(len(e.records) for e in entries) == sum(len(r) for _, r in items)


def benchmark(directory: Path, repeat: int = 3) -> None:
    """Fill caches with the huge estate in each encoding; print read_domain times."""
    estate = huge_estate()
    print("records per domain:", {d: sum(len(r) for _, r in items) for d, items in estate.items()})
    for encoding in ENCODINGS:
        path = directory / f"bench-{encoding}.sqlite3"
        with Cache.open(path) as cache:
            cache.encoding = encoding
            started = time.perf_counter()
            fill_cache(cache, estate)
            fill = time.perf_counter() - started
        with Cache.open(path) as cache:
            cache._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = path.stat().st_size
            print(f"encoding {encoding}: fill {fill:.2f} s, file {size / 2**20:.1f} MiB")
            total = 0.0
            for domain in estate:
                wall, cpu = [], []
                for _ in range(repeat):
                    w, c = time.perf_counter(), time.process_time()
                    cache.read_domain(domain)
                    wall.append(time.perf_counter() - w)
                    cpu.append(time.process_time() - c)
                total += min(wall)
                best_wall, best_cpu = min(wall) * 1000, min(cpu) * 1000
                print(
                    f"  read_domain({domain!r:16}) {best_wall:7.1f} ms wall, {best_cpu:7.1f} ms cpu"
                )
            print(f"  all domains: {total * 1000:.1f} ms")


if __name__ == "__main__":  # python -m tests.test_cache [DIR]
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        benchmark(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(scratch))


def test_peek_gives_freshness_without_decoding_records(tmp_path: Path) -> None:
    from btconsole.cache import Cache, CacheKey
    from btconsole.records import SubscriptionRecord

    key = CacheKey("p", "subscriptions", "*")
    with Cache.open(tmp_path / "c.sqlite3") as cache:
        cache.put(key, [SubscriptionRecord("p", "s1", "One", "Enabled")], ttl=60, now=1000.0)
        cache.put_error(key, "boom", next_attempt_at=2000.0, now=1500.0)
        full = cache.get(key)
        peeked = cache.peek(key)
        assert full is not None and peeked is not None
        assert full.records and peeked.records == ()
        assert (peeked.fetched_at, peeked.ttl, peeked.error, peeked.failures) == (
            full.fetched_at,
            full.ttl,
            full.error,
            full.failures,
        )
        assert peeked.next_attempt_at == 2000.0
        assert [e.key for e in cache.peek_domain("subscriptions", ["p", "q"])] == [key]
        assert cache.peek(CacheKey("p", "subscriptions", "nope")) is None
