"""Every documented answer of the Policy Insights operations btconsole calls, through
the real wrapper (SDK clients over HTTPS) and the refresh engine.

``PolicyStates_SummarizeForSubscription`` (no states, a compliance state outside the
documented ones, results without optional properties, the ``QueryFailure`` error),
``PolicyStates_ListQueryResultsForSubscription`` (empty, paged by ``@odata.nextLink``,
records without optional properties) and the long-running
``PolicyStates_TriggerSubscriptionEvaluation`` (200 at once, 202 polled through
``Location``, 202 with ``Azure-AsyncOperation``, failed, canceled).
"""

from __future__ import annotations

from typing import Any

import pytest

from btconsole import health
from btconsole.azure import policy
from btconsole.azure.errors import AzureError, RequestError
from btconsole.cache import Cache, CacheKey
from btconsole.records import ComplianceRecord
from tests.azure.conftest import Emulated, run
from tests.emulator.variants.support import (
    EMPTY,
    ODD,
    PROFILE,
    engine_for,
    refresh,
    with_session,
)


def _summary(emulated: Emulated, sub: str) -> tuple[ComplianceRecord, list[Any]]:
    result: tuple[ComplianceRecord, list[Any]] = run(
        lambda: with_session(emulated, lambda s: policy.summarize(s, sub))
    )
    return result


def _compliance(emulated: Emulated, cache: Cache, sub: str) -> ComplianceRecord:
    entry = cache.get(CacheKey(emulated.profile(PROFILE).name, "policy", sub))
    assert entry is not None and entry.error is None
    found = [r for r in entry.records if isinstance(r, ComplianceRecord)]
    assert len(found) == 1
    return found[0]


# --------------------------------------------------------------------------- summarize


@pytest.mark.parametrize("graph", [False, True], ids=["summarize", "resource-graph"])
def test_no_policy_states_is_not_applicable(emulated: Emulated, cache: Cache, graph: bool) -> None:
    compliance, assignments = _summary(emulated, EMPTY)
    assert compliance.total_resources == 0 and assignments == []
    threshold = 0 if graph else 10_000
    outcomes = {
        o.key.scope: o
        for o in run(lambda: refresh(emulated, cache, "policy", graph_threshold=threshold))
    }
    assert outcomes[EMPTY].status == "fetched"
    cached = _compliance(emulated, cache, EMPTY)
    assert cached.total_resources == 0
    assert (
        health.compliance_percent(cached.compliant_resources, cached.non_compliant_resources)
        is None
    )


def test_compliance_state_outside_the_documented_ones(emulated: Emulated, cache: Cache) -> None:
    compliance, _ = _summary(emulated, ODD)
    estate = emulated.emulator.estate
    resources = {s.resource_id.lower() for s in estate.policy_states_in(ODD)}
    assert compliance.total_resources == len(resources)
    run(lambda: refresh(emulated, cache, "policy"))
    assert _compliance(emulated, cache, ODD) == compliance
    run(lambda: refresh(emulated, cache, "policy", graph_threshold=0))
    by_graph = _compliance(emulated, cache, ODD)
    assert by_graph.non_compliant_resources == compliance.non_compliant_resources
    assert by_graph.compliant_resources == compliance.compliant_resources


def test_summary_without_optional_properties_is_not_applicable(
    emulated: Emulated, cache: Cache
) -> None:
    emulated.emulator.add_fault(
        kind="edit",
        route="policy.states.summarize_*",
        remove=["results", "policyAssignments", "@odata.context"],
    )
    compliance, assignments = _summary(emulated, ODD)
    assert assignments == []
    assert compliance.total_resources == 0 and compliance.non_compliant_resources == 0
    # nothing evaluated is n/a, never "100% compliant"
    assert health.compliance_percent(compliance.compliant_resources, 0) is None
    run(lambda: refresh(emulated, cache, "policy"))
    assert _compliance(emulated, cache, ODD).total_resources == 0


def test_query_failure_error_response(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="arm_error",
        route="policy.states.summarize_*",
        subscriptions=[ODD],
        status=400,
        code="InvalidFilterInQueryString",
        message="The $filter is not valid.",
    )
    with pytest.raises(RequestError) as caught:
        _summary(emulated, ODD)
    assert caught.value.code == "InvalidFilterInQueryString"
    outcomes = {o.key.scope: o for o in run(lambda: refresh(emulated, cache, "policy"))}
    assert outcomes[ODD].status == "failed" and outcomes[EMPTY].status == "fetched"


# --------------------------------------------------------------------------- queryResults


def _states(emulated: Emulated, sub: str) -> list[Any]:
    result: list[Any] = run(lambda: with_session(emulated, lambda s: policy.non_compliant(s, sub)))
    return result


def test_query_results_empty(emulated: Emulated) -> None:
    assert _states(emulated, EMPTY) == []


def test_query_results_follow_odata_next_links(emulated: Emulated) -> None:
    whole = _states(emulated, ODD)
    emulated.emulator.control("DELETE", "stats")
    emulated.emulator.add_fault(kind="page", route="policy.states.query_*", size=2)
    assert _states(emulated, ODD) == whole and len(whole) > 2
    pages = emulated.emulator.route_count("policy.states.query_subscription")
    assert pages == -(-len(whole) // 2)


def test_query_results_without_optional_properties(emulated: Emulated) -> None:
    emulated.emulator.add_fault(
        kind="edit",
        route="policy.states.query_*",
        remove=["timestamp", "resourceType", "resourceLocation", "policyDefinitionId"],
    )
    found = _states(emulated, ODD)
    assert found and all(s.timestamp is None and s.resource_type is None for s in found)
    assert all(s.definition_id == "" and s.compliance_state == "NonCompliant" for s in found)


def test_query_results_query_failure(emulated: Emulated) -> None:
    emulated.emulator.add_fault(
        kind="arm_error", route="policy.states.query_*", status=403, code="AuthorizationFailed"
    )
    with pytest.raises(AzureError) as caught:
        _states(emulated, ODD)
    assert caught.value.reason == "access" and caught.value.code == "AuthorizationFailed"


# --------------------------------------------------------------------------- evaluation


def _evaluate(emulated: Emulated) -> None:
    run(lambda: with_session(emulated, lambda s: policy.trigger_evaluation(s, ODD)))


def _evaluate_by_engine(emulated: Emulated, cache: Cache) -> Any:
    async def fetch(session: Any) -> list[Any]:
        await policy.trigger_evaluation(session, ODD)
        return []

    async def body() -> Any:
        async with engine_for(emulated, cache) as engine:
            return await engine.detail(
                emulated.profile(PROFILE).name, "evaluation", ODD, fetch, force=True
            )

    return run(body)


def test_evaluation_default_is_202_then_location(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="long_running", route="policy.states.trigger_*", polls=3, retry_after_ms=1
    )
    _evaluate(emulated)
    stats = emulated.emulator.stats()
    assert stats["by_route_status"]["policy.states.trigger_subscription"] == {"202": 1}
    assert stats["by_route_status"]["lro.poll"] == {"202": 2, "200": 1}
    entry = _evaluate_by_engine(emulated, cache)
    assert entry.error is None and entry.fetched_at is not None


def test_evaluation_with_azure_async_operation(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="long_running",
        route="policy.states.trigger_*",
        style="azure-async-operation",
        polls=2,
        retry_after_ms=1,
    )
    _evaluate(emulated)
    assert emulated.emulator.route_count("lro.status") >= 2
    assert _evaluate_by_engine(emulated, cache).error is None


def test_evaluation_answered_at_once(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(kind="long_running", route="policy.states.trigger_*", style="sync")
    _evaluate(emulated)
    stats = emulated.emulator.stats()
    assert stats["by_route_status"]["policy.states.trigger_subscription"] == {"200": 1}
    assert "lro.poll" not in stats["by_route"]
    assert _evaluate_by_engine(emulated, cache).error is None


@pytest.mark.parametrize("outcome", ["failed", "canceled"])
def test_evaluation_that_fails(emulated: Emulated, cache: Cache, outcome: str) -> None:
    emulated.emulator.add_fault(
        kind="long_running",
        route="policy.states.trigger_*",
        style="azure-async-operation",
        outcome=outcome,
        retry_after_ms=1,
        error_code="EvaluationFailed",
        error_message="The evaluation could not complete.",
    )
    with pytest.raises(AzureError) as caught:
        _evaluate(emulated)
    assert f"the operation ended {outcome.capitalize()}" in str(caught.value)
    assert caught.value.code == "EvaluationFailed"

    entry = _evaluate_by_engine(emulated, cache)
    assert "EvaluationFailed" in (entry.error or "")
