"""Azure Lighthouse: the customers a ``kind = "lighthouse"`` profile discovers.

A provider signs in once, in its own tenant, and ``GET /subscriptions`` lists every
subscription its customers delegated to it, each with the customer's ``tenantId``;
``GET /tenants`` names those tenants. :func:`discover` reads both with the provider's
credential and keeps the result in the cache (domain :data:`DISCOVERY`, one entry per
provider), so an offline start and ``check --offline`` know the customers too.

:func:`effective_config` turns a config plus that cached discovery into the config
every consumer uses (engine, check, export, doctor, the console and its refresher):
``profiles`` holds the configured customers and one :class:`~btconsole.config.Profile`
per discovered customer, so nothing downstream tells them apart. A discovered customer:

- is named once, from its tenant's display name (a slug, unique; the tenant id when
  the tenant has none), and keeps that name for as long as it is delegated even when
  the tenant is renamed: the name is kept in the discovery, so ``check``'s diff and the
  cache stay keyed by the tenant, not by a display name;
- has the customer's ``tenant_id`` and its delegated subscriptions pinned, the
  overrides of ``[profiles.NAME.customers."TENANT-ID"]`` applied, and ``provider``
  naming the Lighthouse profile: the engine signs it in with the PROVIDER's credential
  (:func:`customer_session`), one credential and one token for every customer;
- is left out when an override excludes it, or when a configured profile has the same
  tenant (the explicit profile wins; :func:`shadowed` says which, for ``config
  validate`` and ``doctor``);
- whose delegation disappeared stays, marked ``delegation_gone``: its cached data is
  kept and shown with a problem saying so, and it is never refreshed again (a refresh
  would find no subscription and drop the data).

This module imports no Textual and, until a discovery really runs, no Azure SDK.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from btconsole.cache import Cache, CacheKey
from btconsole.config import Config, LighthouseProfile, Profile
from btconsole.records import SubscriptionRecord, record

if TYPE_CHECKING:
    from btconsole.azure.session import ConnectionPools

#: The cache domain of a provider's discovery (scope :data:`ALL`).
DISCOVERY = "lighthouse"
ALL = "*"
SUBSCRIPTIONS = "subscriptions"  # the engine's subscription listing domain
#: How long a discovery counts as fresh (the engine's subscription listing TTL).
DISCOVERY_TTL = 3600.0
HOME = "Home"
_NAME_MAX = 48


class _Reads(Protocol):
    def get(self, key: CacheKey) -> Any: ...


class _Peeks(_Reads, Protocol):
    def peek(self, key: CacheKey) -> Any: ...


@record
@dataclass(frozen=True)
class TenantRecord:
    """One customer tenant a provider discovered, as kept in the cache.

    ``name`` is the customer's profile name, chosen at its first discovery and kept;
    ``gone_since`` is when its delegation was last seen missing (``None``: delegated);
    ``billing_customer`` is its customer name on the provider's partner billing account
    (``None``: not billed there, or no ``billing_account``).
    """

    profile: str  # the provider's profile name
    tenant_id: str
    name: str
    display_name: str | None = None
    category: str | None = None
    gone_since: float | None = None
    billing_customer: str | None = None


@dataclass(frozen=True)
class Customer:
    """A discovered customer: its tenant and the subscriptions it delegated."""

    provider: str
    tenant: TenantRecord
    subscriptions: tuple[SubscriptionRecord, ...]

    @property
    def gone(self) -> bool:
        return self.tenant.gone_since is not None


def discovery_key(provider: str) -> CacheKey:
    return CacheKey(provider, DISCOVERY, ALL)


def slug(text: str) -> str:
    """A profile name from a display name: lower case, ``-`` between words."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:_NAME_MAX].strip("-")


def _unique(base: str, tenant_id: str, taken: set[str]) -> str:
    name = base or tenant_id.lower()
    if name.lower() in taken:
        name = f"{base}-{tenant_id.lower()[:8]}" if base else tenant_id.lower()
    n = 2
    candidate = name
    while candidate.lower() in taken:
        candidate = f"{name}-{n}"
        n += 1
    return candidate


def billing_customer_of(
    tenant_id: str, display_name: str | None, billing: Mapping[str, str]
) -> str | None:
    """The customer name, on a partner billing account, of a delegated tenant.

    ``billing`` maps customer name -> display name (``Customers_ListByBillingAccount``,
    2020-05-01, whose ``Customer`` carries no tenant id): a customer whose name is the
    tenant id, else the one whose display name is the tenant's (ignoring case; two
    customers of that name: neither, it cannot be told which).
    """
    tid = tenant_id.lower()
    if tid in billing:
        return tid
    if not display_name:
        return None
    wanted = display_name.strip().lower()
    named = [name for name, shown in billing.items() if shown.strip().lower() == wanted]
    return named[0] if len(named) == 1 else None


def merge(
    provider: LighthouseProfile,
    tenants: Sequence[Mapping[str, Any]],
    subscriptions: Sequence[SubscriptionRecord],
    previous: Sequence[Any],
    reserved: Iterable[str],
    now: float,
    billing: Mapping[str, str] | None = None,
) -> list[Any]:
    """The discovery to keep: a :class:`TenantRecord` per customer tenant (one with at
    least one delegated subscription), then every delegated subscription.

    ``previous`` is the last discovery's records: known tenants keep their names, and
    a tenant no longer delegated is kept (``gone_since``) with its subscriptions.
    ``reserved`` names are never given out (the configured profiles'). ``billing``
    (customer name -> display name) is the provider's billing account's customers, as
    just read; ``None`` (not read: no ``billing_account``, or reading it failed) keeps
    what the previous discovery knew when the provider has a ``billing_account``.
    """
    home = provider.tenant_id.lower()
    names: dict[str, str | None] = {}
    categories: dict[str, str | None] = {}
    for t in tenants:
        tid = str(t.get("tenantId") or "").lower()
        if tid:
            names[tid] = (str(t.get("displayName") or "").strip()) or None
            categories[tid] = str(t.get("tenantCategory") or "") or None
    delegated: dict[str, list[SubscriptionRecord]] = {}
    for sub in subscriptions:
        tid = (sub.tenant_id or "").lower()
        if not tid or tid == home:
            continue  # the provider's own subscriptions are no customer's
        delegated.setdefault(tid, []).append(replace(sub, profile=provider.name))
    old_tenants = {r.tenant_id: r for r in previous if isinstance(r, TenantRecord)}
    old_subs: dict[str, list[SubscriptionRecord]] = {}
    for r in previous:
        if isinstance(r, SubscriptionRecord) and r.tenant_id:
            old_subs.setdefault(r.tenant_id.lower(), []).append(r)
    taken = {n.lower() for n in reserved}
    taken |= {r.name.lower() for r in old_tenants.values()}
    out: list[Any] = []
    subs_out: list[SubscriptionRecord] = []
    for tid in sorted(delegated):
        old = old_tenants.get(tid)
        if old is not None:
            name = old.name
        else:
            name = _unique(slug(names.get(tid) or ""), tid, taken)
            taken.add(name.lower())
        if not provider.billing_account:
            billed = None
        elif billing is not None:
            billed = billing_customer_of(tid, names.get(tid), billing)
        else:
            billed = old.billing_customer if old is not None else None
        out.append(
            TenantRecord(
                provider.name, tid, name, names.get(tid), categories.get(tid), None, billed
            )
        )
        subs_out.extend(sorted(delegated[tid], key=lambda s: s.subscription_id))
    for tid, old in sorted(old_tenants.items()):
        if tid in delegated:
            continue
        out.append(replace(old, gone_since=old.gone_since if old.gone_since else now))
        subs_out.extend(old_subs.get(tid, []))
    return [*out, *subs_out]


def customers_of(provider: str, records: Iterable[Any]) -> list[Customer]:
    """The customers in a provider's cached discovery records."""
    recs = list(records)
    subs: dict[str, list[SubscriptionRecord]] = {}
    for r in recs:
        if isinstance(r, SubscriptionRecord) and r.tenant_id:
            subs.setdefault(r.tenant_id.lower(), []).append(r)
    return [
        Customer(provider, r, tuple(subs.get(r.tenant_id, ())))
        for r in recs
        if isinstance(r, TenantRecord)
    ]


def cached_customers(config: Config, cache: _Reads) -> list[Customer]:
    """Every customer of every Lighthouse profile, from the cache (no request)."""
    found: list[Customer] = []
    for name in config.lighthouse:
        entry = cache.get(discovery_key(name))
        if entry is not None:
            found.extend(customers_of(name, entry.records))
    return found


def customer_profile(provider: LighthouseProfile, customer: Customer) -> Profile:
    """A discovered customer as a profile (signs in with the provider's credential)."""
    tid = customer.tenant.tenant_id
    return Profile(
        name=customer.tenant.name,
        display_name=provider.display_name_for(tid, customer.tenant.display_name),
        tenant_id=tid,
        auth=provider.auth,
        cloud=provider.cloud,
        subscriptions=tuple(sorted(s.subscription_id for s in customer.subscriptions)),
        client_id=provider.client_id,
        client_secret_env=provider.client_secret_env,
        certificate_path=provider.certificate_path,
        certificate_password_env=provider.certificate_password_env,
        token_file_path=provider.token_file_path,
        monthly_budget=provider.budget_for(tid),
        currency=provider.currency_for(tid),
        thresholds=provider.thresholds_for(tid),
        ttl=provider.ttl,
        allow_actions=provider.allow_actions_for(tid),
        provider=provider.name,
        delegation_gone=customer.gone,
        billing_scope=(
            f"/providers/Microsoft.Billing/billingAccounts/{provider.billing_account}"
            f"/customers/{customer.tenant.billing_customer}"
            if provider.billing_account and customer.tenant.billing_customer
            else None
        ),
    )


@dataclass(frozen=True)
class Shadowed:
    """A delegated tenant also configured as a profile of its own (that one wins)."""

    provider: str
    tenant_id: str
    discovered_name: str
    profile: str


def configured(config: Config) -> Config:
    """``config`` without discovered customers (as loaded from the file)."""
    if all(p.provider is None for p in config.profiles.values()):
        return config
    mine = {n: p for n, p in config.profiles.items() if p.provider is None}
    return replace(config, profiles=mine)


def _resolve(config: Config, cache: _Reads) -> tuple[list[Profile], list[Shadowed]]:
    config = configured(config)
    by_tenant = {p.tenant_id.lower(): p.name for p in config.profiles.values()}
    profiles: list[Profile] = []
    shadows: list[Shadowed] = []
    seen: set[str] = set()
    for customer in cached_customers(config, cache):
        provider = config.lighthouse[customer.provider]
        tid = customer.tenant.tenant_id
        if provider.excluded(tid):
            continue
        if tid in by_tenant:
            shadows.append(Shadowed(provider.name, tid, customer.tenant.name, by_tenant[tid]))
            continue
        profile = customer_profile(provider, customer)
        if profile.name in config.profiles or profile.name in seen:
            # a name given out before a profile of that name was configured, or by two
            # providers: the tenant id is unique
            profile = replace(profile, name=tid)
        if tid in seen:
            continue  # delegated to two of our providers: the first one reads it
        seen.update((tid, profile.name))
        profiles.append(profile)
    return profiles, shadows


def shadowed(config: Config, cache: _Reads) -> list[Shadowed]:
    """Delegated tenants left to a configured profile of their own."""
    return _resolve(config, cache)[1]


def effective_config(config: Config, cache: _Reads) -> Config:
    """``config`` with every discovered (cached) customer added to ``profiles`` (those
    it had already are replaced: the result is the same from either)."""
    if not config.lighthouse:
        return config
    base = configured(config)
    found, _ = _resolve(base, cache)
    if not found:
        return base
    return replace(base, profiles={**base.profiles, **{p.name: p for p in found}})


def discovery_due(config: Config, cache: Cache, now: float | None = None) -> bool:
    """Whether some provider's discovery is missing or older than its TTL (and not
    waiting out the backoff of a discovery that failed)."""
    for name in config.lighthouse:
        entry = cache.peek(discovery_key(name))
        if entry is None or (entry.is_stale(now) and not entry.in_backoff(now)):
            return True
    return False


def problem_text(provider: str, error: str, reason: str | None, kept: int) -> str:
    """One line for a discovery that failed: the reason class, what Azure said, and
    what is shown instead (the customers of the last discovery, never none)."""
    from btconsole.coverage import REASON_WORDS

    why = REASON_WORDS.get(reason or "", reason or "failed")
    shown = (
        f"showing the {kept} customer(s) of the last discovery"
        if kept
        else "no customer discovered yet"
    )
    return f"{provider}: Lighthouse discovery failed ({why}): {error}; {shown}"


def _failing(provider: str, cache: _Peeks) -> Any:
    """The discovery entry (metadata only) when the last discovery failed, else None."""
    entry = cache.peek(discovery_key(provider))
    if entry is None or not entry.error:
        return None
    if entry.fetched_at is not None and (entry.error_at or 0.0) < entry.fetched_at:
        return None  # an old failure, discovered since
    return entry


def failing_providers(config: Config, cache: _Peeks) -> list[str]:
    """The Lighthouse profiles whose last discovery failed (metadata only: cheap)."""
    return [name for name in config.lighthouse if _failing(name, cache) is not None]


def recorded_problem(provider: str, cache: _Peeks) -> str | None:
    """The problem of ``provider``'s last discovery if it failed (from the cache)."""
    entry = _failing(provider, cache)
    if entry is None:
        return None
    full = cache.get(discovery_key(provider))
    kept = len(customers_of(provider, full.records)) if full is not None else 0
    return problem_text(provider, entry.error, entry.error_kind, kept)


def discovery_problems(config: Config, cache: _Peeks) -> list[str]:
    """The providers whose last discovery failed, one line each, from the cache (no
    request): what the console, ``doctor`` and an offline ``check`` report."""
    found = (recorded_problem(name, cache) for name in config.lighthouse)
    return [problem for problem in found if problem]


async def discover_provider(
    provider: LighthouseProfile,
    config: Config,
    cache: Cache,
    engine: Any,
    *,
    now: float | None = None,
) -> str | None:
    """Read one provider's delegations (``GET /tenants``, ``GET /subscriptions``) and,
    with a ``billing_account``, that account's customers, and keep them in the cache,
    with each customer's subscription listing. Returns the problem (one line) when it
    failed: the previous discovery stays in use. A billing account that cannot be read
    is a problem too, but the delegations are kept (and which customers are billed is
    what the previous discovery knew).

    The requests go through ``engine`` (:meth:`btconsole.engine.Engine.retrying`):
    throttling, 5xx and broken connections are retried as every refresh's requests
    are. A discovery that still fails keeps the last one's customers, records the
    failure (its reason class) and waits out a backoff before the next attempt.
    """
    from btconsole.azure.errors import AzureError
    from btconsole.azure.managedservices import billing_customers
    from btconsole.azure.subscriptions import list_all_subscriptions, list_tenants
    from btconsole.engine import backoff_seconds
    from btconsole.errors import BtConsoleError

    at = time.time() if now is None else now
    key = discovery_key(provider.name)
    billing: dict[str, str] | None = None
    problem: str | None = None

    async def fetch(session: Any) -> tuple[list[dict[str, Any]], list[SubscriptionRecord]]:
        nonlocal billing, problem
        tenants = await list_tenants(session)
        subs = await list_all_subscriptions(session)
        if provider.billing_account:
            try:
                billing = await billing_customers(session, provider.billing_account)
            except AzureError as exc:
                problem = (
                    f"{provider.name}: billing account {provider.billing_account}: {exc} "
                    "(spend is read per subscription for customers not known as billed)"
                )
        return tenants, subs

    try:
        tenants, subs = await engine.retrying(provider.credential_profile(), key, fetch)
    except (AzureError, BtConsoleError) as exc:
        before = cache.peek(key)
        failures = (before.failures if before is not None else 0) + 1
        wait = max(backoff_seconds(failures), getattr(exc, "retry_after", None) or 0.0)
        cache.put_error(key, exc, next_attempt_at=at + wait, ttl=DISCOVERY_TTL, now=at)
        previous = cache.get(key)
        kept = len(customers_of(provider.name, previous.records)) if previous else 0
        return problem_text(provider.name, str(exc), exc.reason, kept)
    config = configured(config)
    previous = cache.get(key)  # its records: names and customers already known
    reserved = list(config.profiles)
    records = merge(
        provider, tenants, subs, previous.records if previous else (), reserved, at, billing
    )
    writes: list[tuple[CacheKey, list[Any]]] = [(key, records)]
    # each customer's subscription listing, so the engine need not list them again
    resolved = effective_config(config, _Overlay(cache, key, records))
    for profile in resolved.profiles.values():
        if profile.provider != provider.name or profile.delegation_gone:
            continue
        mine = [
            replace(s, profile=profile.name)
            for s in records
            if isinstance(s, SubscriptionRecord) and (s.tenant_id or "") == profile.tenant_id
        ]
        writes.append((CacheKey(profile.name, SUBSCRIPTIONS, ALL), mine))
    cache.put_many(writes, ttl=DISCOVERY_TTL, now=at)
    return problem


async def discover(
    config: Config,
    cache: Cache,
    *,
    force: bool = True,
    engine: Any = None,
) -> list[str]:
    """Discover every Lighthouse profile's customers (when due, or always with
    ``force``); return the problems (one line each). A read-only cache: nothing.

    ``engine`` (:class:`btconsole.engine.Engine`) sends the requests, with its
    retries, connection pools and throttle gates; without one, an engine of its own
    is made for the discovery and closed after it.
    """
    if cache.readonly or not config.lighthouse:
        return []
    if engine is None:
        from btconsole.engine import Engine

        async with Engine(config, cache) as own:
            return await discover(config, cache, force=force, engine=own)
    problems: list[str] = []
    for provider in config.lighthouse.values():
        entry = cache.peek(discovery_key(provider.name))
        if not force and entry is not None and (not entry.is_stale() or entry.in_backoff()):
            # fresh, or it failed a moment ago: what it recorded stands
            problem = recorded_problem(provider.name, cache)
        else:
            problem = await discover_provider(provider, config, cache, engine)
        if problem:
            problems.append(problem)
    return problems


class _Overlay:
    """A cache whose one discovery entry is replaced (to name customers before storing)."""

    def __init__(self, cache: Cache, key: CacheKey, records: list[Any]) -> None:
        self._cache = cache
        self._key = key
        self._records = tuple(records)

    def get(self, key: CacheKey) -> Any:
        if key == self._key:
            from btconsole.cache import Entry

            return Entry(key, self._records, time.time(), DISCOVERY_TTL)
        return self._cache.get(key)


def customer_session(
    profile: Profile, config: Config, pools: ConnectionPools, shared: dict[str, Any]
) -> Any:
    """The session of a discovered customer: its own clients (records are tagged with
    its name) over the provider's credential, shared by every customer of the provider
    (``shared``: provider name -> the provider's own session, closed by the caller)."""
    from btconsole.azure.session import AzureSession

    assert profile.provider is not None
    provider_session = shared.get(profile.provider)
    if provider_session is None:
        provider = config.lighthouse[profile.provider]
        provider_session = AzureSession(provider.credential_profile(), config, pools=pools)
        shared[profile.provider] = provider_session
    return AzureSession(profile, config, credential=provider_session.credential, pools=pools)


def gone_problem(profile: Profile) -> str:
    """What a customer whose delegation disappeared says (its data is kept)."""
    return (
        f"the Lighthouse delegation of tenant {profile.tenant_id} to {profile.provider!r} "
        "is gone: showing its last cached data, not refreshed"
    )


def with_customers(
    config: Config,
    *,
    offline: bool,
    cache_path: Any = None,
    force: bool = True,
) -> tuple[Config, list[str]]:
    """The effective config of a one-shot command (``check``, ``export``, ``doctor``):
    online, every provider's customers are discovered first (``force``: even when the
    cached discovery is fresh); offline, the cached discovery is used. Returns the
    config and the discovery problems (one line each; offline, those the last discovery
    recorded). Without ``force``, a discovery that failed recently is not tried again
    before its backoff: its recorded problem is returned."""
    if not config.lighthouse:
        return config, []
    import asyncio

    with Cache.open(cache_path, readonly=offline) as cache:
        if not offline:
            problems = asyncio.run(discover(config, cache, force=force))
        else:  # what the last discovery left, told again: its customers may be out of date
            problems = discovery_problems(config, cache)
        return effective_config(config, cache), problems


# --------------------------------------------------------------------------- doctor

#: What each domain needs from a delegation: any one of these roles (Owner and
#: Contributor hold every action these need).
DOMAIN_ROLES: dict[str, tuple[str, ...]] = {
    "arc and circuits": ("Reader", "Contributor", "Owner"),
    "policy evaluations": ("Resource Policy Contributor", "Contributor", "Owner"),
    "spend": ("Cost Management Reader", "Cost Management Contributor", "Contributor", "Owner"),
}


@dataclass(frozen=True)
class CustomerDelegations:
    """What doctor says about one delegated customer: its delegations and what lacks."""

    tenant_id: str
    name: str | None  # the tenant's display name
    subscriptions: tuple[str, ...]
    delegations: tuple[Any, ...]  # btconsole.azure.managedservices.Delegation
    missing: tuple[str, ...]  # one line per gap
    billed: bool  # a customer of the provider's billing account
    excluded: bool = False
    shadowed_by: str | None = None


def assess(
    tenant_id: str,
    name: str | None,
    subscriptions: Sequence[str],
    delegations: Sequence[Any],
    *,
    billed: bool,
) -> list[str]:
    """The gaps of one customer's delegations, one line each (empty: nothing lacks)."""
    gaps: list[str] = []
    for sub in sorted(subscriptions):
        mine = [d for d in delegations if d.subscription_id == sub]
        whole = {role for d in mine if d.resource_group is None for role in d.roles}
        groups = sorted({d.resource_group for d in mine if d.resource_group is not None})
        partial = {role for d in mine if d.resource_group is not None for role in d.roles}
        for domain, roles in DOMAIN_ROLES.items():
            if whole & set(roles):
                continue
            if domain == "spend" and billed:
                continue  # read at the billing account's customer scope
            if partial & set(roles):
                gaps.append(
                    f"{sub}: {domain}: delegated at resource group {', '.join(groups)} only "
                    "(the rest of the subscription is not visible)"
                )
            else:
                also = " (or read it from a partner billing account)" * (domain == "spend")
                gaps.append(f"{sub}: {domain}: no {roles[0]} delegated{also}")
    return gaps


async def doctor_delegations(
    provider: LighthouseProfile,
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    concurrency: int = 16,
) -> tuple[list[CustomerDelegations], list[str]]:
    """Each delegated customer's delegations (``registrationAssignments`` with
    ``$expandRegistrationDefinition``, per subscription) and gaps; and the problems
    (one line each) of listing them.

    Raises:
        AzureError / BtConsoleError: the provider cannot sign in or list its
            subscriptions.
    """
    import asyncio

    from btconsole.azure.errors import AzureError
    from btconsole.azure.managedservices import billing_customers, list_delegations
    from btconsole.azure.session import AzureSession
    from btconsole.azure.subscriptions import list_all_subscriptions, list_tenants

    problems: list[str] = []
    async with AzureSession(provider.credential_profile(), config, environ=environ) as session:
        tenants = await list_tenants(session)
        subs = await list_all_subscriptions(session)
        billing: dict[str, str] = {}
        if provider.billing_account:
            try:
                billing = await billing_customers(session, provider.billing_account)
            except AzureError as exc:
                problems.append(f"billing account {provider.billing_account}: {exc}")
        home = provider.tenant_id.lower()
        by_tenant: dict[str, list[str]] = {}
        for s in subs:
            tid = (s.tenant_id or "").lower()
            if tid and tid != home:
                by_tenant.setdefault(tid, []).append(s.subscription_id)
        names = {
            str(t.get("tenantId") or "").lower(): (str(t.get("displayName") or "") or None)
            for t in tenants
        }
        limit = asyncio.Semaphore(concurrency)

        async def one(sub: str) -> list[Any]:
            async with limit:
                try:
                    return await list_delegations(session, sub)
                except AzureError as exc:
                    problems.append(f"{sub}: cannot list its delegations: {exc}")
                    return []

        every = [sub for tid in sorted(by_tenant) for sub in by_tenant[tid]]
        found = await asyncio.gather(*(one(sub) for sub in every))
    delegations = [d for batch in found for d in batch if d.managed_by_tenant_id in ("", home)]
    configured = {p.tenant_id.lower(): p.name for p in config.profiles.values()}
    billed_names = {n.lower() for n in billing.values() if n}
    out: list[CustomerDelegations] = []
    for tid in sorted(by_tenant):
        name = names.get(tid)
        mine = tuple(d for d in delegations if d.subscription_id in set(by_tenant[tid]))
        billed = tid in billing or (name is not None and name.lower() in billed_names)
        out.append(
            CustomerDelegations(
                tenant_id=tid,
                name=name,
                subscriptions=tuple(by_tenant[tid]),
                delegations=mine,
                missing=tuple(assess(tid, name, by_tenant[tid], mine, billed=billed)),
                billed=billed,
                excluded=provider.excluded(tid),
                shadowed_by=configured.get(tid),
            )
        )
    return out, problems


def describe_discovery(config: Config, cache_path: Any = None) -> list[str]:
    """``config validate``'s lines about the customers last discovered (from the
    cache, no request): how many per provider, which are gone, which a configured
    profile of their own reads instead."""
    from btconsole.errors import BtConsoleError

    lines: list[str] = []
    try:
        with Cache.open(cache_path, readonly=True) as cache:
            customers = cached_customers(config, cache)
            shadows = shadowed(config, cache)
    except BtConsoleError as exc:
        return [f"  Lighthouse customers: unknown (cache unreadable: {exc})"]
    for name in config.lighthouse:
        mine = [c for c in customers if c.provider == name]
        if not mine:
            lines.append(
                f"  {name}: no customer discovered yet (btconsole check or the console "
                "discovers them)"
            )
            continue
        gone = [c.tenant.name for c in mine if c.gone]
        lines.append(
            f"  {name}: {len(mine)} customer(s) last discovered: "
            + ", ".join(c.tenant.name for c in mine)
            + (f"; delegation gone: {', '.join(gone)}" if gone else "")
        )
    for s in shadows:
        lines.append(
            f"  {s.provider}: tenant {s.tenant_id} is also profile {s.profile!r}: "
            "that profile is used (its own sign-in), not the delegation"
        )
    return lines
