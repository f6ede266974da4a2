"""Digests (btconsole.digest) against a cache the real engine filled from the emulator.

A digest must never say anything the records would not: every test compares what the
digests give with a full run of the health rules over the decoded records, at the same
moment, and checks which customers had to be made again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from btconsole import digest, health
from btconsole.cache import DIGEST_DOMAIN, PATCHES_DOMAIN, Cache, CacheKey, default_cache_path
from btconsole.config import Config, load_config
from btconsole.digest import (
    DIGEST_SCOPE,
    Digester,
    PatchFigures,
    ReadMemo,
    load_records,
    peek_sources,
)
from btconsole.records import ArcRecord, PatchAssessmentRecord
from tests.checks.conftest import Run, Site

AGE = re.compile(r"\b\d+[smhd]\b")


@pytest.fixture(scope="module")
def filled_cache(small_site: Site, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory one online check filled (records and digests) for the module."""
    home = tmp_path_factory.mktemp("digests")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        patch.setenv("XDG_STATE_HOME", str(home / "state"))
        for name, value in small_site.secrets.items():
            patch.setenv(name, value)
        patch.setenv("BTCONSOLE_TODAY", small_site.estate.as_of.isoformat())
        small_site.emulator.reset()
        from btconsole.cli import main

        argv = ["--config", str(small_site.config), "check", "--all", "--format", "json"]
        assert main([*argv, "--output", str(home / "check.json")]) == 2  # critical
    return home


@pytest.fixture
def cache_copy(filled_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, writable copy of the filled cache (tests change it)."""
    target = tmp_path / "xdg-cache"
    (target / "btconsole").mkdir(parents=True, mode=0o700)
    source = filled_cache / "btconsole" / "cache.sqlite3"
    with Cache.open(source, readonly=True) as cache:
        cache._conn.execute("VACUUM INTO ?", (str(target / "btconsole" / "cache.sqlite3"),))
    monkeypatch.setenv("XDG_CACHE_HOME", str(target))
    return default_cache_path()


def noon(site: Site) -> dt.datetime:
    day = site.estate.as_of
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.timezone.utc)


def recomputed(config: Config, cache: Cache, now: dt.datetime) -> dict[str, Any]:
    """Every customer's (summary, findings) from the records, as before digests."""
    sources = peek_sources(cache, list(config.profiles.values()))
    records = {name: load_records(cache, src) for name, src in sources.items()}
    arc = [r for recs in records.values() for r in recs["arc"] if isinstance(r, ArcRecord)]
    newest, seen = health.newest_by_kind(arc), health.versions_by_kind(arc)
    out = {}
    for name, profile in config.profiles.items():
        findings = health.findings_for(
            profile, records[name], now, newest=newest, versions_seen=seen
        )
        out[name] = (health.customer_summary(profile, records[name], now, findings), findings)
    return out


def assert_same(got: dict[str, digest.CustomerHealth], want: dict[str, Any]) -> None:
    assert sorted(got) == sorted(want)
    for name, (summary, findings) in want.items():
        assert got[name].summary == summary, name
        assert list(got[name].findings) == findings, name


def test_an_online_check_leaves_digests_that_match_the_records(
    small: Site, cache_copy: Path
) -> None:
    config = load_config(small.config)
    now = noon(small)
    with Cache.open(cache_copy) as cache:
        stored = cache.read_domain(DIGEST_DOMAIN, config.profiles)
        assert sorted(e.key.profile for e in stored) == sorted(config.profiles)
        digester = Digester(config, cache, now)
        got = digester.read(list(config.profiles))
        assert digester.recomputed == [] and digester.stored == 0
        assert all(c.from_digest for c in got.values())
        assert_same(got, recomputed(config, cache, now))
        # later the same day: the "disconnected for N" findings move with the clock
        later = now + dt.timedelta(hours=11, minutes=59)
        digester = Digester(config, cache, later)
        got = digester.read(list(config.profiles))
        assert digester.recomputed == []
        want = recomputed(config, cache, later)
        assert_same(got, want)
        titles_then = {f.title for c in recomputed(config, cache, now).values() for f in c[1]}
        titles_later = {f.title for c in want.values() for f in c[1]}
        assert titles_then != titles_later, "the estate has machines disconnected for hours"


def test_what_changes_a_digest(small: Site, cache_copy: Path) -> None:
    config = load_config(small.config)
    names = list(config.profiles)
    first, second = names[0], names[1]
    now = noon(small)
    with Cache.open(cache_copy) as cache:
        # a refresh that lands (same records, new fetch time): that customer only
        key = next(e.key for e in cache.peek_domain("circuits", [second]))
        entry = cache.get(key)
        assert entry is not None
        cache.put(key, entry.records, ttl=entry.ttl, now=(entry.fetched_at or 0) + 60)
        digester = Digester(config, cache, now)
        got = digester.read(names)
        assert digester.recomputed == [second] and digester.stored == 1
        assert not got[second].from_digest and got[first].from_digest
        assert_same(got, recomputed(config, cache, now))
        again = Digester(config, cache, now)  # and it was kept
        assert {n: (c.summary, c.findings) for n, c in again.read(names).items()} == {
            n: (c.summary, c.findings) for n, c in got.items()
        }
        assert again.recomputed == []

        # another day: every customer (month to date, anomalies, forecasts)
        digester = Digester(config, cache, now + dt.timedelta(days=1))
        digester.read(names)
        assert sorted(digester.recomputed) == sorted(names)

        # the profile's settings: a budget
        changed = dataclasses.replace(config.profiles[first], monthly_budget=1.0)
        config2 = dataclasses.replace(config, profiles={**config.profiles, first: changed})
        digester = Digester(config2, cache, now + dt.timedelta(days=1))
        got = digester.read(names)
        assert digester.recomputed == [first]
        assert got[first].summary.budget.budget == 1.0
        assert_same(got, recomputed(config2, cache, now + dt.timedelta(days=1)))


def test_a_newer_agent_anywhere_remakes_every_customer(small: Site, cache_copy: Path) -> None:
    config = load_config(small.config)
    names = list(config.profiles)
    now = noon(small)
    with Cache.open(cache_copy) as cache:
        Digester(config, cache, now).read(names)
        entry = next(
            e
            for e in cache.read_domain("arc", [names[-1]])
            if any(isinstance(r, ArcRecord) and r.kind == "machine" for r in e.records)
        )
        records = list(entry.records)
        index = next(
            i for i, r in enumerate(records) if isinstance(r, ArcRecord) and r.kind == "machine"
        )
        records[index] = dataclasses.replace(records[index], agent_version="9.99.0")
        cache.put(entry.key, records, ttl=entry.ttl)
        digester = Digester(config, cache, now)
        got = digester.read(names)
        assert sorted(digester.recomputed) == sorted(names)
        assert_same(got, recomputed(config, cache, now))
        behind = [f for c in got.values() for f in c.findings if f.rule == "agent-version"]
        assert {c.profile for c in behind} == set(names)
        assert all("newest seen 9.99.0" in f.detail for f in behind)


def test_read_only_cache_and_damaged_digests(small: Site, cache_copy: Path) -> None:
    config = load_config(small.config)
    names = list(config.profiles)
    now = noon(small)
    with Cache.open(cache_copy) as cache:
        key = CacheKey(names[0], DIGEST_DOMAIN, DIGEST_SCOPE)
        entry = cache.get(key)
        assert entry is not None
        header = entry.records[0]
        broken = dataclasses.replace(header, summary=json.dumps({"__record__": "Nope"}))
        cache.put(key, [broken, *entry.records[1:]], ttl=0.0)
        # a digest entry without its header (another version's layout, say)
        cache.put(CacheKey(names[1], DIGEST_DOMAIN, DIGEST_SCOPE), entry.records[1:], ttl=0.0)
    with Cache.open(cache_copy, readonly=True) as cache:
        digester = Digester(config, cache, now)
        got = digester.read(names)
        assert sorted(digester.recomputed) == sorted(names[:2]) and digester.stored == 0
        assert_same(got, recomputed(config, cache, now))
    with Cache.open(cache_copy) as cache:
        digester = Digester(config, cache, now)
        digester.read(names)
        assert sorted(digester.recomputed) == sorted(names[:2]) and digester.stored == 2
        assert cache.summary() and all(s.domain != DIGEST_DOMAIN for s in cache.summary())


def test_check_offline_reads_the_same_with_and_without_digests(
    small: Site, cache_copy: Path, cli: Run
) -> None:
    code, with_digests, _ = cli(small, "check", "--all", "--offline", "--format", "json")
    with Cache.open(cache_copy) as cache:
        for name in load_config(small.config).profiles:
            cache.delete_scopes(name, DIGEST_DOMAIN, keep=())
    code2, without, _ = cli(small, "check", "--all", "--offline", "--format", "json")
    assert code == code2 == 2
    first, second = json.loads(with_digests), json.loads(without)
    for report in (first, second):
        # the two runs may straddle a second (or a minute): the wall clock's stamps and
        # the ages written in problem messages are not what this test compares
        report.pop("generated_at", None)
        report.pop("checked_at", None)
        report.pop("changes", None)
        for problem in report["data"]["problems"]:
            problem["message"] = AGE.sub("<age>", problem["message"])
    assert first == second


def test_a_long_lived_reader_sees_every_change_another_writer_makes(
    small: Site, cache_copy: Path
) -> None:
    """The console keeps what it decoded (ReadMemo) between reads of one customer at a
    time; a digest, a listing or Arc records written since (by its refresh process)
    are read again, so it says what a fresh reader says."""
    config = load_config(small.config)
    names = list(config.profiles)
    now = noon(small)
    reads = digest.ReadMemo()
    with Cache.open(cache_copy) as cache:
        assert_same(
            Digester(config, cache, now, reads=reads).read(names), recomputed(config, cache, now)
        )
        target = names[1]
        # the listing is fetched again with one subscription fewer, arc records change
        listing = cache.get(CacheKey(target, "subscriptions", "*"))
        assert listing is not None and len(listing.records) > 1
        later = (listing.fetched_at or 0) + 60
        cache.put(listing.key, listing.records[1:], ttl=listing.ttl, now=later)
        arc_key = next(e.key for e in cache.peek_domain("arc", [target]))
        arc = cache.get(arc_key)
        assert arc is not None
        cache.put(arc_key, arc.records[1:], ttl=arc.ttl, now=later)
        # another process makes the digest (the memo of this reader has the old one)
        Digester(config, cache, now).read(names)
        mine = Digester(config, cache, now, reads=reads)
        got = mine.read([target])
        assert mine.recomputed == []  # the other writer's digest, read from the cache
        fresh = Digester(config, cache, now).read([target])
        assert got[target].summary == fresh[target].summary
        assert got[target].findings == fresh[target].findings

        def states(health: digest.CustomerHealth) -> Any:  # ages move with the clock
            coverage = health.coverage
            assert coverage is not None
            return {d: [(s.scope, s.state) for s in c.scopes] for d, c in coverage.domains.items()}

        assert states(got[target]) == states(fresh[target])
        assert len(states(got[target])["arc"]) == len(listing.records) - 1
        want = recomputed(config, cache, now)[target]
        assert got[target].summary == want[0]


# --------------------------------------------------------------------------- patch figures


def patches_from_records(cache: Cache, names: list[str]) -> tuple[dict[str, Any], set[str]]:
    """The Arc pane's figures as it made them before the ``patches`` entries: every
    health entry holding data decoded, the latest assessment per server kept."""
    counts: dict[str, Any] = {}
    read: set[str] = set()
    for entry in cache.read_domain("health", names):
        if entry.fetched_at is None:
            continue
        read.add(entry.key.scope.lower())
        for r in entry.records:
            if isinstance(r, PatchAssessmentRecord):
                counts[r.machine_id.lower()] = (r.critical, r.security, r.last_modified, r.os_type)
    return counts, read


def combined(figures: dict[str, PatchFigures]) -> tuple[dict[str, Any], set[str]]:
    counts: dict[str, Any] = {}
    read: set[str] = set()
    for f in figures.values():
        counts.update({k: tuple(v) for k, v in f.counts().items()})
        read.update(f.read)
    return counts, read


class DomainsRead:
    """Which domains a cache decoded records of (its reads still run)."""

    def __init__(self, cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
        self.domains: list[str] = []
        read, read_domain, get = cache.read, cache.read_domain, cache.get

        def spy_read(profile: str, domain: str, scope: str | None = None) -> Any:
            self.domains.append(domain)
            return read(profile, domain, scope)

        def spy_read_domain(domain: str, profiles: Any = None) -> Any:
            self.domains.append(domain)
            return read_domain(domain, profiles)

        def spy_get(key: CacheKey) -> Any:
            self.domains.append(key.domain)
            return get(key)

        monkeypatch.setattr(cache, "read", spy_read)
        monkeypatch.setattr(cache, "read_domain", spy_read_domain)
        monkeypatch.setattr(cache, "get", spy_get)


def test_patch_figures_are_made_with_the_digests_and_read_without_the_health_records(
    small: Site, cache_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(small.config)
    names = list(config.profiles)
    with Cache.open(cache_copy) as cache:
        # the online check that filled the cache made every customer's digest, and
        # with it the patch figures
        stored = cache.read_domain(PATCHES_DOMAIN, names)
        assert sorted(e.key.profile for e in stored) == sorted(names)
        assert cache.summary() and all(s.domain != PATCHES_DOMAIN for s in cache.summary())
        want = patches_from_records(cache, names)
        assert want[0] and want[1]
        # Linux has no Critical class: some counts are unknown, others known
        assert any(v[0] is None for v in want[0].values())
        assert any(v[0] is not None for v in want[0].values())
        spy = DomainsRead(cache, monkeypatch)
        got = digest.read_patches(
            cache, peek_sources(cache, list(config.profiles.values())), ReadMemo()
        )
        assert "health" not in spy.domains and PATCHES_DOMAIN in spy.domains
        assert combined(got) == want


def test_patch_figures_follow_the_health_entries_only(
    small: Site, cache_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made again when a health scope lands (not when the day or another domain
    changes); a scope never read is unknown; a read-only cache makes, never stores."""
    config = load_config(small.config)
    names = list(config.profiles)
    now = noon(small)
    reads = ReadMemo()
    with Cache.open(cache_copy) as cache:
        profiles = list(config.profiles.values())
        before = digest.read_patches(cache, peek_sources(cache, profiles), reads)
        # a new day and an Arc refresh: every digest is made again, the figures stay
        target = names[0]
        arc = cache.get(next(e.key for e in cache.peek_domain("arc", [target])))
        assert arc is not None
        cache.put(arc.key, arc.records, ttl=arc.ttl, now=(arc.fetched_at or 0) + 60)
        digester = Digester(config, cache, now + dt.timedelta(days=1))
        digester.read(names)
        assert sorted(digester.recomputed) == sorted(names)
        after = {e.key.profile: e.records[0] for e in cache.read_domain(PATCHES_DOMAIN, names)}
        assert {n: f.basis for n, f in after.items()} == {n: f.basis for n, f in before.items()}
        # a health scope lands with one server's assessment changed
        entry = next(
            e
            for e in cache.read_domain("health", [target])
            if any(isinstance(r, PatchAssessmentRecord) for r in e.records)
        )
        old = next(r for r in entry.records if isinstance(r, PatchAssessmentRecord))
        new = dataclasses.replace(
            old, critical=41, security=42, last_modified="2026-01-02T03:04:05Z"
        )
        cache.put(
            entry.key,
            [new if r is old else r for r in entry.records],
            ttl=entry.ttl,
            now=(entry.fetched_at or 0) + 60,
        )
        spy = DomainsRead(cache, monkeypatch)
        got = digest.read_patches(cache, peek_sources(cache, profiles), reads)
        assert spy.domains.count("health") == 1  # that customer's alone
        machine = old.machine_id.lower()
        assert got[target].counts()[machine] == (41, 42, "2026-01-02T03:04:05Z", old.os_type)
        assert combined(got) == patches_from_records(cache, names)
        stored = cache.get(CacheKey(target, PATCHES_DOMAIN, digest.PATCHES_SCOPE))
        assert stored is not None and stored.records[0] == got[target]
        # read again (this reader, or another): nothing decoded but the entries
        spy.domains.clear()
        digest.read_patches(cache, peek_sources(cache, profiles), reads)
        digest.read_patches(cache, peek_sources(cache, profiles), ReadMemo())
        assert "health" not in spy.domains
        # a subscription whose health never held data: unknown, not zero
        sub = entry.key.scope
        cache.delete_scopes(
            target, "health", [s for s in cache.scopes(target, "health") if s != sub]
        )
        cache.put_error(entry.key, "ResourceGraph: 403 Forbidden")
        got = digest.read_patches(cache, peek_sources(cache, profiles), reads)
        assert sub.lower() not in got[target].read and machine not in got[target].counts()
        assert combined(got) == patches_from_records(cache, names)
        # a damaged entry (columns of unequal length) is made again
        bad = dataclasses.replace(got[target], basis=got[target].basis, critical=())
        cache.put(CacheKey(target, PATCHES_DOMAIN, digest.PATCHES_SCOPE), [bad], ttl=0.0)
        assert digest.read_patches(cache, peek_sources(cache, profiles), ReadMemo()) == got
        cache.delete_scopes(target, PATCHES_DOMAIN, keep=())
    with Cache.open(cache_copy, readonly=True) as cache:
        kept = ReadMemo()
        got = digest.read_patches(cache, peek_sources(cache, profiles), kept)
        assert combined(got) == patches_from_records(cache, names)
        assert not cache.read(target, PATCHES_DOMAIN)
        # made, not stored: kept by the reader, so not made again
        assert list(kept.patches) == [target]
        spy = DomainsRead(cache, monkeypatch)
        assert digest.read_patches(cache, peek_sources(cache, profiles), kept) == got
        assert "health" not in spy.domains
