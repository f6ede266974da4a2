"""Azure Lighthouse (``Microsoft.ManagedServices``) and the partner billing account
(``Microsoft.Billing``).

Registration definitions and assignments are served at the scope of a customer's
subscription or resource group, shaped on
``managedservices/resource-manager/Microsoft.ManagedServices/stable/2022-10-01/managedservices.json``
(examples ``GetRegistrationDefinitionsWithManagedByTenantIdEqFilter.json``,
``GetRegistrationAssignmentsWithManagedByTenantIdEqFilter.json``). A list at
subscription scope holds the subscription's own delegations and those of its resource
groups; ``$filter=managedByTenantId eq '<id>'`` narrows it; assignments embed their
definition with ``$expandRegistrationDefinition=true``.

The billing account (a Microsoft Partner Agreement) and its customers are shaped on
``billing/resource-manager/Microsoft.Billing/stable/2020-05-01/billing.json`` (examples
``BillingAccountsList.json``, ``CustomersListByBillingAccount.json``, ``Customer.json``)
and readable by the partner's own tenant only. Cost Management at a customer's scope
lives in ``routes/costs.py``.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from btconsole.emulator.estate import BillingAccount, BillingCustomer, Delegation, Estate
from btconsole.emulator.http import ArmError, Ctx, Router, authorization_failed, json_response, page
from btconsole.emulator.routes.common import estate, resource_group, subscription_or_error

MS = "/providers/Microsoft.ManagedServices"
_FILTER_RE = re.compile(r"^\s*managedByTenantId\s+eq\s+'([0-9a-fA-F-]{36})'\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------- bodies


def tenant_name(est: Estate, tenant_id: str) -> str | None:
    tenant = est.tenant(tenant_id)
    return tenant.display_name if tenant is not None and tenant.display_name else None


def definition_body(est: Estate, d: Delegation) -> dict[str, Any]:
    """A registration definition as ``RegistrationDefinitions_Get`` returns it."""
    sub = est.subscription(d.subscription_id)
    managee = sub.tenant_id if sub else ""
    props: dict[str, Any] = {
        "description": d.description,
        "registrationDefinitionName": d.name,
        "authorizations": [
            {
                "principalId": a.principal_id,
                "principalIdDisplayName": a.principal_display_name,
                "roleDefinitionId": a.role_definition_id,
            }
            for a in d.authorizations
        ],
        "provisioningState": "Succeeded",
        "manageeTenantId": managee,
        "managedByTenantId": d.managed_by_tenant_id,
    }
    for key, tid in (
        ("manageeTenantName", managee),
        ("managedByTenantName", d.managed_by_tenant_id),
    ):
        name = tenant_name(est, tid)
        if name is not None:
            props[key] = name
    return {
        "properties": props,
        "id": f"/subscriptions/{d.subscription_id}{MS}/registrationDefinitions/{d.definition_id}",
        "type": "Microsoft.ManagedServices/registrationDefinitions",
        "name": d.definition_id,
    }


def assignment_body(est: Estate, d: Delegation, *, expand: bool) -> dict[str, Any]:
    """A registration assignment as ``RegistrationAssignments_Get`` returns it."""
    definition = definition_body(est, d)
    props: dict[str, Any] = {
        "registrationDefinitionId": definition["id"],
        "provisioningState": "Succeeded",
    }
    if expand:
        props["registrationDefinition"] = {
            "properties": definition["properties"],
            "id": definition["id"],
            "type": definition["type"],
            "name": definition["name"],
        }
    return {
        "properties": props,
        "id": f"{d.scope}{MS}/registrationAssignments/{d.assignment_id}",
        "type": "Microsoft.ManagedServices/registrationAssignments",
        "name": d.assignment_id,
    }


# --------------------------------------------------------------------------- scope


def _delegations(ctx: Ctx) -> list[Delegation] | web.Response:
    """The delegations at the request's scope (a subscription or one resource group),
    or ARM's refusal of the subscription."""
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    items = estate(ctx).delegations_in(sid)
    rg = ctx.params.get("resourceGroupName")
    if rg is not None:
        resource_group(ctx, sid, rg)
        items = [d for d in items if d.resource_group.lower() == rg.lower()]
    wanted = ctx.q("$filter")
    if wanted:
        match = _FILTER_RE.match(wanted)
        if match is None:
            raise ArmError(
                400,
                "InvalidFilter",
                f"The $filter '{wanted}' is not supported; use managedByTenantId eq '<id>'.",
            )
        items = [d for d in items if d.managed_by_tenant_id.lower() == match.group(1).lower()]
    return items


def _expand(ctx: Ctx) -> bool:
    return (ctx.q("$expandRegistrationDefinition") or "").lower() == "true"


def _not_found(kind: str, name: str) -> ArmError:
    return ArmError(404, "RegistrationNotFound", f"The {kind} '{name}' could not be found.")


async def list_definitions(ctx: Ctx) -> web.StreamResponse:
    found = _delegations(ctx)
    if isinstance(found, web.Response):
        return found
    est = estate(ctx)
    return page(ctx, [definition_body(est, d) for d in found])


async def get_definition(ctx: Ctx) -> web.StreamResponse:
    found = _delegations(ctx)
    if isinstance(found, web.Response):
        return found
    est = estate(ctx)
    name = ctx.params["registrationDefinitionId"]
    for d in found:
        if d.definition_id.lower() == name.lower():
            return json_response(definition_body(est, d))
    raise _not_found("registration definition", name)


async def list_assignments(ctx: Ctx) -> web.StreamResponse:
    found = _delegations(ctx)
    if isinstance(found, web.Response):
        return found
    est = estate(ctx)
    expand = _expand(ctx)
    return page(ctx, [assignment_body(est, d, expand=expand) for d in found])


async def get_assignment(ctx: Ctx) -> web.StreamResponse:
    found = _delegations(ctx)
    if isinstance(found, web.Response):
        return found
    est = estate(ctx)
    name = ctx.params["registrationAssignmentId"]
    for d in found:
        if d.assignment_id.lower() == name.lower():
            return json_response(assignment_body(est, d, expand=_expand(ctx)))
    raise _not_found("registration assignment", name)


# --------------------------------------------------------------------------- billing


def billing_account_body(account: BillingAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "type": "Microsoft.Billing/billingAccounts",
        "properties": {
            "accountStatus": "Active",
            "accountType": "Partner",
            "agreementType": account.agreement_type,
            "displayName": account.display_name,
            "hasReadAccess": True,
        },
    }


def billing_customer_body(account: BillingAccount, c: BillingCustomer) -> dict[str, Any]:
    return {
        "id": f"{account.id}/customers/{c.customer_id}",
        "name": c.customer_id,
        "type": "Microsoft.Billing/billingAccounts/customers",
        "properties": {
            "billingProfileId": f"{account.id}/billingProfiles/{account.profile_id}",
            "billingProfileDisplayName": f"{account.display_name} billing",
            "displayName": c.display_name,
        },
    }


def readable_account(ctx: Ctx, name: str) -> BillingAccount | web.Response:
    """The billing account if the caller's tenant is the partner that owns it, else
    ARM's 403 ``AuthorizationFailed``.

    Raises:
        ArmError: 404 for an unknown account.
    """
    account = estate(ctx).billing_account(name)
    if account is None:
        raise ArmError(404, "NotFound", f"The billing account '{name}' was not found.")
    if account.tenant_id.lower() != ctx.tenant_id.lower():
        return authorization_failed(ctx, account.id)
    return account


async def list_billing_accounts(ctx: Ctx) -> web.StreamResponse:
    accounts = [
        billing_account_body(a)
        for a in estate(ctx).billing_accounts
        if a.tenant_id.lower() == ctx.tenant_id.lower()
    ]
    return page(ctx, accounts)


async def get_billing_account(ctx: Ctx) -> web.StreamResponse:
    account = readable_account(ctx, ctx.params["billingAccountName"])
    if isinstance(account, web.Response):
        return account
    return json_response(billing_account_body(account))


async def list_billing_customers(ctx: Ctx) -> web.StreamResponse:
    account = readable_account(ctx, ctx.params["billingAccountName"])
    if isinstance(account, web.Response):
        return account
    return page(ctx, [billing_customer_body(account, c) for c in account.customers])


async def get_billing_customer(ctx: Ctx) -> web.StreamResponse:
    account = readable_account(ctx, ctx.params["billingAccountName"])
    if isinstance(account, web.Response):
        return account
    customer = account.customer(ctx.params["customerName"])
    if customer is None:
        raise ArmError(
            404, "NotFound", f"The customer '{ctx.params['customerName']}' was not found."
        )
    return json_response(billing_customer_body(account, customer))


def register(router: Router) -> None:
    sub = "/subscriptions/{subscriptionId}"
    rg = sub + "/resourceGroups/{resourceGroupName}"
    for scope, label in ((sub, "subscription"), (rg, "resource_group")):
        base = scope + MS
        router.add(
            "GET",
            base + "/registrationDefinitions",
            list_definitions,
            name=f"lighthouse.definitions.list_{label}",
        )
        router.add(
            "GET",
            base + "/registrationDefinitions/{registrationDefinitionId}",
            get_definition,
            name=f"lighthouse.definitions.get_{label}",
        )
        router.add(
            "GET",
            base + "/registrationAssignments",
            list_assignments,
            name=f"lighthouse.assignments.list_{label}",
        )
        router.add(
            "GET",
            base + "/registrationAssignments/{registrationAssignmentId}",
            get_assignment,
            name=f"lighthouse.assignments.get_{label}",
        )
    accounts = "/providers/Microsoft.Billing/billingAccounts"
    router.add("GET", accounts, list_billing_accounts, name="billing.accounts.list")
    router.add(
        "GET", accounts + "/{billingAccountName}", get_billing_account, name="billing.accounts.get"
    )
    router.add(
        "GET",
        accounts + "/{billingAccountName}/customers",
        list_billing_customers,
        name="billing.customers.list",
    )
    router.add(
        "GET",
        accounts + "/{billingAccountName}/customers/{customerName}",
        get_billing_customer,
        name="billing.customers.get",
    )
