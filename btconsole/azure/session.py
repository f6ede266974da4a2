"""One session per profile: its credential, an HTTPS transport, SDK clients.

The async SDK clients (``azure.mgmt.*.aio``) run on the caller's event loop (Textual's
in the console), so fanning out across hundreds of subscriptions costs coroutines, not
threads. All clients of a profile share one aiohttp session: one connection pool, one
TLS context (with the profile's CA bundle; verification stays on), one limit on
connections. The refresh engine goes further: its :class:`ConnectionPools` gives every
profile on the same Resource Manager host and CA bundle the same pool (tokens travel
per request, so a connection is not tied to a credential); 60 profiles with a pool each
held hundreds of TLS connections and twice the memory (docs/performance.md).

SDK retries are turned off: the refresh engine retries, so that ``Retry-After``,
Cost Management's own retry headers and Resource Graph's quota headers are honoured
in one place and one failing scope cannot start a storm. A pipeline policy records the
rate-limit headers of every response in :class:`RateLimits`.
"""

from __future__ import annotations

import contextlib
import importlib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from btconsole.config import Config, Profile

# kind -> (module, class, takes a subscription id)
CLIENTS: dict[str, tuple[str, str, bool]] = {
    "subscriptions": ("azure.mgmt.resource.subscriptions.aio", "SubscriptionClient", False),
    "resources": ("azure.mgmt.resource.resources.aio", "ResourceManagementClient", True),
    "hybridcompute": ("azure.mgmt.hybridcompute.aio", "HybridComputeManagementClient", True),
    "kubernetes": ("azure.mgmt.hybridkubernetes.aio", "ConnectedKubernetesClient", True),
    "network": ("azure.mgmt.network.aio", "NetworkManagementClient", True),
    "policyinsights": ("azure.mgmt.policyinsights.aio", "PolicyInsightsClient", True),
    "costmanagement": ("azure.mgmt.costmanagement.aio", "CostManagementClient", False),
    "consumption": ("azure.mgmt.consumption.aio", "ConsumptionManagementClient", True),
    "monitor": ("azure.mgmt.monitor.aio", "MonitorManagementClient", True),
    "resourcegraph": ("azure.mgmt.resourcegraph.aio", "ResourceGraphClient", False),
}


# (CA bundle, its mtime) -> the TLS context trusting it; see AzureSession._ssl_context
_SSL_CONTEXTS: dict[tuple[str | None, int | None], ssl.SSLContext] = {}


@dataclass
class RateLimits:
    """What the services said about our request budget, per subscription / tenant."""

    remaining_reads: dict[str, int] = field(default_factory=dict)  # subscription -> reads left
    tenant_remaining_reads: int | None = None
    graph_quota_remaining: int | None = None
    graph_quota_resets_after: float | None = None
    requests: int = 0
    throttled: int = 0
    last_throttled_at: float | None = None

    def observe(self, url: str, status: int, headers: Mapping[str, str]) -> None:
        """Record one response."""
        from btconsole.azure.errors import _hms

        self.requests += 1
        if status == 429:
            self.throttled += 1
            self.last_throttled_at = time.monotonic()
        lowered = {k.lower(): v for k, v in headers.items()}
        reads = _int(lowered.get("x-ms-ratelimit-remaining-subscription-reads"))
        subscription = _subscription_of(url)
        if reads is not None and subscription:
            self.remaining_reads[subscription] = reads
        tenant_reads = _int(lowered.get("x-ms-ratelimit-remaining-tenant-reads"))
        if tenant_reads is not None:
            self.tenant_remaining_reads = tenant_reads
        quota = _int(lowered.get("x-ms-user-quota-remaining"))
        if quota is not None:
            self.graph_quota_remaining = quota
            resets = lowered.get("x-ms-user-quota-resets-after")
            self.graph_quota_resets_after = _hms(resets) if resets else None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _subscription_of(url: str) -> str | None:
    lowered = url.lower()
    marker = "/subscriptions/"
    start = lowered.find(marker)
    if start < 0:
        return None
    rest = lowered[start + len(marker) :]
    sub = rest.split("/", 1)[0].split("?", 1)[0]
    return sub or None


def _observe_policy(limits: RateLimits) -> Any:
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class ObserveRateLimits(SansIOHTTPPolicy):  # type: ignore[type-arg]
        def on_response(self, request: Any, response: Any) -> None:
            http = response.http_response
            limits.observe(str(http.request.url), int(http.status_code), http.headers)

    return ObserveRateLimits()


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 60.0


def _ssl_context(bundle: str | None) -> ssl.SSLContext:
    """The TLS context trusting ``bundle`` only (or the system store): one per CA bundle.

    One per bundle (and version of its file) for the process: building one loads the
    system's CA store, ~0.1 s of CPU on the event loop, which for a 60-profile estate
    was 6 s of every cold refresh (docs/performance.md).
    """
    try:
        key = (bundle, Path(bundle).stat().st_mtime_ns if bundle else None)
    except OSError:
        key = None  # let load_verify_locations report the problem
    context = _SSL_CONTEXTS.get(key) if key is not None else None
    if context is None:
        # A bundle replaces the system store, as it does for the token requests
        # (azure-identity's connection_verify) and doctor: one trust per profile.
        try:
            context = (
                ssl.create_default_context(cafile=bundle)
                if bundle
                else ssl.create_default_context()
            )
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            from btconsole.errors import ConfigError

            if isinstance(exc, ssl.SSLError):
                why = str(exc.reason) if exc.reason else "malformed PEM"
            else:
                why = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(
                f"ca_bundle {bundle} cannot be loaded ({why}); give the PEM file of the CA "
                "that signed the profile's endpoints"
            ) from None
        if key is not None:
            _SSL_CONTEXTS[key] = context
    return context


def _new_transport(bundle: str | None, max_connections: int, timeouts: Timeouts) -> tuple[Any, Any]:
    """(aiohttp session, azure-core transport on it); call inside the running loop."""
    import aiohttp
    from azure.core.pipeline.transport import AioHttpTransport

    connector = aiohttp.TCPConnector(
        limit=max_connections, ssl=_ssl_context(bundle), ttl_dns_cache=300
    )
    # No cookies: the session may serve several tenants' profiles.
    http = aiohttp.ClientSession(
        connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
    )
    # connection_verify stays True: aiohttp then uses the connector's context, which
    # trusts the CA bundle. (A path here would make a new SSL context, and so a new
    # connection, for every request.)
    transport = AioHttpTransport(
        session=http,
        session_owner=False,
        connection_timeout=timeouts.connect,
        read_timeout=timeouts.read,
    )
    return http, transport


class ConnectionPools:
    """HTTPS transports shared by profiles: one per (Resource Manager host, CA bundle).

    Owned by whoever runs many profiles (the refresh engine) and closed by it; a
    session given a pool uses its transport and never closes it. Each pool allows
    ``max_connections`` connections (the engine's ``refresh_concurrency`` bounds the
    requests in flight anyway). TLS verification stays on, with each pool's bundle.
    """

    def __init__(self, max_connections: int, timeouts: Timeouts | None = None) -> None:
        self.max_connections = max_connections
        self.timeouts = timeouts or Timeouts()
        self._pools: dict[tuple[str, str | None, Timeouts], tuple[Any, Any]] = {}

    def transport(self, profile: Profile, timeouts: Timeouts | None = None) -> Any:
        """The transport for ``profile``'s cloud (created on first use, inside the loop)."""
        from urllib.parse import urlsplit

        parts = urlsplit(profile.cloud.resource_manager)
        timeouts = timeouts or self.timeouts
        key = (f"{parts.scheme}://{parts.netloc}".lower(), profile.cloud.ca_bundle, timeouts)
        pool = self._pools.get(key)
        if pool is None:
            pool = _new_transport(profile.cloud.ca_bundle, self.max_connections, timeouts)
            self._pools[key] = pool
        return pool[1]

    def __len__(self) -> int:
        return len(self._pools)

    async def close(self) -> None:
        """Close every pool's connections (the sessions using them must be done)."""
        pools = list(self._pools.values())
        self._pools.clear()
        for http, _transport in pools:
            await http.close()


class AzureSession:
    """The SDK clients of one profile, sharing a credential and a transport.

    Use as ``async with AzureSession(profile, config) as session:``; clients come from
    :meth:`client` and are closed with the session. With ``pools`` the transport comes
    from there (shared with other profiles, not closed here); without, the session has
    its own connection pool and closes it.
    """

    def __init__(
        self,
        profile: Profile,
        config: Config,
        *,
        credential: Any = None,
        max_connections: int | None = None,
        timeouts: Timeouts | None = None,
        environ: Mapping[str, str] | None = None,
        pools: ConnectionPools | None = None,
    ) -> None:
        self.profile = profile
        self.config = config
        self.limits = RateLimits()
        self._credential = credential
        self._owns_credential = credential is None
        self._environ = environ
        self._max_connections = max_connections or config.refresh_concurrency
        self._timeouts = timeouts
        self._pools = pools
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._http: Any = None
        self._transport: Any = None

    @property
    def credential(self) -> Any:
        """The profile's async credential (built on first use).

        Raises:
            SecretError / KeyringUnavailableError / CredentialError: see build_credential.
        """
        if self._credential is None:
            from btconsole.credentials import SignInErrors, build_credential

            # token failures leave as the project's errors, with the profile's fix
            self._credential = SignInErrors(
                build_credential(self.profile, self.config, aio=True, environ=self._environ),
                self.profile,
            )
        return self._credential

    def transport(self) -> Any:
        """The transport of every client (created on first use, inside the running loop)."""
        if self._transport is None:
            if self._pools is not None:
                self._transport = self._pools.transport(self.profile, self._timeouts)
            else:
                self._http, self._transport = _new_transport(
                    self.profile.cloud.ca_bundle,
                    self._max_connections,
                    self._timeouts or Timeouts(),
                )
        return self._transport

    def client(self, kind: str, subscription_id: str | None = None) -> Any:
        """The SDK client of ``kind`` (see :data:`CLIENTS`) for ``subscription_id``."""
        module_name, class_name, per_subscription = CLIENTS[kind]
        key = (kind, subscription_id if per_subscription else None)
        existing = self._clients.get(key)
        if existing is not None:
            return existing
        cls = getattr(importlib.import_module(module_name), class_name)
        kwargs: dict[str, Any] = {
            "base_url": self.profile.cloud.resource_manager.rstrip("/"),
            "credential_scopes": [self.profile.cloud.token_scope],
            "transport": self.transport(),
            "retry_total": 0,
            "per_call_policies": [_observe_policy(self.limits)],
        }
        if per_subscription:
            # Some operations never use the client's subscription (tenant-level calls);
            # a placeholder keeps the constructor happy.
            sub = subscription_id or "00000000-0000-0000-0000-000000000000"
            client = cls(self.credential, sub, **kwargs)
        else:
            client = cls(self.credential, **kwargs)
        self._clients[key] = client
        return client

    async def close(self) -> None:
        """Close every client, the credential (if ours) and the HTTP session (if ours)."""
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            with contextlib.suppress(Exception):  # closing must not hide the real error
                await client.close()
        if self._owns_credential and self._credential is not None:
            close = getattr(self._credential, "close", None)
            if close is not None:
                await close()
            self._credential = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._transport = None

    async def __aenter__(self) -> AzureSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
