"""Azure Lighthouse delegations (``Microsoft.ManagedServices``) and a partner billing
account's customers (``Microsoft.Billing``), for ``doctor``.

Shapes: ``specification/managedservices/resource-manager/Microsoft.ManagedServices/
stable/2022-10-01/managedservices.json`` (``RegistrationAssignments_List`` with
``$expandRegistrationDefinition=true``: each assignment carries its definition's
``authorizations``, one ``roleDefinitionId`` GUID each) and ``specification/billing/
resource-manager/Microsoft.Billing/stable/2020-05-01/billing.json``
(``Customers_ListByBillingAccount``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from btconsole.azure.common import call, get, rest_json, text
from btconsole.azure.session import AzureSession

MANAGED_SERVICES = "/providers/Microsoft.ManagedServices"
MANAGED_SERVICES_API = "2022-10-01"
BILLING_API = "2020-05-01"

#: Built-in role definition GUIDs (the same in every tenant) and their names.
ROLE_NAMES = {
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "36243c78-bf99-498c-9df9-86d9f8d28608": "Resource Policy Contributor",
    "72fafb9e-0641-4937-9268-a91bfd8191a3": "Cost Management Reader",
    "434105ed-43f6-45c7-a02f-909b2ba83430": "Cost Management Contributor",
}


@dataclass(frozen=True)
class Delegation:
    """One registration assignment and the roles its definition grants."""

    subscription_id: str
    scope: str  # the assignment's scope: /subscriptions/{id}[/resourceGroups/{rg}]
    name: str
    managed_by_tenant_id: str
    roles: tuple[str, ...]  # role names (the GUID when not a known built-in role)

    @property
    def resource_group(self) -> str | None:
        parts = self.scope.split("/")
        lowered = [p.lower() for p in parts]
        if "resourcegroups" in lowered:
            return parts[lowered.index("resourcegroups") + 1]
        return None


def role_name(role_definition_id: str) -> str:
    guid = role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()
    return ROLE_NAMES.get(guid, guid)


def delegation_from(subscription_id: str, data: Any) -> Delegation:
    props = get(data, "properties") or {}
    definition = get(props, "registrationDefinition", "properties") or {}
    assignment_id = str(get(data, "id") or "")
    scope = assignment_id.split("/providers/Microsoft.ManagedServices/", 1)[0]
    roles = tuple(
        role_name(str(get(a, "roleDefinitionId") or ""))
        for a in (get(definition, "authorizations") or [])
    )
    return Delegation(
        subscription_id=subscription_id.lower(),
        scope=scope or f"/subscriptions/{subscription_id}",
        name=text(get(definition, "registrationDefinitionName")) or str(get(data, "name") or ""),
        managed_by_tenant_id=(text(get(definition, "managedByTenantId")) or "").lower(),
        roles=roles,
    )


async def _items(client: Any, url: str, params: dict[str, str]) -> list[Any]:
    items: list[Any] = []
    next_url: str | None = url
    query: dict[str, str] | None = params
    while next_url:
        page = await rest_json(client, "GET", next_url, params=query)
        items.extend(get(page, "value") or [])
        link = get(page, "nextLink")
        next_url, query = (str(link), None) if link else (None, None)
    return items


async def list_delegations(session: AzureSession, subscription_id: str) -> list[Delegation]:
    """The Lighthouse delegations of one subscription (at its scope or a resource
    group's) with their roles.

    Raises:
        AzureError: the listing failed.
    """
    client = session.client("subscriptions")
    url = f"/subscriptions/{subscription_id}{MANAGED_SERVICES}/registrationAssignments"
    params = {"api-version": MANAGED_SERVICES_API, "$expandRegistrationDefinition": "true"}

    async def run() -> list[Any]:
        return await _items(client, url, params)

    found = await call(f"listing Lighthouse delegations of {subscription_id}", run)
    return [delegation_from(subscription_id, d) for d in found]


async def billing_customers(session: AzureSession, account: str) -> dict[str, str]:
    """Customer name -> display name, for every customer of a partner billing account
    (the 2020-05-01 ``Customer`` carries no tenant id: match by name or display name).

    Raises:
        AzureError: the listing failed.
    """
    client = session.client("subscriptions")
    url = f"/providers/Microsoft.Billing/billingAccounts/{account}/customers"

    async def run() -> list[Any]:
        return await _items(client, url, {"api-version": BILLING_API})

    found = await call(f"listing the customers of billing account {account}", run)
    return {
        str(get(c, "name") or "").lower(): text(get(c, "properties", "displayName")) or ""
        for c in found
    }
