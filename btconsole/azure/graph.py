"""Azure Resource Graph: Arc, circuits and policy states across many subscriptions.

For a large estate a few paged queries replace hundreds of per-subscription calls.
Subscriptions go in batches below Resource Graph's limit of 300 per query; results are
paged by ``$skipToken``. The rows are ARM JSON, so the same mapping functions as the
per-subscription path build the records, and both paths yield identical records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from btconsole.azure.arc import cluster_record, machine_record, sort_key
from btconsole.azure.circuits import circuit_record
from btconsole.azure.common import call, get, rest_json, text
from btconsole.azure.errors import ForbiddenError
from btconsole.azure.policy import assignment_name, overall_state, sort_assignments
from btconsole.azure.session import AzureSession
from btconsole.records import (
    ArcRecord,
    CircuitRecord,
    ComplianceRecord,
    PolicyAssignmentRecord,
)

BATCH = 250  # subscriptions per query; Resource Graph allows fewer than 300
PAGE = 1000  # rows per page; Resource Graph's maximum

ARC_QUERY = """resources
| where type in~ ('microsoft.hybridcompute/machines', 'microsoft.kubernetes/connectedclusters')
| project id, name, type, location, tags, properties, subscriptionId, resourceGroup
| order by id asc"""

CIRCUITS_QUERY = """resources
| where type =~ 'microsoft.network/expressroutecircuits'
| project id, name, type, location, tags, sku, properties, subscriptionId, resourceGroup
| order by id asc"""

POLICY_QUERY = """policyresources
| where type =~ 'microsoft.policyinsights/policystates'
| extend resourceId = tolower(tostring(properties.resourceId)),
    assignmentId = tolower(tostring(properties.policyAssignmentId)),
    definitionId = tolower(tostring(properties.policyDefinitionId)),
    state = tostring(properties.complianceState)
| summarize states = make_set(state), definitions = make_set(definitionId),
    nonCompliantDefinitions = make_set(iff(state =~ 'NonCompliant', definitionId, ''))
    by subscriptionId, resourceId, assignmentId
| order by subscriptionId asc, assignmentId asc, resourceId asc"""


# Which requested subscriptions Resource Graph can see. It answers only for what the
# identity may read and leaves the rest out without an error (no field of QueryResponse
# names them), so an empty answer for a subscription means "nothing there" only when
# this query returned the subscription itself. resourcecontainers holds a row per
# readable subscription; union with it is documented only for the resources table,
# so it is a query of its own, one per batch.
SUBSCRIPTIONS_QUERY = """resourcecontainers
| where type =~ 'microsoft.resources/subscriptions'
| project subscriptionId
| order by subscriptionId asc"""

UNSEEN = (
    "Resource Graph returned nothing for this subscription: the identity cannot read it "
    "(it needs Reader on the subscription)"
)


def batches(items: Sequence[str], size: int = BATCH) -> list[list[str]]:
    """``items`` in order, in lists of at most ``size``."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


async def query(
    session: AzureSession, kql: str, subscriptions: Sequence[str]
) -> list[Mapping[str, Any]]:
    """Every row of ``kql`` over ``subscriptions`` (batched and paged).

    Raises:
        AzureError: a page failed (RequestError for a query Resource Graph refused).
    """
    client = session.client("resourcegraph")
    url = "/providers/Microsoft.ResourceGraph/resources"
    params = {"api-version": client._config.api_version}
    rows: list[Mapping[str, Any]] = []
    for batch in batches(list(subscriptions)):
        skip_token: str | None = None
        pages = 0
        while True:
            pages += 1
            # QueryRequest as REST JSON (ResourceGraph spec, resources POST): the SDK's
            # request and response models cost more CPU than the query's own answer
            options: dict[str, Any] = {"$top": PAGE, "resultFormat": "objectArray"}
            if skip_token:
                options["$skipToken"] = skip_token
            body = {"subscriptions": batch, "query": kql, "options": options}

            async def run(body: dict[str, Any] = body) -> Any:
                return await rest_json(client, "POST", url, params=params, body=body)

            response = await call(f"querying Resource Graph ({len(batch)} subscriptions)", run)
            data = get(response, "data") or []
            rows.extend(row for row in data if isinstance(row, Mapping))
            skip_token = text(get(response, "$skipToken"))
            if not skip_token or pages >= 10_000:
                break
    return rows


async def split_visible(
    session: AzureSession, subscriptions: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(seen, unseen): which of ``subscriptions`` Resource Graph answers for, in order,
    as given. One query per batch (:data:`SUBSCRIPTIONS_QUERY`).

    Raises:
        AzureError: the query failed.
    """
    rows = await query(session, SUBSCRIPTIONS_QUERY, subscriptions)
    visible = {str(get(row, "subscriptionId") or "").lower() for row in rows}
    seen = [sub for sub in subscriptions if sub.lower() in visible]
    unseen = [sub for sub in subscriptions if sub.lower() not in visible]
    return seen, unseen


def unseen_error() -> ForbiddenError:
    """The error of a subscription Resource Graph did not answer for (the code is
    btconsole's: Azure sends none, it leaves the subscription out)."""
    return ForbiddenError(UNSEEN, code="NotVisibleToResourceGraph")


def _group(records: Iterable[Any], subscriptions: Sequence[str]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {s.lower(): [] for s in subscriptions}
    for record in records:
        grouped.setdefault(record.subscription_id, []).append(record)
    return grouped


async def list_arc(
    session: AzureSession, subscriptions: Sequence[str]
) -> dict[str, list[ArcRecord]]:
    """Arc machines and clusters per subscription (every requested one has a list)."""
    profile = session.profile.name
    records = []
    for row in await query(session, ARC_QUERY, subscriptions):
        kind = (text(get(row, "type")) or "").lower()
        if kind == "microsoft.kubernetes/connectedclusters":
            records.append(cluster_record(profile, row))
        else:
            records.append(machine_record(profile, row))
    grouped = _group(records, subscriptions)
    return {sub: sorted(items, key=sort_key) for sub, items in grouped.items()}


async def list_circuits(
    session: AzureSession, subscriptions: Sequence[str]
) -> dict[str, list[CircuitRecord]]:
    """Circuits per subscription, without availability (the engine adds it)."""
    profile = session.profile.name
    records = [
        circuit_record(profile, row) for row in await query(session, CIRCUITS_QUERY, subscriptions)
    ]
    grouped = _group(records, subscriptions)
    return {sub: sorted(items, key=lambda r: r.id.lower()) for sub, items in grouped.items()}


def compliance_from_rows(
    profile: str, rows: Iterable[Mapping[str, Any]], subscriptions: Sequence[str]
) -> dict[str, tuple[ComplianceRecord, list[PolicyAssignmentRecord]]]:
    """Per-subscription summaries with the same meaning as Policy Insights' summarize.

    ``rows`` are (subscription, resource, assignment) groups with their states.
    """
    resource_states: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    assignment_rows: dict[str, dict[str, list[Mapping[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        sub = str(get(row, "subscriptionId") or "").lower()
        states = {str(s) for s in get(row, "states") or [] if s}
        resource_states[sub][str(get(row, "resourceId") or "")].update(states)
        assignment_rows[sub][str(get(row, "assignmentId") or "")].append(row)

    result: dict[str, tuple[ComplianceRecord, list[PolicyAssignmentRecord]]] = {}
    for sub in (s.lower() for s in subscriptions):
        overall = [overall_state(states) for states in resource_states.get(sub, {}).values()]
        assignments: list[PolicyAssignmentRecord] = []
        non_compliant_pairs = 0
        for assignment_id, group in assignment_rows.get(sub, {}).items():
            bad_resources = sum(
                1 for row in group if overall_state(get(row, "states") or []) == "NonCompliant"
            )
            bad_definitions = {
                str(d) for row in group for d in get(row, "nonCompliantDefinitions") or [] if d
            }
            definitions = {str(d) for row in group for d in get(row, "definitions") or [] if d}
            non_compliant_pairs += len(bad_definitions)
            assignments.append(
                PolicyAssignmentRecord(
                    profile=profile,
                    subscription_id=sub,
                    assignment_id=assignment_id,
                    assignment_name=assignment_name(assignment_id),
                    non_compliant_resources=bad_resources,
                    non_compliant_policies=len(bad_definitions),
                    definition_ids=tuple(sorted(definitions)),
                )
            )
        compliance = ComplianceRecord(
            profile=profile,
            subscription_id=sub,
            compliant_resources=sum(1 for s in overall if s == "Compliant"),
            non_compliant_resources=sum(1 for s in overall if s == "NonCompliant"),
            total_resources=len(overall),
            non_compliant_policies=non_compliant_pairs,
        )
        result[sub] = (compliance, sort_assignments(assignments))
    return result


async def policy_summaries(
    session: AzureSession, subscriptions: Sequence[str]
) -> dict[str, tuple[ComplianceRecord, list[PolicyAssignmentRecord]]]:
    """Compliance per subscription and assignment from ``policyresources``."""
    rows = await query(session, POLICY_QUERY, subscriptions)
    return compliance_from_rows(session.profile.name, rows, subscriptions)
