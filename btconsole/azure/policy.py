"""Policy compliance: summaries per subscription, the drill-down, and evaluation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from btconsole.azure.common import (
    call,
    collect,
    get,
    integer,
    iso,
    operation_result,
    rest_dict,
    rest_json,
    text,
)
from btconsole.azure.session import AzureSession
from btconsole.records import ComplianceRecord, PolicyAssignmentRecord, PolicyStateRecord

# When one resource has several states, the overall one is the first found here
# (the order Policy Insights itself uses in its summaries).
STATE_ORDER = ("NonCompliant", "Conflict", "Compliant", "Exempt", "Unknown")

# What azure-mgmt-policyinsights sends for policy states (its client has no one version).
POLICY_STATES_API_VERSION = "2019-10-01"


def overall_state(states: Iterable[str]) -> str:
    """The overall compliance state of a resource from its per-policy states."""
    lowered = {s.lower() for s in states}
    for state in STATE_ORDER:
        if state.lower() in lowered:
            return state
    return "Unknown"


def _details(results: Mapping[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in get(results, "resourceDetails") or []:
        state = (text(get(item, "complianceState")) or "unknown").lower()
        counts[state] = counts.get(state, 0) + (integer(get(item, "count")) or 0)
    return counts


def assignment_name(assignment_id: str) -> str:
    return assignment_id.rstrip("/").rsplit("/", 1)[-1]


def summary_records(
    profile: str, subscription_id: str, data: Mapping[str, Any]
) -> tuple[ComplianceRecord, list[PolicyAssignmentRecord]]:
    """Records from a ``summarize`` response's first summary."""
    summaries = get(data, "value") or []
    summary = summaries[0] if summaries else {}
    results = get(summary, "results") or {}
    counts = _details(results)
    compliance = ComplianceRecord(
        profile=profile,
        subscription_id=subscription_id,
        compliant_resources=counts.get("compliant", 0),
        non_compliant_resources=integer(get(results, "nonCompliantResources"))
        or counts.get("noncompliant", 0),
        total_resources=sum(counts.values()),
        non_compliant_policies=integer(get(results, "nonCompliantPolicies")) or 0,
    )
    assignments = []
    for item in get(summary, "policyAssignments") or []:
        assignment_id = str(get(item, "policyAssignmentId") or "")
        item_results = get(item, "results") or {}
        definitions = tuple(
            sorted(
                {
                    str(get(d, "policyDefinitionId"))
                    for d in get(item, "policyDefinitions") or []
                    if get(d, "policyDefinitionId")
                }
            )
        )
        assignments.append(
            PolicyAssignmentRecord(
                profile=profile,
                subscription_id=subscription_id,
                assignment_id=assignment_id.lower(),
                assignment_name=assignment_name(assignment_id),
                non_compliant_resources=integer(get(item_results, "nonCompliantResources")) or 0,
                non_compliant_policies=integer(get(item_results, "nonCompliantPolicies")) or 0,
                definition_ids=tuple(d.lower() for d in definitions),
            )
        )
    return compliance, sort_assignments(assignments)


def sort_assignments(records: list[PolicyAssignmentRecord]) -> list[PolicyAssignmentRecord]:
    """Worst first: most non-compliant resources, then by ID."""
    return sorted(records, key=lambda r: (-r.non_compliant_resources, r.assignment_id))


async def summarize(
    session: AzureSession, subscription_id: str
) -> tuple[ComplianceRecord, list[PolicyAssignmentRecord]]:
    """Compliance of one subscription and of each assignment in it.

    Raises:
        AzureError: the call failed.
    """
    # The REST JSON through the SDK client's pipeline: building the SummarizeResults
    # model (and undoing it with rest_dict) was 17% of a cold refresh's CPU.
    client = session.client("policyinsights")
    url = (
        f"/subscriptions/{subscription_id}/providers/Microsoft.PolicyInsights"
        "/policyStates/latest/summarize"
    )

    async def run() -> Any:
        params = {"api-version": POLICY_STATES_API_VERSION}
        return await rest_json(client, "POST", url, params=params)

    data = await call(f"summarizing compliance of {subscription_id}", run)
    return summary_records(session.profile.name, subscription_id, data or {})


def state_record(profile: str, data: Mapping[str, Any]) -> PolicyStateRecord:
    """One policy state from its REST JSON."""
    resource_id = str(get(data, "resourceId") or "")
    return PolicyStateRecord(
        profile=profile,
        subscription_id=str(get(data, "subscriptionId") or "").lower(),
        resource_id=resource_id,
        assignment_id=str(get(data, "policyAssignmentId") or "").lower(),
        definition_id=str(get(data, "policyDefinitionId") or "").lower(),
        compliance_state=text(get(data, "complianceState")) or "Unknown",
        timestamp=iso(get(data, "timestamp")),
        resource_type=text(get(data, "resourceType")),
        resource_location=text(get(data, "resourceLocation")),
    )


async def non_compliant(
    session: AzureSession,
    subscription_id: str,
    assignment_id: str | None = None,
    *,
    top: int | None = None,
) -> list[PolicyStateRecord]:
    """Non-compliant resources of a subscription (optionally of one assignment).

    Raises:
        AzureError: the query failed.
    """
    from azure.mgmt.policyinsights.models import QueryOptions

    condition = "ComplianceState eq 'NonCompliant'"
    if assignment_id:
        escaped = assignment_id.replace("'", "''")
        condition += f" and PolicyAssignmentId eq '{escaped}'"
    client = session.client("policyinsights", subscription_id)

    async def run() -> list[Any]:
        pager = client.policy_states.list_query_results_for_subscription(
            "latest", subscription_id, query_options=QueryOptions(filter=condition, top=top)
        )
        return await collect(pager)

    found = await call(f"listing non-compliant resources of {subscription_id}", run)
    records = [state_record(session.profile.name, rest_dict(s)) for s in found]
    return sorted(records, key=lambda r: (r.assignment_id, r.resource_id.lower()))


async def trigger_evaluation(session: AzureSession, subscription_id: str) -> None:
    """Start a compliance evaluation of the subscription and wait for it (a write).

    Raises:
        AzureError: the operation failed.
    """
    client = session.client("policyinsights", subscription_id)
    what = f"evaluating compliance of {subscription_id}"

    async def run() -> None:
        poller = await client.policy_states.begin_trigger_subscription_evaluation(subscription_id)
        await operation_result(poller, what)

    await call(what, run)
