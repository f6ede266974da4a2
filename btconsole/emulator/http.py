"""The HTTP toolkit route handlers use: request context, router, ARM-shaped responses,
paging and long-running operations.

Everything here runs on the emulator's event loop thread; nothing is thread-safe and
nothing needs to be.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from aiohttp import web

from btconsole.emulator.stats import Stats

if TYPE_CHECKING:
    from btconsole.emulator.entra import Claims, TokenService
    from btconsole.emulator.estate import Estate
    from btconsole.emulator.faults import FaultSet


Handler = Callable[["Ctx"], Awaitable[web.StreamResponse]]


class ArmError(Exception):
    """Raise from a handler to answer with ARM's error shape.

    ``{"error": {"code": code, "message": message}}`` with ``status`` and extra headers.
    """

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return arm_error(self.status, self.code, self.message, self.headers)


# --------------------------------------------------------------------------- settings


@dataclass
class Settings:
    """Knobs that tests and ``/_emulator/settings`` may change while the emulator runs."""

    page_size: int = 100
    """Items per page of a list answer (``$top`` overrides it per request)."""
    token_lifetime: int = 3600
    """Seconds an access token issued from now on stays valid (0: expired at once)."""
    device_code_interval: int = 5
    """``interval`` the device-code endpoint tells clients to poll at (seconds; 0 allowed)."""
    device_code_lifetime: int = 900
    """Seconds a device code stays usable."""
    device_code_auto_approve_after: int | None = None
    """Approve a device code by itself after this many token polls (None: wait for
    ``POST /_emulator/device-code/approve``)."""
    read_bucket_size: int = 250
    """ARM's per-subscription read bucket size (reported, not enforced; see faults)."""
    read_refill_per_second: float = 25.0
    """ARM's per-subscription read bucket refill rate."""
    write_bucket_size: int = 200
    """ARM's per-subscription write bucket size (reported, not enforced)."""
    write_refill_per_second: float = 10.0
    """ARM's per-subscription write bucket refill rate."""
    cost_qpu_per_10s: int = 0
    """Cost Management's query quota, counted per caller tenant: 0 reports the
    documented quotas (12 QPU per 10 s, 60 per minute, 600 per hour) in the response
    headers without enforcing them; N > 0 enforces N per 10 s, 5N per minute and 50N
    per hour (the documented ratio) with 429s."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` after checking every key and value.

        Raises:
            ValueError: an unknown key or a value of the wrong type or range; nothing
                is changed then.
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in fields:
                raise ValueError(f"unknown setting {key!r} (known: {', '.join(sorted(fields))})")
            if key == "device_code_auto_approve_after" and value is None:
                checked[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"setting {key!r} must be a number, not {value!r}")
            if key in ("read_refill_per_second", "write_refill_per_second"):
                if value <= 0:
                    raise ValueError(f"setting {key!r} must be > 0")
                checked[key] = float(value)
                continue
            if not isinstance(value, int):
                raise ValueError(f"setting {key!r} must be an integer, not {value!r}")
            minimum = 1 if key in ("page_size", "read_bucket_size", "write_bucket_size") else 0
            if value < minimum:
                raise ValueError(f"setting {key!r} must be >= {minimum}")
            checked[key] = value
        for key, value in checked.items():
            setattr(self, key, value)


# --------------------------------------------------------------------------- buckets


class TokenBucket:
    """ARM's token-bucket limiter: ``capacity`` tokens, refilled at ``rate`` per second."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = float(capacity)
        self.updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self) -> bool:
        """Spend one token; False (nothing spent) when the bucket is empty."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def take_many(self, count: float, *, enforce: bool = True) -> bool:
        """Spend ``count`` tokens at once (Cost Management's QPU). When ``enforce`` is
        false the spend always happens (the bucket stops at 0): the quota is reported
        only. Returns False (nothing spent) when an enforced bucket lacks the tokens."""
        self._refill()
        if self.tokens >= count:
            self.tokens -= count
            return True
        if enforce:
            return False
        self.tokens = 0.0
        return True

    @property
    def remaining(self) -> int:
        return int(self.tokens)

    def seconds_until_token(self) -> int:
        """Whole seconds (at least 1) until one token is available again."""
        self._refill()
        return max(1, math.ceil((1 - self.tokens) / self.rate))


# --------------------------------------------------------------------------- LROs


@dataclass
class _Lro:
    result: Callable[[], Awaitable[web.Response]] | web.Response
    polls: int
    retry_after: int
    api_version: str
    created: float
    retry_after_ms: int | None = None
    seen: int = 0
    done: tuple[int, bytes, str | None, dict[str, str]] | None = None
    outcome: str = "Succeeded"
    """The operation's terminal status: Succeeded, Failed or Canceled."""


class LroStore:
    """Pending long-running operations by id (kept one hour)."""

    _KEEP_SECONDS = 3600.0

    def __init__(self) -> None:
        self._ops: dict[str, _Lro] = {}

    def add(self, op: _Lro) -> str:
        now = time.monotonic()
        if len(self._ops) > 1000:
            self._ops = {k: v for k, v in self._ops.items() if now - v.created < self._KEEP_SECONDS}
        op_id = uuid.uuid4().hex
        self._ops[op_id] = op
        return op_id

    def get(self, op_id: str) -> _Lro | None:
        return self._ops.get(op_id)

    def __len__(self) -> int:
        return len(self._ops)


# --------------------------------------------------------------------------- state


@dataclass
class EmulatorState:
    """Everything the running emulator knows; one per server."""

    estate: Estate
    settings: Settings
    tokens: TokenService
    faults: FaultSet
    stats: Stats = field(default_factory=Stats)
    lros: LroStore = field(default_factory=LroStore)
    base_url: str = ""
    buckets: dict[tuple[str, str, str], TokenBucket] = field(default_factory=dict)
    all_subscription_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        subs: set[str] = set()
        for tenant in self.estate.tenants:
            subs.update(s.lower() for s in tenant.owned_subscription_ids)
        for customer in self.estate.customers:
            subs.update(s.lower() for s in customer.subscription_ids)
        self.all_subscription_ids = frozenset(subs)

    def rate_bucket(self, tenant_id: str, scope: str, kind: str) -> TokenBucket:
        """The informational ARM bucket for (tenant, subscription or "tenant", reads/writes)."""
        key = (tenant_id, scope, kind)
        bucket = self.buckets.get(key)
        if bucket is None:
            s = self.settings
            if kind == "reads":
                bucket = TokenBucket(s.read_bucket_size, s.read_refill_per_second)
            else:
                bucket = TokenBucket(s.write_bucket_size, s.write_refill_per_second)
            self.buckets[key] = bucket
        return bucket


# --------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class LroShape:
    """How a long-running operation answers (see the ``long_running`` fault).

    ``style``: ``location`` (202 + Location), ``azure-async-operation`` (202 + Location +
    Azure-AsyncOperation) or ``sync`` (the result at once, 200, no polling). ``outcome``:
    ``succeeded``, ``failed`` or ``canceled``; a failed or canceled operation's Location
    answers ARM's error with ``error_status``, its status monitor ``Failed``/``Canceled``
    with the error.
    """

    style: str = "location"
    polls: int = 1
    retry_after: int = 1
    retry_after_ms: int | None = None
    """When set, polls are paced by ``Retry-After-Ms`` instead of ``Retry-After`` (which
    azure-core honours too): long-running tests that do not wait whole seconds."""
    outcome: str = "succeeded"
    error_status: int = 500
    error_code: str = "InternalServerError"
    error_message: str = "The operation failed."


@dataclass(frozen=True)
class BodyEdit:
    """Properties to remove from and set in a JSON answer (see the ``edit`` fault).

    Paths are dotted (``properties.status``); ``*`` matches every element of a list or
    every value of an object. They apply to every item of the answer's ``value`` list
    (Resource Graph: ``data``) when it has one, else to the answer itself.
    """

    remove: tuple[str, ...] = ()
    set: tuple[tuple[str, Any], ...] = ()


def _children(node: Any) -> list[Any]:
    if isinstance(node, list):
        return list(node)
    if isinstance(node, dict):
        return list(node.values())
    return []


def _walk(node: Any, parts: Sequence[str]) -> list[Any]:
    """The containers reached by following ``parts`` from ``node`` (``*`` fans out)."""
    current = [node]
    for part in parts:
        following: list[Any] = []
        for item in current:
            if part == "*":
                following.extend(_children(item))
            elif isinstance(item, dict) and part in item:
                following.append(item[part])
        current = following
    return current


def _edit_one(target: Any, edit: BodyEdit) -> None:
    for path in edit.remove:
        *head, last = path.split(".")
        for parent in _walk(target, head):
            if isinstance(parent, dict):
                parent.pop(last, None)
            elif isinstance(parent, list) and last == "*":
                parent.clear()
    for path, value in edit.set:
        *head, last = path.split(".")
        parents = [target]
        for part in head:
            if part == "*":
                parents = [child for parent in parents for child in _children(parent)]
                continue
            following = []
            for parent in parents:
                if isinstance(parent, dict):
                    child = parent.get(part)
                    if not isinstance(child, (dict, list)):
                        child = parent[part] = {}
                    following.append(child)
            parents = following
        for parent in parents:
            if isinstance(parent, dict):
                parent[last] = value


def edit_body(body: Any, edits: Sequence[BodyEdit]) -> Any:
    """``body`` (decoded JSON) with ``edits`` applied in place; returned for convenience."""
    if not edits:
        return body
    items: list[Any]
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        items = body["value"]
    elif isinstance(body, dict) and isinstance(body.get("data"), list):
        items = body["data"]
    else:
        items = [body]
    for edit in edits:
        for item in items:
            _edit_one(item, edit)
    return body


def edit_response(resp: web.StreamResponse, edits: Sequence[BodyEdit]) -> web.StreamResponse:
    """A JSON response with ``edits`` applied (anything else is returned unchanged)."""
    if not edits or not isinstance(resp, web.Response) or not isinstance(resp.body, bytes):
        return resp
    if not resp.body or "json" not in (resp.content_type or ""):
        return resp
    try:
        body = json.loads(resp.body)
    except ValueError:
        return resp
    edited = web.Response(
        body=_dumps(edit_body(body, edits)).encode(),
        status=resp.status,
        content_type="application/json",
        charset="utf-8",
    )
    for key, value in resp.headers.items():
        if key.lower() not in ("content-length", "content-type"):
            edited.headers[key] = value
    return edited


# --------------------------------------------------------------------------- context


@dataclass
class Ctx:
    """One request as a handler sees it."""

    request: web.Request
    params: dict[str, str]
    query: dict[str, str]
    state: EmulatorState
    tenant_id: str
    visible: frozenset[str]
    base_url: str
    route_name: str = ""
    claims: Claims | None = None
    _query_lower: dict[str, str] | None = None
    # Set by faults (``page``, ``long_running``, ``edit``) before the handler runs.
    page_size: int | None = None
    """Items per list page for this request (a ``page`` fault), over the setting."""
    lro: LroShape | None = None
    """How a long-running operation started by this request answers (a ``long_running``
    fault); None: the handler's own shape."""
    edits: list[BodyEdit] = field(default_factory=list)
    """Edits to apply to this request's JSON answer (``edit`` faults), also to the result
    of a long-running operation it starts."""

    def q(self, name: str, default: str | None = None) -> str | None:
        """Query parameter ``name``, looked up case-insensitively."""
        if self._query_lower is None:
            self._query_lower = {k.lower(): v for k, v in self.query.items()}
        return self._query_lower.get(name.lower(), default)

    async def json(self) -> Any:
        """The request body parsed as JSON (``{}`` when empty).

        Raises:
            ArmError: 400 ``InvalidRequestContent`` when the body is not JSON.
        """
        raw = await self.request.read()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: {exc}.",
            ) from exc


# --------------------------------------------------------------------------- router


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    name: str
    auth: bool
    segments: tuple[str | None, ...]
    """Lower-cased literal segments, or None for a parameter."""
    param_names: tuple[str, ...]
    """Parameter name per segment ("" for literals)."""


class RouteMatch:
    """A path that matched: the route and its parameters."""

    __slots__ = ("params", "route")

    def __init__(self, route: Route, params: dict[str, str]) -> None:
        self.route = route
        self.params = params


class _Node:
    """A trie node: literal children by lower-cased segment, one parameter child."""

    __slots__ = ("literal", "methods", "param")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.methods: dict[str, Route] = {}


class Router:
    """ARM-style router: case-insensitive literal segments, ``{param}`` for one segment.

    Patterns live in a segment trie, so matching costs one dict lookup per segment
    whatever the number of routes. A literal segment beats a parameter at the first
    position where two patterns differ.
    """

    def __init__(self) -> None:
        self._root = _Node()
        self._routes: list[Route] = []
        self.names: set[str] = set()

    def add(
        self, method: str, pattern: str, handler: Handler, *, name: str, auth: bool = True
    ) -> None:
        """Register ``handler`` for ``method`` on ``pattern``.

        Raises:
            ValueError: a malformed pattern, or the same method and pattern twice.
        """
        if not pattern.startswith("/"):
            raise ValueError(f"route pattern must start with '/': {pattern!r}")
        parts = split_path(pattern)
        segments: list[str | None] = []
        names: list[str] = []
        for part in parts:
            if part.startswith("{") and part.endswith("}") and len(part) > 2:
                segments.append(None)
                names.append(part[1:-1])
            elif "{" in part or "}" in part:
                raise ValueError(f"route pattern segment must be a literal or {{name}}: {part!r}")
            else:
                segments.append(part.lower())
                names.append("")
        route = Route(
            method=method.upper(),
            pattern=pattern,
            handler=handler,
            name=name,
            auth=auth,
            segments=tuple(segments),
            param_names=tuple(names),
        )
        node = self._root
        for seg in segments:
            if seg is None:
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                node = node.literal.setdefault(seg, _Node())
        if route.method in node.methods:
            raise ValueError(f"duplicate route {method} {pattern}")
        node.methods[route.method] = route
        self._routes.append(route)
        self.names.add(name)

    def match(self, method: str, parts: Sequence[str]) -> RouteMatch | str | None:
        """The route for ``method`` and the decoded path ``parts``.

        Returns a RouteMatch, the string "method" when the path exists for another
        method only, or None when no pattern matches the path.
        """
        lowered = [p.lower() for p in parts]
        mismatch: list[bool] = []
        route = self._find(self._root, lowered, 0, method, mismatch)
        if route is None:
            return "method" if mismatch else None
        params = {name: part for name, part in zip(route.param_names, parts, strict=True) if name}
        return RouteMatch(route, params)

    def _find(
        self, node: _Node, lowered: list[str], i: int, method: str, mismatch: list[bool]
    ) -> Route | None:
        if i == len(lowered):
            if not node.methods:
                return None
            route = node.methods.get(method)
            if route is None and method == "HEAD":
                route = node.methods.get("GET")
            if route is None:
                mismatch.append(True)
            return route
        child = node.literal.get(lowered[i])
        if child is not None:
            found = self._find(child, lowered, i + 1, method, mismatch)
            if found is not None:
                return found
        if node.param is not None:
            return self._find(node.param, lowered, i + 1, method, mismatch)
        return None

    def routes(self) -> list[Route]:
        return list(self._routes)


def split_path(raw_path: str) -> list[str]:
    """Decoded non-empty segments of a raw (still percent-encoded) path."""
    path = raw_path.split("?", 1)[0]
    return [unquote(p) for p in path.split("/") if p]


# --------------------------------------------------------------------------- responses

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer (compact UTF-8)."""
    resp = web.Response(
        body=_dumps(body).encode(),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )
    if headers:
        resp.headers.update(headers)
    return resp


def arm_error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """ARM's error shape: ``{"error": {"code": ..., "message": ...}}``."""
    return json_response({"error": {"code": code, "message": message}}, status, headers)


def check_subscription(ctx: Ctx, subscription_id: str) -> web.Response | None:
    """None when the caller's token may see ``subscription_id``; else ARM's refusal.

    404 ``SubscriptionNotFound`` for a subscription the estate does not have, 403
    ``AuthorizationFailed`` for one that exists but is not visible to the token.
    """
    sub = subscription_id.lower()
    if sub in ctx.visible:
        return None
    if sub in ctx.state.all_subscription_ids:
        return authorization_failed(ctx, f"/subscriptions/{subscription_id}")
    return arm_error(
        404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found."
    )


def authorization_failed(ctx: Ctx, scope: str) -> web.Response:
    """ARM's 403 ``AuthorizationFailed`` for ``scope``."""
    oid = ctx.claims.get("oid", "") if ctx.claims else ""
    appid = ctx.claims.get("appid", oid) if ctx.claims else oid
    action = _action_for(ctx.request.method, ctx.request.path)
    return arm_error(
        403,
        "AuthorizationFailed",
        f"The client '{appid}' with object id '{oid}' does not have authorization to "
        f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access "
        "was recently granted, please refresh your credentials.",
    )


def _action_for(method: str, path: str) -> str:
    parts = [p for p in path.split("/") if p]
    try:
        i = max(i for i, p in enumerate(parts) if p.lower() == "providers")
        provider = parts[i + 1]
        types = [parts[j] for j in range(i + 2, len(parts), 2)]
        tail = "/".join([provider, *types])
    except ValueError:
        tail = "Microsoft.Resources/subscriptions"
    verb = {"GET": "read", "DELETE": "delete"}.get(method, "write" if method == "PUT" else "action")
    return f"{tail}/{verb}"


# --------------------------------------------------------------------------- paging


def _encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"btce:{offset}".encode()).decode().rstrip("=")


def _decode_skiptoken(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        offset = int(number)
        if prefix != "btce" or offset < 0:
            raise ValueError(token)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ArmError(400, "InvalidSkipToken", f"The skip token '{token}' is not valid.") from exc
    return offset


def _top(ctx: Ctx) -> int | None:
    raw = ctx.q("$top")
    if raw is None:
        return None
    try:
        top = int(raw)
    except ValueError:
        top = 0
    if top < 1:
        raise ArmError(
            400,
            "InvalidQueryParameterValue",
            f"The value '{raw}' of query parameter '$top' is not valid. It must be a "
            "positive integer.",
        )
    return top


def page(
    ctx: Ctx,
    items: Sequence[Any],
    *,
    link_key: str = "nextLink",
    value_key: str = "value",
    extra: Mapping[str, Any] | None = None,
) -> web.Response:
    """One page of ``items`` and a next link while more remain.

    The page size is ``$top`` when given, else ``settings.page_size``. The next link
    repeats the request's query (api-version, $filter, $top ...) with an opaque
    ``$skiptoken``; ``link_key`` is "nextLink" for ARM, "@odata.nextLink" for Policy
    Insights. The link is left out on the last page.

    Raises:
        ArmError: 400 for a bad ``$top`` or ``$skiptoken``.
    """
    size = _top(ctx) or ctx.page_size or ctx.state.settings.page_size
    token = ctx.q("$skiptoken")
    offset = _decode_skiptoken(token) if token else 0
    end = offset + size
    body: dict[str, Any] = dict(extra or {})
    body[value_key] = list(items[offset:end])
    if end < len(items):
        pairs = [(k, v) for k, v in ctx.query.items() if k.lower() != "$skiptoken"]
        pairs.append(("$skiptoken", _encode_skiptoken(end)))
        query = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in pairs)
        body[link_key] = f"{ctx.base_url}{ctx.request.raw_path.split('?', 1)[0]}?{query}"
    return json_response(body)


# --------------------------------------------------------------------------- LROs


def start_lro(
    ctx: Ctx,
    result: Callable[[], Awaitable[web.Response]] | web.Response,
    *,
    polls: int = 1,
    retry_after: int = 1,
    style: str = "location",
) -> web.Response:
    """Answer 202 for a long-running operation whose outcome is ``result``.

    ``Location: {base}/lro/{id}?api-version=...`` and ``Retry-After`` (at least 1 s).
    Polls 1 .. ``polls``-1 of the Location answer 202 again; poll number ``polls`` and
    every later one answer the result (``polls=1``: the first poll gets it). A callable
    result is awaited once, when the operation completes.

    With ``style="azure-async-operation"`` the 202 also carries
    ``Azure-AsyncOperation: {base}/lro/{id}/status?...``; that monitor answers
    ``{"status": "InProgress"}`` then ``{"status": "Succeeded"}`` (counting polls the
    same way), and the Location still gives the result.

    Raises:
        ValueError: ``polls`` < 1 or an unknown style.
    """
    if polls < 1:
        raise ValueError("polls must be >= 1")
    if style not in ("location", "azure-async-operation"):
        raise ValueError(f"unknown LRO style {style!r}")
    outcome = "Succeeded"
    retry_after = max(1, retry_after)
    retry_after_ms: int | None = None
    shape = ctx.lro
    if shape is not None:  # a long_running fault decides the shape
        polls, retry_after, retry_after_ms = shape.polls, shape.retry_after, shape.retry_after_ms
        style = "location" if shape.style == "sync" else shape.style
        if shape.outcome != "succeeded":
            outcome = shape.outcome.capitalize()
            result = arm_error(shape.error_status, shape.error_code, shape.error_message)
    if ctx.edits:
        result = _edited(result, list(ctx.edits))
    api_version = ctx.q("api-version") or ""
    op = _Lro(
        result=result,
        polls=polls,
        retry_after=retry_after,
        api_version=api_version,
        created=time.monotonic(),
        outcome=outcome,
        retry_after_ms=retry_after_ms,
    )
    op_id = ctx.state.lros.add(op)
    suffix = f"?api-version={quote(api_version, safe='')}"
    headers = {"Location": f"{ctx.base_url}/lro/{op_id}{suffix}", **_pace(op)}
    if style == "azure-async-operation":
        headers["Azure-AsyncOperation"] = f"{ctx.base_url}/lro/{op_id}/status{suffix}"
    resp = web.Response(status=202, headers=headers)
    return resp


def _pace(op: _Lro) -> dict[str, str]:
    """The header that tells a poller how long to wait before its next poll."""
    if op.retry_after_ms is not None:
        return {"Retry-After-Ms": str(op.retry_after_ms)}
    return {"Retry-After": str(op.retry_after)}


def _edited(
    result: Callable[[], Awaitable[web.Response]] | web.Response, edits: list[BodyEdit]
) -> Callable[[], Awaitable[web.Response]]:
    async def edited() -> web.Response:
        answer = result if isinstance(result, web.Response) else await result()
        out = edit_response(answer, edits)
        assert isinstance(out, web.Response)
        return out

    return edited


async def complete_now(ctx: Ctx, resp: web.StreamResponse) -> web.StreamResponse:
    """For a ``sync`` long_running fault: the 202 ``resp`` replaced by the operation's
    result (200 with its body, as an LRO that finished at once answers)."""
    location = resp.headers.get("Location", "") if isinstance(resp, web.Response) else ""
    if resp.status != 202 or "/lro/" not in location:
        return resp
    op_id = location.split("/lro/", 1)[1].split("?", 1)[0].split("/", 1)[0]
    op = ctx.state.lros.get(op_id)
    if op is None:
        return resp
    status, body, content_type, headers = await _lro_outcome(op)
    done = web.Response(status=status, body=body, headers=headers)
    if content_type:
        done.content_type = content_type
    return done


async def _lro_outcome(op: _Lro) -> tuple[int, bytes, str | None, dict[str, str]]:
    if op.done is None:
        result = op.result if isinstance(op.result, web.Response) else await op.result()
        body = result.body if isinstance(result.body, bytes) else b""
        keep = {
            k: v
            for k, v in result.headers.items()
            if k.lower() not in ("content-length", "content-type", "date", "server")
        }
        op.done = (result.status, body, result.content_type if body else None, keep)
    return op.done


def _lro_lookup(ctx: Ctx) -> _Lro:
    op = ctx.state.lros.get(ctx.params["operationId"])
    if op is None:
        raise ArmError(
            404, "OperationNotFound", f"The operation '{ctx.params['operationId']}' was not found."
        )
    return op


async def lro_poll(ctx: Ctx) -> web.StreamResponse:
    """GET of an LRO's Location."""
    op = _lro_lookup(ctx)
    op.seen += 1
    if op.seen < op.polls:
        return web.Response(
            status=202,
            headers={"Location": f"{ctx.base_url}{ctx.request.path_qs}", **_pace(op)},
        )
    status, body, content_type, headers = await _lro_outcome(op)
    resp = web.Response(status=status, body=body, headers=headers)
    if content_type:
        resp.content_type = content_type
    return resp


async def lro_status(ctx: Ctx) -> web.StreamResponse:
    """GET of an LRO's Azure-AsyncOperation monitor."""
    op = _lro_lookup(ctx)
    op.seen += 1
    if op.seen < op.polls:
        return json_response({"status": "InProgress"}, headers=_pace(op))
    status, body, _ctype, _headers = await _lro_outcome(op)
    if status >= 400 or op.outcome != "Succeeded":
        error: Any = None
        with contextlib.suppress(ValueError):
            decoded = json.loads(body) if body else None
            error = decoded.get("error") if isinstance(decoded, dict) else None
        if not isinstance(error, dict):
            error = {"code": str(status), "message": "The operation failed."}
        terminal = op.outcome if op.outcome != "Succeeded" else "Failed"
        return json_response({"status": terminal, "error": error})
    return json_response({"status": "Succeeded"})


def register_core(router: Router) -> None:
    """Routes every emulator has regardless of the estate: LRO monitors."""
    router.add("GET", "/lro/{operationId}", lro_poll, name="lro.poll")
    router.add("GET", "/lro/{operationId}/status", lro_status, name="lro.status")


def new_request_id() -> str:
    return str(uuid.uuid4())
