"""One Lighthouse sign-in reads the same customers as one profile per customer.

The same emulated estate is served once and checked twice through the real CLI
(``btconsole check --all --format json``): with the per-customer config
``emulator serve --write-config`` writes (one app registration per customer), and with
the Lighthouse config ``--lighthouse`` writes (one provider profile, customers
discovered). Each run has its own cache and check state, so neither reads the other's
data. Customers are matched by tenant id (a discovered customer's profile name comes
from its tenant's display name; the nameless tenant's is its tenant id).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from btconsole.cache import Cache
from btconsole.config import load_config
from btconsole.emulator.estate import Estate
from btconsole.emulator.generate import generate
from btconsole.emulator.serve import secret_environment, write_config
from btconsole.emulator.server import RunningEmulator, running_emulator
from btconsole.lighthouse import effective_config
from tests.checks.conftest import CHECK_SCHEMA, Run


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningEmulator, Path]]:
    estate = generate(seed=1, size="small")
    with running_emulator(estate) as emulator:
        yield emulator, tmp_path_factory.mktemp("lighthouse")


def _configs(emulator: RunningEmulator, where: Path) -> tuple[Path, Path]:
    per_customer = where / "customers.toml"
    lighthouse = where / "lighthouse.toml"
    ca = Path(emulator.ca_path)
    if not per_customer.exists():
        write_config(per_customer, emulator.estate, emulator.base_url, ca)
        write_config(lighthouse, emulator.estate, emulator.base_url, ca, lighthouse=True)
    return per_customer, lighthouse


def _use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in ("XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))


def _check(cli: Run, config: Path) -> tuple[int, dict[str, Any]]:
    code, out, err = cli(None, "--config", str(config), "check", "--all", "--format", "json")
    assert code in (0, 1, 2, 3), err
    data = json.loads(out)
    schema = json.loads(CHECK_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    return code, data


def _by_tenant(data: dict[str, Any], tenants: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each customer of a report keyed by tenant id, its profile names replaced by it."""
    text = json.dumps(data["customers"])
    for name, tenant in sorted(tenants.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf'(?<=["/:]){re.escape(name)}(?=["/:])', tenant, text)
    out = {}
    for customer in json.loads(text):
        tenant = tenants.get(customer["profile"], customer["profile"])
        customer.pop("oldest_fetch")
        for finding in customer["findings"]:
            finding.pop("since", None)
        out[tenant] = customer
    return out


def named_subscriptions(estate: Estate, tenant: str) -> list[str]:
    customer = estate.customer_for_tenant(tenant)
    assert customer is not None
    return list(customer.subscription_ids)


def _same_forecast(billed: dict[str, Any], per_sub: dict[str, Any], subscriptions: int) -> None:
    """A billed customer's forecast is read at its billing scope, rounded to the cent
    once; per subscription, each subscription's is rounded: they agree to half a cent a
    subscription. Then the two are made equal, so everything else must be equal."""
    mine, theirs = billed["summary"]["forecast"], per_sub["summary"]["forecast"]
    assert sorted(mine) == sorted(theirs)
    for currency, amount in theirs.items():
        assert abs(mine[currency] - amount) <= 0.005 * subscriptions + 1e-9, currency
    billed["summary"]["forecast"] = theirs


def _discovered(config: Path) -> dict[str, str]:
    """profile name -> tenant id of the Lighthouse config's (cached) customers."""
    loaded = load_config(config)
    with Cache.open(None, readonly=True) as cache:
        effective = effective_config(loaded, cache)
    return {name: p.tenant_id for name, p in effective.profiles.items()}


def test_one_lighthouse_profile_reads_what_per_customer_profiles_read(
    served: tuple[RunningEmulator, Path],
    cli: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emulator, where = served
    emulator.reset()
    estate: Estate = emulator.estate
    monkeypatch.setenv("BTCONSOLE_TODAY", estate.as_of.isoformat())
    per_customer, lighthouse = _configs(emulator, where)

    # one app registration per customer
    from tests.checks.conftest import _secrets

    for name, value in _secrets(estate).items():
        monkeypatch.setenv(name, value)
    _use_home(monkeypatch, tmp_path / "per-customer")
    code_a, a = _check(cli, per_customer)
    tenants_a = {c.slug: c.tenant_id for c in estate.customers}

    # one provider sign-in, nothing cached: every customer must be discovered and read
    for name, value in secret_environment(estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    _use_home(monkeypatch, tmp_path / "lighthouse")
    before = emulator.stats()["by_route"]
    code_b, b = _check(cli, lighthouse)
    tenants_b = _discovered(lighthouse)
    # spend of the billing account's customers at their customer scope (one query and
    # one forecast each), of the others per subscription
    (account,) = estate.billing_accounts
    billed = {c.tenant_id for c in account.customers}
    assert 0 < len(billed) < len(estate.customers)
    after = emulator.stats()["by_route"]
    ran = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    # (a forecast answers in one page; a 60-day query may take more)
    assert ran["costs.forecast_billing_customer"] == len(billed)
    assert ran["costs.query_billing_customer"] >= len(billed)
    unbilled = [
        s for c in estate.customers if c.tenant_id not in billed for s in c.subscription_ids
    ]
    assert ran["costs.forecast_subscription"] == len(unbilled)

    assert sorted(tenants_b.values()) == sorted(tenants_a.values())
    assert code_b == code_a
    assert b["counts"] == a["counts"]
    assert b["status"] == a["status"]
    assert b["data"]["problems"] == [] == a["data"]["problems"]
    left, right = _by_tenant(a, tenants_a), _by_tenant(b, tenants_b)
    assert sorted(left) == sorted(right)
    for tenant, customer in left.items():
        other = right[tenant]
        named = estate.tenant(tenant)
        assert named is not None
        if named.display_name:  # discovered: named from the tenant
            assert other["display_name"] == customer["display_name"]
        else:  # a tenant without a display name: its tenant id
            assert other["display_name"] == tenant
        _same_forecast(other, customer, len(named_subscriptions(estate, tenant)))
        for key in ("counts", "worst", "status", "coverage", "summary", "complete"):
            assert other[key] == customer[key], (tenant, key)
        assert other["findings"] == customer["findings"], tenant
    # the totals are not trivially equal: there is spend and there are findings
    assert any(c["summary"]["spend_mtd"] for c in left.values())
    assert sum(a["counts"].values()) > 0


def test_offline_check_knows_discovered_customers(
    served: tuple[RunningEmulator, Path], cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, where = served
    emulator.reset()
    estate = emulator.estate
    monkeypatch.setenv("BTCONSOLE_TODAY", estate.as_of.isoformat())
    _, lighthouse = _configs(emulator, where)
    code, out, err = cli(None, "--config", str(lighthouse), "check", "--all", "--offline")
    assert code == 64 and "no customer discovered yet" in err
    for name, value in secret_environment(estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    _, online = _check(cli, lighthouse)
    code, out, err = cli(
        None, "--config", str(lighthouse), "check", "--all", "--offline", "--format", "json"
    )
    offline = json.loads(out)
    assert offline["profiles"] == online["profiles"]
    assert len(offline["profiles"]) == len(estate.customers)
    assert offline["counts"] == online["counts"]
    # --profile with the Lighthouse profile's name: every customer it discovered
    code, out, err = cli(
        None,
        "--config",
        str(lighthouse),
        "check",
        "--profile",
        "msp",
        "--offline",
        "--format",
        "json",
    )
    assert json.loads(out)["profiles"] == online["profiles"], err


def test_a_removed_delegation_keeps_the_customer_marked_and_its_data(
    served: tuple[RunningEmulator, Path],
    cli: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emulator, where = served
    emulator.reset()
    estate = emulator.estate
    monkeypatch.setenv("BTCONSOLE_TODAY", estate.as_of.isoformat())
    for name, value in secret_environment(estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    _, lighthouse = _configs(emulator, where)
    before_code, before = _check(cli, lighthouse)
    first = estate.customers[0]

    # the same estate, served again without the first customer's delegations
    revoked = generate(seed=1, size="small")
    gone = set(revoked.customers[0].subscription_ids)
    for tenant in revoked.tenants:
        tenant.delegated_subscription_ids = [
            s for s in tenant.delegated_subscription_ids if s not in gone
        ]
    revoked.delegations = [d for d in revoked.delegations if d.subscription_id not in gone]
    with running_emulator(revoked) as other:
        config = tmp_path / "revoked.toml"
        # the same config (overrides included), pointed at the other emulator
        text = lighthouse.read_text(encoding="utf-8")
        text = text.replace(emulator.base_url.rstrip("/"), other.base_url.rstrip("/"))
        text = text.replace(str(Path(emulator.ca_path).resolve()), str(Path(other.ca_path)))
        config.write_text(text, encoding="utf-8")
        code, after = _check(cli, config)
    assert sorted(after["profiles"]) == sorted(before["profiles"])  # still there
    name = first.slug
    customer = next(c for c in after["customers"] if c["profile"] == name)
    old = next(c for c in before["customers"] if c["profile"] == name)
    assert customer["summary"] == old["summary"]  # its cached data, kept
    # marked where its findings are, as in the console's attention list
    [gone_finding] = [f for f in customer["findings"] if f["rule"] == "coverage/delegation-gone"]
    assert gone_finding["severity"] == "warning" and first.tenant_id in gone_finding["detail"]
    assert customer["complete"] is False
    # its one problem: the delegation is gone (a refresh would have been refused: the
    # provider sees none of its subscriptions any more, so no refresh-failed either)
    [problem] = [p for p in after["data"]["problems"] if p["profile"] == name]
    assert problem["kind"] == "delegation-gone" and first.tenant_id in problem["message"]
    assert problem["reason"] == "access"
    others = [c for c in after["customers"] if c["profile"] != name]
    assert all(c["complete"] for c in others)
    assert before_code != 3 and code == 3  # incomplete: some data is old


def test_doctor_lists_delegations_per_customer_and_the_roles_they_lack(
    served: tuple[RunningEmulator, Path], cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, where = served
    emulator.reset()
    estate = emulator.estate
    for name, value in secret_environment(estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    _, lighthouse = _configs(emulator, where)
    code, out, err = cli(None, "--config", str(lighthouse), "doctor")
    assert code == 0, out + err
    assert f"{lighthouse}: valid, Lighthouse: msp\n" in out  # not "0 profile(s): ;"
    lines = [line for line in out.splitlines() if " delegate " in line]
    by_tenant = {c.tenant_id: c for c in estate.customers}
    assert len(lines) == len(estate.customers)
    first, second, third = (
        next(line for line in lines if c.tenant_id in line) for c in estate.customers
    )
    # every role delegated on every subscription
    assert first.startswith("OK") and "Cost Management Reader" in first
    # a delegation at one resource group's scope, Reader only
    rg_only = next(d for d in estate.delegations if d.resource_group)
    assert second.startswith("WARN")
    assert f"delegated at resource group {rg_only.resource_group} only" in second
    assert f"{rg_only.subscription_id.lower()}: policy evaluations: no Resource Policy" in second
    # no Cost Management Reader and not a customer of the billing account
    assert third.startswith("WARN") and "spend: no Cost Management Reader delegated" in third
    assert len(by_tenant) == 3


def test_discovery_of_more_than_a_thousand_delegated_subscriptions(
    cli: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """1,100 delegated subscriptions in pages of 100: every one is its customer's, the
    nameless tenant is named by its id, and each customer's subscription listing is
    kept so the engine need not list them again."""
    import asyncio

    from btconsole.cache import CacheKey
    from btconsole.lighthouse import discover

    estate = generate(seed=1, size="small", subscriptions=1100)
    with running_emulator(estate) as emulator:
        emulator.set_settings(page_size=100)
        path = tmp_path / "lighthouse.toml"
        write_config(path, estate, emulator.base_url, Path(emulator.ca_path), lighthouse=True)
        for name, value in secret_environment(estate, lighthouse=True).items():
            monkeypatch.setenv(name, value)
        config = load_config(path)
        with Cache.open(tmp_path / "cache.sqlite3") as cache:
            assert asyncio.run(discover(config, cache)) == []
            effective = effective_config(config, cache)
            listed = {
                p.tenant_id: cache.get(CacheKey(p.name, "subscriptions", "*"))
                for p in effective.profiles.values()
            }
        routes = emulator.stats()["by_route"]
    assert routes["subscriptions.list"] == 11 and routes["tenants.list"] == 1
    assert len(effective.profiles) == len(estate.customers)
    for customer in estate.customers:
        [profile] = [p for p in effective.profiles.values() if p.tenant_id == customer.tenant_id]
        wanted = sorted(s.lower() for s in customer.subscription_ids)
        assert list(profile.subscriptions or ()) == wanted
        entry = listed[customer.tenant_id]
        assert entry is not None
        assert sorted(r.subscription_id for r in entry.records) == wanted
        tenant = estate.tenant(customer.tenant_id)
        assert tenant is not None
        if not tenant.display_name:
            assert profile.name == customer.tenant_id.lower()
    assert sum(len(p.subscriptions or ()) for p in effective.profiles.values()) == 1100


def test_export_of_discovered_customers_matches_per_customer_profiles(
    served: tuple[RunningEmulator, Path],
    cli: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emulator, where = served
    emulator.reset()
    estate = emulator.estate
    monkeypatch.setenv("BTCONSOLE_TODAY", estate.as_of.isoformat())
    per_customer, lighthouse = _configs(emulator, where)
    from tests.checks.conftest import _secrets

    for name, value in {**_secrets(estate), **secret_environment(estate, lighthouse=True)}.items():
        monkeypatch.setenv(name, value)
    rows: dict[str, list[Any]] = {}
    for label, config in (("customers", per_customer), ("lighthouse", lighthouse)):
        _use_home(monkeypatch, tmp_path / label)
        code, out, err = cli(
            None, "--config", str(config), "export", "spend", "--all", "--format", "json"
        )
        assert code == 0, err
        data = json.loads(out)
        assert data["complete"] and data["rows"]
        rows[label] = sorted(
            json.dumps({k: v for k, v in r.items() if k not in ("profile", "customer")})
            for r in data["rows"]
        )
    assert rows["lighthouse"] == rows["customers"]


BILLING_ROUTES = "costs.*_billing_customer"


def _billed_and_not(estate: Estate) -> tuple[set[str], set[str]]:
    (account,) = estate.billing_accounts
    billed = {c.tenant_id for c in account.customers}
    return billed, {c.tenant_id for c in estate.customers} - billed


def test_a_refused_billing_scope_falls_back_to_per_subscription_spend(
    served: tuple[RunningEmulator, Path],
    cli: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """403 on the billing account's customer scope (the provider lacks the billing
    role there): the spend is read per subscription, and agrees to the cent with what
    per-customer profiles read."""
    emulator, where = served
    emulator.reset()
    estate = emulator.estate
    monkeypatch.setenv("BTCONSOLE_TODAY", estate.as_of.isoformat())
    per_customer, lighthouse = _configs(emulator, where)
    from tests.checks.conftest import _secrets

    for name, value in {**_secrets(estate), **secret_environment(estate, lighthouse=True)}.items():
        monkeypatch.setenv(name, value)
    _use_home(monkeypatch, tmp_path / "per-customer")
    _, a = _check(cli, per_customer)
    emulator.add_fault(kind="forbidden", route=BILLING_ROUTES)
    _use_home(monkeypatch, tmp_path / "lighthouse")
    before = emulator.stats()["by_route"]
    _, b = _check(cli, lighthouse)
    after = emulator.stats()["by_route"]
    forecasts = after["costs.forecast_subscription"] - before.get("costs.forecast_subscription", 0)
    assert forecasts == len(estate.subscriptions)  # every subscription, billed or not
    assert after["costs.query_billing_customer"] > before.get("costs.query_billing_customer", 0)
    assert b["data"]["problems"] == []
    left = _by_tenant(a, {c.slug: c.tenant_id for c in estate.customers})
    right = _by_tenant(b, _discovered(lighthouse))
    for tenant, customer in left.items():
        for key in ("counts", "status", "coverage", "summary", "complete"):
            assert right[tenant][key] == customer[key], (tenant, key)
        assert right[tenant]["findings"] == customer["findings"], tenant


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"kind": "costmanagement_throttle", "retry_after": 1, "quotas": ["qpu"]}, "throttled"),
        ({"kind": "server_error", "status": 503}, "service"),
    ],
)
def test_a_failing_billing_scope_fails_every_subscription_of_its_customers(
    served: tuple[RunningEmulator, Path],
    cli: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fault: dict[str, Any],
    reason: str,
) -> None:
    """429 (after its retries) or 5xx on the customer scope: every subscription of a
    billed customer has its spend failed, with the reason; nothing is shown as zero;
    the customers read per subscription and the other domains are untouched."""
    emulator, where = served
    emulator.reset()
    estate = emulator.estate
    monkeypatch.setenv("BTCONSOLE_TODAY", estate.as_of.isoformat())
    _, lighthouse = _configs(emulator, where)
    for name, value in secret_environment(estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    emulator.add_fault(route=BILLING_ROUTES, **fault)
    _use_home(monkeypatch, tmp_path / "lighthouse")
    code, report = _check(cli, lighthouse)  # validates against docs/check-schema.json
    assert code == 3  # a customer's spend unknown
    billed, unbilled = _billed_and_not(estate)
    by_tenant = _by_tenant(report, _discovered(lighthouse))
    for tenant in billed:
        customer = by_tenant[tenant]
        spend = customer["coverage"]["domains"]["spend"]
        subscriptions = len(named_subscriptions(estate, tenant))
        assert spend["state"] == "unknown", tenant
        assert spend["scopes"]["failed"] == subscriptions
        assert spend["reason"] == reason
        assert customer["summary"]["spend_mtd"] is None or customer["summary"]["spend_mtd"] == {}
        assert customer["summary"]["forecast"] in (None, {})
        assert customer["coverage"]["domains"]["arc"]["state"] == "known"
        assert any(f["rule"] == "coverage" and f["domain"] == "spend" for f in customer["findings"])
    for tenant in unbilled:
        assert by_tenant[tenant]["coverage"]["domains"]["spend"]["state"] == "known"


def test_an_unreadable_billing_account_reads_spend_per_subscription(
    served: tuple[RunningEmulator, Path],
    cli: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Discovery cannot list the billing account's customers (403): the customers are
    still discovered, a problem says why, and their spend is read per subscription."""
    emulator, where = served
    emulator.reset()
    estate = emulator.estate
    monkeypatch.setenv("BTCONSOLE_TODAY", estate.as_of.isoformat())
    _, lighthouse = _configs(emulator, where)
    for name, value in secret_environment(estate, lighthouse=True).items():
        monkeypatch.setenv(name, value)
    emulator.add_fault(kind="forbidden", route="billing.customers.list")
    _use_home(monkeypatch, tmp_path / "lighthouse")
    _, report = _check(cli, lighthouse)
    (problem,) = report["data"]["notes"]
    assert "billing account" in problem and "per subscription" in problem
    assert len(report["profiles"]) == len(estate.customers)
    ran = emulator.stats()["by_route"]
    assert ran.get("costs.query_billing_customer", 0) == 0
    assert ran["costs.forecast_subscription"] == len(estate.subscriptions)
    assert all(c["coverage"]["domains"]["spend"]["state"] == "known" for c in report["customers"])
