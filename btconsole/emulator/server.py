"""The emulator's HTTPS server: one aiohttp handler that routes, authenticates, applies
faults, counts and stamps every request; plus the control routes under ``/_emulator/``.

Two ways to run it:

- ``async with EmulatorServer(estate, ...) as server:`` on the caller's event loop
  (``btconsole emulator serve``);
- ``with running_emulator(estate, ...) as emu:`` on a background thread with its own
  event loop (tests, ``btconsole demo``).

It only ever binds loopback; the control routes need no token for that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import logging
import shutil
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from btconsole.emulator import entra
from btconsole.emulator.faults import (
    Decision,
    FaultError,
    FaultSet,
    abort_connection,
    load_faults_file,
    parse_fault,
    parse_faults_toml,
)
from btconsole.emulator.http import (
    ArmError,
    Ctx,
    EmulatorState,
    RouteMatch,
    Router,
    Settings,
    arm_error,
    complete_now,
    edit_response,
    json_response,
    new_request_id,
    register_core,
    split_path,
)
from btconsole.emulator.tls import TlsMaterial, ensure_tls

if TYPE_CHECKING:
    from btconsole.emulator.estate import Estate

log = logging.getLogger(__name__)

T = TypeVar("T")
RouteRegistrar = Callable[[Router], None]
FaultsArg = FaultSet | Mapping[str, Any] | Path | None
SettingsArg = Settings | Mapping[str, Any] | None

CONTROL_PREFIX = "_emulator."
_LOOPBACK_REMOTES = frozenset({"127.0.0.1", "::1"})
_EMPTY: frozenset[str] = frozenset()


class EmulatorStartError(Exception):
    """The server could not start; ``port_unavailable`` tells a busy port from the rest."""

    def __init__(self, message: str, *, port_unavailable: bool = False) -> None:
        super().__init__(message)
        self.port_unavailable = port_unavailable


def _fault_set(faults: FaultsArg) -> FaultSet:
    if faults is None:
        return FaultSet()
    if isinstance(faults, FaultSet):
        return faults
    if isinstance(faults, Path):
        return load_faults_file(faults)
    return FaultSet.from_mapping(faults, "faults")


def _settings(settings: SettingsArg) -> Settings:
    if settings is None:
        return Settings()
    if isinstance(settings, Settings):
        return dataclasses.replace(settings)
    result = Settings()
    result.update(settings)
    return result


def _fault_spec(faults: FaultSet) -> dict[str, Any]:
    """A fault set as data that rebuilds it unfired."""
    spec = faults.to_dict()
    for item in spec["faults"]:
        item.pop("fired", None)
        item.pop("remaining", None)
    return spec


def default_routes() -> RouteRegistrar:
    """The estate's ARM routes (``btconsole.emulator.routes.register``)."""
    from btconsole.emulator.routes import register

    return register


class EmulatorServer:
    """The emulator on the current event loop. Use ``async with`` or start()/stop()."""

    def __init__(
        self,
        estate: Estate,
        *,
        faults: FaultsArg = None,
        settings: SettingsArg = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_dir: Path | None = None,
        routes: RouteRegistrar | None = None,
        extra_routes: RouteRegistrar | None = None,
    ) -> None:
        """Prepare (not start) a server.

        ``routes`` registers the ARM routes (default: the estate's routes package);
        ``extra_routes`` adds more (tests). ``tls_dir`` keeps the CA across runs (None:
        a temporary directory removed at stop).

        Raises:
            ValueError: ``host`` is not a loopback address.
            FaultError: ``faults`` is invalid or its file unreadable.
            ValueError: ``settings`` has an unknown key or bad value.
        """
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ValueError(f"the emulator only listens on loopback, not {host!r}")
        self.host = host
        self.requested_port = port
        self.estate = estate
        fault_set = _fault_set(faults)
        self._startup_faults = _fault_spec(fault_set)
        start_settings = _settings(settings)
        self._startup_settings = dataclasses.replace(start_settings)
        self.state = EmulatorState(
            estate=estate,
            settings=start_settings,
            tokens=entra.TokenService(estate),
            faults=fault_set,
        )
        self.router = Router()
        register_core(self.router)
        entra.register(self.router)
        register_control(self.router, self)
        (routes or default_routes())(self.router)
        if extra_routes is not None:
            extra_routes(self.router)
        # the estate's Lighthouse delegations as served at the start: the control route
        # /_emulator/delegations withdraws (and gives back) a customer's
        self._delegated = {t.tenant_id: list(t.delegated_subscription_ids) for t in estate.tenants}
        self._delegations = list(estate.delegations)
        self.revoked: frozenset[str] = frozenset()
        self._tls_dir = tls_dir
        self._tls: TlsMaterial | None = None
        self._runner: web.AppRunner | None = None
        self._shutdown = asyncio.Event()
        self._audiences: frozenset[str] = frozenset()
        self.port = 0

    # ------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        """The ``authority`` to give azure-identity (its token endpoint host)."""
        return self.base_url

    @property
    def ca_path(self) -> Path:
        if self._tls is None:
            raise RuntimeError("the emulator is not running")
        return self._tls.ca_path

    @property
    def tls(self) -> TlsMaterial:
        if self._tls is None:
            raise RuntimeError("the emulator is not running")
        return self._tls

    async def start(self) -> None:
        """Make certificates, bind and start serving.

        Raises:
            EmulatorStartError: the port is taken or the certificates cannot be made.
        """
        from btconsole.emulator.tls import TlsError

        self._shutdown = asyncio.Event()
        try:
            self._tls = ensure_tls(self._tls_dir)
        except TlsError as exc:
            raise EmulatorStartError(str(exc)) from exc
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            self._remove_temp_tls()
            raise EmulatorStartError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc}",
                port_unavailable=True,
            ) from exc
        self.port = sock.getsockname()[1]
        self.state.base_url = self.base_url
        self._audiences = entra.arm_audiences(self.base_url)
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.SockSite(runner, sock, ssl_context=self._tls.server_context(), backlog=512)
        await site.start()
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving: open-ended hangs end (their connections are reset) and the
        temporary certificate directory, if any, is removed."""
        self._shutdown.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._remove_temp_tls()

    def _remove_temp_tls(self) -> None:
        if self._tls_dir is None and self._tls is not None:
            shutil.rmtree(self._tls.directory, ignore_errors=True)

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def reset(self) -> None:
        """Back to the startup faults, settings and delegations; stats, throttling
        buckets, token expiries and device codes forgotten (issued tokens and pending
        LROs stay valid)."""
        if self.revoked:
            self.revoke_delegations(())
        state = self.state
        state.faults.replace(FaultSet.from_mapping(self._startup_faults, "faults"))
        state.settings = dataclasses.replace(self._startup_settings)
        state.stats.reset()
        state.buckets.clear()
        state.tokens.revoked_through.clear()
        state.tokens.device_codes.clear()

    def revoke_delegations(self, tenants: Iterable[str]) -> None:
        """Serve the estate as if the customer ``tenants`` had removed every Lighthouse
        delegation (the others as at the start): what a customer that leaves, or
        arrives (revoked at the start, then given back), looks like to the provider on
        ``GET /subscriptions``, ``GET /tenants``, ``Microsoft.ManagedServices`` and
        Resource Graph. The estate's lazy indexes of delegations are dropped."""
        estate = self.estate
        revoked = frozenset(t.lower() for t in tenants)
        owner = {s.subscription_id.lower(): s.tenant_id.lower() for s in estate.subscriptions}

        def kept(subscription_id: str) -> bool:
            return owner.get(subscription_id.lower(), "") not in revoked

        for tenant in estate.tenants:
            original = self._delegated.get(tenant.tenant_id, [])
            tenant.delegated_subscription_ids = [s for s in original if kept(s)]
        estate.delegations = [d for d in self._delegations if kept(d.subscription_id)]
        estate.__dict__.pop("_managers", None)  # functools.cached_property
        estate._indexes.pop("delegations", None)
        self.state.tokens.forget_visibility()
        self.revoked = revoked

    # ------------------------------------------------------------ the one handler

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        parts = split_path(request.raw_path)
        matched = self.router.match(request.method, parts)
        resp: web.StreamResponse
        if not isinstance(matched, RouteMatch):
            resp = _no_route(request, parts, matched == "method")
            state.stats.record("unmatched", resp.status)
            return _stamp(request, resp)
        route = matched.route
        if route.name.startswith(CONTROL_PREFIX):
            if request.remote not in _LOOPBACK_REMOTES:
                return _stamp(
                    request, arm_error(403, "Forbidden", "Control routes are loopback only.")
                )
            ctx = Ctx(
                request,
                matched.params,
                dict(request.query),
                state,
                "",
                _EMPTY,
                self.base_url,
                route.name,
            )
            return _stamp(request, await _call(route.handler, ctx))

        rate_header: str | None = None
        sub_scope: str | None = None
        if route.auth:
            claims = entra.authenticate(state, request, self._audiences)
            if isinstance(claims, web.StreamResponse):
                state.stats.record(route.name, claims.status)
                return _stamp(request, claims)
            tenant_id = str(claims.get("tid", ""))
            ctx = Ctx(
                request,
                matched.params,
                dict(request.query),
                state,
                tenant_id,
                state.tokens.visible(tenant_id),
                self.base_url,
                route.name,
                claims,
            )
            if ctx.q("api-version") is None:
                resp = arm_error(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
                state.stats.record(route.name, resp.status)
                return _stamp(request, resp)
            sub_scope = _subscription_param(matched.params)
            kind = "reads" if request.method in ("GET", "HEAD") else "writes"
            scope_name = "subscription" if sub_scope else "tenant"
            rate_header = f"x-ms-ratelimit-remaining-{scope_name}-{kind}"
            bucket = state.rate_bucket(tenant_id, (sub_scope or "").lower(), kind)
            bucket.take()
            remaining = bucket.remaining
        else:
            ctx = Ctx(
                request,
                matched.params,
                dict(request.query),
                state,
                "",
                _EMPTY,
                self.base_url,
                route.name,
            )
            remaining = 0

        decision: Decision | None = None
        if state.faults:
            try:
                decision = await state.faults.decide(ctx, route.auth, self._shutdown)
            except ArmError as exc:
                decision = Decision(response=exc.response())
        if decision is not None:
            if decision.action in ("reset", "hang"):
                state.stats.record(route.name, 0)
                abort_connection(request)
                return web.Response(status=499)
            if decision.remaining_reads is not None:
                remaining = decision.remaining_reads
        if decision is not None and decision.response is not None:
            resp = decision.response
        else:
            if decision is not None:
                ctx.page_size = decision.page_size
                ctx.lro = decision.lro
                ctx.edits = decision.edits
            resp = await _call(route.handler, ctx)
            if decision is not None:
                resp = await _shaped(ctx, resp)
                if decision.action == "malformed":
                    resp = _malformed(resp)
        if rate_header is not None and not resp.prepared:
            resp.headers.setdefault(rate_header, str(remaining))
        state.stats.record(route.name, resp.status)
        return _stamp(request, resp)


async def _call(handler: Callable[[Ctx], Any], ctx: Ctx) -> web.StreamResponse:
    try:
        resp: web.StreamResponse = await handler(ctx)
    except ArmError as exc:
        return exc.response()
    except Exception:
        log.exception("emulator route %s failed", ctx.route_name)
        return arm_error(
            500,
            "InternalServerError",
            f"The emulator's handler for route '{ctx.route_name}' failed; see its log.",
        )
    return resp


async def _shaped(ctx: Ctx, resp: web.StreamResponse) -> web.StreamResponse:
    """The handler's answer as the variant faults shape it: a long-running operation
    completed at once (``sync``), properties removed or set (``edit``)."""
    if ctx.lro is not None and ctx.lro.style == "sync" and resp.status == 202:
        done = await complete_now(ctx, resp)
        if done is not resp:
            return done  # the operation's result, already edited
    if ctx.edits and resp.status != 202:
        return edit_response(resp, ctx.edits)
    return resp


def _stamp(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    if not resp.prepared:
        headers = resp.headers
        headers["x-ms-request-id"] = new_request_id()
        if "x-ms-correlation-request-id" not in headers:  # a handler may have set it
            headers["x-ms-correlation-request-id"] = (
                request.headers.get("x-ms-correlation-request-id") or new_request_id()
            )
        client_id = request.headers.get("x-ms-client-request-id")
        if client_id:
            headers["x-ms-client-request-id"] = client_id
    return resp


def _subscription_param(params: Mapping[str, str]) -> str | None:
    value = params.get("subscriptionId")
    if value is not None:
        return value
    for key, val in params.items():
        if key.lower() == "subscriptionid":
            return val
    return None


def _malformed(resp: web.StreamResponse) -> web.StreamResponse:
    body = resp.body if isinstance(resp, web.Response) and isinstance(resp.body, bytes) else b""
    cut = body[: len(body) // 2] if len(body) > 4 else b'{"value": [{"id": '
    bad = web.Response(status=200, body=cut + b"\x00<truncated", content_type="application/json")
    return bad


def _no_route(request: web.Request, parts: list[str], method_mismatch: bool) -> web.Response:
    if method_mismatch:
        return arm_error(
            405,
            "MethodNotAllowed",
            f"The requested resource does not support http method '{request.method}'.",
        )
    lowered = [p.lower() for p in parts]
    if "providers" in lowered:
        i = len(lowered) - 1 - lowered[::-1].index("providers")
        namespace = parts[i + 1] if i + 1 < len(parts) else ""
        rtype = parts[i + 2] if i + 2 < len(parts) else ""
        api = request.query.get("api-version", "")
        return arm_error(
            404,
            "InvalidResourceType",
            f"The resource type '{rtype}' could not be found in the namespace '{namespace}' "
            f"for api version '{api}'.",
        )
    return arm_error(
        404, "NotFound", f"The requested path '{request.path}' does not exist on this server."
    )


# ---------------------------------------------------------------- control routes


def _control_error(message: str, status: int = 400) -> web.Response:
    return json_response({"error": {"code": "InvalidControlRequest", "message": message}}, status)


def register_control(router: Router, server: EmulatorServer) -> None:
    """The ``/_emulator/...`` routes: faults, settings, stats, device codes, reset, info."""
    state = server.state

    async def get_faults(ctx: Ctx) -> web.StreamResponse:
        return json_response(state.faults.to_dict())

    async def put_faults(ctx: Ctx) -> web.StreamResponse:
        raw = await ctx.request.text()
        try:
            if "toml" in (ctx.request.content_type or ""):
                new = parse_faults_toml(raw, "PUT /_emulator/faults")
            else:
                new = FaultSet.from_mapping(
                    json.loads(raw) if raw.strip() else {}, "PUT /_emulator/faults"
                )
        except (FaultError, ValueError) as exc:
            return _control_error(str(exc))
        state.faults.replace(new)
        return json_response(state.faults.to_dict())

    async def post_fault(ctx: Ctx) -> web.StreamResponse:
        try:
            fault = parse_fault(json.loads(await ctx.request.text()), "POST /_emulator/faults")
        except (FaultError, ValueError) as exc:
            return _control_error(str(exc))
        state.faults.faults.append(fault)
        return json_response(state.faults.to_dict())

    async def delete_faults(ctx: Ctx) -> web.StreamResponse:
        state.faults.clear()
        return json_response(state.faults.to_dict())

    async def get_settings(ctx: Ctx) -> web.StreamResponse:
        return json_response(state.settings.to_dict())

    async def put_settings(ctx: Ctx) -> web.StreamResponse:
        try:
            changes = json.loads(await ctx.request.text() or "{}")
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of settings")
            state.settings.update(changes)
        except ValueError as exc:
            return _control_error(str(exc))
        state.buckets.clear()
        return json_response(state.settings.to_dict())

    async def delete_settings(ctx: Ctx) -> web.StreamResponse:
        state.settings = dataclasses.replace(server._startup_settings)
        state.buckets.clear()
        return json_response(state.settings.to_dict())

    async def get_stats(ctx: Ctx) -> web.StreamResponse:
        return json_response(state.stats.snapshot())

    async def delete_stats(ctx: Ctx) -> web.StreamResponse:
        state.stats.reset()
        return json_response(state.stats.snapshot())

    async def get_device_codes(ctx: Ctx) -> web.StreamResponse:
        return json_response({"pending": state.tokens.pending_device_codes()})

    async def approve_device_code(ctx: Ctx) -> web.StreamResponse:
        try:
            body = json.loads(await ctx.request.text() or "{}")
        except ValueError as exc:
            return _control_error(str(exc))
        code = body.get("user_code") if isinstance(body, dict) else None
        if code is not None and not isinstance(code, str):
            return _control_error("'user_code' must be a string")
        approved = state.tokens.approve(code)
        if approved == 0:
            return _control_error("no pending device code matched", 404)
        return json_response({"approved": approved})

    async def get_delegations(ctx: Ctx) -> web.StreamResponse:
        return json_response({"revoked": sorted(server.revoked)})

    async def put_delegations(ctx: Ctx) -> web.StreamResponse:
        try:
            body = json.loads(await ctx.request.text() or "{}")
        except ValueError as exc:
            return _control_error(str(exc))
        revoked = body.get("revoked") if isinstance(body, dict) else None
        if not isinstance(revoked, list) or not all(isinstance(t, str) for t in revoked):
            return _control_error('expected {"revoked": [tenant id, ...]}')
        known = {t.tenant_id.lower() for t in server.estate.tenants}
        unknown = [t for t in revoked if t.lower() not in known]
        if unknown:
            return _control_error(f"unknown tenant(s): {', '.join(unknown)}", 404)
        server.revoke_delegations(revoked)
        return json_response({"revoked": sorted(server.revoked)})

    async def reset(ctx: Ctx) -> web.StreamResponse:
        server.reset()
        return json_response({"reset": True})

    async def info(ctx: Ctx) -> web.StreamResponse:
        estate = state.estate
        return json_response(
            {
                "base_url": server.base_url,
                "authority": server.authority,
                "ca_path": str(server.ca_path),
                "seed": estate.seed,
                "size": estate.size,
                "customers": [c.slug for c in estate.customers],
                "routes": sorted(router.names),
            }
        )

    control = [
        ("GET", "faults", get_faults, "faults.get"),
        ("PUT", "faults", put_faults, "faults.put"),
        ("POST", "faults", post_fault, "faults.post"),
        ("DELETE", "faults", delete_faults, "faults.delete"),
        ("GET", "settings", get_settings, "settings.get"),
        ("PUT", "settings", put_settings, "settings.put"),
        ("PATCH", "settings", put_settings, "settings.patch"),
        ("DELETE", "settings", delete_settings, "settings.delete"),
        ("GET", "stats", get_stats, "stats.get"),
        ("DELETE", "stats", delete_stats, "stats.delete"),
        ("GET", "device-code", get_device_codes, "device_code.get"),
        ("POST", "device-code/approve", approve_device_code, "device_code.approve"),
        ("GET", "delegations", get_delegations, "delegations.get"),
        ("PUT", "delegations", put_delegations, "delegations.put"),
        ("POST", "reset", reset, "reset"),
        ("GET", "info", info, "info"),
    ]
    for method, path, handler, name in control:
        router.add(method, f"/_emulator/{path}", handler, name=CONTROL_PREFIX + name, auth=False)


# ---------------------------------------------------------------- background thread


class ControlError(Exception):
    """A control route answered with an error status."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class RunningEmulator:
    """Handle on an emulator running on a background thread (see running_emulator)."""

    def __init__(self, server: EmulatorServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self._ssl: ssl.SSLContext = server.tls.client_context()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def authority(self) -> str:
        return self.server.authority

    @property
    def ca_path(self) -> Path:
        return self.server.ca_path

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def state(self) -> EmulatorState:
        """The live state. Touch it only through on_loop() (it belongs to the loop thread)."""
        return self.server.state

    @property
    def estate(self) -> Estate:
        return self.server.estate

    def on_loop(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the emulator's loop thread and return its result."""

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def control(self, method: str, path: str, body: Any = None, *, timeout: float = 10.0) -> Any:
        """Call ``/_emulator/{path}`` and return the parsed JSON answer.

        ``body`` is sent as JSON (a ``str`` is sent as TOML). Raises ControlError for
        an error status.
        """
        data: bytes | None = None
        headers = {"Accept": "application/json"}
        if isinstance(body, str):
            data = body.encode()
            headers["Content-Type"] = "application/toml"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(  # noqa: S310 - https to our own loopback server
            f"{self.base_url}/_emulator/{path.lstrip('/')}",
            data=data,
            method=method.upper(),
            headers=headers,
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ssl) as resp:  # noqa: S310
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                parsed: Any = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            raise ControlError(exc.code, parsed) from None

    # Conveniences over control().

    def set_faults(self, faults: list[Mapping[str, Any]] | str, seed: int = 0) -> Any:
        """Replace the faults (a list of fault tables, or TOML text)."""
        if isinstance(faults, str):
            return self.control("PUT", "faults", faults)
        return self.control("PUT", "faults", {"seed": seed, "faults": list(faults)})

    def add_fault(self, **fault: Any) -> Any:
        return self.control("POST", "faults", fault)

    def clear_faults(self) -> Any:
        return self.control("DELETE", "faults")

    def set_settings(self, **changes: Any) -> Any:
        return self.control("PATCH", "settings", changes)

    def revoke_delegations(self, tenants: Iterable[str]) -> Any:
        """Withdraw every Lighthouse delegation of the customer ``tenants`` (and give
        back those of any other): ``PUT /_emulator/delegations``."""
        return self.control("PUT", "delegations", {"revoked": list(tenants)})

    def stats(self) -> Any:
        return self.control("GET", "stats")

    def route_count(self, route: str) -> int:
        """How many requests route ``route`` answered since the last reset."""
        return int(self.stats()["by_route"].get(route, 0))

    def reset(self) -> Any:
        return self.control("POST", "reset")

    def approve_device_code(self, user_code: str | None = None) -> Any:
        return self.control("POST", "device-code/approve", {"user_code": user_code})


@contextlib.contextmanager
def running_emulator(
    estate: Estate,
    faults: FaultsArg = None,
    settings: SettingsArg = None,
    *,
    port: int = 0,
    tls_dir: Path | None = None,
    routes: RouteRegistrar | None = None,
    extra_routes: RouteRegistrar | None = None,
) -> Iterator[RunningEmulator]:
    """Run an emulator on a background thread with its own event loop.

    Raises:
        EmulatorStartError: it could not start (busy port, certificates).
        FaultError, ValueError: invalid faults or settings.
    """
    server_holder: list[EmulatorServer] = []
    ready = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop_requested: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop_requested
        stop_requested = asyncio.Event()
        try:
            server = EmulatorServer(
                estate,
                faults=faults,
                settings=settings,
                port=port,
                tls_dir=tls_dir,
                routes=routes,
                extra_routes=extra_routes,
            )
            await server.start()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        server_holder.append(server)
        ready.set()
        try:
            await stop_requested.wait()
        finally:
            await server.stop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="btconsole-emulator", daemon=True)
    thread.start()
    ready.wait()
    if failure:
        thread.join()
        raise failure[0]
    handle = RunningEmulator(server_holder[0], loop)
    try:
        yield handle
    finally:
        assert stop_requested is not None
        loop.call_soon_threadsafe(stop_requested.set)
        thread.join(timeout=30)
