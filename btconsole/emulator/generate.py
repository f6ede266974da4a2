"""Generate a deterministic estate from a seed and size knobs.

Everything comes from one ``random.Random(seed)``: no clock, no ``uuid4``, no
``hash()`` of strings. Timestamps are relative to the estate's ``as_of`` date,
so the same seed, size and overrides always give a byte-identical dump.

``healthy=True`` gives an estate with nothing to report: every machine and
cluster connected on the newest agent, every circuit provisioned with both
devices up, every policy state compliant, every subscription under budget
(and forecast under budget) with no cost spikes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
import uuid
from dataclasses import dataclass
from typing import Any

from btconsole.emulator.estate import (
    BUILTIN_ROLES,
    SIZES,
    Authorization,
    BillingAccount,
    BillingCustomer,
    Budget,
    Circuit,
    Cluster,
    CostSeries,
    Customer,
    Delegation,
    ErrorDetail,
    Estate,
    Extension,
    Machine,
    Peering,
    PolicyAssignment,
    PolicyDefinition,
    PolicyState,
    ResourceGroup,
    Subscription,
    Tenant,
    format_time,
    validate,
)
from btconsole.emulator.incidents import generate_incidents

DEFAULT_AS_OF = dt.date(2026, 11, 20)
MSP_NAME = "BT Managed Services"


@dataclass(frozen=True)
class Knobs:
    """Size knobs. ``subscriptions``, ``machines``, ``clusters``, ``circuits`` and
    ``policy_states`` are estate-wide totals; ``resource_groups`` and
    ``policy_assignments`` are per subscription."""

    customers: int
    subscriptions: int
    resource_groups: int
    machines: int
    clusters: int
    circuits: int
    policy_assignments: int
    policy_states: int
    cost_days: int
    #: Subscriptions with one refund: a day whose net cost is negative (a credit larger
    #: than that day's usage), as Cost Management reports refunds and credits.
    refunds: int = 0


SIZE_KNOBS: dict[str, Knobs] = {
    "small": Knobs(
        customers=3,
        subscriptions=6,
        resource_groups=3,
        machines=60,
        clusters=6,
        circuits=6,
        policy_assignments=4,
        policy_states=600,
        cost_days=60,
        refunds=0,
    ),
    "medium": Knobs(
        customers=8,
        subscriptions=24,
        resource_groups=4,
        machines=600,
        clusters=30,
        circuits=16,
        policy_assignments=6,
        policy_states=6000,
        cost_days=90,
        refunds=3,
    ),
    "large": Knobs(
        customers=30,
        subscriptions=120,
        resource_groups=5,
        machines=5000,
        clusters=150,
        circuits=60,
        policy_assignments=8,
        policy_states=30000,
        cost_days=90,
        refunds=10,
    ),
    "huge": Knobs(
        customers=60,
        subscriptions=300,
        resource_groups=5,
        machines=20000,
        clusters=600,
        circuits=120,
        policy_assignments=8,
        policy_states=100000,
        cost_days=60,
        refunds=20,
    ),
}

KNOB_NAMES = tuple(f.name for f in dataclasses.fields(Knobs))


def knobs_for(size: str, **overrides: int) -> Knobs:
    """The knobs of a size with overrides applied.

    Raises:
        ValueError: unknown size or knob, or a value out of range.
    """
    if size not in SIZE_KNOBS:
        raise ValueError(f"unknown estate size {size!r}; expected one of {', '.join(SIZES)}")
    for name, value in overrides.items():
        if name not in KNOB_NAMES:
            raise ValueError(f"unknown estate knob {name!r}; expected one of {KNOB_NAMES}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"estate knob {name} must be a non-negative integer")
    knobs = dataclasses.replace(SIZE_KNOBS[size], **overrides)
    if knobs.customers < 1:
        raise ValueError("estate knob customers must be at least 1")
    if knobs.subscriptions < knobs.customers:
        knobs = dataclasses.replace(knobs, subscriptions=knobs.customers)
    if knobs.resource_groups < 1:
        raise ValueError("estate knob resource_groups must be at least 1")
    if knobs.cost_days < 1:
        raise ValueError("estate knob cost_days must be at least 1")
    if knobs.policy_assignments > len(POLICY_DEFINITIONS):
        raise ValueError(
            f"estate knob policy_assignments must be at most {len(POLICY_DEFINITIONS)} "
            "(one per policy definition)"
        )
    return knobs


# --------------------------------------------------------------------------- vocabulary

CUSTOMER_NAMES = (
    "Contoso Retail",
    "Fabrikam Logistics",
    "Northwind Health",
    "Woodgrove Bank",
    "Tailspin Toys",
    "Wide World Importers",
    "Adatum Insurance",
    "Litware Manufacturing",
    "Proseware Media",
    "Fourth Coffee",
    "Alpine Ski House",
    "Coho Winery",
    "Lamna Healthcare",
    "Trey Research",
    "Wingtip Engineering",
    "Relecloud",
    "VanArsdel Foods",
    "Humongous Insurance",
    "Margie's Travel",
    "Blue Yonder Airlines",
    "City Power & Light",
    "Lucerne Publishing",
    "Consolidated Messenger",
    "Munson's Pickles",
    "Bellows College",
    "Graphic Design Institute",
    "Southridge Video",
    "First Up Consultants",
    "Datum Engineering",
    "Baldwin Museum",
)

SUB_ROLES = ("Production", "Connectivity", "Shared Services", "Dev/Test", "DR", "Identity")
RG_ROLES = ("arc-servers", "arc-k8s", "connectivity", "shared", "monitoring", "app", "data")
REGIONS = ("uksouth", "ukwest", "westeurope", "northeurope", "francecentral")

# (peering location, Azure region of the circuit resource)
PEERING_LOCATIONS = (
    ("London", "uksouth"),
    ("London2", "uksouth"),
    ("Manchester", "ukwest"),
    ("Amsterdam", "westeurope"),
    ("Amsterdam2", "westeurope"),
    ("Dublin", "northeurope"),
    ("Frankfurt", "germanywestcentral"),
    ("Paris", "francecentral"),
    ("Newport(Wales)", "ukwest"),
    ("Zurich", "switzerlandnorth"),
)
BANDWIDTHS = (50, 100, 200, 500, 1000, 2000, 5000, 10000)

WINDOWS = (
    ("Windows Server 2016 Datacenter", "10.0.14393", 1),
    ("Windows Server 2019 Datacenter", "10.0.17763", 3),
    ("Windows Server 2022 Datacenter", "10.0.20348", 4),
    ("Windows Server 2022 Standard", "10.0.20348", 2),
    ("Windows Server 2025 Datacenter", "10.0.26100", 1),
)
LINUX = (
    ("Ubuntu 20.04.6 LTS", "5.4.0-200-generic", 1),
    ("Ubuntu 22.04.5 LTS", "5.15.0-126-generic", 3),
    ("Ubuntu 24.04.1 LTS", "6.8.0-49-generic", 2),
    ("Red Hat Enterprise Linux 8.10", "4.18.0-553.el8_10.x86_64", 2),
    ("Red Hat Enterprise Linux 9.4", "5.14.0-427.el9.x86_64", 2),
    ("SUSE Linux Enterprise Server 15 SP5", "5.14.21-150500.55.83-default", 1),
)
# Newest first.
AGENT_VERSIONS = ("1.49.02928.2047", "1.48.02881.1941", "1.47.02866.1896", "1.44.02766.1699")
OLD_AGENT_VERSIONS = ("1.39.02628.1518", "1.33.02399.1041")
MACHINE_ROLES = ("app", "web", "sql", "dc", "file", "print", "rds", "mon", "bkp", "erp", "ctx")
HARDWARE = (
    ("VMware, Inc.", "VMware7,1"),
    ("Microsoft Corporation", "Virtual Machine"),
    ("HPE", "ProLiant DL380 Gen10"),
    ("Dell Inc.", "PowerEdge R750"),
    ("Nutanix", "AHV"),
)
EXTENSIONS = {
    "windows": (
        (
            "AzureMonitorWindowsAgent",
            "Microsoft.Azure.Monitor",
            "AzureMonitorWindowsAgent",
            "1.30.0.0",
        ),
        ("MDE.Windows", "Microsoft.Azure.AzureDefenderForServers", "MDE.Windows", "1.0.9.6"),
        ("WindowsPatchExtension", "Microsoft.CPlat.Core", "WindowsPatchExtension", "1.5.71"),
        (
            "ChangeTracking-Windows",
            "Microsoft.Azure.ChangeTrackingAndInventory",
            "ChangeTracking-Windows",
            "2.24.0.0",
        ),
    ),
    "linux": (
        ("AzureMonitorLinuxAgent", "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent", "1.33.1"),
        ("MDE.Linux", "Microsoft.Azure.AzureDefenderForServers", "MDE.Linux", "1.0.6.0"),
        ("LinuxPatchExtension", "Microsoft.CPlat.Core", "LinuxPatchExtension", "1.6.54"),
        (
            "ChangeTracking-Linux",
            "Microsoft.Azure.ChangeTrackingAndInventory",
            "ChangeTracking-Linux",
            "2.24.0.0",
        ),
    ),
}
MACHINE_ERRORS = (
    ("HCRP409", "The resource has a pending operation and cannot be updated until it completes."),
    ("AZCM0026", "Failed to get the access token from the Hybrid Instance Metadata Service."),
    ("AZCM0148", "Failed to contact the guest configuration service: connection timed out."),
    ("AZCM0041", "The agent certificate has expired; reconnect the machine to Azure Arc."),
)

K8S_DISTRIBUTIONS = (
    ("aks_hci", "azure_stack_hci"),
    ("k3s", "generic"),
    ("openshift", "vsphere"),
    ("rancher_rke", "generic"),
    ("eks", "aws"),
)
K8S_VERSIONS = ("1.28.9", "1.29.7", "1.30.4", "1.31.1")
K8S_AGENT_VERSIONS = ("1.21.10", "1.20.18", "1.19.8")

POLICY_DEFINITIONS = (
    (
        "Azure Arc-enabled servers should have the Azure Monitor agent installed",
        "Monitoring",
        "AuditIfNotExists",
    ),
    ("Machines should have vulnerability findings resolved", "Security Center", "AuditIfNotExists"),
    (
        "Windows machines should meet requirements for 'Security Options - Network Security'",
        "Guest Configuration",
        "AuditIfNotExists",
    ),
    (
        "Linux machines should meet requirements for the Azure compute security baseline",
        "Guest Configuration",
        "AuditIfNotExists",
    ),
    ("Require a tag and its value on resources", "Tags", "Deny"),
    ("Allowed locations", "General", "Deny"),
    (
        "Machines should be configured to periodically check for missing system updates",
        "Azure Update Manager",
        "Audit",
    ),
    (
        "Azure Arc-enabled Kubernetes clusters should have Microsoft Defender extension installed",
        "Kubernetes",
        "AuditIfNotExists",
    ),
    ("Storage accounts should restrict network access", "Storage", "Audit"),
    ("Key vaults should have deletion protection enabled", "Key Vault", "Audit"),
    ("Network interfaces should not have public IPs", "Network", "Deny"),
    ("Audit usage of custom RBAC roles", "General", "Audit"),
)

SERVICES = (
    ("Virtual Machines", 60.0),
    ("Storage", 18.0),
    ("Azure Arc", 9.0),
    ("ExpressRoute", 40.0),
    ("Log Analytics", 22.0),
    ("Bandwidth", 7.0),
    ("Key Vault", 1.5),
    ("Microsoft Defender for Cloud", 15.0),
    ("Backup", 11.0),
    ("SQL Database", 35.0),
    ("Azure Monitor", 4.0),
    ("Virtual Network", 3.0),
)

SYNTHETIC_TYPES = (
    ("Microsoft.Storage/storageAccounts", "st"),
    ("Microsoft.KeyVault/vaults", "kv-"),
    ("Microsoft.Network/virtualNetworks", "vnet-"),
    ("Microsoft.Network/networkSecurityGroups", "nsg-"),
    ("Microsoft.Network/networkInterfaces", "nic-"),
    ("Microsoft.Compute/disks", "disk-"),
)


# --------------------------------------------------------------------------- helpers


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _secret(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-"
    return "".join(alphabet[rng.getrandbits(6)] for _ in range(40))


def _slug(name: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in name.lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")


def _short(slug: str) -> str:
    letters = [w[0] for w in slug.split("-") if w]
    base = slug.split("-")[0][:4]
    return (base + "".join(letters[1:]))[:6]


def _split(total: int, buckets: int, rng: random.Random, minimum: int = 0) -> list[int]:
    """Split ``total`` into ``buckets`` random parts, each at least ``minimum``."""
    if buckets == 0:
        return []
    base = [minimum] * buckets
    rest = total - minimum * buckets
    if rest <= 0:
        return [total // buckets + (1 if i < total % buckets else 0) for i in range(buckets)]
    weights = [0.4 + rng.random() * 1.6 for _ in range(buckets)]
    picks = rng.choices(range(buckets), weights=weights, k=rest)
    for p in picks:
        base[p] += 1
    return base


def _scenarios(
    rng: random.Random, n: int, problems: tuple[tuple[str, float, int], ...], default: str
) -> list[str]:
    """``n`` scenario labels: each problem gets ``fraction`` of ``n`` (at least ``minimum``
    while room remains), the rest ``default``, in a seeded random order. Guarantees the
    mix a demo or test expects instead of leaving it to chance."""
    out: list[str] = []
    for label, fraction, minimum in problems:
        count = max(minimum, round(n * fraction))
        out.extend([label] * min(count, n - len(out)))
    out.extend([default] * (n - len(out)))
    rng.shuffle(out)
    return out


def _pick_weighted(rng: random.Random, items: tuple[tuple[str, str, int], ...]) -> tuple[str, str]:
    name, version, _ = rng.choices(items, weights=[w for *_, w in items])[0]
    return name, version


# --------------------------------------------------------------------------- generate


def generate(
    seed: int = 1,
    size: str = "medium",
    *,
    healthy: bool = False,
    as_of: dt.date | None = None,
    hour: int = 12,
    **overrides: int,
) -> Estate:
    """Generate an estate.

    Args:
        seed: the only source of randomness.
        size: one of ``SIZES``; sets the knobs (``SIZE_KNOBS``).
        healthy: an estate with no problems at all.
        as_of: the estate's "today" (default ``DEFAULT_AS_OF``); costs end on it and
            status timestamps are relative to ``hour`` UTC on it.
        hour: the hour of ``as_of`` that is "now" (0-23, default noon).
        overrides: knob values replacing the size's (``customers=1, machines=10``).

    Raises:
        ValueError: unknown size or knob, or a knob out of range.
    """
    knobs = knobs_for(size, **overrides)
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be 0-23, not {hour}")
    return _Generator(seed, size, knobs, healthy, as_of or DEFAULT_AS_OF, hour).run()


class _Generator:
    def __init__(
        self, seed: int, size: str, knobs: Knobs, healthy: bool, as_of: dt.date, hour: int
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.size = size
        self.k = knobs
        self.healthy = healthy
        self.as_of = as_of
        self.hour = hour
        self.now = dt.datetime(as_of.year, as_of.month, as_of.day, hour, tzinfo=dt.timezone.utc)
        self.tenants: list[Tenant] = []
        self.customers: list[Customer] = []
        self.subs: list[Subscription] = []
        self.sub_roles: dict[str, str] = {}
        self.spikes: list[tuple[CostSeries, int]] = []

    def ago(self, seconds: float) -> str:
        return format_time(self.now - dt.timedelta(seconds=int(seconds)))

    def run(self) -> Estate:
        self.make_tenants()
        machines = self.make_machines()
        clusters = self.make_clusters()
        circuits = self.make_circuits()
        definitions, assignments, states = self.make_policy(machines, clusters, circuits)
        cost_start, costs = self.make_costs(circuits)
        estate = Estate(
            seed=self.seed,
            size=self.size,
            as_of=self.as_of,
            hour=self.hour,
            tenants=self.tenants,
            customers=self.customers,
            subscriptions=self.subs,
            machines=machines,
            clusters=clusters,
            circuits=circuits,
            policy_definitions=definitions,
            policy_assignments=assignments,
            policy_states=states,
            cost_start=cost_start,
            costs=costs,
        )
        estate.budgets = self.make_budgets(estate)
        self.make_lighthouse(estate)
        for c in self.customers:
            c.monthly_budget = round(
                sum(b.amount for sid in c.subscription_ids for b in estate.budgets_in(sid)), 2
            )
        generate_incidents(estate, self.seed, self.healthy)
        validate(estate)
        return estate

    # ------------------------------------------------------------- tenants

    def make_tenants(self) -> None:
        rng, k = self.rng, self.k
        per_customer = _split(k.subscriptions, k.customers, rng, minimum=1)
        # mostly GBP; the 9th and 10th customers (large and huge estates) bill in CHF
        # and JPY, currencies beyond the usual three
        currencies = ("GBP", "GBP", "GBP", "EUR", "GBP", "EUR", "USD", "GBP", "CHF", "JPY")
        for ci in range(k.customers):
            name = CUSTOMER_NAMES[ci % len(CUSTOMER_NAMES)]
            if ci >= len(CUSTOMER_NAMES):
                name = f"{name} {ci // len(CUSTOMER_NAMES) + 1}"
            slug = _slug(name)
            tenant = Tenant(
                tenant_id=_guid(rng),
                display_name=name,
                client_id=_guid(rng),
                client_secret=_secret(rng),
            )
            region = REGIONS[ci % len(REGIONS)] if ci % 3 else "uksouth"
            sub_ids = []
            for si in range(per_customer[ci]):
                role = SUB_ROLES[si % len(SUB_ROLES)]
                suffix = f" {si // len(SUB_ROLES) + 1}" if si >= len(SUB_ROLES) else ""
                sid = _guid(rng)
                rgs = []
                for ri in range(k.resource_groups):
                    rg_role = RG_ROLES[ri % len(RG_ROLES)]
                    n = f"-{ri // len(RG_ROLES) + 1}" if ri >= len(RG_ROLES) else ""
                    rgs.append(
                        ResourceGroup(
                            name=f"rg-{_short(slug)}-{rg_role}{n}-{si + 1:02d}",
                            location=region if rng.random() < 0.8 else rng.choice(REGIONS),
                            tags={
                                "customer": slug,
                                "managedBy": "bt-msp",
                                "costCentre": f"CC{rng.randint(1000, 9999)}",
                            },
                        )
                    )
                self.subs.append(
                    Subscription(
                        subscription_id=sid,
                        display_name=f"{name} - {role}{suffix}",
                        tenant_id=tenant.tenant_id,
                        customer=slug,
                        resource_groups=rgs,
                    )
                )
                self.sub_roles[sid] = role
                sub_ids.append(sid)
            tenant.owned_subscription_ids = list(sub_ids)
            self.tenants.append(tenant)
            self.customers.append(
                Customer(
                    slug=slug,
                    display_name=name,
                    tenant_id=tenant.tenant_id,
                    subscription_ids=sub_ids,
                    monthly_budget=0.0,
                    currency=currencies[ci % len(currencies)],
                )
            )
        self.tenants.append(
            Tenant(
                tenant_id=_guid(rng),
                display_name=MSP_NAME,
                client_id=_guid(rng),
                client_secret=_secret(rng),
                owned_subscription_ids=[],
                delegated_subscription_ids=[s.subscription_id for s in self.subs],
            )
        )

    # ------------------------------------------------------------- lighthouse

    def _derived_guid(self, *parts: str) -> str:
        """A GUID derived from the seed and names: adding Lighthouse data must not draw
        from ``self.rng``, or every estate generated before it would change."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("btconsole", str(self.seed), *parts))))

    def make_lighthouse(self, estate: Estate) -> None:
        """Lighthouse delegations from every customer tenant to the MSP's tenant, and the
        MSP's partner billing account.

        Every subscription is delegated with Reader, Resource Policy Contributor and Cost
        Management Reader, except: the second customer's first subscription is delegated
        at one resource group's scope only, with Reader only; the third customer grants
        no Cost Management Reader (its spend comes from the billing account). With three
        or more customers the last customer's tenant has no display name, and that
        customer buys Azure elsewhere (not a billing customer: per-subscription spend).
        """
        msp = self.tenants[-1]
        group = self._derived_guid("msp-operators")
        full = ("Reader", "Resource Policy Contributor", "Cost Management Reader")
        for ci, customer in enumerate(self.customers):
            for si, sid in enumerate(customer.subscription_ids):
                roles: tuple[str, ...] = full
                rg = ""
                name = f"{MSP_NAME} - managed operations"
                if ci == 1 and si == 0:
                    sub = estate.subscription(sid)
                    assert sub is not None
                    rg = sub.resource_groups[0].name
                    roles = ("Reader",)
                    name = f"{MSP_NAME} - network operations ({rg})"
                elif ci == 2:
                    roles = ("Reader", "Resource Policy Contributor")
                estate.delegations.append(
                    Delegation(
                        definition_id=self._derived_guid("definition", sid, rg),
                        assignment_id=self._derived_guid("assignment", sid, rg),
                        name=name,
                        managed_by_tenant_id=msp.tenant_id,
                        subscription_id=sid,
                        resource_group=rg,
                        description=f"{MSP_NAME} manages {customer.display_name}",
                        authorizations=[
                            Authorization(
                                principal_id=group,
                                principal_display_name="BT MSP Operators",
                                role_definition_id=BUILTIN_ROLES[role],
                            )
                            for role in roles
                        ],
                    )
                )
        billed = self.customers if len(self.customers) < 3 else self.customers[:-1]
        if len(self.customers) >= 3:
            last = estate.tenant(self.customers[-1].tenant_id)
            assert last is not None
            last.display_name = ""
        account = self._derived_guid("billing-account")
        estate.billing_accounts.append(
            BillingAccount(
                name=f"{account}_{self._derived_guid('billing-profile')}",
                display_name=MSP_NAME,
                tenant_id=msp.tenant_id,
                customers=[
                    BillingCustomer(
                        customer_id=self._derived_guid("billing-customer", c.tenant_id),
                        display_name=c.display_name,
                        tenant_id=c.tenant_id,
                    )
                    for c in billed
                ],
            )
        )

    def _rg(self, sub: Subscription, role: str) -> ResourceGroup:
        for rg in sub.resource_groups:
            if f"-{role}" in rg.name:
                return rg
        return sub.resource_groups[hash_index(sub.subscription_id, len(sub.resource_groups))]

    def _sub_weights(self, prefer: tuple[str, ...]) -> list[float]:
        return [
            (3.0 if self.sub_roles[s.subscription_id] in prefer else 1.0)
            * (0.5 + self.rng.random())
            for s in self.subs
        ]

    # ------------------------------------------------------------- machines

    def make_machines(self) -> list[Machine]:
        rng, k = self.rng, self.k
        if k.machines == 0:
            return []
        weights = self._sub_weights(("Production", "Shared Services", "DR"))
        owners = rng.choices(range(len(self.subs)), weights=weights, k=k.machines)
        owners.sort()
        slugs = {c.slug: _short(c.slug) for c in self.customers}
        machines = []
        statuses = _scenarios(
            rng,
            k.machines,
            ()
            if self.healthy
            else (
                ("Disconnected", 0.10, 1),
                ("Expired", 0.05, 1),
                ("Error", 0.04, 1),
                ("AwaitingConnection", 0.01, 0),
            ),
            "Connected",
        )
        for i, si in enumerate(owners):
            sub = self.subs[si]
            rg = (
                self._rg(sub, "arc-servers")
                if rng.random() < 0.85
                else rng.choice(sub.resource_groups)
            )
            windows = rng.random() < 0.62
            os_type = "windows" if windows else "linux"
            os_sku, os_version = _pick_weighted(rng, WINDOWS if windows else LINUX)
            role = rng.choice(MACHINE_ROLES)
            short = slugs[sub.customer]
            name = f"{short}-{role}{i + 1:05d}" if windows else f"{short}{role}{i + 1:05d}"
            domain = f"{short}.corp" if windows else f"{short}.internal"
            manufacturer, model = rng.choice(HARDWARE)
            status, changed, errors = self._machine_status(statuses[i])
            version = self._agent_version(status)
            exts = []
            for ename, pub, etype, ever in EXTENSIONS[os_type]:
                if rng.random() < 0.75:
                    failed = not self.healthy and rng.random() < 0.04
                    exts.append(
                        Extension(
                            name=ename,
                            publisher=pub,
                            type=etype,
                            version=ever,
                            status="Failed" if failed else "Succeeded",
                            message="Extension installation timed out after 90 minutes."
                            if failed
                            else "",
                        )
                    )
            machines.append(
                Machine(
                    subscription_id=sub.subscription_id,
                    resource_group=rg.name,
                    name=name,
                    location=rg.location,
                    vm_id=_guid(rng),
                    status=status,
                    last_status_change=changed,
                    agent_version=version,
                    os_type=os_type,
                    os_sku=os_sku,
                    os_version=os_version,
                    fqdn=f"{name}.{domain}",
                    domain=domain,
                    manufacturer=manufacturer,
                    model=model,
                    cores=rng.choice((2, 4, 4, 8, 8, 16, 32)),
                    tags={
                        "environment": rng.choice(("prod", "prod", "prod", "uat", "dev")),
                        "role": role,
                        "owner": f"{sub.customer}-it",
                    },
                    error_details=errors,
                    extensions=exts,
                )
            )
        return machines

    def _machine_status(self, status: str) -> tuple[str, str, list[ErrorDetail]]:
        rng = self.rng
        if status == "Connected":
            return status, self.ago(rng.uniform(600, 45 * 86400)), []
        if status == "Disconnected":
            return status, self.ago(rng.uniform(900, 20 * 86400)), []
        if status == "Expired":
            return status, self.ago(rng.uniform(46 * 86400, 120 * 86400)), []
        if status == "Error":
            code, message = rng.choice(MACHINE_ERRORS)
            return status, self.ago(rng.uniform(300, 3 * 86400)), [ErrorDetail(code, message)]
        return status, self.ago(rng.uniform(300, 2 * 86400)), []

    def _agent_version(self, status: str) -> str:
        rng = self.rng
        if self.healthy:
            return AGENT_VERSIONS[0]
        if status == "Expired" and rng.random() < 0.6:
            return rng.choice(OLD_AGENT_VERSIONS)
        return rng.choices(AGENT_VERSIONS, weights=(6, 3, 2, 1))[0]

    # ------------------------------------------------------------- clusters

    def make_clusters(self) -> list[Cluster]:
        rng, k = self.rng, self.k
        if k.clusters == 0:
            return []
        weights = self._sub_weights(("Production", "Dev/Test"))
        owners = sorted(rng.choices(range(len(self.subs)), weights=weights, k=k.clusters))
        clusters = []
        statuses = _scenarios(
            rng,
            k.clusters,
            () if self.healthy else (("Offline", 0.12, 1), ("Expired", 0.05, 1)),
            "Connected",
        )
        for i, si in enumerate(owners):
            sub = self.subs[si]
            rg = self._rg(sub, "arc-k8s")
            distribution, infrastructure = rng.choice(K8S_DISTRIBUTIONS)
            status = statuses[i]
            if status == "Connected":
                seen = self.ago(rng.uniform(30, 600))
            elif status == "Offline":
                seen = self.ago(rng.uniform(3600, 25 * 86400))
            else:
                seen = self.ago(rng.uniform(91 * 86400, 200 * 86400))
            nodes = rng.choice((3, 3, 5, 6, 9, 12))
            clusters.append(
                Cluster(
                    subscription_id=sub.subscription_id,
                    resource_group=rg.name,
                    name=f"k8s-{_short(sub.customer)}-{distribution.split('_')[0]}-{i + 1:04d}",
                    location=rg.location,
                    identity_principal_id=_guid(rng),
                    connectivity_status=status,
                    last_connectivity_time=seen,
                    agent_version=K8S_AGENT_VERSIONS[0]
                    if self.healthy
                    else rng.choices(K8S_AGENT_VERSIONS, weights=(5, 2, 1))[0],
                    kubernetes_version=rng.choice(K8S_VERSIONS),
                    distribution=distribution,
                    infrastructure=infrastructure,
                    total_node_count=nodes,
                    total_core_count=nodes * rng.choice((4, 8, 16)),
                    tags={
                        "environment": rng.choice(("prod", "nonprod")),
                        "owner": f"{sub.customer}-platform",
                    },
                )
            )
        return clusters

    # ------------------------------------------------------------- circuits

    def make_circuits(self) -> list[Circuit]:
        rng, k = self.rng, self.k
        circuits: list[Circuit] = []
        if k.circuits == 0:
            return circuits
        weights = [
            (8.0 if self.sub_roles[s.subscription_id] == "Connectivity" else 1.0)
            * (0.5 + rng.random())
            for s in self.subs
        ]
        owners = sorted(rng.choices(range(len(self.subs)), weights=weights, k=k.circuits))
        scenarios = _scenarios(
            rng,
            k.circuits,
            ()
            if self.healthy
            else (
                ("degraded", 0.10, 1),
                ("outage", 0.05, 1),
                ("flapping", 0.07, 1),
                ("NotProvisioned", 0.06, 1),
                ("Provisioning", 0.04, 0),
            ),
            "up",
        )
        for i, si in enumerate(owners):
            sub = self.subs[si]
            rg = self._rg(sub, "connectivity")
            loc, region = rng.choice(PEERING_LOCATIONS)
            bandwidth = rng.choice(BANDWIDTHS)
            scenario = scenarios[i]
            provider_state = (
                scenario if scenario in ("NotProvisioned", "Provisioning") else "Provisioned"
            )
            peerings: list[Peering] = []
            if provider_state == "Provisioned":
                peerings.append(self._peering("AzurePrivatePeering", i, scenario))
                if rng.random() < 0.4:
                    peerings.append(self._peering("MicrosoftPeering", i, "up"))
            circuits.append(
                Circuit(
                    subscription_id=sub.subscription_id,
                    resource_group=rg.name,
                    name=f"er-{_short(sub.customer)}-{_slug(loc).replace('-', '')}-{i + 1:03d}",
                    location=region,
                    service_key=_guid(rng),
                    peering_location=loc,
                    bandwidth_mbps=bandwidth,
                    sku_tier=rng.choice(("Standard", "Standard", "Premium")),
                    sku_family=rng.choice(("MeteredData", "UnlimitedData")),
                    service_provider_provisioning_state=provider_state,
                    tags={
                        "customer": sub.customer,
                        "btCircuitRef": f"BT-ER-{rng.randint(100000, 999999)}",
                    },
                    peerings=peerings,
                )
            )
        return circuits

    def _peering(self, name: str, index: int, scenario: str) -> Peering:
        rng = self.rng
        private = name == "AzurePrivatePeering"
        a, b = rng.randint(0, 255), rng.randint(0, 63) * 4
        if private:
            primary, secondary = f"172.16.{a}.{b}/30", f"172.17.{a}.{b}/30"
            routes = [
                f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24"
                for _ in range(rng.randint(2, 9))
            ]
            routes = sorted(set(routes))
            public: list[str] = []
            asn = rng.choice((65010, 65020, 65100, 64512 + rng.randint(0, 1000)))
        else:
            base = f"{rng.choice((81, 194, 213, 217))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
            primary, secondary = f"{base}.{b}/30", f"{base}.{(b + 4) % 256}/30"
            public = [
                f"{rng.choice((62, 80, 86, 212))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/27"
            ]
            routes = list(public)
            asn = rng.choice((2856, 5400, 8220, 64600 + rng.randint(0, 99)))
        health = ("up", "up")
        if scenario == "degraded":
            health = rng.choice((("down", "up"), ("up", "down")))
        elif scenario == "outage":
            health = ("down", "down")
        elif scenario == "flapping":
            health = rng.choice((("flapping", "up"), ("up", "flapping"), ("flapping", "flapping")))
        return Peering(
            name=name,
            peer_asn=asn,
            vlan_id=100 + index * 2 + (0 if private else 1),
            primary_prefix=primary,
            secondary_prefix=secondary,
            state="Enabled",
            routes=routes,
            advertised_public_prefixes=public,
            primary=health[0],
            secondary=health[1],
            last_change=self.ago(
                rng.uniform(3600, 90 * 86400)
                if health == ("up", "up")
                else rng.uniform(120, 6 * 3600)
            ),
        )

    # ------------------------------------------------------------- policy

    def make_policy(
        self, machines: list[Machine], clusters: list[Cluster], circuits: list[Circuit]
    ) -> tuple[list[PolicyDefinition], list[PolicyAssignment], list[PolicyState]]:
        rng, k = self.rng, self.k
        definitions = [
            PolicyDefinition(name=_guid(rng), display_name=n, category=cat, effect=eff)
            for n, cat, eff in POLICY_DEFINITIONS
        ]
        assignments: list[PolicyAssignment] = []
        states: list[PolicyState] = []
        if k.policy_assignments == 0:
            return definitions, assignments, states
        per_sub = _split(k.policy_states, len(self.subs), rng)
        resources: dict[str, list[str]] = {}
        items: list[Machine | Cluster | Circuit] = [*machines, *clusters, *circuits]
        for item in items:
            resources.setdefault(item.subscription_id, []).append(item.id)
        n_assign = min(k.policy_assignments, len(definitions))
        for si, sub in enumerate(self.subs):
            chosen = rng.sample(definitions, n_assign)
            sub_assignments = []
            for d in chosen:
                base = _slug(d.display_name)[:40].strip("-")
                sub_assignments.append(
                    PolicyAssignment(
                        subscription_id=sub.subscription_id,
                        name=base,
                        display_name=d.display_name,
                        definition=d.name,
                    )
                )
            assignments.extend(sub_assignments)
            target = per_sub[si]
            ids = resources.get(sub.subscription_id, [])
            need = math.ceil(target / n_assign)
            extra = max(0, need - len(ids))
            synthetic = []
            for j in range(extra):
                rtype, prefix = SYNTHETIC_TYPES[j % len(SYNTHETIC_TYPES)]
                rg = sub.resource_groups[j % len(sub.resource_groups)]
                name = f"{prefix}{_short(sub.customer)}{j + 1:05d}"
                synthetic.append(
                    f"/subscriptions/{sub.subscription_id}/resourceGroups/{rg.name}"
                    f"/providers/{rtype}/{name}"
                )
            pool = ids[:need] + synthetic
            rates = [
                0.0 if self.healthy else rng.choice((0.0, 0.03, 0.08, 0.15, 0.25, 0.6))
                for _ in sub_assignments
            ]
            made = 0
            for rid in pool:
                for a, rate in zip(sub_assignments, rates, strict=True):
                    if made >= target:
                        break
                    made += 1
                    if self.healthy:
                        state = "Compliant"
                    else:
                        r = rng.random()
                        if r < rate:
                            state = "NonCompliant"
                        elif r > 0.995:
                            state = "Exempt"
                        elif r > 0.99:
                            state = "Unknown"
                        else:
                            state = "Compliant"
                    states.append(PolicyState(rid, a.name, state))
        return definitions, assignments, states

    # ------------------------------------------------------------- costs

    def make_costs(self, circuits: list[Circuit]) -> tuple[dt.date, list[CostSeries]]:
        rng, k = self.rng, self.k
        days = k.cost_days
        start = self.as_of - dt.timedelta(days=days - 1)
        weekdays = [(start + dt.timedelta(days=d)).weekday() for d in range(days)]
        with_circuits = {c.subscription_id for c in circuits}
        costs: list[CostSeries] = []
        spikes = _scenarios(
            rng, len(self.subs), () if self.healthy else (("spike", 0.25, 1),), "none"
        )
        for si, sub in enumerate(self.subs):
            count = rng.randint(4, min(8, len(SERVICES)))
            services = rng.sample(SERVICES, count)
            if sub.subscription_id in with_circuits and all(
                s[0] != "ExpressRoute" for s in services
            ):
                services.append(("ExpressRoute", 40.0))
            services.sort()
            scale = rng.uniform(0.5, 4.0)
            for service, base in services:
                rg = rng.choice(sub.resource_groups)
                level = base * scale * rng.uniform(0.5, 1.5)
                growth = rng.uniform(-0.002, 0.006)
                weekend = (
                    0.7 if service in ("Virtual Machines", "Bandwidth", "Log Analytics") else 1.0
                )
                daily = []
                for d in range(days):
                    v = level * (1 + growth * d) * (weekend if weekdays[d] >= 5 else 1.0)
                    v *= 1 + rng.uniform(-0.06, 0.06)
                    daily.append(round(max(v, 0.0), 2))
                costs.append(CostSeries(sub.subscription_id, rg.name, service, daily))
            if spikes[si] == "spike":
                # A spike: one service on one day of the last two weeks costs several times
                # its usual, and at least a few hundred more (so it stands out in money too).
                spiking = costs[-rng.randint(1, len(services))]
                day = days - 1 - rng.randint(0, min(13, days - 1))
                usual = spiking.daily[day]
                self.spikes.append((spiking, day))
                spiking.daily[day] = round(
                    max(usual * rng.uniform(4.0, 9.0), usual + rng.uniform(150.0, 600.0)), 2
                )
        self.add_refunds(costs, days)
        return start, costs

    def add_refunds(self, costs: list[CostSeries], days: int) -> None:
        """Refunds: on one day of the last four weeks, one series of ``refunds``
        subscriptions nets below zero (a credit of 1.5 to 3 times that day's usage).

        Drawn from their own random source, so the rest of the estate (and every
        estate without refunds) is the same as without them.
        """
        if not self.k.refunds or not costs:
            return
        rng = random.Random(f"btconsole-refunds:{self.seed}")
        by_sub: dict[str, list[CostSeries]] = {}
        for series in costs:
            by_sub.setdefault(series.subscription_id, []).append(series)
        subs = [s.subscription_id for s in self.subs if s.subscription_id in by_sub]
        for sid in rng.sample(subs, min(self.k.refunds, len(subs))):
            series = rng.choice(by_sub[sid])
            day = days - 1 - rng.randint(0, min(27, days - 1))
            if any(series is spiked and day == when for spiked, when in self.spikes):
                continue  # a refund never hides a spike
            usual = series.daily[day]
            series.daily[day] = round(usual - max(usual, 5.0) * rng.uniform(1.5, 3.0), 2)

    def make_budgets(self, estate: Estate) -> list[Budget]:
        rng = self.rng
        budgets = []
        start = self.as_of.replace(month=1, day=1).isoformat()
        kinds = _scenarios(
            rng,
            len(self.subs),
            () if self.healthy else (("over", 0.12, 1), ("forecast-over", 0.18, 1)),
            "under",
        )
        for si, sub in enumerate(self.subs):
            forecast = estate.forecast_month_cost(sub.subscription_id)
            actual = estate.month_to_date_cost(sub.subscription_id)
            if kinds[si] == "over":  # already over budget
                amount = float(max(math.floor(actual * rng.uniform(0.6, 0.9) / 10) * 10, 10))
            elif kinds[si] == "forecast-over":  # under today, forecast to go over
                amount = math.floor(rng.uniform(actual, forecast) / 10) * 10
                amount = float(max(amount, math.ceil(actual) + 1))
            else:
                amount = float(math.ceil(max(forecast * rng.uniform(1.15, 1.8), 100.0) / 50) * 50)
            budgets.append(
                Budget(
                    subscription_id=sub.subscription_id,
                    name=f"budget-{_slug(self.sub_roles[sub.subscription_id])}-monthly",
                    amount=amount,
                    start_date=start,
                    thresholds=[80.0, 100.0],
                )
            )
        return budgets


def hash_index(text: str, n: int) -> int:
    """A stable index in ``range(n)`` for a string (``hash()`` is salted per process)."""
    value = 0
    for ch in text:
        value = (value * 31 + ord(ch)) & 0xFFFFFFFF
    return value % n if n else 0


def describe(estate: Estate) -> dict[str, Any]:
    """Counts of an estate's contents (for ``emulator serve`` and tests)."""
    return {
        "customers": len(estate.customers),
        "tenants": len(estate.tenants),
        "subscriptions": len(estate.subscriptions),
        "resource_groups": sum(len(s.resource_groups) for s in estate.subscriptions),
        "machines": len(estate.machines),
        "clusters": len(estate.clusters),
        "circuits": len(estate.circuits),
        "policy_assignments": len(estate.policy_assignments),
        "policy_states": len(estate.policy_states),
        "cost_series": len(estate.costs),
        "cost_days": estate.cost_days,
        "budgets": len(estate.budgets),
        "delegations": len(estate.delegations),
        "billing_customers": sum(len(b.customers) for b in estate.billing_accounts),
    }
