"""Policy Insights (latest policy states) through the real async PolicyInsights client."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.policyinsights.aio import PolicyInsightsClient
from azure.mgmt.policyinsights.models import QueryOptions

from btconsole.emulator.estate import Customer
from btconsole.emulator.server import RunningEmulator

ARM_SCOPE = "https://management.azure.com/.default"


def sdk(emulator: RunningEmulator) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "credential_scopes": [ARM_SCOPE],
        "connection_verify": str(emulator.ca_path),
    }


def _sub(emulator: RunningEmulator, customer: Customer) -> str:
    est = emulator.estate
    return max(customer.subscription_ids, key=lambda s: len(est.policy_states_in(s)))


async def test_query_results_filters_and_pages(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = _sub(emulator, customer)
    states = est.policy_states_in(sid)
    non_compliant = [s for s in states if s.compliance_state == "NonCompliant"]
    assert non_compliant, "the small estate has non-compliant states"
    emulator.set_settings(page_size=7)
    async with PolicyInsightsClient(aio_credential, sid, **sdk(emulator)) as client:
        got = [
            s
            async for s in client.policy_states.list_query_results_for_subscription(
                "latest", sid, QueryOptions(filter="ComplianceState eq 'NonCompliant'")
            )
        ]
        assert sorted(s.resource_id for s in got) == sorted(s.resource_id for s in non_compliant)
        assert {s.compliance_state for s in got} == {"NonCompliant"}
        assert all(s.is_compliant is False for s in got)
        assert emulator.route_count("policy.states.query_subscription") == -(
            -len(non_compliant) // 7
        )
        sample = got[0]
        assignment = next(
            a for a in est.assignments_in(sid) if a.name == sample.policy_assignment_name
        )
        assert sample.policy_assignment_id == assignment.id
        assert sample.policy_definition_id.endswith(assignment.definition)
        assert sample.subscription_id == sid
        assert sample.resource_type and sample.resource_group

        both = f"ComplianceState eq 'NonCompliant' and PolicyAssignmentId eq '{assignment.id}'"
        narrowed = [
            s
            async for s in client.policy_states.list_query_results_for_subscription(
                "latest", sid, QueryOptions(filter=both)
            )
        ]
        assert narrowed and len(narrowed) == sum(
            1 for s in non_compliant if s.assignment == assignment.name
        )

        top = [
            s
            async for s in client.policy_states.list_query_results_for_subscription(
                "latest", sid, QueryOptions(top=3)
            )
        ]
        assert len(top) == 3

        ops = client.policy_states
        by_assignment = [
            s
            async for s in ops.list_query_results_for_subscription_level_policy_assignment(
                "latest", sid, assignment.name
            )
        ]
        assert len(by_assignment) == sum(1 for s in states if s.assignment == assignment.name)

        with pytest.raises(HttpResponseError) as bad:
            [
                s
                async for s in client.policy_states.list_query_results_for_subscription(
                    "latest", sid, QueryOptions(filter="ComplianceState eq")
                )
            ]
        assert bad.value.status_code == 400


async def test_summarize(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = _sub(emulator, customer)
    states = est.policy_states_in(sid)
    bad_resources = {s.resource_id for s in states if s.compliance_state == "NonCompliant"}
    bad_assignments = {s.assignment for s in states if s.compliance_state == "NonCompliant"}
    async with PolicyInsightsClient(aio_credential, sid, **sdk(emulator)) as client:
        result = await client.policy_states.summarize_for_subscription("latest", sid)
        (summary,) = result.value
        assert summary.results.non_compliant_resources == len(bad_resources)
        assert summary.results.non_compliant_policies == len(bad_assignments)
        counted = {d.compliance_state: d.count for d in summary.results.resource_details}
        assert counted["noncompliant"] == len(bad_resources)
        assert sum(counted.values()) == len({s.resource_id for s in states})
        listed = summary.policy_assignments
        assert len(listed) == len(est.assignments_in(sid))
        worst = [a.results.non_compliant_resources for a in listed]
        assert worst == sorted(worst, reverse=True)
        assert listed[0].policy_definitions[0].policy_definition_id
        assert "queryResults" in summary.results.query_results_uri

        top = await client.policy_states.summarize_for_subscription(
            "latest", sid, QueryOptions(top=2)
        )
        assert len(top.value[0].policy_assignments) == 2

        one = listed[0].policy_assignment_id.rsplit("/", 1)[-1]
        scoped = await client.policy_states.summarize_for_subscription_level_policy_assignment(
            "latest", sid, one
        )
        assert [a.policy_assignment_id for a in scoped.value[0].policy_assignments] == [
            listed[0].policy_assignment_id
        ]


async def test_trigger_evaluation_is_long_running(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    sid = customer.subscription_ids[0]
    async with PolicyInsightsClient(aio_credential, sid, **sdk(emulator)) as client:
        poller = await client.policy_states.begin_trigger_subscription_evaluation(sid)
        assert await poller.result() is None
        assert poller.done()
    assert emulator.route_count("policy.states.trigger_subscription") == 1
    assert emulator.route_count("lro.poll") == 2


async def test_invisible_subscription_is_403(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential
) -> None:
    other = emulator.estate.customers[1].subscription_ids[0]
    async with PolicyInsightsClient(aio_credential, other, **sdk(emulator)) as client:
        with pytest.raises(HttpResponseError) as info:
            await client.policy_states.summarize_for_subscription("latest", other)
    assert info.value.status_code == 403


async def test_resource_group_scope(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = _sub(emulator, customer)
    states = est.policy_states_in(sid)
    rg = max(
        {s.resource_id.split("/")[4] for s in states},
        key=lambda name: sum(1 for s in states if s.resource_id.split("/")[4] == name),
    )
    in_rg = [s for s in states if s.resource_id.split("/")[4] == rg]
    async with PolicyInsightsClient(aio_credential, sid, **sdk(emulator)) as client:
        ops = client.policy_states
        got = [s async for s in ops.list_query_results_for_resource_group("latest", sid, rg)]
        assert sorted(s.resource_id for s in got) == sorted(s.resource_id for s in in_rg)
        assert {s.resource_group for s in got} == {rg}
        summary = await ops.summarize_for_resource_group("latest", sid, rg)
        bad = {s.resource_id for s in in_rg if s.compliance_state == "NonCompliant"}
        assert summary.value[0].results.non_compliant_resources == len(bad)
        poller = await ops.begin_trigger_resource_group_evaluation(sid, rg)
        await poller.result()
        with pytest.raises(HttpResponseError) as missing:
            await ops.summarize_for_resource_group("latest", sid, "rg-missing")
        assert missing.value.status_code == 404
    assert emulator.route_count("policy.states.trigger_resource_group") == 1
