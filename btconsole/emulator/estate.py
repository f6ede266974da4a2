"""The emulator's estate: every tenant, subscription and resource it serves.

An :class:`Estate` is plain data. It is generated from a seed by
:func:`btconsole.emulator.generate.generate` or loaded from an estate file
(``docs/emulator-estate.md`` describes the format). ``to_json`` is
deterministic, so the same estate always dumps to the same bytes, and
``from_json`` validates a file and raises :class:`EstateError` naming the
path of the first bad field.

Nothing here knows about HTTP; the route handlers in ``routes/`` shape this
data into the REST payloads of each Azure service.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import json
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Union

from btconsole.emulator.incidents import (
    FiredAlert,
    PatchAssessment,
    ResourceHealth,
    ServiceEvent,
    validate_incidents,
)

FORMAT = "btconsole-estate"
FORMAT_VERSION = 1

SIZES = ("small", "medium", "large", "huge")

GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SLUG_RE = re.compile(r"^[a-z0-9-]+$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._()-]{0,89}$")

MACHINE_STATUSES = ("Connected", "Disconnected", "Expired", "Error", "AwaitingConnection")
CLUSTER_STATUSES = ("Connected", "Connecting", "Offline", "Expired", "AgentNotInstalled")
PROVIDER_STATES = ("NotProvisioned", "Provisioning", "Provisioned", "Deprovisioning")
CIRCUIT_STATES = ("Enabled", "Disabled")
PEERING_NAMES = ("AzurePrivatePeering", "MicrosoftPeering")
DEVICE_HEALTH = ("up", "down", "flapping")
COMPLIANCE_STATES = ("Compliant", "NonCompliant", "Exempt", "Unknown", "Conflict")
SKU_TIERS = ("Local", "Standard", "Premium")
SKU_FAMILIES = ("MeteredData", "UnlimitedData")
#: Currencies the generator gives customers; an estate file may name any ISO 4217 code.
CURRENCIES = ("GBP", "EUR", "USD", "CHF", "JPY")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
#: Built-in Azure roles a Lighthouse delegation grants (role definition GUIDs, the same
#: in every tenant): what btconsole's domains need, and Contributor.
BUILTIN_ROLES = {
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Resource Policy Contributor": "36243c78-bf99-498c-9df9-86d9f8d28608",
    "Cost Management Reader": "72fafb9e-0641-4937-9268-a91bfd8191a3",
}


class EstateError(Exception):
    """An estate file (or estate data) is malformed; the message names the problem."""


# --------------------------------------------------------------------------- model


@dataclass
class Tenant:
    """A Microsoft Entra tenant with one app registration usable with client credentials."""

    tenant_id: str
    display_name: str
    client_id: str
    client_secret: str
    owned_subscription_ids: list[str] = field(default_factory=list)
    delegated_subscription_ids: list[str] = field(default_factory=list)


@dataclass
class Customer:
    """A managed customer: one tenant, its subscriptions, its budget and currency."""

    slug: str
    display_name: str
    tenant_id: str
    subscription_ids: list[str]
    monthly_budget: float
    currency: str


@dataclass
class Authorization:
    """One authorization of a Lighthouse registration definition: a principal of the
    managing tenant and the built-in role it holds in the customer's scope
    (``roleDefinitionId`` is the role's GUID, as the spec's examples give it)."""

    principal_id: str
    principal_display_name: str
    role_definition_id: str


@dataclass
class Delegation:
    """An Azure Lighthouse delegation: one registration definition and its assignment.

    The definition lives in the customer's subscription (``managee`` = the
    subscription's tenant) and names the managing tenant and its authorizations; the
    assignment projects it onto the subscription (``resource_group`` empty) or onto one
    resource group of it. The managing tenant lists the subscription in its
    ``Tenant.delegated_subscription_ids``.
    """

    definition_id: str
    assignment_id: str
    name: str
    managed_by_tenant_id: str
    subscription_id: str
    resource_group: str = ""
    description: str = ""
    authorizations: list[Authorization] = field(default_factory=list)

    @property
    def scope(self) -> str:
        scope = f"/subscriptions/{self.subscription_id}"
        if self.resource_group:
            scope += f"/resourceGroups/{self.resource_group}"
        return scope


@dataclass
class BillingCustomer:
    """A customer of a Microsoft Partner Agreement billing account: one customer tenant.
    It is billed in the currency of the estate customer of that tenant
    (``Customer.currency``), so the answers at its scope and its subscriptions' agree."""

    customer_id: str
    display_name: str
    tenant_id: str


@dataclass
class BillingAccount:
    """A partner's billing account (``Microsoft.Billing/billingAccounts``) and its customers.

    ``tenant_id`` is the partner's own tenant: its tokens may read the account and run
    Cost Management queries at a customer's scope
    (``/providers/Microsoft.Billing/billingAccounts/{name}/customers/{customer_id}``).
    """

    name: str
    display_name: str
    tenant_id: str
    agreement_type: str = "MicrosoftPartnerAgreement"
    customers: list[BillingCustomer] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"/providers/Microsoft.Billing/billingAccounts/{self.name}"

    @property
    def profile_id(self) -> str:
        """The billing profile's id: the second part of a ``{guid}_{guid}`` account name."""
        return self.name.rsplit("_", 1)[-1]

    def customer(self, customer_id: str) -> BillingCustomer | None:
        for c in self.customers:
            if c.customer_id.lower() == customer_id.lower():
                return c
        return None


@dataclass
class ResourceGroup:
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Subscription:
    subscription_id: str
    display_name: str
    tenant_id: str
    customer: str
    state: str = "Enabled"
    resource_groups: list[ResourceGroup] = field(default_factory=list)


@dataclass(slots=True)
class ErrorDetail:
    code: str
    message: str


@dataclass(slots=True)
class Extension:
    """A machine extension (``Microsoft.HybridCompute/machines/extensions``)."""

    name: str
    publisher: str
    type: str
    version: str
    status: str = "Succeeded"
    message: str = ""


@dataclass(slots=True)
class Machine:
    """An Arc-enabled server (``Microsoft.HybridCompute/machines``)."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    vm_id: str
    status: str
    last_status_change: str
    agent_version: str
    os_type: str
    os_sku: str
    os_version: str
    fqdn: str
    domain: str = ""
    manufacturer: str = "VMware, Inc."
    model: str = "VMware7,1"
    cores: int = 4
    tags: dict[str, str] = field(default_factory=dict)
    error_details: list[ErrorDetail] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.HybridCompute/machines/{self.name}"
        )


@dataclass(slots=True)
class Cluster:
    """An Arc-enabled Kubernetes cluster (``Microsoft.Kubernetes/connectedClusters``)."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    identity_principal_id: str
    connectivity_status: str
    last_connectivity_time: str
    agent_version: str
    kubernetes_version: str
    distribution: str
    infrastructure: str
    total_node_count: int
    total_core_count: int
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Kubernetes/connectedClusters/{self.name}"
        )


@dataclass
class Peering:
    """An ExpressRoute circuit peering and the health of its two devices.

    ``primary_prefix``/``secondary_prefix`` are /30 link nets: ``.1`` is the
    customer (on-premises) router, ``.2`` the Microsoft edge router.
    ``primary``/``secondary`` are the device health: ``up``, ``down`` or
    ``flapping`` (BGP/ARP drop to 0 for a few minutes now and then).
    """

    name: str
    peer_asn: int
    vlan_id: int
    primary_prefix: str
    secondary_prefix: str
    state: str = "Enabled"
    routes: list[str] = field(default_factory=list)
    advertised_public_prefixes: list[str] = field(default_factory=list)
    primary: str = "up"
    secondary: str = "up"
    last_change: str = ""


@dataclass
class Circuit:
    """An ExpressRoute circuit (``Microsoft.Network/expressRouteCircuits``)."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    service_key: str
    peering_location: str
    bandwidth_mbps: int
    sku_tier: str = "Standard"
    sku_family: str = "MeteredData"
    service_provider_name: str = "British Telecom"
    circuit_provisioning_state: str = "Enabled"
    service_provider_provisioning_state: str = "Provisioned"
    tags: dict[str, str] = field(default_factory=dict)
    peerings: list[Peering] = field(default_factory=list)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Network/expressRouteCircuits/{self.name}"
        )

    def peering(self, name: str) -> Peering | None:
        for p in self.peerings:
            if p.name.lower() == name.lower():
                return p
        return None


@dataclass
class PolicyDefinition:
    """A (built-in style) policy definition; ``name`` is a GUID."""

    name: str
    display_name: str
    category: str
    effect: str
    policy_type: str = "BuiltIn"

    @property
    def id(self) -> str:
        return f"/providers/Microsoft.Authorization/policyDefinitions/{self.name}"


@dataclass
class PolicyAssignment:
    """A policy assignment at subscription scope."""

    subscription_id: str
    name: str
    display_name: str
    definition: str

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}"
            f"/providers/Microsoft.Authorization/policyAssignments/{self.name}"
        )


@dataclass(slots=True)
class PolicyState:
    """The latest compliance of one resource against one assignment (same subscription)."""

    resource_id: str
    assignment: str
    compliance_state: str


@dataclass(slots=True)
class CostSeries:
    """Daily pre-tax cost of one service in one resource group, from ``Estate.cost_start``.

    A negative day is a refund or credit larger than that day's usage, as Cost
    Management reports it. Values are served as they are, absurd ones included (an
    estate file may hold ``1e308``), so clients can be tried against them.
    """

    subscription_id: str
    resource_group: str
    service_name: str
    daily: list[float]


@dataclass
class Budget:
    """A Consumption budget at subscription scope (monthly)."""

    subscription_id: str
    name: str
    amount: float
    time_grain: str = "Monthly"
    start_date: str = ""
    thresholds: list[float] = field(default_factory=lambda: [80.0, 100.0])

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}"
            f"/providers/Microsoft.Consumption/budgets/{self.name}"
        )


def parse_resource_id(resource_id: str) -> tuple[str, str, str]:
    """Return (subscription id, resource group, ``Namespace/type``) of an ARM resource ID.

    Raises:
        ValueError: the ID is not a resource-group-scoped ARM resource ID.
    """
    parts = resource_id.split("/")
    # "", subscriptions, sub, resourceGroups, rg, providers, ns, type, name, ...
    if (
        len(parts) < 9
        or parts[0] != ""
        or parts[1].lower() != "subscriptions"
        or parts[3].lower() != "resourcegroups"
        or parts[5].lower() != "providers"
    ):
        raise ValueError(f"not a resource ID: {resource_id!r}")
    rtype = f"{parts[6]}/{parts[7]}"
    for i in range(9, len(parts) - 1, 2):
        rtype += f"/{parts[i]}"
    return parts[2], parts[4], rtype


def parse_time(text: str) -> dt.datetime:
    """Parse an ISO 8601 UTC timestamp as written in estates (``...Z``)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_time(when: dt.datetime) -> str:
    """Format a UTC timestamp as ARM does: ``2026-11-20T09:15:00Z``."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- estate


@dataclass
class Estate:
    """Everything the emulator serves. ``as_of`` is the estate's "today".

    Treat an estate as read-only once it is served: lookups index it lazily and route
    handlers cache tables derived from it in ``memo``.
    """

    seed: int | None
    size: str | None
    as_of: dt.date
    tenants: list[Tenant]
    customers: list[Customer]
    subscriptions: list[Subscription] = field(default_factory=list)
    machines: list[Machine] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    circuits: list[Circuit] = field(default_factory=list)
    policy_definitions: list[PolicyDefinition] = field(default_factory=list)
    policy_assignments: list[PolicyAssignment] = field(default_factory=list)
    policy_states: list[PolicyState] = field(default_factory=list)
    cost_start: dt.date | None = None
    costs: list[CostSeries] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    delegations: list[Delegation] = field(default_factory=list)
    billing_accounts: list[BillingAccount] = field(default_factory=list)
    # Service Health, Resource Health, alerts, patch state (btconsole/emulator/incidents.py)
    service_events: list[ServiceEvent] = field(default_factory=list)
    resource_health: list[ResourceHealth] = field(default_factory=list)
    alerts: list[FiredAlert] = field(default_factory=list)
    patch_assessments: list[PatchAssessment] = field(default_factory=list)
    # the hour (UTC) of ``as_of`` that is the estate's "now": noon for tests and fixed
    # estates; the demo and ``emulator serve`` use the hour they start in, so that at
    # 07:35 nothing generated "3 hours ago" lies in the future
    hour: int = 12

    # ----------------------------------------------------------------- time

    @property
    def now(self) -> dt.datetime:
        """The estate's "now": ``hour`` UTC on ``as_of``. Generated timestamps are
        relative to it."""
        return dt.datetime(
            self.as_of.year, self.as_of.month, self.as_of.day, self.hour, tzinfo=dt.timezone.utc
        )

    @property
    def cost_days(self) -> int:
        return len(self.costs[0].daily) if self.costs else 0

    def cost_dates(self) -> list[dt.date]:
        """The date of each entry of every ``CostSeries.daily``."""
        if self.cost_start is None:
            return []
        return [self.cost_start + dt.timedelta(days=i) for i in range(self.cost_days)]

    # ----------------------------------------------------------------- tenants

    def tenant(self, tenant_id: str) -> Tenant | None:
        return self._tenants_by_id.get(tenant_id.lower())

    def tenant_for_client(self, client_id: str) -> Tenant | None:
        return self._tenants_by_client.get(client_id.lower())

    def visible_subscription_ids(self, tenant_id: str) -> frozenset[str]:
        tenant = self.tenant(tenant_id)
        if tenant is None:
            return frozenset()
        return frozenset(tenant.owned_subscription_ids) | frozenset(
            tenant.delegated_subscription_ids
        )

    def managing_tenants(self, subscription_id: str) -> list[str]:
        """Tenants that manage a subscription through Lighthouse delegation."""
        return self._managers.get(subscription_id, [])

    def delegations_in(self, subscription_id: str) -> list[Delegation]:
        """The Lighthouse delegations of a subscription (at its scope or a resource group's)."""
        return self._by_sub("delegations").get(subscription_id.lower(), [])

    def billing_account(self, name: str) -> BillingAccount | None:
        for account in self.billing_accounts:
            if account.name.lower() == name.lower():
                return account
        return None

    def customer_for_tenant(self, tenant_id: str) -> Customer | None:
        """The estate customer whose own tenant is ``tenant_id``."""
        for c in self.customers:
            if c.tenant_id.lower() == tenant_id.lower():
                return c
        return None

    # ----------------------------------------------------------------- lookups

    def subscription(self, subscription_id: str) -> Subscription | None:
        return self._subs.get(subscription_id.lower())

    def customer(self, slug: str) -> Customer | None:
        for c in self.customers:
            if c.slug == slug:
                return c
        return None

    def customer_of(self, subscription_id: str) -> Customer | None:
        sub = self.subscription(subscription_id)
        return self.customer(sub.customer) if sub else None

    def resource_group(self, subscription_id: str, name: str) -> ResourceGroup | None:
        sub = self.subscription(subscription_id)
        if sub is None:
            return None
        for rg in sub.resource_groups:
            if rg.name.lower() == name.lower():
                return rg
        return None

    def machines_in(self, subscription_id: str) -> list[Machine]:
        return self._by_sub("machines").get(subscription_id.lower(), [])

    def clusters_in(self, subscription_id: str) -> list[Cluster]:
        return self._by_sub("clusters").get(subscription_id.lower(), [])

    def circuits_in(self, subscription_id: str) -> list[Circuit]:
        return self._by_sub("circuits").get(subscription_id.lower(), [])

    def assignments_in(self, subscription_id: str) -> list[PolicyAssignment]:
        return self._by_sub("policy_assignments").get(subscription_id.lower(), [])

    def costs_in(self, subscription_id: str) -> list[CostSeries]:
        return self._by_sub("costs").get(subscription_id.lower(), [])

    def budgets_in(self, subscription_id: str) -> list[Budget]:
        return self._by_sub("budgets").get(subscription_id.lower(), [])

    def policy_states_in(self, subscription_id: str) -> list[PolicyState]:
        return self._states_by_sub.get(subscription_id.lower(), [])

    def policy_definition(self, name: str) -> PolicyDefinition | None:
        return self._definitions.get(name.lower())

    def month_to_date_cost(self, subscription_id: str) -> float:
        """Actual cost of a subscription from the first of ``as_of``'s month to ``as_of``."""
        dates = self.cost_dates()
        first = self.as_of.replace(day=1)
        idx = [i for i, d in enumerate(dates) if first <= d <= self.as_of]
        return round(sum(s.daily[i] for s in self.costs_in(subscription_id) for i in idx), 2)

    def forecast_month_cost(self, subscription_id: str) -> float:
        """Month-to-date cost plus the last 7 days' daily mean for each remaining day."""
        series = self.costs_in(subscription_id)
        dates = self.cost_dates()
        recent = [i for i, d in enumerate(dates) if d <= self.as_of][-7:]
        per_day = sum(s.daily[i] for s in series for i in recent) / max(len(recent), 1)
        days = calendar.monthrange(self.as_of.year, self.as_of.month)[1]
        remaining = days - self.as_of.day
        return round(self.month_to_date_cost(subscription_id) + per_day * remaining, 2)

    # ----------------------------------------------------------------- indexes

    @cached_property
    def memo(self) -> dict[str, Any]:
        """Scratch space for tables derived from the estate (route handlers cache here)."""
        return {}

    def find(self, attr: str, subscription_id: str, resource_group: str, name: str) -> Any:
        """The machine/cluster/circuit (``attr`` names the list) with that ARM identity."""
        key = f"find:{attr}"
        index = self.memo.get(key)
        if index is None:
            index = {
                (i.subscription_id.lower(), i.resource_group.lower(), i.name.lower()): i
                for i in getattr(self, attr)
            }
            self.memo[key] = index
        return index.get((subscription_id.lower(), resource_group.lower(), name.lower()))

    @cached_property
    def _tenants_by_id(self) -> dict[str, Tenant]:
        return {t.tenant_id.lower(): t for t in self.tenants}

    @cached_property
    def _tenants_by_client(self) -> dict[str, Tenant]:
        return {t.client_id.lower(): t for t in self.tenants}

    @cached_property
    def _subs(self) -> dict[str, Subscription]:
        return {s.subscription_id.lower(): s for s in self.subscriptions}

    @cached_property
    def _managers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for t in self.tenants:
            for sid in t.delegated_subscription_ids:
                out.setdefault(sid, []).append(t.tenant_id)
        return out

    @cached_property
    def _definitions(self) -> dict[str, PolicyDefinition]:
        return {d.name.lower(): d for d in self.policy_definitions}

    @cached_property
    def _states_by_sub(self) -> dict[str, list[PolicyState]]:
        out: dict[str, list[PolicyState]] = {}
        for s in self.policy_states:
            out.setdefault(s.resource_id.split("/", 3)[2].lower(), []).append(s)
        return out

    @cached_property
    def _indexes(self) -> dict[str, dict[str, list[Any]]]:
        return {}

    def _by_sub(self, attr: str) -> dict[str, list[Any]]:
        index = self._indexes.get(attr)
        if index is None:
            index = {}
            for item in getattr(self, attr):
                index.setdefault(item.subscription_id.lower(), []).append(item)
            self._indexes[attr] = index
        return index

    # ----------------------------------------------------------------- JSON

    def to_json(self) -> str:
        """Dump the estate; the same estate always gives the same text."""
        doc: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION}
        for f in dataclasses.fields(self):
            doc[f.name] = _dump(getattr(self, f.name))
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Estate:
        """Load and validate an estate file.

        Raises:
            EstateError: the text is not JSON, a field is missing, unknown or of the
                wrong type, or the estate is inconsistent; the message names the path.
        """
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EstateError(
                f"estate is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from exc
        if not isinstance(doc, dict):
            raise EstateError("estate: expected a JSON object")
        if doc.get("format") != FORMAT:
            raise EstateError(f'estate.format: expected "{FORMAT}"')
        if doc.get("version") != FORMAT_VERSION:
            raise EstateError(
                f"estate.version: expected {FORMAT_VERSION}, got {doc.get('version')!r}"
            )
        body = {k: v for k, v in doc.items() if k not in ("format", "version")}
        estate = _load(cls, body, "estate")
        assert isinstance(estate, Estate)
        validate(estate)
        return estate


# --------------------------------------------------------------------------- dump/load


def _dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _typename(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _load(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _load(args[0], value, path)
    if tp is str:
        if not isinstance(value, str):
            raise EstateError(f"{path}: expected a string, got {_typename(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise EstateError(f"{path}: expected true or false, got {_typename(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EstateError(f"{path}: expected an integer, got {_typename(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EstateError(f"{path}: expected a number, got {_typename(value)}")
        return float(value)
    if tp is dt.date:
        if not isinstance(value, str):
            raise EstateError(f"{path}: expected a date YYYY-MM-DD, got {_typename(value)}")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise EstateError(f"{path}: expected a date YYYY-MM-DD, got {value!r}") from None
    if origin is list:
        if not isinstance(value, list):
            raise EstateError(f"{path}: expected an array, got {_typename(value)}")
        (item,) = typing.get_args(tp)
        return [_load(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise EstateError(f"{path}: expected an object, got {_typename(value)}")
        _, vt = typing.get_args(tp)
        return {k: _load(vt, v, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise EstateError(f"{path}: expected an object, got {_typename(value)}")
        hints = _hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        for key in value:
            if key not in fields:
                raise EstateError(f"{path}.{key}: unknown field")
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = _load(hints[name], value[name], f"{path}.{name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise EstateError(f"{path}.{name}: missing")
        return tp(**kwargs)
    raise TypeError(f"unsupported estate type {tp!r}")  # pragma: no cover


# --------------------------------------------------------------------------- validation


def _need(ok: bool, path: str, problem: str) -> None:
    if not ok:
        raise EstateError(f"{path}: {problem}")


def _guid(value: str, path: str) -> None:
    _need(bool(GUID_RE.match(value)), path, f"not a lowercase GUID: {value!r}")


def _one_of(value: str, allowed: Sequence[str], path: str) -> None:
    _need(value in allowed, path, f"{value!r} is not one of {', '.join(allowed)}")


def _open_enum(value: str, path: str) -> None:
    """A status Azure models as an open enumeration (``modelAsString``): any non-empty
    string, so an estate can serve a value newer than the documented ones."""
    _need(bool(value) and value == value.strip(), path, f"must be a non-empty string: {value!r}")


def _time(value: str, path: str) -> None:
    try:
        parse_time(value)
    except ValueError:
        raise EstateError(f"{path}: not an ISO 8601 timestamp: {value!r}") from None


def _unique(keys: Iterable[str], path: str, what: str) -> None:
    seen: set[str] = set()
    for i, key in enumerate(keys):
        _need(key.lower() not in seen, f"{path}[{i}]", f"duplicate {what} {key!r}")
        seen.add(key.lower())


def _rg_ref(estate: Estate, subscription_id: str, resource_group: str, path: str) -> Subscription:
    sub = estate.subscription(subscription_id)
    _need(sub is not None, f"{path}.subscription_id", f"unknown subscription {subscription_id!r}")
    assert sub is not None
    _need(
        estate.resource_group(subscription_id, resource_group) is not None,
        f"{path}.resource_group",
        f"no resource group {resource_group!r} in subscription {subscription_id}",
    )
    return sub


def validate(estate: Estate) -> None:
    """Check an estate's consistency (references, identifiers, enumerations).

    Raises:
        EstateError: naming the path of the first problem found.
    """
    if estate.size is not None:
        _one_of(estate.size, SIZES, "estate.size")
    _need(0 <= estate.hour <= 23, "estate.hour", "an hour of the day, 0-23")
    _need(bool(estate.tenants), "estate.tenants", "at least one tenant is required")
    _unique((t.tenant_id for t in estate.tenants), "estate.tenants", "tenant_id")
    _unique((t.client_id for t in estate.tenants), "estate.tenants", "client_id")
    _unique((s.subscription_id for s in estate.subscriptions), "estate.subscriptions", "id")
    _unique((c.slug for c in estate.customers), "estate.customers", "slug")
    tenant_ids = {t.tenant_id for t in estate.tenants}
    sub_ids = {s.subscription_id for s in estate.subscriptions}
    slugs = {c.slug for c in estate.customers}

    for i, t in enumerate(estate.tenants):
        p = f"estate.tenants[{i}]"
        _guid(t.tenant_id, f"{p}.tenant_id")
        _guid(t.client_id, f"{p}.client_id")
        _need(bool(t.client_secret), f"{p}.client_secret", "must not be empty")
        for key in ("owned_subscription_ids", "delegated_subscription_ids"):
            for j, sid in enumerate(getattr(t, key)):
                _need(sid in sub_ids, f"{p}.{key}[{j}]", f"unknown subscription {sid!r}")
        for j, sid in enumerate(t.owned_subscription_ids):
            sub = estate.subscription(sid)
            assert sub is not None
            _need(
                sub.tenant_id == t.tenant_id,
                f"{p}.owned_subscription_ids[{j}]",
                f"subscription {sid} belongs to tenant {sub.tenant_id}",
            )

    for i, c in enumerate(estate.customers):
        p = f"estate.customers[{i}]"
        _need(bool(SLUG_RE.match(c.slug)), f"{p}.slug", f"must match [a-z0-9-]+: {c.slug!r}")
        _need(c.tenant_id in tenant_ids, f"{p}.tenant_id", f"unknown tenant {c.tenant_id!r}")
        _need(
            bool(CURRENCY_RE.match(c.currency)),
            f"{p}.currency",
            f"expected an ISO 4217 code such as GBP, EUR or JPY, got {c.currency!r}",
        )
        _need(c.monthly_budget >= 0, f"{p}.monthly_budget", "must not be negative")
        for j, sid in enumerate(c.subscription_ids):
            _need(sid in sub_ids, f"{p}.subscription_ids[{j}]", f"unknown subscription {sid!r}")

    for i, s in enumerate(estate.subscriptions):
        p = f"estate.subscriptions[{i}]"
        _guid(s.subscription_id, f"{p}.subscription_id")
        _need(s.tenant_id in tenant_ids, f"{p}.tenant_id", f"unknown tenant {s.tenant_id!r}")
        _need(s.customer in slugs, f"{p}.customer", f"unknown customer {s.customer!r}")
        home = estate.tenant(s.tenant_id)
        assert home is not None
        _need(
            s.subscription_id in home.owned_subscription_ids,
            f"{p}.tenant_id",
            f"tenant {s.tenant_id} does not list {s.subscription_id} in owned_subscription_ids",
        )
        owner = estate.customer(s.customer)
        assert owner is not None
        _need(
            s.subscription_id in owner.subscription_ids,
            f"{p}.customer",
            f"customer {s.customer!r} does not list {s.subscription_id} in subscription_ids",
        )
        _need(
            owner.tenant_id == s.tenant_id,
            f"{p}.tenant_id",
            f"customer {s.customer!r} is in tenant {owner.tenant_id}, not {s.tenant_id}",
        )
        _open_enum(s.state, f"{p}.state")
        _unique((rg.name for rg in s.resource_groups), f"{p}.resource_groups", "name")
        for j, rg in enumerate(s.resource_groups):
            _need(
                bool(NAME_RE.match(rg.name)),
                f"{p}.resource_groups[{j}].name",
                f"not a valid resource group name: {rg.name!r}",
            )

    for i, m in enumerate(estate.machines):
        p = f"estate.machines[{i}]"
        _rg_ref(estate, m.subscription_id, m.resource_group, p)
        _need(bool(NAME_RE.match(m.name)), f"{p}.name", f"not a valid name: {m.name!r}")
        _guid(m.vm_id, f"{p}.vm_id")
        _need(bool(m.status), f"{p}.status", "must not be empty")
        _time(m.last_status_change, f"{p}.last_status_change")
        _one_of(m.os_type, ("windows", "linux"), f"{p}.os_type")
    _unique((m.id for m in estate.machines), "estate.machines", "machine")

    for i, k in enumerate(estate.clusters):
        p = f"estate.clusters[{i}]"
        _rg_ref(estate, k.subscription_id, k.resource_group, p)
        _need(bool(NAME_RE.match(k.name)), f"{p}.name", f"not a valid name: {k.name!r}")
        _guid(k.identity_principal_id, f"{p}.identity_principal_id")
        _need(bool(k.connectivity_status), f"{p}.connectivity_status", "must not be empty")
        _time(k.last_connectivity_time, f"{p}.last_connectivity_time")
    _unique((k.id for k in estate.clusters), "estate.clusters", "cluster")

    for i, circ in enumerate(estate.circuits):
        p = f"estate.circuits[{i}]"
        _rg_ref(estate, circ.subscription_id, circ.resource_group, p)
        _need(bool(NAME_RE.match(circ.name)), f"{p}.name", f"not a valid name: {circ.name!r}")
        _guid(circ.service_key, f"{p}.service_key")
        _need(circ.bandwidth_mbps > 0, f"{p}.bandwidth_mbps", "must be positive")
        _one_of(circ.sku_tier, SKU_TIERS, f"{p}.sku_tier")
        _one_of(circ.sku_family, SKU_FAMILIES, f"{p}.sku_family")
        # open enumerations: a value Azure may add later is served as is (see docs)
        _open_enum(circ.circuit_provisioning_state, f"{p}.circuit_provisioning_state")
        _open_enum(
            circ.service_provider_provisioning_state, f"{p}.service_provider_provisioning_state"
        )
        _unique((x.name for x in circ.peerings), f"{p}.peerings", "peering")
        for j, pe in enumerate(circ.peerings):
            q = f"{p}.peerings[{j}]"
            _one_of(pe.name, PEERING_NAMES, f"{q}.name")
            _open_enum(pe.state, f"{q}.state")
            _one_of(pe.primary, DEVICE_HEALTH, f"{q}.primary")
            _one_of(pe.secondary, DEVICE_HEALTH, f"{q}.secondary")
            _need(1 <= pe.vlan_id <= 4094, f"{q}.vlan_id", "must be 1..4094")
            _need(1 <= pe.peer_asn <= 4294967295, f"{q}.peer_asn", "must be 1..4294967295")
            for key in ("primary_prefix", "secondary_prefix"):
                _need(
                    _is_link_net(getattr(pe, key)),
                    f"{q}.{key}",
                    f"expected an IPv4 /30 such as 10.0.0.0/30, got {getattr(pe, key)!r}",
                )
            if pe.last_change:
                _time(pe.last_change, f"{q}.last_change")
    _unique((c.id for c in estate.circuits), "estate.circuits", "circuit")

    _unique((d.name for d in estate.policy_definitions), "estate.policy_definitions", "name")
    for i, d in enumerate(estate.policy_definitions):
        _guid(d.name, f"estate.policy_definitions[{i}].name")
    _unique((a.id for a in estate.policy_assignments), "estate.policy_assignments", "assignment")
    assignment_keys = set()
    for i, a in enumerate(estate.policy_assignments):
        p = f"estate.policy_assignments[{i}]"
        _need(
            a.subscription_id in sub_ids,
            f"{p}.subscription_id",
            f"unknown subscription {a.subscription_id!r}",
        )
        _need(
            estate.policy_definition(a.definition) is not None,
            f"{p}.definition",
            f"unknown policy definition {a.definition!r}",
        )
        assignment_keys.add((a.subscription_id.lower(), a.name.lower()))
    for i, st in enumerate(estate.policy_states):
        p = f"estate.policy_states[{i}]"
        try:
            sid, rg_name, _ = parse_resource_id(st.resource_id)
        except ValueError as exc:
            raise EstateError(f"{p}.resource_id: {exc}") from None
        _need(
            estate.resource_group(sid, rg_name) is not None,
            f"{p}.resource_id",
            f"no resource group {rg_name!r} in subscription {sid!r}",
        )
        _need(
            (sid.lower(), st.assignment.lower()) in assignment_keys,
            f"{p}.assignment",
            f"no assignment {st.assignment!r} in subscription {sid}",
        )
        _open_enum(st.compliance_state, f"{p}.compliance_state")

    if estate.costs:
        _need(estate.cost_start is not None, "estate.cost_start", "required when costs are given")
        days = len(estate.costs[0].daily)
        for i, cs in enumerate(estate.costs):
            p = f"estate.costs[{i}]"
            _rg_ref(estate, cs.subscription_id, cs.resource_group, p)
            _need(len(cs.daily) == days, f"{p}.daily", f"expected {days} values like costs[0]")
            # negative days (refunds, credits) and absurd ones are served as they are
    _validate_lighthouse(estate)
    for i, b in enumerate(estate.budgets):
        p = f"estate.budgets[{i}]"
        _need(
            b.subscription_id in sub_ids,
            f"{p}.subscription_id",
            f"unknown subscription {b.subscription_id!r}",
        )
        _need(b.amount > 0, f"{p}.amount", "must be positive")
        _one_of(b.time_grain, ("Monthly", "Quarterly", "Annually"), f"{p}.time_grain")
        if b.start_date:
            try:
                dt.date.fromisoformat(b.start_date)
            except ValueError:
                raise EstateError(f"{p}.start_date: not a date: {b.start_date!r}") from None
    validate_incidents(estate)


def _validate_lighthouse(estate: Estate) -> None:
    tenant_ids = {t.tenant_id for t in estate.tenants}
    _unique((d.definition_id for d in estate.delegations), "estate.delegations", "definition_id")
    _unique((d.assignment_id for d in estate.delegations), "estate.delegations", "assignment_id")
    for i, d in enumerate(estate.delegations):
        p = f"estate.delegations[{i}]"
        _guid(d.definition_id, f"{p}.definition_id")
        _guid(d.assignment_id, f"{p}.assignment_id")
        _need(bool(d.name.strip()), f"{p}.name", "must not be empty")
        _need(
            d.managed_by_tenant_id in tenant_ids,
            f"{p}.managed_by_tenant_id",
            f"unknown tenant {d.managed_by_tenant_id!r}",
        )
        sub = estate.subscription(d.subscription_id)
        _need(
            sub is not None, f"{p}.subscription_id", f"unknown subscription {d.subscription_id!r}"
        )
        assert sub is not None
        _need(
            sub.tenant_id != d.managed_by_tenant_id,
            f"{p}.managed_by_tenant_id",
            "a tenant cannot delegate to itself",
        )
        manager = estate.tenant(d.managed_by_tenant_id)
        assert manager is not None
        _need(
            d.subscription_id in manager.delegated_subscription_ids,
            f"{p}.subscription_id",
            f"tenant {d.managed_by_tenant_id} does not list {d.subscription_id} "
            "in delegated_subscription_ids",
        )
        if d.resource_group:
            _rg_ref(estate, d.subscription_id, d.resource_group, p)
        _need(bool(d.authorizations), f"{p}.authorizations", "at least one is required")
        for j, a in enumerate(d.authorizations):
            _guid(a.principal_id, f"{p}.authorizations[{j}].principal_id")
            _guid(a.role_definition_id, f"{p}.authorizations[{j}].role_definition_id")
    _unique((b.name for b in estate.billing_accounts), "estate.billing_accounts", "name")
    for i, b in enumerate(estate.billing_accounts):
        p = f"estate.billing_accounts[{i}]"
        _need(
            bool(re.match(r"^[0-9a-f-]{36}_[0-9a-f-]{36}$", b.name)),
            f"{p}.name",
            f"expected {{guid}}_{{guid}} as the spec's examples name accounts, got {b.name!r}",
        )
        _need(b.tenant_id in tenant_ids, f"{p}.tenant_id", f"unknown tenant {b.tenant_id!r}")
        _unique((c.customer_id for c in b.customers), f"{p}.customers", "customer_id")
        for j, c in enumerate(b.customers):
            q = f"{p}.customers[{j}]"
            _guid(c.customer_id, f"{q}.customer_id")
            owner = estate.customer_for_tenant(c.tenant_id)
            _need(owner is not None, f"{q}.tenant_id", f"no customer in tenant {c.tenant_id!r}")


def _is_link_net(text: str) -> bool:
    m = re.match(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/30$", text)
    if not m:
        return False
    octets = [int(x) for x in m.groups()]
    return all(o <= 255 for o in octets) and octets[3] % 4 == 0


def link_addresses(prefix: str) -> tuple[str, str]:
    """The (customer, Microsoft) router addresses of a /30 link net: ``.1`` and ``.2``."""
    base = prefix.split("/")[0].rsplit(".", 1)
    net, last = base[0], int(base[1])
    return f"{net}.{last + 1}", f"{net}.{last + 2}"
