"""Discovered Lighthouse customers: names, overrides, exclusion, a customer that also
has a profile of its own, and a delegation that disappears (its data kept, marked).

The discovery goes through the real cache (a file under the test's own home); the
requests themselves are covered against the emulator in tests/checks/."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from btconsole.cache import Cache, CacheKey
from btconsole.cli import main
from btconsole.config import Config, load_config
from btconsole.lighthouse import (
    DISCOVERY_TTL,
    TenantRecord,
    discovery_key,
    effective_config,
    merge,
    shadowed,
    slug,
)
from btconsole.records import SubscriptionRecord
from tests.keyrings import MemoryKeyring
from tests.test_config_lighthouse import CONTOSO, FABRIKAM, MIXED, OWN, PROVIDER, write

NAMELESS = "55555555-6666-7777-8888-999999999999"


def sub(sid: str, tenant: str) -> SubscriptionRecord:
    return SubscriptionRecord("msp", sid, f"sub {sid[:4]}", "Enabled", tenant)


def tenants(*pairs: tuple[str, str | None]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"tenantId": PROVIDER, "tenantCategory": "Home"}]
    for tid, name in pairs:
        body: dict[str, Any] = {"tenantId": tid.upper(), "tenantCategory": "ProjectedBy"}
        if name is not None:
            body["displayName"] = name
        out.append(body)
    return out


def store(cache: Cache, records: list[Any]) -> None:
    cache.put(discovery_key("msp"), records, ttl=DISCOVERY_TTL)


def loaded(tmp_path: Path) -> Config:
    return load_config(write(tmp_path, MIXED))


def test_customers_are_named_from_tenants_and_take_their_overrides(tmp_path: Path) -> None:
    config = loaded(tmp_path)
    subs = [
        sub("a0000000-0000-0000-0000-000000000001", CONTOSO),
        sub("a0000000-0000-0000-0000-000000000002", CONTOSO),
        sub("b0000000-0000-0000-0000-000000000001", FABRIKAM),
        sub("c0000000-0000-0000-0000-000000000001", NAMELESS),
        sub("d0000000-0000-0000-0000-000000000001", PROVIDER),  # the provider's own
    ]
    provider = config.lighthouse["msp"]
    records = merge(
        provider,
        tenants((CONTOSO, "Contoso Ltd."), (FABRIKAM, "Fabrikam"), (NAMELESS, None)),
        subs,
        (),
        config.profiles,
        1000.0,
    )
    with Cache.open(tmp_path / "cache.sqlite") as cache:
        store(cache, records)
        effective = effective_config(config, cache)
        # the same from a config that has its customers already (the refresh process)
        assert effective_config(effective, cache) == effective
    names = sorted(effective.profiles)
    # Fabrikam is excluded by its override; the provider's own subscription is nobody's
    assert names == sorted(["own", "contoso-ltd", NAMELESS])
    contoso = effective.profiles["contoso-ltd"]
    assert contoso.tenant_id == CONTOSO and contoso.provider == "msp"
    assert contoso.display_name == "Contoso (managed)"
    assert contoso.monthly_budget == 25000 and contoso.currency == "EUR"
    assert contoso.allow_actions is True
    assert contoso.thresholds.compliance_percent == 95
    assert contoso.subscriptions == (
        "a0000000-0000-0000-0000-000000000001",
        "a0000000-0000-0000-0000-000000000002",
    )
    assert contoso.auth == provider.auth and contoso.client_id == provider.client_id
    nameless = effective.profiles[NAMELESS]
    assert nameless.display_name == NAMELESS
    assert nameless.thresholds.compliance_percent == 85  # the provider's default
    assert nameless.currency == "GBP" and nameless.monthly_budget is None


def test_a_customer_keeps_its_name_when_its_tenant_is_renamed(tmp_path: Path) -> None:
    config = loaded(tmp_path)
    provider = config.lighthouse["msp"]
    subs = [sub("a0000000-0000-0000-0000-000000000001", NAMELESS)]
    first = merge(provider, tenants((NAMELESS, "Old Name")), subs, (), (), 1.0)
    second = merge(provider, tenants((NAMELESS, "New Name")), subs, first, (), 2.0)
    [record] = [r for r in second if isinstance(r, TenantRecord)]
    assert record.name == "old-name" and record.display_name == "New Name"


def test_names_never_collide(tmp_path: Path) -> None:
    config = loaded(tmp_path)
    provider = config.lighthouse["msp"]
    other = "66666666-7777-8888-9999-000000000000"
    subs = [
        sub("a0000000-0000-0000-0000-000000000001", NAMELESS),
        sub("b0000000-0000-0000-0000-000000000001", other),
    ]
    records = merge(provider, tenants((NAMELESS, "Own"), (other, "Own")), subs, (), ["own"], 1.0)
    names = sorted(r.name for r in records if isinstance(r, TenantRecord))
    assert names == sorted([f"own-{NAMELESS[:8]}", f"own-{other[:8]}"])
    assert slug("  Ünïcode & Co. (UK) ") == "n-code-co-uk"


def test_an_explicit_profile_wins_over_its_delegation(tmp_path: Path) -> None:
    config = loaded(tmp_path)
    records = merge(
        config.lighthouse["msp"],
        tenants((OWN, "Own Customer")),
        [sub("a0000000-0000-0000-0000-000000000001", OWN)],
        (),
        config.profiles,
        1.0,
    )
    with Cache.open(tmp_path / "cache.sqlite") as cache:
        store(cache, records)
        effective = effective_config(config, cache)
        shadows = shadowed(config, cache)
    assert list(effective.profiles) == ["own"]
    assert effective.profiles["own"].provider is None
    assert [(s.tenant_id, s.profile) for s in shadows] == [(OWN, "own")]


def test_a_removed_delegation_keeps_its_customer_and_data_marked(tmp_path: Path) -> None:
    config = loaded(tmp_path)
    provider = config.lighthouse["msp"]
    sid = "c0000000-0000-0000-0000-000000000001"
    first = merge(provider, tenants((NAMELESS, "Gone Ltd")), [sub(sid, NAMELESS)], (), (), 1.0)
    second = merge(provider, tenants(), [], first, (), 2.0)
    third = merge(provider, tenants(), [], second, (), 3.0)
    [record] = [r for r in third if isinstance(r, TenantRecord)]
    assert record.gone_since == 2.0  # when it was first seen missing
    with Cache.open(tmp_path / "cache.sqlite") as cache:
        store(cache, third)
        cache.put(CacheKey("gone-ltd", "arc", sid), [], ttl=60)
        effective = effective_config(config, cache)
    gone = effective.profiles["gone-ltd"]
    assert gone.delegation_gone and gone.subscriptions == (sid,)
    # delegated again: the same customer, no longer marked
    back = merge(provider, tenants((NAMELESS, "Gone Ltd")), [sub(sid, NAMELESS)], third, (), 4.0)
    [record] = [r for r in back if isinstance(r, TenantRecord)]
    assert record.name == "gone-ltd" and record.gone_since is None


def test_secrets_set_takes_a_lighthouse_profile(
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path, MIXED)
    monkeypatch.setattr("sys.stdin", io.StringIO("provider-secret\n"))
    assert main(["--config", str(path), "secrets", "set", "msp", "--stdin"]) == 0
    assert "provider-secret" in memory_keyring.store.values()
    assert "msp" in capsys.readouterr().out


def test_config_validate_tells_the_discovered_and_shadowed_customers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, MIXED)
    assert main(["--config", str(path), "config", "validate"]) == 0
    assert "msp: no customer discovered yet" in capsys.readouterr().out
    config = load_config(path)
    records = merge(
        config.lighthouse["msp"],
        tenants((OWN, "Own Customer"), (NAMELESS, None)),
        [
            sub("a0000000-0000-0000-0000-000000000001", OWN),
            sub("b0000000-0000-0000-0000-000000000001", NAMELESS),
        ],
        (),
        config.profiles,
        1.0,
    )
    with Cache.open() as cache:  # the default cache, under the test's own home
        store(cache, records)
    assert main(["--config", str(path), "config", "validate"]) == 0
    out = capsys.readouterr().out
    assert f"msp: 2 customer(s) last discovered: own-customer, {NAMELESS}" in out
    assert f"tenant {OWN} is also profile 'own': that profile is used" in out


def test_billed_customers_get_their_billing_scope_and_keep_it_when_it_cannot_be_read(
    tmp_path: Path,
) -> None:
    """A delegated tenant is a billing customer by its tenant id as customer name, or by
    its one customer of the same display name; the others are read per subscription.
    A discovery that could not read the account keeps what the last one knew."""
    config = loaded(tmp_path)
    provider = config.lighthouse["msp"]
    assert provider.billing_account is not None
    subs = [
        sub("a0000000-0000-0000-0000-000000000001", CONTOSO),
        sub("c0000000-0000-0000-0000-000000000001", NAMELESS),
    ]
    found = tenants((CONTOSO, "Contoso Ltd."), (NAMELESS, None))
    billing = {"cust-1": "CONTOSO LTD. ", NAMELESS: "", "cust-3": "Someone else"}
    first = merge(provider, found, subs, (), config.profiles, 1000.0, billing)
    again = merge(provider, found, subs, first, config.profiles, 2000.0, None)
    unread = merge(provider, found, subs, (), config.profiles, 1000.0, None)
    for records, expected in ((first, True), (again, True), (unread, False)):
        with Cache.open(tmp_path / f"cache-{records is first}-{expected}.sqlite") as cache:
            store(cache, records)
            effective = effective_config(config, cache)
        scopes = {p.tenant_id: p.billing_scope for p in effective.profiles.values()}
        account = f"/providers/Microsoft.Billing/billingAccounts/{provider.billing_account}"
        if expected:
            assert scopes[CONTOSO] == f"{account}/customers/cust-1"
            assert scopes[NAMELESS] == f"{account}/customers/{NAMELESS}"
        else:
            assert scopes[CONTOSO] is None and scopes[NAMELESS] is None
    # two customers of the tenant's name: which one bills it cannot be told
    twice = {"cust-1": "Contoso Ltd.", "cust-2": "contoso ltd."}
    records = merge(provider, found, subs, (), config.profiles, 1000.0, twice)
    assert [r.billing_customer for r in records if isinstance(r, TenantRecord)] == [None, None]


def test_the_console_with_only_a_lighthouse_profile_discovers_before_refusing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``btconsole`` with one Lighthouse profile and no customer profile goes on to
    discover its customers (it used to refuse: "no profiles configured"); when none can
    be discovered it says why in one line, exit 64, no traceback."""
    only = MIXED.split("[profiles.own]")[0]
    path = write(tmp_path, only)
    monkeypatch.delenv("MSP_SECRET", raising=False)  # the sign-in cannot even start
    assert main(["--config", str(path)]) == 64
    err = capsys.readouterr().err
    assert "no profiles configured" not in err
    assert "msp: Lighthouse discovery failed (no credential)" in err
    assert "no customer discovered through Lighthouse profile(s) msp" in err
    assert "Traceback" not in err
