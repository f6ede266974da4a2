"""Helpers shared by the route modules: lookups that answer ARM's 404s, and
deterministic pseudo-random numbers for derived data (stats, metrics)."""

from __future__ import annotations

import hashlib
import uuid

from aiohttp import web

from btconsole.emulator.estate import Estate, ResourceGroup
from btconsole.emulator.http import ArmError, Ctx, check_subscription


def estate(ctx: Ctx) -> Estate:
    return ctx.state.estate


def subscription_or_error(ctx: Ctx, subscription_id: str) -> web.Response | None:
    """ARM's 403/404 for an invisible or unknown subscription, else None."""
    return check_subscription(ctx, subscription_id)


def resource_group(ctx: Ctx, subscription_id: str, name: str) -> ResourceGroup:
    """The resource group, or raise ARM's 404 ``ResourceGroupNotFound``."""
    rg = estate(ctx).resource_group(subscription_id, name)
    if rg is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
    return rg


def resource_not_found(rtype: str, name: str, resource_group: str) -> ArmError:
    """ARM's 404 for a tracked resource that does not exist."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{rtype}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def stable_guid(*parts: str) -> str:
    """A GUID derived from strings (stable across runs, unlike ``hash()``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def mix(*parts: object) -> int:
    """A stable 64-bit integer from any values (for derived pseudo-random data)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def unit(*parts: object) -> float:
    """A stable number in [0, 1) from any values."""
    return mix(*parts) / 2**64


def etag(*parts: str) -> str:
    return f'W/"{stable_guid("etag", *parts)}"'
