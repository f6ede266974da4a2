"""Fixtures for tests that talk to the emulator over real HTTPS on loopback.

- ``emulator`` (function-scoped view of one emulator per test session, or per xdist
  worker): a :class:`~btconsole.emulator.server.RunningEmulator` serving
  ``generate(seed=1, size="small")`` with every ARM route. Before each test it is reset
  to its startup state: no faults, default settings, stats zeroed, throttling buckets,
  token revocations and pending device codes forgotten. Use ``emulator.base_url``,
  ``emulator.ca_path`` (give it to ``connection_verify``), ``emulator.authority``,
  ``emulator.estate``, ``emulator.control(...)``, ``emulator.set_faults([...])``,
  ``emulator.add_fault(kind=..., ...)``, ``emulator.set_settings(...)``,
  ``emulator.stats()`` and ``emulator.route_count("route.name")``.
  A few extra authenticated routes named ``test.*`` (under ``/_test/``) exercise the
  core helpers; they never collide with estate routes.
- ``customer``: the estate's first :class:`~btconsole.emulator.estate.Customer`.
- ``credential``: an unmodified sync ``azure.identity.ClientSecretCredential`` for that
  customer's tenant, pointed at the emulator (``authority``,
  ``disable_instance_discovery=True``, ``connection_verify=ca_path``).
- ``aio_credential``: the same with ``azure.identity.aio.ClientSecretCredential``,
  closed after the test.
- ``arm_token``: a bearer token string for that tenant (scope
  ``https://management.azure.com/.default``).

TLS verification stays on everywhere: clients trust ``emulator.ca_path`` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from btconsole.emulator.generate import generate
from btconsole.emulator.http import (
    Ctx,
    Router,
    check_subscription,
    json_response,
    page,
    start_lro,
)
from btconsole.emulator.server import RunningEmulator, running_emulator

if TYPE_CHECKING:
    from azure.identity import ClientSecretCredential
    from azure.identity.aio import ClientSecretCredential as AioClientSecretCredential

    from btconsole.emulator.estate import Customer

ARM_SCOPE = "https://management.azure.com/.default"


def core_test_routes(router: Router) -> None:
    """Authenticated routes that exercise the core helpers (names ``test.*``)."""

    async def whoami(ctx: Ctx) -> web.StreamResponse:
        return json_response(
            {
                "tenant_id": ctx.tenant_id,
                "visible": sorted(ctx.visible),
                "params": ctx.params,
                "query": ctx.query,
                "claims": ctx.claims,
            }
        )

    async def items(ctx: Ctx) -> web.StreamResponse:
        refused = check_subscription(ctx, ctx.params["subscriptionId"])
        if refused is not None:
            return refused
        count = int(ctx.q("count") or "25")
        link = ctx.q("linkKey") or "nextLink"
        return page(ctx, [{"n": i} for i in range(count)], link_key=link)

    async def lro(ctx: Ctx) -> web.StreamResponse:
        refused = check_subscription(ctx, ctx.params["subscriptionId"])
        if refused is not None:
            return refused
        body: Any = await ctx.json()
        polls = int(ctx.q("polls") or "1")
        style = ctx.q("style") or "location"

        async def result() -> web.Response:
            return json_response({"echo": body, "done": True})

        return start_lro(ctx, result, polls=polls, style=style)

    router.add("GET", "/_test/whoami", whoami, name="test.whoami")
    router.add("GET", "/_test/subscriptions/{subscriptionId}/items", items, name="test.items")
    router.add("POST", "/_test/subscriptions/{subscriptionId}/lro", lro, name="test.lro")


@pytest.fixture(scope="session")
def _emulator_session() -> Iterator[RunningEmulator]:
    estate = generate(seed=1, size="small")
    with running_emulator(estate, extra_routes=core_test_routes) as emu:
        yield emu


@pytest.fixture
def emulator(_emulator_session: RunningEmulator) -> RunningEmulator:
    """The session's emulator, reset to its startup state for this test."""
    _emulator_session.reset()
    return _emulator_session


@pytest.fixture
def customer(emulator: RunningEmulator) -> Customer:
    return emulator.estate.customers[0]


def _tenant_login(emulator: RunningEmulator, customer: Customer) -> tuple[str, str, str]:
    tenant = emulator.estate.tenant(customer.tenant_id)
    assert tenant is not None
    return tenant.tenant_id, tenant.client_id, tenant.client_secret


@pytest.fixture
def credential(emulator: RunningEmulator, customer: Customer) -> ClientSecretCredential:
    from azure.identity import ClientSecretCredential

    tenant_id, client_id, secret = _tenant_login(emulator, customer)
    return ClientSecretCredential(
        tenant_id,
        client_id,
        secret,
        authority=emulator.authority,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_path),
    )


@pytest.fixture
async def aio_credential(
    emulator: RunningEmulator, customer: Customer
) -> AsyncIterator[AioClientSecretCredential]:
    from azure.identity.aio import ClientSecretCredential as AioCredential

    tenant_id, client_id, secret = _tenant_login(emulator, customer)
    cred = AioCredential(
        tenant_id,
        client_id,
        secret,
        authority=emulator.authority,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_path),
    )
    async with cred:
        yield cred


@pytest.fixture
def arm_token(credential: ClientSecretCredential) -> str:
    return credential.get_token(ARM_SCOPE).token
