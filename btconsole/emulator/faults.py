"""Fault injection: latency, throttling, 5xx bursts, hangs, resets, malformed bodies,
403s and token expiry, from a TOML file or the ``/_emulator/faults`` control route;
and the documented answers that are not failures: a service's own error body
(``arm_error``), absent or unknown properties (``edit``), the shapes of a long-running
operation (``long_running``) and small pages (``page``).

A fault set is a seed (for the ``probability`` draws) and an ordered list of faults.
For every request that reached a route (after the bearer-token check), the faults
that target it are tried in order: ``latency`` delays and goes on, ``edit``,
``long_running`` and ``page`` shape the handler's answer and go on; the first other
fault that fires decides the answer. See docs/emulator.md for the file format.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import random
import re
import socket
import struct
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from btconsole.emulator.entra import expired_message, unauthorized
from btconsole.emulator.http import (
    ArmError,
    BodyEdit,
    LroShape,
    TokenBucket,
    arm_error,
    authorization_failed,
    json_response,
)

if TYPE_CHECKING:
    from btconsole.emulator.http import Ctx

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

COMMON_KEYS = ("kind", "route", "subscriptions", "methods", "count", "probability")

KIND_PARAMS: dict[str, dict[str, Any]] = {
    "latency": {"ms": 100, "jitter_ms": 0},
    "throttle": {"retry_after": 1},
    "costmanagement_throttle": {"retry_after": 1, "quotas": ["entity"]},
    "token_bucket": {"capacity": 10, "refill_per_second": 1.0},
    "server_error": {"status": 500, "retry_after": None},
    "hang": {"seconds": None},
    "reset": {},
    "malformed": {},
    "forbidden": {},
    "expire_tokens": {},
    # documented answer variants (see VARIANT_KINDS below)
    "arm_error": {
        "status": 400,
        "code": "BadRequest",
        "message": None,
        "target": None,
        "details": [],
    },
    "edit": {"remove": [], "set": {}},
    "long_running": {
        "style": "location",
        "polls": 1,
        "retry_after": 1,
        "retry_after_ms": None,
        "outcome": "succeeded",
        "error_status": 500,
        "error_code": "InternalServerError",
        "error_message": "The operation failed.",
    },
    "page": {"size": 1},
}

COSTMANAGEMENT_QUOTAS = ("qpu", "entity", "tenant", "clienttype")

_SERVER_ERROR_CODES = {
    500: ("InternalServerError", "Encountered internal server error. Please try again."),
    502: ("BadGateway", "The gateway did not receive a response within the specified time."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please try again."),
    504: ("GatewayTimeout", "The gateway did not receive a response within the specified time."),
}

_SUBSCRIPTION_IN_PATH = re.compile(r"/subscriptions/([^/?]+)", re.IGNORECASE)


class FaultError(Exception):
    """A fault description is invalid (message names where and why)."""


@dataclass
class Fault:
    """One fault: what it does, what it targets, how often it may fire."""

    kind: str
    params: dict[str, Any]
    route: str | None = None
    subscriptions: frozenset[str] | None = None
    methods: frozenset[str] | None = None
    count: int | None = None
    probability: float = 1.0
    fired: int = 0
    _route_re: re.Pattern[str] | None = None
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.route is None:
            self.route = cost_fault_route(self.kind)
        if self.route is not None:
            self._route_re = re.compile(fnmatch.translate(self.route), re.IGNORECASE)

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def targets(self, route_name: str, path: str, auth: bool, method: str, sub: str | None) -> bool:
        if self._route_re is None:
            if not auth:
                return False
        elif not (self._route_re.match(route_name) or self._route_re.match(path)):
            return False
        if self.methods is not None and method not in self.methods:
            return False
        return self.subscriptions is None or (sub is not None and sub.lower() in self.subscriptions)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.route is not None:
            out["route"] = self.route
        if self.subscriptions is not None:
            out["subscriptions"] = sorted(self.subscriptions)
        if self.methods is not None:
            out["methods"] = sorted(self.methods)
        if self.count is not None:
            out["count"] = self.count
        out["probability"] = self.probability
        out.update(self.params)
        out["fired"] = self.fired
        out["remaining"] = None if self.count is None else max(0, self.count - self.fired)
        return out


def _check_int(where: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultError(f"{where}: {key!r} must be an integer >= {minimum}, not {value!r}")
    return value


def _check_number(where: str, key: str, value: Any, minimum: float, *, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FaultError(f"{where}: {key!r} must be a number, not {value!r}")
    if value < minimum or (strict and value == minimum):
        op = ">" if strict else ">="
        raise FaultError(f"{where}: {key!r} must be {op} {minimum}, not {value!r}")
    return float(value)


def _check_strings(where: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise FaultError(f"{where}: {key!r} must be a list of non-empty strings")
    return list(value)


def parse_fault(data: Any, where: str) -> Fault:
    """Build a Fault from a TOML/JSON table.

    Raises:
        FaultError: unknown kind or key, or a value of the wrong type or range.
    """
    if not isinstance(data, Mapping):
        raise FaultError(f"{where}: a fault must be a table, not {type(data).__name__}")
    kind = data.get("kind")
    if kind not in KIND_PARAMS:
        raise FaultError(f"{where}: 'kind' must be one of {', '.join(KIND_PARAMS)}, not {kind!r}")
    allowed = set(COMMON_KEYS) | set(KIND_PARAMS[kind])
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise FaultError(
            f"{where}: unknown key {unknown[0]!r} for a {kind} fault "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
    route = data.get("route")
    if route is not None and (not isinstance(route, str) or not route):
        raise FaultError(f"{where}: 'route' must be a non-empty string (a glob)")
    subs = data.get("subscriptions")
    subscriptions = (
        None
        if subs is None
        else frozenset(s.lower() for s in _check_strings(where, "subscriptions", subs))
    )
    meths = data.get("methods")
    methods = (
        None
        if meths is None
        else frozenset(m.upper() for m in _check_strings(where, "methods", meths))
    )
    count = data.get("count")
    if count is not None:
        count = _check_int(where, "count", count, 1)
    probability = _check_number(
        where, "probability", data.get("probability", 1.0), 0.0, strict=False
    )
    if probability > 1:
        raise FaultError(f"{where}: 'probability' must be between 0 and 1, not {probability!r}")

    params = dict(KIND_PARAMS[kind])
    for key in KIND_PARAMS[kind]:
        if key in data:
            params[key] = data[key]
    if kind == "latency":
        params["ms"] = _check_int(where, "ms", params["ms"], 0)
        params["jitter_ms"] = _check_int(where, "jitter_ms", params["jitter_ms"], 0)
    elif kind in ("throttle", "costmanagement_throttle"):
        params["retry_after"] = _check_int(where, "retry_after", params["retry_after"], 0)
        if kind == "costmanagement_throttle":
            quotas = _check_strings(where, "quotas", params["quotas"])
            bad = [q for q in quotas if q not in COSTMANAGEMENT_QUOTAS]
            if bad or not quotas:
                raise FaultError(
                    f"{where}: 'quotas' must list some of {', '.join(COSTMANAGEMENT_QUOTAS)}"
                )
            params["quotas"] = quotas
    elif kind == "token_bucket":
        params["capacity"] = _check_int(where, "capacity", params["capacity"], 0)
        params["refill_per_second"] = _check_number(
            where, "refill_per_second", params["refill_per_second"], 0.0, strict=True
        )
    elif kind == "server_error":
        status = _check_int(where, "status", params["status"], 500)
        if status > 599:
            raise FaultError(f"{where}: 'status' must be 500..599, not {status}")
        params["status"] = status
        if params["retry_after"] is not None:
            params["retry_after"] = _check_int(where, "retry_after", params["retry_after"], 0)
    elif kind == "hang" and params["seconds"] is not None:
        params["seconds"] = _check_number(where, "seconds", params["seconds"], 0.0, strict=False)
    elif kind in VARIANT_KINDS:
        _check_variant(where, kind, params)
    return Fault(
        kind=kind,
        params=params,
        route=route,
        subscriptions=subscriptions,
        methods=methods,
        count=count,
        probability=probability,
    )


@dataclass
class Decision:
    """What the faults decided for one request.

    ``response`` replaces the handler's answer; ``action`` is "reset", "hang" (never
    answer) or "malformed" (corrupt the handler's answer); ``remaining_reads`` overrides
    the ``x-ms-ratelimit-remaining-subscription-reads`` header. ``page_size``, ``lro``
    and ``edits`` shape the handler's own answer (the variant kinds).
    """

    response: web.StreamResponse | None = None
    action: str | None = None
    remaining_reads: int | None = None
    page_size: int | None = None
    lro: LroShape | None = None
    edits: list[BodyEdit] = field(default_factory=list)


class FaultSet:
    """The active faults and the seeded random source for their ``probability``."""

    def __init__(self, faults: Sequence[Fault] = (), seed: int = 0) -> None:
        self.faults: list[Fault] = list(faults)
        self.seed = seed
        self.rng = random.Random(seed)

    @classmethod
    def from_mapping(cls, data: Any, where: str) -> FaultSet:
        """``{"seed": int, "faults": [fault, ...]}`` (both optional).

        Raises:
            FaultError: unknown top-level key or an invalid fault.
        """
        if not isinstance(data, Mapping):
            raise FaultError(f"{where}: expected a table with 'seed' and 'faults'")
        unknown = sorted(set(data) - {"seed", "faults"})
        if unknown:
            raise FaultError(f"{where}: unknown key {unknown[0]!r} (allowed: faults, seed)")
        seed = _check_int(where, "seed", data.get("seed", 0), 0)
        items = data.get("faults", [])
        if not isinstance(items, list):
            raise FaultError(f"{where}: 'faults' must be an array of tables ([[faults]])")
        faults = [parse_fault(item, f"{where}: faults[{i}]") for i, item in enumerate(items)]
        return cls(faults, seed)

    def replace(self, other: FaultSet) -> None:
        self.faults = other.faults
        self.seed = other.seed
        self.rng = random.Random(other.seed)

    def clear(self) -> None:
        self.replace(FaultSet())

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "faults": [f.to_dict() for f in self.faults]}

    def __bool__(self) -> bool:
        return bool(self.faults)

    async def decide(self, ctx: Ctx, auth: bool, hang_forever: asyncio.Event) -> Decision | None:
        """Apply the faults that target this request; None when none fired.

        Latency and timed hangs are awaited here. ``hang_forever`` is the server's
        shutdown event: an open-ended hang waits for it.
        """
        request = ctx.request
        method = request.method
        path = request.path
        sub = subscription_of(ctx.params, path)
        decision: Decision | None = None
        for fault in self.faults:
            if fault.exhausted or not fault.targets(ctx.route_name, path, auth, method, sub):
                continue
            if fault.kind == "token_bucket":
                outcome = self._token_bucket(fault, ctx, sub)
                if outcome is None:
                    continue
                if outcome.response is None:
                    decision = decision or Decision()
                    decision.remaining_reads = outcome.remaining_reads
                    continue
                fault.fired += 1
                ctx.state.stats.fault_fired(fault.kind)
                return outcome
            if fault.probability < 1.0 and self.rng.random() >= fault.probability:
                continue
            fault.fired += 1
            ctx.state.stats.fault_fired(fault.kind)
            if fault.kind == "latency":
                delay = fault.params["ms"]
                jitter = fault.params["jitter_ms"]
                if jitter:
                    delay += self.rng.uniform(-jitter, jitter)
                await asyncio.sleep(max(0.0, delay) / 1000)
                continue
            if fault.kind in SHAPING_KINDS:
                decision = decision or Decision()
                _shape(fault, decision)
                continue
            if fault.kind == "hang":
                seconds = fault.params["seconds"]
                if seconds is None:
                    await _hang(ctx, hang_forever)
                    return Decision(action="reset")
                await asyncio.sleep(seconds)
                continue
            result = self._terminal(fault, ctx, sub)
            if decision is not None and result.remaining_reads is None:
                result.remaining_reads = decision.remaining_reads
            return result
        return decision

    def hidden_subscriptions(self, ctx: Ctx, subscriptions: Iterable[str]) -> frozenset[str]:
        """Which of ``subscriptions`` (lower case) a ``forbidden`` fault refuses the caller
        on this route, for a query across subscriptions (Resource Graph): Azure leaves a
        subscription the identity cannot read out of the answer instead of failing.

        A fault targets a subscription as it would a request about it (its ``route``,
        ``methods`` and ``subscriptions``); it fires at most once per request, when it
        hides something, with one ``probability`` draw.
        """
        request = ctx.request
        wanted = {s.lower() for s in subscriptions}
        hidden: set[str] = set()
        for fault in self.faults:
            if fault.kind != "forbidden" or fault.exhausted or fault.subscriptions is None:
                continue
            hit = {
                sub
                for sub in wanted & fault.subscriptions
                if fault.targets(ctx.route_name, request.path, True, request.method, sub)
            }
            if not hit:
                continue
            if fault.probability < 1.0 and self.rng.random() >= fault.probability:
                continue
            fault.fired += 1
            ctx.state.stats.fault_fired(fault.kind)
            hidden |= hit
        return frozenset(hidden)

    def _token_bucket(self, fault: Fault, ctx: Ctx, sub: str | None) -> Decision | None:
        if ctx.request.method not in ("GET", "HEAD"):
            return None
        key = sub.lower() if sub else f"tenant:{ctx.tenant_id}"
        bucket = fault._buckets.get(key)
        if bucket is None:
            bucket = fault._buckets[key] = TokenBucket(
                fault.params["capacity"], fault.params["refill_per_second"]
            )
        if bucket.take():
            return Decision(remaining_reads=bucket.remaining)
        wait = bucket.seconds_until_token()
        return Decision(response=_throttled(sub, wait, ctx), remaining_reads=0)

    def _terminal(self, fault: Fault, ctx: Ctx, sub: str | None) -> Decision:
        kind = fault.kind
        params = fault.params
        if kind in COST_KIND_PARAMS:
            return cost_decision(fault)
        if kind == "throttle":
            return Decision(response=_throttled(sub, params["retry_after"], ctx), remaining_reads=0)
        if kind == "costmanagement_throttle":
            headers = {
                f"x-ms-ratelimit-microsoft.costmanagement-{quota}-retry-after": str(
                    params["retry_after"]
                )
                for quota in params["quotas"]
            }
            return Decision(
                response=arm_error(429, "429", "Too many requests. Please retry.", headers)
            )
        if kind == "server_error":
            status = params["status"]
            code, message = _SERVER_ERROR_CODES.get(
                status, ("ServerError", "The server encountered an error. Please try again.")
            )
            extra = (
                {} if params["retry_after"] is None else {"Retry-After": str(params["retry_after"])}
            )
            return Decision(response=arm_error(status, code, message, extra))
        if kind == "reset":
            return Decision(action="reset")
        if kind == "malformed":
            return Decision(action="malformed")
        if kind == "forbidden":
            scope = f"/subscriptions/{sub}" if sub else ctx.request.path
            return Decision(response=authorization_failed(ctx, scope))
        if kind == "arm_error":
            return Decision(response=_arm_error_body(params, ctx))
        if kind == "expire_tokens":
            tenant = ctx.tenant_id
            ctx.state.tokens.revoke_tenant_tokens(tenant)
            now = time.time()
            return Decision(
                response=unauthorized(
                    ctx.base_url,
                    tenant or "common",
                    "ExpiredAuthenticationToken",
                    expired_message(now, now),
                )
            )
        raise ArmError(500, "InternalServerError", f"fault kind {kind} is not terminal")


async def _hang(ctx: Ctx, until: asyncio.Event) -> None:
    """Wait until ``until`` is set or the client has gone away (checked every second)."""
    while not until.is_set():
        transport = ctx.request.transport
        if transport is None or transport.is_closing():
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(until.wait(), 1.0)


def _throttled(sub: str | None, retry_after: int, ctx: Ctx) -> web.Response:
    actor = ctx.claims.get("oid", "") if ctx.claims else ""
    op = "read" if ctx.request.method in ("GET", "HEAD") else "write"
    if sub:
        code = "SubscriptionRequestsThrottled"
        message = (
            f"Number of '{op}' requests for subscription '{sub}' actor '{actor}' exceeded. "
            f"Please try again after '{retry_after}' seconds after additional tokens are "
            "available. Refer to https://aka.ms/arm-throttling"
        )
        header = f"x-ms-ratelimit-remaining-subscription-{op}s"
    else:
        code = "TenantRequestsThrottled"
        message = (
            f"Number of '{op}' requests for tenant '{ctx.tenant_id}' exceeded. Please try "
            f"again after '{retry_after}' seconds. Refer to https://aka.ms/arm-throttling"
        )
        header = f"x-ms-ratelimit-remaining-tenant-{op}s"
    return arm_error(429, code, message, {"Retry-After": str(retry_after), header: "0"})


def subscription_of(params: Mapping[str, str], path: str) -> str | None:
    """The subscription a request is about: its path parameter, else the path."""
    for key, value in params.items():
        if key.lower() == "subscriptionid":
            return value
    match = _SUBSCRIPTION_IN_PATH.search(path)
    return match.group(1) if match else None


def load_faults_file(path: Path) -> FaultSet:
    """Read a faults TOML file.

    Raises:
        FaultError: unreadable file, bad TOML (with line and column) or invalid faults.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FaultError(f"{path}: cannot read the faults file ({reason})") from exc
    return parse_faults_toml(text, str(path))


def parse_faults_toml(text: str, where: str) -> FaultSet:
    """Parse faults TOML text (``where`` names it in messages).

    Raises:
        FaultError: bad TOML or invalid faults.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FaultError(f"{where}: invalid TOML: {exc}") from exc
    return FaultSet.from_mapping(data, where)


def abort_connection(request: web.Request) -> None:
    """Close the request's connection at once with a TCP reset (no TLS close_notify)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


# --------------------------------------------------------------------------- Cost Management
# Faults that make Cost Management give one of its documented answers that are not
# errors. Self-contained: the kinds join KIND_PARAMS here; Fault.__post_init__ takes
# their default route from cost_fault_route and FaultSet._terminal answers them with
# cost_decision.

COST_KIND_PARAMS: dict[str, dict[str, Any]] = {
    # 204 No Content, no body: the usage query and the forecast of a scope with no
    # usage data (docs/dev/emulator-contract.md names the spec)
    "costmanagement_no_content": {},
}
#: Without a ``route``, a cost fault targets the query and forecast routes only.
COST_FAULT_ROUTE = "costs.*"

KIND_PARAMS.update(COST_KIND_PARAMS)


def cost_fault_route(kind: str) -> str | None:
    """The default route glob of a fault of ``kind`` given none (None: every route)."""
    return COST_FAULT_ROUTE if kind in COST_KIND_PARAMS else None


def cost_decision(fault: Fault) -> Decision:
    """The answer of a Cost Management fault that fired."""
    if fault.kind == "costmanagement_no_content":
        return Decision(response=web.Response(status=204))
    raise ArmError(500, "InternalServerError", f"fault kind {fault.kind} is not a cost fault")


# --------------------------------------------------------------------------- variants
# Documented answers that are not failures of the service: ARM's full error body, absent
# or unknown properties, the shapes of a long-running operation, small pages. Kept
# together here (the cost faults are another block).

VARIANT_KINDS = ("arm_error", "edit", "long_running", "page")
SHAPING_KINDS = ("edit", "long_running", "page")
LRO_STYLES = ("location", "azure-async-operation", "sync")
LRO_OUTCOMES = ("succeeded", "failed", "canceled")


def _check_text(where: str, key: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise FaultError(f"{where}: {key!r} must be a non-empty string, not {value!r}")


def _check_variant(where: str, kind: str, params: dict[str, Any]) -> None:
    if kind == "arm_error":
        status = _check_int(where, "status", params["status"], 400)
        if status > 599:
            raise FaultError(f"{where}: 'status' must be 400..599, not {status}")
        _check_text(where, "code", params["code"])
        _check_text(where, "message", params["message"], optional=True)
        _check_text(where, "target", params["target"], optional=True)
        details = params["details"]
        if not isinstance(details, list) or not all(
            isinstance(d, Mapping) and isinstance(d.get("code"), str) for d in details
        ):
            raise FaultError(f"{where}: 'details' must be a list of tables with a 'code'")
    elif kind == "edit":
        remove = params["remove"]
        if remove:
            _check_strings(where, "remove", remove)
        changes = params["set"]
        if not isinstance(changes, Mapping) or not all(isinstance(k, str) and k for k in changes):
            raise FaultError(f"{where}: 'set' must be a table of property paths to values")
        if not remove and not changes:
            raise FaultError(f"{where}: an edit fault needs 'remove' or 'set'")
    elif kind == "long_running":
        if params["style"] not in LRO_STYLES:
            raise FaultError(f"{where}: 'style' must be one of {', '.join(LRO_STYLES)}")
        if params["outcome"] not in LRO_OUTCOMES:
            raise FaultError(f"{where}: 'outcome' must be one of {', '.join(LRO_OUTCOMES)}")
        _check_int(where, "polls", params["polls"], 1)
        # Retry-After: 0 would make azure-core wait its default 30 s: at least 1
        _check_int(where, "retry_after", params["retry_after"], 1)
        if params["retry_after_ms"] is not None:
            _check_int(where, "retry_after_ms", params["retry_after_ms"], 1)
        status = _check_int(where, "error_status", params["error_status"], 400)
        if status > 599:
            raise FaultError(f"{where}: 'error_status' must be 400..599, not {status}")
        _check_text(where, "error_code", params["error_code"])
        _check_text(where, "error_message", params["error_message"])
    elif kind == "page":
        _check_int(where, "size", params["size"], 1)


def _shape(fault: Fault, decision: Decision) -> None:
    """Record a shaping fault's effect on the handler's answer."""
    params = fault.params
    if fault.kind == "page":
        decision.page_size = int(params["size"])
    elif fault.kind == "long_running":
        decision.lro = LroShape(
            style=str(params["style"]),
            polls=int(params["polls"]),
            retry_after=int(params["retry_after"]),
            retry_after_ms=None
            if params["retry_after_ms"] is None
            else int(params["retry_after_ms"]),
            outcome=str(params["outcome"]),
            error_status=int(params["error_status"]),
            error_code=str(params["error_code"]),
            error_message=str(params["error_message"]),
        )
    else:
        decision.edits.append(
            BodyEdit(
                remove=tuple(params["remove"] or ()),
                set=tuple(dict(params["set"]).items()),
            )
        )


def _arm_error_body(params: Mapping[str, Any], ctx: Ctx) -> web.Response:
    """The error response of the service behind the route, shaped as its spec says.

    - Resource Graph (``graph.*``): ``{"error": {code, message, details: [{code,
      message}]}}`` (resourcegraph.json ``ErrorResponse``; the cause is in ``details``);
    - Policy Insights (``policy.*``): ``QueryFailure``, ``{"error": {code, message}}``;
    - Network (``circuits.*``): ``CloudError``, ``{"error": {code, message, target,
      details}}``;
    - the others (common-types ``ErrorResponse``): ``{"error": {code, message, target,
      details, additionalInfo}}``.
    """
    route = ctx.route_name
    code = str(params["code"])
    error: dict[str, Any] = {
        "code": code,
        "message": params["message"] or f"The request to '{ctx.request.path}' failed with {code}.",
    }
    details = [
        {k: v for k, v in detail.items() if k in ("code", "message", "target")}
        for detail in params["details"]
    ]
    if route.startswith("graph."):
        error["details"] = [
            {"code": d["code"], "message": d.get("message") or d["code"]} for d in details
        ]
    elif not route.startswith("policy."):
        if params["target"] is not None:
            error["target"] = params["target"]
        error["details"] = details
        if not route.startswith("circuits."):
            error["additionalInfo"] = []
    return json_response({"error": error}, int(params["status"]))
