"""Policy Insights: latest policy states (``queryResults``, ``summarize``) and the
long-running ``triggerEvaluation``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from btconsole.emulator.estate import (
    Circuit,
    Cluster,
    Estate,
    Machine,
    PolicyAssignment,
    PolicyState,
    format_time,
    parse_resource_id,
)
from btconsole.emulator.http import ArmError, Ctx, Router, json_response, page, start_lro
from btconsole.emulator.routes.common import estate, resource_group, subscription_or_error

PI = "/providers/Microsoft.PolicyInsights/policyStates"


# --------------------------------------------------------------------------- records


def _locations(est: Estate) -> dict[str, str]:
    table = est.memo.get("policy:locations")
    if table is None:
        table = {}
        items: list[Machine | Cluster | Circuit] = [*est.machines, *est.clusters, *est.circuits]
        for item in items:
            table[item.id.lower()] = item.location
        est.memo["policy:locations"] = table
    return table


def _assignment_fields(est: Estate, subscription_id: str) -> dict[str, dict[str, str]]:
    """Per assignment (by lower-cased name): the fields every state of it shares."""
    key = f"policy:assignments:{subscription_id.lower()}"
    fields = est.memo.get(key)
    if fields is None:
        fields = {}
        for a in est.assignments_in(subscription_id):
            definition = est.policy_definition(a.definition)
            fields[a.name.lower()] = {
                "policyAssignmentId": a.id,
                "policyAssignmentName": a.name,
                "policyAssignmentScope": f"/subscriptions/{a.subscription_id}",
                "policyDefinitionId": definition.id if definition else "",
                "policyDefinitionName": definition.name if definition else "",
                "policyDefinitionAction": definition.effect.lower() if definition else "",
            }
        est.memo[key] = fields
    return fields


def state_fields(est: Estate, state: PolicyState) -> dict[str, Any]:
    """The fields that identify a policy state and its compliance (shared by Policy
    Insights records and Resource Graph's ``policyresources`` rows)."""
    sid, rg, rtype = parse_resource_id(state.resource_id)
    shared = _assignment_fields(est, sid).get(state.assignment.lower())
    location = _locations(est).get(state.resource_id.lower())
    if location is None:
        group = est.resource_group(sid, rg)
        location = group.location if group else ""
    return {
        "resourceId": state.resource_id,
        "subscriptionId": sid,
        "resourceType": rtype,
        "resourceLocation": location,
        "resourceGroup": rg,
        **(shared or {"policyAssignmentId": "", "policyAssignmentName": state.assignment}),
        "complianceState": state.compliance_state,
    }


def evaluated_at(est: Estate) -> str:
    """When the latest states were evaluated: two hours before the estate's now."""
    return format_time(est.now - dt.timedelta(hours=2))


def state_record(est: Estate, ctx_base: str, state: PolicyState) -> dict[str, Any]:
    """A policy state as ``queryResults`` returns it."""
    fields = state_fields(est, state)
    sid = fields["subscriptionId"]
    return {
        "@odata.id": None,
        "@odata.context": f"{ctx_base}/subscriptions/{sid}{PI}/$metadata#latest/$entity",
        "timestamp": evaluated_at(est),
        "effectiveParameters": "",
        "isCompliant": state.compliance_state == "Compliant",
        "resourceTags": "tbd",
        "policyAssignmentOwner": "tbd",
        "policyAssignmentParameters": "{}",
        "policyDefinitionCategory": "tbd",
        "policySetDefinitionId": "",
        "policySetDefinitionName": "",
        "policySetDefinitionOwner": "",
        "policySetDefinitionCategory": "",
        "policySetDefinitionParameters": "",
        "managementGroupIds": "",
        "policyDefinitionReferenceId": "",
        "policyDefinitionGroupNames": [""],
        "policyDefinitionVersion": "1.0.0",
        "policySetDefinitionVersion": "",
        "policyAssignmentVersion": "",
        **fields,
    }


def _assignment(est: Estate, subscription_id: str, name: str) -> PolicyAssignment | None:
    for a in est.assignments_in(subscription_id):
        if a.name.lower() == name.lower():
            return a
    return None


# --------------------------------------------------------------------------- $filter

_TOKEN = re.compile(r"\s*(?:(\()|(\))|'((?:[^']|'')*)'|([A-Za-z_][\w/.]*)|(\S))")

Predicate = Callable[[dict[str, Any]], bool]


def parse_filter(text: str) -> Predicate:
    """The OData ``$filter`` subset Policy Insights clients send: ``Field eq 'value'``,
    ``ne``, ``and``, ``or``, ``not``, parentheses; string comparisons ignore case.

    Raises:
        ArmError: 400 ``InvalidFilterInQueryString`` when it cannot be parsed.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        if m.group(1):
            tokens.append(("(", "("))
        elif m.group(2):
            tokens.append((")", ")"))
        elif m.group(3) is not None:
            tokens.append(("str", m.group(3).replace("''", "'")))
        elif m.group(4):
            tokens.append(("word", m.group(4)))
        else:
            raise _filter_error(text, f"unexpected character '{m.group(5)}'")
    parser = _FilterParser(text, tokens)
    pred = parser.expr()
    if parser.i != len(tokens):
        raise _filter_error(text, f"unexpected '{tokens[parser.i][1]}'")
    return pred


def _filter_error(text: str, why: str) -> ArmError:
    return ArmError(400, "InvalidFilterInQueryString", f"The $filter '{text}' is not valid: {why}.")


class _FilterParser:
    def __init__(self, text: str, tokens: Sequence[tuple[str, str]]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0

    def _peek_word(self) -> str:
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "word":
            return self.tokens[self.i][1].lower()
        return ""

    def expr(self) -> Predicate:
        left = self.term()
        while self._peek_word() == "or":
            self.i += 1
            right = self.term()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self._peek_word() == "and":
            self.i += 1
            right = self.factor()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def factor(self) -> Predicate:
        if self._peek_word() == "not":
            self.i += 1
            inner = self.factor()
            return lambda r: not inner(r)
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "(":
            self.i += 1
            inner = self.expr()
            if self.i >= len(self.tokens) or self.tokens[self.i][0] != ")":
                raise _filter_error(self.text, "missing ')'")
            self.i += 1
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        if self.i + 2 >= len(self.tokens):
            raise _filter_error(self.text, "expected 'Field eq value'")
        kind, field = self.tokens[self.i]
        _, op = self.tokens[self.i + 1]
        vkind, value = self.tokens[self.i + 2]
        if kind != "word" or op.lower() not in ("eq", "ne"):
            raise _filter_error(self.text, f"expected 'Field eq value' at '{field}'")
        self.i += 3
        key = field.lower()
        if vkind == "str":
            expected: Any = value.lower()
        elif value.lower() in ("true", "false"):
            expected = value.lower() == "true"
        else:
            raise _filter_error(self.text, f"expected a quoted value after '{field} {op}'")
        negate = op.lower() == "ne"

        def pred(record: dict[str, Any]) -> bool:
            actual = record.get(key)
            if isinstance(actual, str):
                actual = actual.lower()
            return bool(actual == expected) != negate

        return pred


# --------------------------------------------------------------------------- handlers


def _scoped_states(ctx: Ctx, rg: str | None, assignment: str | None) -> list[PolicyState]:
    est = estate(ctx)
    sid = ctx.params["subscriptionId"]
    states = est.policy_states_in(sid)
    if rg is not None:
        marker = f"/resourcegroups/{rg.lower()}/"
        states = [s for s in states if marker in s.resource_id.lower()]
    if assignment is not None:
        states = [s for s in states if s.assignment.lower() == assignment.lower()]
    return states


def _filtered_records(ctx: Ctx, states: list[PolicyState]) -> list[dict[str, Any]]:
    est = estate(ctx)
    records = [state_record(est, ctx.base_url, s) for s in states]
    raw = ctx.q("$filter")
    if raw and raw.strip():
        pred = parse_filter(raw)
        records = [r for r in records if pred({k.lower(): v for k, v in r.items()})]
    return records


def _check_resource(ctx: Ctx) -> None:
    which = ctx.params.get("policyStatesResource") or ctx.params.get("summaryResource")
    if which is not None and which.lower() not in ("latest", "default"):
        raise ArmError(
            400,
            "InvalidPolicyStatesResource",
            f"The policy states resource '{which}' is not supported; use 'latest' or 'default'.",
        )


async def query_results(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    _check_resource(ctx)
    rg = ctx.params.get("resourceGroupName")
    if rg is not None:
        resource_group(ctx, sid, rg)
    assignment = ctx.params.get("policyAssignmentName")
    if assignment is not None and _assignment(estate(ctx), sid, assignment) is None:
        raise ArmError(
            404, "PolicyAssignmentNotFound", f"The policy assignment '{assignment}' is not found."
        )
    records = _filtered_records(ctx, _scoped_states(ctx, rg, assignment))
    top = ctx.q("$top")
    if top is not None and top.isdigit() and int(top) > 0:
        records = records[: int(top)]
    context = f"{ctx.base_url}/subscriptions/{sid}{PI}/$metadata#latest"
    return page(
        ctx,
        records,
        link_key="@odata.nextLink",
        extra={"@odata.context": context, "@odata.count": len(records)},
    )


def _results(ctx: Ctx, records: list[dict[str, Any]], query_uri: str) -> dict[str, Any]:
    by_resource: dict[str, set[str]] = {}
    by_policy: dict[str, set[str]] = {}
    for r in records:
        by_resource.setdefault(r["resourceId"].lower(), set()).add(r["complianceState"])
        by_policy.setdefault(r["policyAssignmentId"].lower(), set()).add(r["complianceState"])

    def overall(states: set[str]) -> str:
        for s in ("NonCompliant", "Conflict", "Compliant", "Exempt", "Unknown"):
            if s in states:
                return s
        return min(states) if states else "Unknown"  # a state newer than these, as is

    def details(groups: dict[str, set[str]]) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for states in groups.values():
            key = overall(states).lower()
            counts[key] = counts.get(key, 0) + 1
        return [{"complianceState": k, "count": counts[k]} for k in sorted(counts)]

    return {
        "queryResultsUri": query_uri,
        "nonCompliantResources": sum(
            1 for s in by_resource.values() if overall(s) == "NonCompliant"
        ),
        "nonCompliantPolicies": sum(1 for s in by_policy.values() if overall(s) == "NonCompliant"),
        "resourceDetails": details(by_resource),
        "policyDetails": details(by_policy),
        "policyGroupDetails": [],
    }


async def summarize(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    _check_resource(ctx)
    rg = ctx.params.get("resourceGroupName")
    if rg is not None:
        resource_group(ctx, sid, rg)
    assignment_name = ctx.params.get("policyAssignmentName")
    if assignment_name is not None and _assignment(estate(ctx), sid, assignment_name) is None:
        raise ArmError(
            404,
            "PolicyAssignmentNotFound",
            f"The policy assignment '{assignment_name}' is not found.",
        )
    records = _filtered_records(ctx, _scoped_states(ctx, rg, assignment_name))
    est = estate(ctx)
    scope = f"/subscriptions/{sid}" + (f"/resourceGroups/{rg}" if rg else "")
    if assignment_name is not None:
        scope += f"/providers/Microsoft.Authorization/policyAssignments/{assignment_name}"
    query_base = (
        f"{ctx.base_url}{scope}{PI}/latest/queryResults?api-version={ctx.q('api-version') or ''}"
    )
    per_assignment: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        per_assignment.setdefault(r["policyAssignmentId"], []).append(r)
    assignments: list[dict[str, Any]] = []
    for aid, recs in per_assignment.items():
        name = aid.rsplit("/", 1)[-1]
        a = _assignment(est, sid, name)
        definition = est.policy_definition(a.definition) if a else None
        uri = f"{query_base}&$filter=PolicyAssignmentId eq '{aid}'"
        results = _results(ctx, recs, uri)
        assignments.append(
            {
                "policyAssignmentId": aid,
                "policySetDefinitionId": "",
                "results": results,
                "policyDefinitions": [
                    {
                        "policyDefinitionReferenceId": "",
                        "policyDefinitionId": definition.id if definition else "",
                        "effect": definition.effect.lower() if definition else "",
                        "results": results,
                    }
                ],
                "policyGroups": [],
            }
        )
    assignments.sort(
        key=lambda a: (-a["results"]["nonCompliantResources"], a["policyAssignmentId"])
    )
    top = ctx.q("$top")
    if top is not None:
        if not top.isdigit() or int(top) < 1:
            raise ArmError(
                400, "InvalidQueryParameterValue", f"The value '{top}' of '$top' is not valid."
            )
        assignments = assignments[: int(top)]
    context = f"{ctx.base_url}{scope}{PI}/$metadata#summary"
    body = {
        "@odata.context": context,
        "@odata.count": 1,
        "value": [
            {
                "@odata.id": None,
                "@odata.context": f"{context}/$entity",
                "results": _results(ctx, records, query_base),
                "policyAssignments": assignments,
            }
        ],
    }
    return json_response(body)


async def trigger_evaluation(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    rg = ctx.params.get("resourceGroupName")
    if rg is not None:
        resource_group(ctx, sid, rg)
    return start_lro(ctx, web.Response(status=200), polls=2)


def register(router: Router) -> None:
    sub = "/subscriptions/{subscriptionId}"
    rg = sub + "/resourceGroups/{resourceGroupName}"
    assignment = sub + "/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}"
    for scope, label in ((sub, "subscription"), (rg, "resource_group")):
        router.add(
            "POST",
            scope + PI + "/{policyStatesResource}/queryResults",
            query_results,
            name=f"policy.states.query_{label}",
        )
        router.add(
            "POST",
            scope + PI + "/{summaryResource}/summarize",
            summarize,
            name=f"policy.states.summarize_{label}",
        )
        router.add(
            "POST",
            scope + PI + "/latest/triggerEvaluation",
            trigger_evaluation,
            name=f"policy.states.trigger_{label}",
        )
    router.add(
        "POST",
        assignment + PI + "/{policyStatesResource}/queryResults",
        query_results,
        name="policy.states.query_assignment",
    )
    router.add(
        "POST",
        assignment + PI + "/{summaryResource}/summarize",
        summarize,
        name="policy.states.summarize_assignment",
    )
