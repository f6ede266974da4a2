"""Azure Resource Graph through the real async ResourceGraphClient."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.resourcegraph.aio import ResourceGraphClient
from azure.mgmt.resourcegraph.models import (
    FacetRequest,
    FacetRequestOptions,
    QueryRequest,
    QueryRequestOptions,
)

from btconsole.emulator.estate import Customer
from btconsole.emulator.routes.graph import QUOTA
from btconsole.emulator.server import RunningEmulator

ARM_SCOPE = "https://management.azure.com/.default"
MACHINES = "resources | where type =~ 'Microsoft.HybridCompute/machines' | order by name asc"


def sdk(emulator: RunningEmulator) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "credential_scopes": [ARM_SCOPE],
        "connection_verify": str(emulator.ca_path),
    }


class Headers:
    """Collects the response headers of every call (``raw_response_hook``)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    def __call__(self, response: PipelineResponse[Any, Any]) -> None:
        self.seen.append(dict(response.http_response.headers))


async def test_machines_rows_and_paging_with_skip_token(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    expected = sorted(
        (m for sid in customer.subscription_ids for m in est.machines_in(sid)), key=lambda m: m.name
    )
    rows: list[dict[str, Any]] = []
    token: str | None = None
    pages = 0
    async with ResourceGraphClient(aio_credential, **sdk(emulator)) as client:
        while True:
            answer = await client.resources(
                QueryRequest(
                    subscriptions=list(customer.subscription_ids),
                    query=MACHINES,
                    options=QueryRequestOptions(
                        top=7, skip_token=token, result_format="objectArray"
                    ),
                )
            )
            pages += 1
            assert answer.total_records == len(expected)
            assert answer.count == len(answer.data) <= 7
            rows += answer.data
            token = answer.skip_token
            if not token:
                break
    assert pages == -(-len(expected) // 7)
    assert [r["name"] for r in rows] == [m.name for m in expected]
    first, want = rows[0], expected[0]
    assert first["id"] == want.id
    assert first["type"] == "microsoft.hybridcompute/machines"
    assert first["resourceGroup"] == want.resource_group.lower()
    assert first["subscriptionId"] == want.subscription_id
    assert first["tenantId"] == customer.tenant_id
    assert first["properties"]["status"] == want.status
    assert first["properties"]["agentVersion"] == want.agent_version
    assert first["tags"] == want.tags


async def test_summarize_skip_and_table_format(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    statuses = Counter(m.status for sid in customer.subscription_ids for m in est.machines_in(sid))
    async with ResourceGraphClient(aio_credential, **sdk(emulator)) as client:
        answer = await client.resources(
            QueryRequest(
                query="resources | where type == 'microsoft.hybridcompute/machines' "
                "| summarize n = count() by status = tostring(properties.status) "
                "| order by status asc",
                options=QueryRequestOptions(result_format="table"),
            )
        )
        table = answer.data
        assert [c["name"] for c in table["columns"]] == ["status", "n"]
        assert {row[0]: row[1] for row in table["rows"]} == dict(statuses)

        all_rows = await client.resources(
            QueryRequest(query=MACHINES, options=QueryRequestOptions(top=1000))
        )
        skipped = await client.resources(
            QueryRequest(query=MACHINES, options=QueryRequestOptions(skip=5, top=3))
        )
        assert [r["id"] for r in skipped.data] == [r["id"] for r in all_rows.data[5:8]]


async def test_policy_resources_and_other_tables(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    sid = customer.subscription_ids[0]
    states = est.policy_states_in(sid)
    bad = sum(1 for s in states if s.compliance_state == "NonCompliant")
    async with ResourceGraphClient(aio_credential, **sdk(emulator)) as client:
        answer = await client.resources(
            QueryRequest(
                subscriptions=[sid],
                query="policyresources | where type == 'microsoft.policyinsights/policystates' "
                "| where properties.complianceState == 'NonCompliant' | count",
            )
        )
        assert answer.data == [{"Count": bad}]
        containers = await client.resources(
            QueryRequest(
                subscriptions=[sid],
                query="resourcecontainers | project type | order by type asc",
                options=QueryRequestOptions(top=100),
            )
        )
        sub = est.subscription(sid)
        assert sub is not None
        assert Counter(r["type"] for r in containers.data) == {
            "microsoft.resources/subscriptions": 1,
            "microsoft.resources/subscriptions/resourcegroups": len(sub.resource_groups),
        }
        circuits = await client.resources(
            QueryRequest(
                query="resources | where type =~ 'microsoft.network/expressroutecircuits' "
                "| project name, "
                "provider = properties.serviceProviderProperties.serviceProviderName"
            )
        )
        want = [c for s in customer.subscription_ids for c in est.circuits_in(s)]
        assert sorted(r["name"] for r in circuits.data) == sorted(c.name for c in want)
        assert {r["provider"] for r in circuits.data} <= {"British Telecom"}


async def test_invisible_subscriptions_are_left_out(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    other = emulator.estate.customers[1].subscription_ids
    async with ResourceGraphClient(aio_credential, **sdk(emulator)) as client:
        answer = await client.resources(
            QueryRequest(subscriptions=list(other), query="resources | count")
        )
    assert answer.data == [{"Count": 0}]


TABLES = (
    "resources",
    "resourcecontainers",
    "policyresources",
    "servicehealthresources",
    "healthresources",
    "alertsmanagementresources",
    "patchassessmentresources",
)


async def _rows_by_subscription(
    client: ResourceGraphClient, subscriptions: list[str]
) -> dict[str, set[str]]:
    """table -> the subscriptions that have rows in it (one query per table)."""
    seen: dict[str, set[str]] = {}
    for table in TABLES:
        answer = await client.resources(
            QueryRequest(
                subscriptions=subscriptions,
                query=f"{table} | distinct subscriptionId",
                options=QueryRequestOptions(top=1000),
            )
        )
        seen[table] = {str(r["subscriptionId"]).lower() for r in answer.data}
    return seen


async def test_a_forbidden_subscription_is_silently_absent_from_every_table(
    emulator: RunningEmulator,
) -> None:
    """As Azure: Resource Graph answers only for what the identity can read, without an
    error for the rest (a ``forbidden`` fault on a subscription = no role on it)."""
    customer = next(c for c in emulator.estate.customers if len(c.subscription_ids) >= 2)
    subs = [s.lower() for s in customer.subscription_ids]
    refused, kept = subs[0], subs[1:]
    tenant = emulator.estate.tenant(customer.tenant_id)
    assert tenant is not None
    credential = ClientSecretCredential(
        tenant.tenant_id,
        tenant.client_id,
        tenant.client_secret,
        authority=emulator.authority,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_path),
    )
    async with credential, ResourceGraphClient(credential, **sdk(emulator)) as client:
        before = await _rows_by_subscription(client, subs)
        assert all(refused in before[t] for t in ("resourcecontainers", "policyresources"))
        emulator.add_fault(kind="forbidden", subscriptions=[refused])
        after = await _rows_by_subscription(client, subs)
        for table in TABLES:
            assert refused not in after[table], table
            assert after[table] == before[table] - {refused}, table
        assert set(kept) <= after["resourcecontainers"]
        # a fault on another route (Policy Insights only) leaves Resource Graph alone
        emulator.clear_faults()
        emulator.add_fault(kind="forbidden", subscriptions=[refused], route="policy.*")
        assert await _rows_by_subscription(client, subs) == before
    faults = emulator.control("GET", "faults")["faults"]
    assert faults[0]["fired"] == 0


async def test_kql_error_is_resource_graphs_400(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential
) -> None:
    async with ResourceGraphClient(aio_credential, **sdk(emulator)) as client:
        with pytest.raises(HttpResponseError) as info:
            await client.resources(QueryRequest(query="resources | where name == "))
    assert info.value.status_code == 400
    assert info.value.error is not None
    assert info.value.error.code == "BadRequest"
    details = info.value.error.details
    assert details and details[0].code == "InvalidQuery"
    assert details[1].code == "ParserFailure"


async def test_user_quota_headers_and_throttling(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential
) -> None:
    hook = Headers()
    async with ResourceGraphClient(aio_credential, **sdk(emulator)) as client:
        for _ in range(3):
            await client.resources(QueryRequest(query="resources | count"), raw_response_hook=hook)
        remaining = [int(h["x-ms-user-quota-remaining"]) for h in hook.seen]
        assert remaining[0] == QUOTA - 1
        assert remaining == sorted(remaining, reverse=True) and remaining[-1] < remaining[0]
        assert all(h["x-ms-user-quota-resets-after"].count(":") == 2 for h in hook.seen)
        with pytest.raises(HttpResponseError) as info:
            for _ in range(QUOTA + 5):
                await client.resources(QueryRequest(query="resources | count"), retry_total=0)
    assert info.value.status_code == 429
    assert info.value.response.headers["x-ms-user-quota-remaining"] == "0"
    assert int(info.value.response.headers["Retry-After"]) >= 1


async def test_facets(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential, customer: Customer
) -> None:
    est = emulator.estate
    machines = [m for sid in customer.subscription_ids for m in est.machines_in(sid)]
    by_location = Counter(m.location for m in machines)
    async with ResourceGraphClient(aio_credential, **sdk(emulator)) as client:
        answer = await client.resources(
            QueryRequest(
                query=MACHINES,
                facets=[
                    FacetRequest(
                        expression="location",
                        options=FacetRequestOptions(sort_by="count", sort_order="desc", top=2),
                    ),
                    FacetRequest(expression="no_such_function(location)"),
                ],
            )
        )
    ok, bad = answer.facets
    assert ok.result_type == "FacetResult"
    assert ok.total_records == len(by_location)
    assert ok.count == min(2, len(by_location))
    counts = [row["count"] for row in ok.data]
    assert counts == sorted(by_location.values(), reverse=True)[:2]
    assert all(by_location[row["location"]] == row["count"] for row in ok.data)
    assert bad.result_type == "FacetError"
    assert bad.errors
