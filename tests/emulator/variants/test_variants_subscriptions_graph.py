"""Every documented answer of ``Subscriptions_List`` and Resource Graph's
``Resources`` query, through the real wrapper (SDK clients over HTTPS) and the engine.

Subscriptions: an empty list, ``nextLink`` pages, items without optional properties, a
state outside the documented ones, ARM's error. Resource Graph: no rows, ``$skipToken``
pages, rows without optional properties, its error body (``BadRequest`` with the cause
in ``details``) and its 429.
"""

from __future__ import annotations

from typing import Any

import pytest

from btconsole.azure import arc, circuits, graph, subscriptions
from btconsole.azure.errors import AzureError, RequestError, ThrottledError
from btconsole.cache import Cache, CacheKey
from tests.azure.conftest import Emulated, run
from tests.emulator.variants.support import (
    CIRCUITS,
    EMPTY,
    ODD,
    PROFILE,
    engine_for,
    no_sleep,
    refresh,
    with_session,
)

NOBODY = 3  # the profile whose tenant owns no subscription


def _subscriptions(emulated: Emulated, index: int = PROFILE) -> list[Any]:
    result: list[Any] = run(lambda: with_session(emulated, subscriptions.list_subscriptions, index))
    return result


def _listed(emulated: Emulated, cache: Cache, index: int = PROFILE) -> tuple[list[str], Any]:
    name = emulated.profile(index).name

    async def body() -> Any:
        async with engine_for(emulated, cache) as engine:
            subs = await engine.subscriptions(name, force=True)
            return subs, cache.get(CacheKey(name, "subscriptions", "*"))

    result: tuple[list[str], Any] = run(body)
    return result


# --------------------------------------------------------------------------- subscriptions


def test_a_tenant_without_subscriptions_lists_none(emulated: Emulated, cache: Cache) -> None:
    assert emulated.profile(NOBODY).name == "nobody"
    assert _subscriptions(emulated, NOBODY) == []
    subs, entry = _listed(emulated, cache, NOBODY)
    assert subs == [] and entry is not None and entry.error is None
    assert entry.fetched_at is not None


def test_subscription_pages_are_all_followed(emulated: Emulated, cache: Cache) -> None:
    whole = _subscriptions(emulated)
    emulated.emulator.control("DELETE", "stats")
    emulated.emulator.add_fault(kind="page", route="subscriptions.list", size=1)
    assert _subscriptions(emulated) == whole and len(whole) == 4
    assert emulated.emulator.route_count("subscriptions.list") == 4
    subs, _ = _listed(emulated, cache)
    assert subs == [r.subscription_id for r in whole]


def test_subscriptions_without_optional_properties(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="edit",
        route="subscriptions.list",
        remove=["displayName", "state", "tenantId", "subscriptionPolicies", "tags"],
    )
    found = _subscriptions(emulated)
    assert len(found) == 4
    assert all(r.display_name == r.subscription_id for r in found)
    assert all(r.state == "Unknown" and r.tenant_id is None for r in found)
    subs, entry = _listed(emulated, cache)
    assert subs == [r.subscription_id for r in found] and list(entry.records) == found


def test_subscription_state_outside_the_documented_ones(emulated: Emulated, cache: Cache) -> None:
    states = {r.subscription_id: r.state for r in _subscriptions(emulated)}
    assert states[ODD] == "Expired"
    assert states[EMPTY] == "Enabled"
    subs, entry = _listed(emulated, cache)
    assert ODD in subs  # listed and refreshed like any other
    assert {r.subscription_id: r.state for r in entry.records}[ODD] == "Expired"


def test_subscription_listing_error(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="arm_error",
        route="subscriptions.list",
        status=500,
        code="InternalServerError",
        message="Encountered internal server error.",
    )
    with pytest.raises(AzureError) as caught:
        _subscriptions(emulated)
    assert caught.value.reason == "service" and caught.value.status == 500
    name = emulated.profile(PROFILE).name

    async def body() -> Any:
        async with engine_for(emulated, cache, sleep=no_sleep) as engine:
            await engine.subscriptions(name, force=True)
            return cache.get(CacheKey(name, "subscriptions", "*"))

    entry = run(body)
    assert entry is not None and "internal server error" in (entry.error or "")


# --------------------------------------------------------------------------- Resource Graph


def _graph(emulated: Emulated, subs: list[str]) -> Any:
    return run(lambda: with_session(emulated, lambda s: graph.list_arc(s, subs)))


def _all_subs(emulated: Emulated) -> list[str]:
    customer = emulated.emulator.estate.customers[PROFILE]
    return sorted(s.lower() for s in customer.subscription_ids)


def test_graph_no_rows(emulated: Emulated, cache: Cache) -> None:
    assert _graph(emulated, [EMPTY]) == {EMPTY: []}
    found = run(lambda: with_session(emulated, lambda s: graph.list_circuits(s, [EMPTY])))
    assert found == {EMPTY: []}
    outcomes = run(lambda: refresh(emulated, cache, "arc", graph_threshold=0))
    by_scope = {o.key.scope: o for o in outcomes}
    assert by_scope[EMPTY].status == "fetched" and by_scope[EMPTY].records == 0


def test_graph_skip_token_pages(emulated: Emulated, cache: Cache) -> None:
    subs = _all_subs(emulated)
    whole = _graph(emulated, subs)
    emulated.emulator.control("DELETE", "stats")
    emulated.emulator.add_fault(kind="page", route="graph.resources", size=10)
    assert _graph(emulated, subs) == whole
    rows = sum(len(v) for v in whole.values())
    assert emulated.emulator.route_count("graph.resources") == -(-rows // 10) > 1
    run(lambda: refresh(emulated, cache, "arc", graph_threshold=0))
    for sub in subs:
        entry = cache.get(CacheKey(emulated.profile(PROFILE).name, "arc", sub))
        assert entry is not None and list(entry.records) == whole[sub]


def test_graph_rows_without_optional_properties(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="edit",
        route="graph.resources",
        remove=["properties.status", "properties.agentVersion", "tags", "location", "sku"],
    )
    found = _graph(emulated, [ODD])[ODD]
    machines = [r for r in found if r.kind == "machine"]
    assert machines and all(r.status == "Unknown" and r.agent_version is None for r in machines)
    per_sub = run(lambda: with_session(emulated, lambda s: arc.list_arc(s, ODD)))
    assert {r.id for r in per_sub} == {r.id for r in found}
    run(lambda: refresh(emulated, cache, "arc", graph_threshold=0))
    entry = cache.get(CacheKey(emulated.profile(PROFILE).name, "arc", ODD))
    assert entry is not None and list(entry.records) == found


def test_graph_circuit_rows_match_the_listing(emulated: Emulated) -> None:
    by_graph = run(lambda: with_session(emulated, lambda s: graph.list_circuits(s, [CIRCUITS])))
    listed = run(
        lambda: with_session(
            emulated, lambda s: circuits.list_circuits(s, CIRCUITS, with_availability=False)
        )
    )
    assert by_graph[CIRCUITS] == listed


def test_graph_error_body_with_details(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="arm_error",
        route="graph.resources",
        status=400,
        code="BadRequest",
        message="Please provide below info when asking for support: timestamp = ...",
        details=[
            {"code": "InvalidQuery", "message": "Query is invalid. Please refer to the docs."},
            {"code": "UnsupportedTable", "message": "Table 'nope' is not supported."},
        ],
    )
    with pytest.raises(RequestError) as caught:
        _graph(emulated, [ODD])
    assert caught.value.code == "BadRequest" and caught.value.reason == "request"
    outcomes = run(lambda: refresh(emulated, cache, "arc", graph_threshold=0))
    assert {o.status for o in outcomes} == {"failed"}
    for sub in _all_subs(emulated):
        entry = cache.get(CacheKey(emulated.profile(PROFILE).name, "arc", sub))
        assert entry is not None and "BadRequest" in (entry.error or "")


def test_graph_bad_query_is_its_own_error_body(emulated: Emulated) -> None:
    with pytest.raises(RequestError) as caught:
        run(lambda: with_session(emulated, lambda s: graph.query(s, "resources | nope", [ODD])))
    assert caught.value.code == "BadRequest"


def test_graph_throttled_by_its_quota(emulated: Emulated) -> None:
    emulated.emulator.add_fault(
        kind="arm_error",
        route="graph.resources",
        status=429,
        code="RateLimiting",
        message="Please provide below info when asking for support.",
        count=1,
    )
    with pytest.raises(ThrottledError):
        _graph(emulated, [ODD])
