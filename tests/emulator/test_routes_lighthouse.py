"""Azure Lighthouse and the partner billing account, through the real SDK clients over HTTPS.

The provider signs in once, in its own tenant (the estate's MSP tenant), and sees every
delegated subscription, the customer tenants, the ``Microsoft.ManagedServices``
delegations, Resource Graph rows across tenants, and Cost Management at the billing
account's customer scope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.core.rest import HttpRequest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.costmanagement.aio import CostManagementClient
from azure.mgmt.costmanagement.models import (
    ForecastAggregation,
    ForecastDataset,
    ForecastDefinition,
    QueryAggregation,
    QueryDataset,
    QueryDefinition,
    QueryGrouping,
)
from azure.mgmt.resource.subscriptions.aio import SubscriptionClient
from azure.mgmt.resourcegraph.aio import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from btconsole.emulator.estate import BUILTIN_ROLES, Estate, Tenant
from btconsole.emulator.generate import MSP_NAME, generate
from btconsole.emulator.routes.costs import QPU
from btconsole.emulator.routes.graph import MAX_SUBSCRIPTIONS
from btconsole.emulator.server import RunningEmulator, running_emulator

ARM_SCOPE = "https://management.azure.com/.default"
MS = "providers/Microsoft.ManagedServices"
MS_API = "2022-10-01"
BILLING_API = "2020-05-01"


def sdk(emulator: RunningEmulator, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "credential_scopes": [ARM_SCOPE],
        "connection_verify": str(emulator.ca_path),
        **extra,
    }


def msp_tenant(estate: Estate) -> Tenant:
    return next(t for t in estate.tenants if t.display_name == MSP_NAME)


def credential_for(emulator: RunningEmulator, tenant: Tenant) -> ClientSecretCredential:
    return ClientSecretCredential(
        tenant.tenant_id,
        tenant.client_id,
        tenant.client_secret,
        authority=emulator.authority,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_path),
    )


@pytest.fixture
async def msp_credential(emulator: RunningEmulator) -> AsyncIterator[ClientSecretCredential]:
    async with credential_for(emulator, msp_tenant(emulator.estate)) as cred:
        yield cred


async def get_json(client: Any, url: str) -> tuple[int, Any]:
    response = await client.send_request(HttpRequest("GET", url))
    await response.read()
    return response.status_code, response.json()


async def test_one_sign_in_sees_every_delegated_subscription_and_customer_tenant(
    emulator: RunningEmulator, msp_credential: ClientSecretCredential
) -> None:
    est = emulator.estate
    msp = msp_tenant(est)
    emulator.set_settings(page_size=2)
    async with SubscriptionClient(msp_credential, **sdk(emulator)) as client:
        subs = [s async for s in client.subscriptions.list()]
        tenants = [t async for t in client.tenants.list()]
    assert sorted(s.subscription_id for s in subs) == sorted(
        s.subscription_id for s in est.subscriptions
    )
    for s in subs:
        expected = est.subscription(s.subscription_id)
        assert expected is not None
        assert s.tenant_id == expected.tenant_id != msp.tenant_id
        assert [m.tenant_id for m in s.managed_by_tenants] == [msp.tenant_id]
    categories = {t.tenant_id: t.tenant_category for t in tenants}
    assert categories.pop(msp.tenant_id) == "Home"
    assert categories == {c.tenant_id: "ProjectedBy" for c in est.customers}
    names = {t.tenant_id: t.display_name for t in tenants}
    nameless = est.customers[-1].tenant_id
    assert names[nameless] is None  # absent from the answer, as the spec allows
    assert names[est.customers[0].tenant_id] == est.customers[0].display_name


async def test_a_customer_that_removes_its_delegations_and_delegates_again(
    emulator: RunningEmulator, msp_credential: ClientSecretCredential
) -> None:
    """``PUT /_emulator/delegations``: a revoked customer is gone from every answer the
    provider gets (subscriptions, tenants, delegations, Resource Graph); given back, it
    is as before. ``reset`` gives every delegation back."""
    from btconsole.emulator.server import ControlError

    est = emulator.estate
    leaving = est.customers[0]
    others = [s.subscription_id for s in est.subscriptions if s.tenant_id != leaving.tenant_id]
    sub = leaving.subscription_ids[0]

    async def seen() -> tuple[set[str], set[str], int, int]:
        async with SubscriptionClient(msp_credential, **sdk(emulator)) as client:
            subs = {s.subscription_id async for s in client.subscriptions.list()}
            tenants = {t.tenant_id async for t in client.tenants.list()}
            status, _ = await get_json(
                client,
                f"{emulator.base_url}/subscriptions/{sub}/{MS}/registrationAssignments"
                f"?api-version={MS_API}",
            )
        async with ResourceGraphClient(msp_credential, **sdk(emulator)) as graph:
            rows = await graph.resources(
                QueryRequest(
                    subscriptions=[s.subscription_id for s in est.subscriptions],
                    query="managedservicesresources | summarize n = count()",
                    options=QueryRequestOptions(result_format="objectArray"),
                )
            )
        return subs, tenants, status, rows.data[0]["n"]

    subs, tenants, status, before = await seen()
    assert sub in subs and leaving.tenant_id in tenants and status == 200
    assert emulator.revoke_delegations([leaving.tenant_id.upper()]) == {
        "revoked": [leaving.tenant_id.lower()]
    }
    subs, tenants, status, after = await seen()
    assert sorted(subs) == sorted(others)
    assert leaving.tenant_id not in tenants
    assert status == 403  # no longer visible to the provider
    assert after < before
    emulator.revoke_delegations([])
    subs, tenants, status, again = await seen()
    assert sub in subs and leaving.tenant_id in tenants and again == before
    with pytest.raises(ControlError) as refused:
        emulator.revoke_delegations(["00000000-0000-0000-0000-00000000dead"])
    assert refused.value.status == 404
    emulator.revoke_delegations([leaving.tenant_id])
    emulator.reset()
    assert emulator.control("GET", "delegations") == {"revoked": []}


async def test_registration_definitions_and_assignments_at_subscription_and_group_scope(
    emulator: RunningEmulator, msp_credential: ClientSecretCredential
) -> None:
    est = emulator.estate
    msp = msp_tenant(est)
    rg_only = est.customers[1].subscription_ids[0]
    (delegation,) = est.delegations_in(rg_only)
    assert delegation.resource_group  # the generator's resource-group-only delegation
    full = est.customers[0].subscription_ids[0]
    base = emulator.base_url
    async with SubscriptionClient(msp_credential, **sdk(emulator)) as client:
        status, body = await get_json(
            client,
            f"{base}/subscriptions/{full}/{MS}/registrationAssignments"
            f"?api-version={MS_API}&$expandRegistrationDefinition=true",
        )
        assert status == 200
        (assignment,) = body["value"]
        definition = assignment["properties"]["registrationDefinition"]["properties"]
        assert definition["managedByTenantId"] == msp.tenant_id
        assert definition["managedByTenantName"] == MSP_NAME
        assert definition["manageeTenantId"] == est.customers[0].tenant_id
        assert {a["roleDefinitionId"] for a in definition["authorizations"]} == {
            BUILTIN_ROLES["Reader"],
            BUILTIN_ROLES["Resource Policy Contributor"],
            BUILTIN_ROLES["Cost Management Reader"],
        }
        assert assignment["id"].startswith(f"/subscriptions/{full}/{MS}/registrationAssignments/")

        # without $expand the definition is only referenced
        status, plain = await get_json(
            client, f"{base}/subscriptions/{full}/{MS}/registrationAssignments?api-version={MS_API}"
        )
        assert status == 200 and "registrationDefinition" not in plain["value"][0]["properties"]

        # a resource-group delegation: listed at the subscription, assigned at the group
        status, body = await get_json(
            client,
            f"{base}/subscriptions/{rg_only}/{MS}/registrationAssignments?api-version={MS_API}",
        )
        (assignment,) = body["value"]
        rg = delegation.resource_group
        assert f"/resourceGroups/{rg}/{MS}/registrationAssignments/" in assignment["id"]
        status, body = await get_json(
            client,
            f"{base}/subscriptions/{rg_only}/resourceGroups/{rg}/{MS}/registrationDefinitions"
            f"?api-version={MS_API}",
        )
        (definition,) = body["value"]
        assert definition["name"] == delegation.definition_id
        assert [a["roleDefinitionId"] for a in definition["properties"]["authorizations"]] == [
            BUILTIN_ROLES["Reader"]
        ]
        sub = est.subscription(rg_only)
        assert sub is not None
        other_rg = next(g.name for g in sub.resource_groups if g.name != rg)
        status, body = await get_json(
            client,
            f"{base}/subscriptions/{rg_only}/resourceGroups/{other_rg}/{MS}/registrationDefinitions"
            f"?api-version={MS_API}",
        )
        assert status == 200 and body["value"] == []

        # get by id, $filter, unknown id
        status, one = await get_json(
            client,
            f"{base}/subscriptions/{rg_only}/{MS}/registrationDefinitions/"
            f"{delegation.definition_id}?api-version={MS_API}",
        )
        assert status == 200 and one["properties"]["manageeTenantId"] == est.customers[1].tenant_id
        status, filtered = await get_json(
            client,
            f"{base}/subscriptions/{full}/{MS}/registrationDefinitions?api-version={MS_API}"
            f"&$filter=managedByTenantId eq '{est.customers[1].tenant_id}'",
        )
        assert status == 200 and filtered["value"] == []
        status, _ = await get_json(
            client,
            f"{base}/subscriptions/{full}/{MS}/registrationAssignments/"
            f"00000000-0000-4000-8000-000000000000?api-version={MS_API}",
        )
        assert status == 404


async def test_a_customer_cannot_read_another_customers_delegations(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential
) -> None:
    other = emulator.estate.customers[1].subscription_ids[0]
    async with SubscriptionClient(aio_credential, **sdk(emulator)) as client:
        status, body = await get_json(
            client,
            f"{emulator.base_url}/subscriptions/{other}/{MS}/registrationDefinitions"
            f"?api-version={MS_API}",
        )
    assert status == 403 and body["error"]["code"] == "AuthorizationFailed"


async def test_resource_graph_across_tenants_with_managed_services_table(
    emulator: RunningEmulator, msp_credential: ClientSecretCredential
) -> None:
    est = emulator.estate
    all_subs = [s.subscription_id for s in est.subscriptions]
    async with ResourceGraphClient(msp_credential, **sdk(emulator)) as client:
        machines = await client.resources(
            QueryRequest(
                subscriptions=all_subs,
                query="resources | where type =~ 'Microsoft.HybridCompute/machines'"
                " | summarize n = count() by tenantId",
                options=QueryRequestOptions(result_format="objectArray"),
            )
        )
        delegations = await client.resources(
            QueryRequest(
                subscriptions=all_subs,
                query="managedservicesresources"
                " | where type == 'microsoft.managedservices/registrationassignments'"
                " | project tenantId, subscriptionId, resourceGroup,"
                " managedBy = tostring(properties.registrationDefinition.properties"
                ".managedByTenantId)",
                options=QueryRequestOptions(result_format="objectArray"),
            )
        )
    by_tenant = {row["tenantId"]: row["n"] for row in machines.data}
    for c in est.customers:
        expected = sum(len(est.machines_in(sid)) for sid in c.subscription_ids)
        assert by_tenant.get(c.tenant_id, 0) == expected
    assert delegations.total_records == len(est.delegations)
    msp = msp_tenant(est)
    for row in delegations.data:
        sub = est.subscription(row["subscriptionId"])
        assert sub is not None
        assert row["tenantId"] == sub.tenant_id and row["managedBy"] == msp.tenant_id
    assert sum(1 for row in delegations.data if row["resourceGroup"]) == 1


def _mtd_by_subscription() -> QueryDefinition:
    return QueryDefinition(
        type="ActualCost",
        timeframe="MonthToDate",
        dataset=QueryDataset(
            aggregation={"totalCost": QueryAggregation(name="PreTaxCost", function="Sum")},
            grouping=[QueryGrouping(type="Dimension", name="SubscriptionId")],
        ),
    )


def _forecast() -> ForecastDefinition:
    return ForecastDefinition(
        type="ActualCost",
        timeframe="MonthToDate",
        dataset=ForecastDataset(
            aggregation={"totalCost": ForecastAggregation(name="PreTaxCost", function="Sum")}
        ),
        include_actual_cost=True,
        include_fresh_partial_cost=False,
    )


class Headers:
    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    def __call__(self, response: PipelineResponse[Any, Any]) -> None:
        self.seen.append(dict(response.http_response.headers))


async def test_billing_customer_scope_agrees_with_per_subscription_spend(
    emulator: RunningEmulator, msp_credential: ClientSecretCredential
) -> None:
    est = emulator.estate
    msp = msp_tenant(est)
    (account,) = est.billing_accounts
    assert len(account.customers) == len(est.customers) - 1  # the last buys elsewhere
    headers = Headers()
    async with SubscriptionClient(msp_credential, **sdk(emulator)) as client:
        status, listed = await get_json(
            client, f"{emulator.base_url}{account.id.rsplit('/', 1)[0]}?api-version={BILLING_API}"
        )
        assert status == 200
        (body,) = listed["value"]
        assert body["properties"]["agreementType"] == "MicrosoftPartnerAgreement"
        status, customers = await get_json(
            client, f"{emulator.base_url}{account.id}/customers?api-version={BILLING_API}"
        )
        assert status == 200
        assert {c["name"] for c in customers["value"]} == {c.customer_id for c in account.customers}
    async with CostManagementClient(
        msp_credential, **sdk(emulator, raw_response_hook=headers)
    ) as client:
        for billed in account.customers:
            owner = est.customer_for_tenant(billed.tenant_id)
            assert owner is not None
            scope = f"{account.id}/customers/{billed.customer_id}"
            at_customer = await client.query.usage(scope, _mtd_by_subscription())
            assert at_customer is not None and at_customer.properties is not None
            per_sub: dict[str, float] = {}
            for sid in owner.subscription_ids:
                answer = await client.query.usage(f"/subscriptions/{sid}", _mtd_by_subscription())
                if answer is None:  # 204: no usage in that subscription
                    continue
                assert answer.properties is not None
                for row in answer.properties.rows:
                    per_sub[row[1]] = row[0]
                    assert row[2] == owner.currency
            got = {row[1]: row[0] for row in at_customer.properties.rows}
            assert got.keys() == per_sub.keys()
            for sid, value in per_sub.items():
                assert got[sid] == pytest.approx(value, abs=1e-6)
            assert {row[2] for row in at_customer.properties.rows} == {owner.currency}

            forecast = await client.forecast.usage(scope, _forecast())
            assert forecast is not None and forecast.properties is not None
            total = {row[1]: row[0] for row in forecast.properties.rows}
            want = sum(est.forecast_month_cost(sid) for sid in owner.subscription_ids)
            assert total["Actual"] + total.get("Forecast", 0.0) == pytest.approx(want, abs=0.05)
    qpu = [h for h in headers.seen if f"{QPU}-consumed" in h]
    assert qpu and all(h[f"{QPU}-consumed"] == "1" for h in qpu)  # MonthToDate: one month
    assert "QueriesPer10Sec:" in qpu[0][f"{QPU}-remaining"]
    spent = emulator.stats()["cost_qpu_by_tenant"]
    assert spent == {msp.tenant_id.lower(): len(qpu)}


async def test_billing_scope_is_the_partners_only(
    emulator: RunningEmulator, aio_credential: ClientSecretCredential
) -> None:
    (account,) = emulator.estate.billing_accounts
    scope = f"{account.id}/customers/{account.customers[0].customer_id}"
    async with CostManagementClient(aio_credential, **sdk(emulator)) as client:
        with pytest.raises(HttpResponseError) as refused:
            await client.query.usage(scope, _mtd_by_subscription())
    assert refused.value.status_code == 403


async def test_enforced_qpu_quota_throttles_one_tenant_not_another(
    emulator: RunningEmulator,
    msp_credential: ClientSecretCredential,
    aio_credential: ClientSecretCredential,
) -> None:
    est = emulator.estate
    emulator.set_settings(cost_qpu_per_10s=2)
    sid = est.customers[0].subscription_ids[0]
    last_month = QueryDefinition(
        type="ActualCost",
        timeframe="Custom",
        time_period={
            "from": dt.datetime(est.as_of.year, est.as_of.month, 1, tzinfo=dt.timezone.utc)
            - dt.timedelta(days=20),
            "to": dt.datetime(est.as_of.year, est.as_of.month, 1, tzinfo=dt.timezone.utc),
        },
        dataset=QueryDataset(
            aggregation={"totalCost": QueryAggregation(name="PreTaxCost", function="Sum")}
        ),
    )
    async with CostManagementClient(msp_credential, **sdk(emulator, retry_total=0)) as msp:
        assert await msp.query.usage(f"/subscriptions/{sid}", last_month) is not None  # 2 QPU
        with pytest.raises(HttpResponseError) as throttled:
            await msp.query.usage(f"/subscriptions/{sid}", _mtd_by_subscription())
    assert throttled.value.status_code == 429
    assert throttled.value.response is not None
    assert int(throttled.value.response.headers[f"{QPU}-retry-after"]) >= 1
    # the customer's own tenant has its own quota
    async with CostManagementClient(aio_credential, **sdk(emulator, retry_total=0)) as own:
        assert await own.query.usage(f"/subscriptions/{sid}", _mtd_by_subscription()) is not None


async def test_more_than_a_thousand_delegated_subscriptions_need_graph_batches() -> None:
    estate = generate(seed=3, size="small", subscriptions=MAX_SUBSCRIPTIONS + 150)
    msp = msp_tenant(estate)
    with running_emulator(estate) as emu:
        emu.set_settings(page_size=1000)
        async with credential_for(emu, msp) as cred:
            async with SubscriptionClient(cred, **sdk(emu)) as client:
                subs = [s.subscription_id async for s in client.subscriptions.list()]
            assert len(subs) == MAX_SUBSCRIPTIONS + 150
            assert emu.route_count("subscriptions.list") == 2
            query = "resourcecontainers | where type == 'microsoft.resources/subscriptions'"
            async with ResourceGraphClient(cred, **sdk(emu)) as graph:
                with pytest.raises(HttpResponseError) as too_many:
                    await graph.resources(QueryRequest(subscriptions=subs, query=query))
                assert too_many.value.status_code == 400
                seen: set[str] = set()
                for i in range(0, len(subs), MAX_SUBSCRIPTIONS):
                    batch = subs[i : i + MAX_SUBSCRIPTIONS]
                    answer = await graph.resources(
                        QueryRequest(
                            subscriptions=batch,
                            query=query,
                            options=QueryRequestOptions(top=1000),
                        )
                    )
                    seen |= {row["subscriptionId"] for row in answer.data}
                    assert answer.total_records == len(batch)
            assert seen == set(subs)
            tenants = {s.tenant_id for s in estate.subscriptions}
            assert len(tenants) == len(estate.customers)
