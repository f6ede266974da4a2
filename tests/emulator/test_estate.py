"""The estate model and generator: determinism, dump/load, validation, knobs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from btconsole.emulator.estate import SIZES, Estate, EstateError, parse_resource_id
from btconsole.emulator.generate import (
    DEFAULT_AS_OF,
    MSP_NAME,
    SIZE_KNOBS,
    describe,
    generate,
    knobs_for,
)


@pytest.fixture(scope="module")
def small() -> Estate:
    return generate(seed=7, size="small")


@pytest.fixture(scope="module")
def small_json(small: Estate) -> str:
    return small.to_json()


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_dumps(small_json: str) -> None:
    assert generate(seed=7, size="small").to_json() == small_json


def test_different_seeds_differ(small_json: str) -> None:
    other = generate(seed=8, size="small").to_json()
    assert other != small_json
    a, b = json.loads(small_json), json.loads(other)
    assert a["tenants"][0]["tenant_id"] != b["tenants"][0]["tenant_id"]
    assert [m["status"] for m in a["machines"]] != [m["status"] for m in b["machines"]]


def test_overrides_and_as_of_are_deterministic() -> None:
    import datetime as dt

    one = generate(3, "small", machines=10, as_of=dt.date(2027, 2, 3)).to_json()
    two = generate(3, "small", machines=10, as_of=dt.date(2027, 2, 3)).to_json()
    assert one == two
    estate = Estate.from_json(one)
    assert estate.as_of == dt.date(2027, 2, 3)
    assert estate.cost_dates()[-1] == dt.date(2027, 2, 3)


# --------------------------------------------------------------------------- dump / load


def test_round_trip(small: Estate, small_json: str) -> None:
    loaded = Estate.from_json(small_json)
    assert loaded.to_json() == small_json
    assert loaded == small
    assert loaded.seed == 7 and loaded.size == "small"


def _mutated(text: str, change: Any) -> str:
    doc = json.loads(text)
    change(doc)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["machines"][2].update(status=5),
            "estate.machines[2].status: expected a string",
        ),
        (lambda d: d["machines"][0].pop("vm_id"), "estate.machines[0].vm_id: missing"),
        (
            lambda d: d["circuits"][1].update(colour="red"),
            "estate.circuits[1].colour: unknown field",
        ),
        (
            lambda d: d["machines"][3].update(
                subscription_id="00000000-0000-4000-8000-000000000000"
            ),
            "estate.machines[3].subscription_id: unknown subscription",
        ),
        (
            lambda d: d["machines"][4].update(resource_group="rg-nope"),
            "estate.machines[4].resource_group: no resource group 'rg-nope'",
        ),
        (
            lambda d: d["tenants"][0].update(tenant_id="not-a-guid"),
            "estate.tenants[0].tenant_id: not a lowercase GUID",
        ),
        (
            lambda d: d["customers"][1].update(currency="jpy"),
            "estate.customers[1].currency: expected an ISO 4217 code",
        ),
        (
            lambda d: d["customers"][1].update(currency="EURO"),
            "estate.customers[1].currency: expected an ISO 4217 code",
        ),
        (
            lambda d: d["customers"][0].update(slug="Bad Slug"),
            "estate.customers[0].slug: must match",
        ),
        (
            lambda d: d["circuits"][0]["peerings"].append(dict(d["circuits"][0]["peerings"][0])),
            "duplicate peering",
        ),
        (
            lambda d: d["circuits"][0].update(service_provider_provisioning_state=""),
            "estate.circuits[0].service_provider_provisioning_state: must be a non-empty string",
        ),
        (
            lambda d: d["policy_states"][5].update(compliance_state=" "),
            "estate.policy_states[5].compliance_state",
        ),
        (
            lambda d: d["policy_states"][6].update(assignment="nope"),
            "estate.policy_states[6].assignment: no assignment",
        ),
        (lambda d: d["costs"][3]["daily"].pop(), "estate.costs[3].daily: expected 60 values"),
        (
            lambda d: d["costs"][3]["daily"].__setitem__(0, "x"),
            "estate.costs[3].daily[0]: expected a number",
        ),
        (lambda d: d.update(as_of="yesterday"), "estate.as_of: expected a date YYYY-MM-DD"),
        (lambda d: d.update(version=99), "estate.version: expected 1"),
        (lambda d: d.update(format="other"), "estate.format"),
        (
            lambda d: d["machines"][1].update(last_status_change="soon"),
            "estate.machines[1].last_status_change: not an ISO 8601",
        ),
        (lambda d: d["budgets"][0].update(amount=-5), "estate.budgets[0].amount: must be positive"),
        (
            lambda d: d["tenants"][0].update(client_id=d["tenants"][1]["client_id"]),
            "duplicate client_id",
        ),
        (
            lambda d: d["tenants"][0].update(owned_subscription_ids=[]),
            "does not list",
        ),
        (
            lambda d: d["customers"][0].update(
                subscription_ids=d["customers"][0]["subscription_ids"][1:]
            ),
            "estate.subscriptions[0].customer: customer",
        ),
    ],
)
def test_from_json_names_the_bad_field(small_json: str, change: Any, expected: str) -> None:
    with pytest.raises(EstateError) as info:
        Estate.from_json(_mutated(small_json, change))
    assert expected in str(info.value)


def test_from_json_rejects_non_json() -> None:
    with pytest.raises(EstateError, match=r"not valid JSON.*line 1"):
        Estate.from_json("{nope")
    with pytest.raises(EstateError, match="expected a JSON object"):
        Estate.from_json("[]")


def test_minimal_hand_written_estate_loads() -> None:
    text = json.dumps(
        {
            "format": "btconsole-estate",
            "version": 1,
            "seed": None,
            "size": None,
            "as_of": "2026-11-20",
            "tenants": [
                {
                    "tenant_id": "11111111-1111-4111-8111-111111111111",
                    "display_name": "Contoso",
                    "client_id": "22222222-2222-4222-8222-222222222222",
                    "client_secret": "s3cret",
                    "owned_subscription_ids": ["33333333-3333-4333-8333-333333333333"],
                }
            ],
            "customers": [
                {
                    "slug": "contoso",
                    "display_name": "Contoso",
                    "tenant_id": "11111111-1111-4111-8111-111111111111",
                    "subscription_ids": ["33333333-3333-4333-8333-333333333333"],
                    "monthly_budget": 100,
                    "currency": "GBP",
                }
            ],
            "subscriptions": [
                {
                    "subscription_id": "33333333-3333-4333-8333-333333333333",
                    "display_name": "Contoso - Production",
                    "tenant_id": "11111111-1111-4111-8111-111111111111",
                    "customer": "contoso",
                    "resource_groups": [{"name": "rg-arc", "location": "uksouth"}],
                }
            ],
        }
    )
    estate = Estate.from_json(text)
    assert estate.machines == [] and estate.cost_days == 0
    assert estate.visible_subscription_ids("11111111-1111-4111-8111-111111111111") == {
        "33333333-3333-4333-8333-333333333333"
    }


def test_refunds_absurd_costs_and_any_currency_load_from_a_file(small_json: str) -> None:
    """Negative days (refunds, credits), absurd ones and currencies beyond GBP/EUR/USD
    are accepted from an estate file and dumped back as they were."""
    doc = json.loads(small_json)
    doc["customers"][0]["currency"] = "JPY"
    doc["customers"][1]["currency"] = "CHF"
    doc["costs"][0]["daily"][-1] = -123.45
    doc["costs"][1]["daily"][-2] = 1e308
    estate = Estate.from_json(json.dumps(doc))
    assert [c.currency for c in estate.customers[:2]] == ["JPY", "CHF"]
    assert estate.costs[0].daily[-1] == -123.45 and estate.costs[1].daily[-2] == 1e308
    assert json.loads(estate.to_json()) == doc


def test_refunds_are_drawn_apart_from_the_rest_of_the_estate() -> None:
    """The ``refunds`` knob nets some days below zero and changes nothing else."""
    with_refunds = generate(seed=3, size="small", refunds=2)
    without = generate(seed=3, size="small")
    assert SIZE_KNOBS["small"].refunds == 0 and SIZE_KNOBS["medium"].refunds > 0
    changed = [
        (a.subscription_id, i)
        for a, b in zip(with_refunds.costs, without.costs, strict=True)
        for i, (x, y) in enumerate(zip(a.daily, b.daily, strict=True))
        if x != y
    ]
    assert len(changed) == 2 and len({sub for sub, _ in changed}) == 2
    series = {id(s): s for s in with_refunds.costs}
    negative = [v for s in series.values() for v in s.daily if v < 0]
    assert len(negative) == 2
    assert all(i >= with_refunds.cost_days - 28 for _, i in changed)
    # budgets follow the costs they were set against; everything else is the same
    mine, theirs = json.loads(with_refunds.to_json()), json.loads(without.to_json())
    for doc in (mine, theirs):
        for key in ("costs", "budgets"):
            doc.pop(key)
        for customer in doc["customers"]:
            customer.pop("monthly_budget")
    assert mine == theirs


def test_generated_currencies_go_beyond_gbp_eur_usd() -> None:
    large = generate(seed=1, size="large", machines=30, clusters=3, circuits=3, policy_states=30)
    assert {"CHF", "JPY"} <= {c.currency for c in large.customers}
    medium = generate(seed=1, size="medium", machines=30, clusters=3, circuits=3)
    assert {c.currency for c in medium.customers} == {"GBP", "EUR", "USD"}


def test_docs_example_estate_loads() -> None:
    """The complete example in docs/emulator-estate.md is a valid estate."""
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "emulator-estate.md").read_text()
    block = doc.split("```json\n", 1)[1].split("\n```", 1)[0]
    estate = Estate.from_json(block)
    assert estate.machines and estate.circuits and estate.policy_states and estate.costs


# --------------------------------------------------------------------------- shape


def test_tenants_and_lighthouse(small: Estate) -> None:
    msp = [t for t in small.tenants if t.display_name == MSP_NAME]
    assert len(msp) == 1
    all_subs = {s.subscription_id for s in small.subscriptions}
    assert set(msp[0].delegated_subscription_ids) == all_subs
    assert small.visible_subscription_ids(msp[0].tenant_id) == all_subs
    for c in small.customers:
        tenant = small.tenant(c.tenant_id)
        assert tenant is not None
        assert small.tenant_for_client(tenant.client_id) is tenant
        assert small.visible_subscription_ids(c.tenant_id) == set(c.subscription_ids)
        assert small.managing_tenants(c.subscription_ids[0]) == [msp[0].tenant_id]
    assert small.tenant_for_client("00000000-0000-4000-8000-000000000000") is None


def test_problem_mix_in_default_estate() -> None:
    estate = generate(seed=1, size="medium")
    statuses = {m.status for m in estate.machines}
    assert {"Connected", "Disconnected", "Expired", "Error"} <= statuses
    assert all(m.error_details for m in estate.machines if m.status == "Error")
    assert len({m.agent_version for m in estate.machines}) >= 3
    skus = " ".join(m.os_sku for m in estate.machines)
    for os_name in ("2016", "2019", "2022", "2025", "Ubuntu", "Red Hat", "SUSE"):
        assert os_name in skus
    assert {"Connected", "Offline"} <= {c.connectivity_status for c in estate.clusters}
    assert {c.service_provider_name for c in estate.circuits} == {"British Telecom"}
    assert "Provisioned" in {c.service_provider_provisioning_state for c in estate.circuits}
    assert {c.service_provider_provisioning_state for c in estate.circuits} - {"Provisioned"}
    health = {(p.primary, p.secondary) for c in estate.circuits for p in c.peerings}
    assert ("down", "down") in health or any("flapping" in h for h in health)
    assert any(("down" in h) != ("up" not in h) for h in health)  # one device down
    assert {"Compliant", "NonCompliant"} <= {s.compliance_state for s in estate.policy_states}
    over = [b for b in estate.budgets if estate.forecast_month_cost(b.subscription_id) > b.amount]
    assert over, "some subscriptions are forecast over budget"
    assert estate.cost_days >= 60


def _spikes(estate: Estate) -> list[tuple[str, str, int]]:
    """Days costing over 2x the trailing 14-day median and over it by more than 50."""
    import statistics

    found = []
    for series in estate.costs:
        values = series.daily
        for i in range(7, len(values)):
            median = statistics.median(values[max(0, i - 14) : i])
            if values[i] > 2 * median and values[i] - median > 50:
                found.append((series.subscription_id, series.service_name, i))
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cost_spikes_exist_recently(seed: int) -> None:
    estate = generate(seed=seed, size="small")
    spikes = _spikes(estate)
    assert spikes
    assert all(i >= estate.cost_days - 14 for _, _, i in spikes)
    assert _spikes(generate(seed=seed, size="small", healthy=True)) == []


def test_resource_ids_of_policy_states_parse() -> None:
    estate = generate(seed=2, size="medium")
    for state in estate.policy_states[:200]:
        sid, rg, rtype = parse_resource_id(state.resource_id)
        assert estate.resource_group(sid, rg) is not None
        assert "/" in rtype


def test_healthy_estate_has_no_problems() -> None:
    estate = generate(seed=5, size="small", healthy=True)
    newest = max(m.agent_version for m in estate.machines)
    assert all(m.status == "Connected" and not m.error_details for m in estate.machines)
    assert all(m.agent_version == newest for m in estate.machines)
    assert all(e.status == "Succeeded" for m in estate.machines for e in m.extensions)
    assert all(c.connectivity_status == "Connected" for c in estate.clusters)
    for c in estate.circuits:
        assert c.service_provider_provisioning_state == "Provisioned"
        assert c.peerings
        assert all(p.primary == p.secondary == "up" for p in c.peerings)
    assert {s.compliance_state for s in estate.policy_states} == {"Compliant"}
    for b in estate.budgets:
        assert estate.forecast_month_cost(b.subscription_id) < b.amount
        assert estate.month_to_date_cost(b.subscription_id) < b.amount


# --------------------------------------------------------------------------- knobs


def test_small_knob_figures(small: Estate) -> None:
    counts = describe(small)
    knobs = SIZE_KNOBS["small"]
    assert counts["customers"] == knobs.customers == 3
    assert counts["tenants"] == 4
    assert counts["subscriptions"] == knobs.subscriptions == 6
    assert counts["machines"] == knobs.machines == 60
    assert counts["circuits"] == knobs.circuits == 6
    assert counts["policy_states"] == knobs.policy_states == 600
    assert counts["cost_days"] == 60
    assert small.as_of == DEFAULT_AS_OF


def test_overrides() -> None:
    estate = generate(seed=1, size="small", customers=1, machines=10, circuits=0, clusters=0)
    assert len(estate.customers) == 1
    assert len(estate.machines) == 10
    assert estate.circuits == [] and estate.clusters == []
    assert {s.customer for s in estate.subscriptions} == {estate.customers[0].slug}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": "gigantic"}, "unknown estate size"),
        ({"size": "small", "planets": 3}, "unknown estate knob"),
        ({"size": "small", "machines": -1}, "non-negative integer"),
        ({"size": "small", "customers": 0}, "at least 1"),
        ({"size": "small", "policy_assignments": 13}, "at most 12"),
    ],
)
def test_bad_knobs(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        knobs_for(**kwargs)


def test_size_table_is_complete() -> None:
    assert set(SIZE_KNOBS) == set(SIZES)
    huge = SIZE_KNOBS["huge"]
    assert (huge.subscriptions, huge.machines, huge.circuits, huge.policy_states) == (
        300,
        20000,
        120,
        100000,
    )
    assert huge.cost_days >= 60


@pytest.mark.slow
def test_huge_reaches_its_figures() -> None:
    # (how fast is for the benchmark harness, not an assertion on a shared machine)
    estate = generate(seed=1, size="huge")
    counts = describe(estate)
    assert counts["subscriptions"] == 300
    assert counts["machines"] == 20000
    assert counts["circuits"] == 120
    assert counts["policy_states"] == 100000
    assert counts["cost_days"] == 60


def test_dump_does_not_depend_on_string_hashing(small_json: str) -> None:
    """Two interpreters with different hash seeds generate the same bytes."""
    import hashlib
    import os
    import subprocess
    import sys

    code = (
        "import hashlib, sys\n"
        "from btconsole.emulator.generate import generate\n"
        "sys.stdout.write(hashlib.sha256(generate(seed=7, size='small').to_json().encode())"
        ".hexdigest())\n"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        digests.add(out.stdout)
    assert digests == {hashlib.sha256(small_json.encode()).hexdigest()}


def _times_after(doc: Any, now: Any, path: str = "") -> list[str]:
    """The paths of every timestamp in an estate dump that lies after ``now``."""
    import datetime as dt
    import re

    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _times_after(v, now, f"{path}.{k}")]
    if isinstance(doc, list):
        return [p for v in doc for p in _times_after(v, now, path)]
    if isinstance(doc, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|\+00:00)", doc):
        when = dt.datetime.fromisoformat(doc.replace("Z", "+00:00"))
        return [path] if when > now else []
    return []


@pytest.mark.parametrize("hour", [0, 7, 12, 23])
def test_only_planned_maintenance_lies_after_the_estates_now(hour: int) -> None:
    # the demo starts at any hour: a machine "down for 3 hours" at 07:35 went down
    # at 04:35, never "in 3h"
    estate = generate(seed=7, size="small", hour=hour)
    assert estate.now.hour == hour
    later = _times_after(json.loads(estate.to_json()), estate.now)
    assert later  # the planned maintenance window is ahead
    assert set(later) <= {".service_events.impact_start", ".service_events.impact_mitigation"}
    upcoming = [e for e in estate.service_events if e.event_type == "PlannedMaintenance"]
    assert len(later) <= 2 * len(upcoming)


def test_the_hour_must_be_one_of_the_day(small_json: str) -> None:
    with pytest.raises(ValueError, match="hour must be 0-23"):
        generate(seed=7, size="small", hour=24)
    doc = json.loads(small_json)
    doc["hour"] = 25
    with pytest.raises(EstateError, match=r"estate\.hour"):
        Estate.from_json(json.dumps(doc))
