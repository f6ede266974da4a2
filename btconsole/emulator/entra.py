"""Emulated Microsoft Entra ID: discovery, token endpoint, device-code flow, and the
bearer-token check every ARM route goes through.

Paths (all on the emulator's own host, so ``authority`` is ``https://127.0.0.1:PORT``):

- ``GET /{tenant}/v2.0/.well-known/openid-configuration``
- ``POST /{tenant}/oauth2/v2.0/token`` (client_credentials, device_code, refresh_token)
- ``POST /{tenant}/oauth2/v2.0/devicecode``
- ``GET /common/discovery/instance`` (MSAL's instance discovery, when not disabled)

Access tokens are HS256 JWTs signed with a key made at start (so they mean nothing to
any other server) carrying ``tid``, ``oid``, ``appid``, ``aud``, ``iat``, ``exp``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from btconsole.emulator.http import Ctx, Router, json_response

if TYPE_CHECKING:
    from btconsole.emulator.estate import Estate, Tenant
    from btconsole.emulator.http import EmulatorState

Claims = dict[str, Any]

ARM_RESOURCES = ("https://management.azure.com", "https://management.core.windows.net")
_NAMESPACE = uuid.UUID("6b1f4a34-6f7e-4f0f-9a55-3d1c8e2b7c10")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DNS = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_GENERIC_TENANTS = ("common", "organizations")
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789"
_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_JWT_HEADER = _b64url(b'{"alg":"HS256","typ":"JWT"}')


def object_id(kind: str, tenant_id: str, name: str) -> str:
    """A stable object id for a service principal or user of a tenant."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{tenant_id.lower()}:{name.lower()}"))


@dataclass
class _DeviceCode:
    device_code: str
    user_code: str
    tenant_id: str
    client_id: str
    scopes: list[str]
    expires_at: float
    polls: int = 0
    approved: bool = False
    redeemed: bool = False


@dataclass
class _RefreshGrant:
    tenant_id: str
    client_id: str
    resource: str


@dataclass
class TokenService:
    """Issues and checks tokens; holds device codes and refresh tokens."""

    estate: Estate
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    seq: int = 0
    revoked_through: dict[str, int] = field(default_factory=dict)
    device_codes: dict[str, _DeviceCode] = field(default_factory=dict)
    refresh_tokens: dict[str, _RefreshGrant] = field(default_factory=dict)
    _valid: dict[str, Claims] = field(default_factory=dict)
    _visible: dict[str, frozenset[str]] = field(default_factory=dict)
    _tenants: dict[str, Tenant] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tenants = {t.tenant_id.lower(): t for t in self.estate.tenants}

    # ---------------------------------------------------------------- lookups

    def tenant(self, tenant_id: str) -> Tenant | None:
        return self._tenants.get(tenant_id.lower())

    def managing_tenant(self) -> Tenant:
        """The MSP's own tenant: the one that is no customer's (else the first)."""
        customer_tenants = {c.tenant_id.lower() for c in self.estate.customers}
        for tenant in self.estate.tenants:
            if tenant.tenant_id.lower() not in customer_tenants:
                return tenant
        return self.estate.tenants[0]

    def forget_visibility(self) -> None:
        """Delegations changed: work out again what each tenant's tokens may see."""
        self._visible.clear()

    def visible(self, tenant_id: str) -> frozenset[str]:
        """Lower-cased subscription ids a token of ``tenant_id`` may see."""
        cached = self._visible.get(tenant_id)
        if cached is None:
            cached = frozenset(s.lower() for s in self.estate.visible_subscription_ids(tenant_id))
            self._visible[tenant_id] = cached
        return cached

    # ---------------------------------------------------------------- JWTs

    def sign(self, claims: Mapping[str, Any]) -> str:
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{_JWT_HEADER}.{payload}"
        sig = hmac.new(self.key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(sig)}"

    def issue_access_token(
        self,
        *,
        tenant_id: str,
        oid: str,
        appid: str,
        audience: str,
        lifetime: int,
        issuer: str,
        user: Mapping[str, Any] | None = None,
    ) -> tuple[str, Claims]:
        """A signed access token valid for ``lifetime`` seconds (may be <= 0 for tests)."""
        now = int(time.time())
        self.seq += 1
        claims: Claims = {
            "aud": audience,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "tid": tenant_id,
            "oid": oid,
            "sub": oid,
            "appid": appid,
            "idtyp": "user" if user else "app",
            "ver": "1.0",
            "uti": f"{self.seq}",
        }
        if user:
            claims.update(user)
        return self.sign(claims), claims

    def check(self, token: str, audiences: frozenset[str]) -> tuple[str, Claims | None, str]:
        """Validate ``token``: ("ok", claims, ""), or (code, claims-or-None, message).

        Codes are ARM's: InvalidAuthenticationToken, ExpiredAuthenticationToken,
        InvalidAuthenticationTokenAudience.
        """
        claims = self._valid.get(token)
        if claims is None:
            parts = token.split(".")
            if len(parts) != 3:
                return "InvalidAuthenticationToken", None, "The access token is invalid."
            signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
            expected = _b64url(hmac.new(self.key, signing_input, hashlib.sha256).digest())
            if not hmac.compare_digest(expected, parts[2]) or parts[0] != _JWT_HEADER:
                return (
                    "InvalidAuthenticationToken",
                    None,
                    "The access token is invalid. Its signature could not be verified.",
                )
            try:
                claims = json.loads(_b64url_decode(parts[1]))
            except ValueError:
                return "InvalidAuthenticationToken", None, "The access token is invalid."
            if not isinstance(claims, dict):
                return "InvalidAuthenticationToken", None, "The access token is invalid."
            if len(self._valid) > 50_000:
                self._valid.clear()
            self._valid[token] = claims
        if claims.get("aud") not in audiences:
            return (
                "InvalidAuthenticationTokenAudience",
                claims,
                f"The access token has been obtained for wrong audience or resource "
                f"'{claims.get('aud')}'. It should exactly match with one of the allowed "
                f"audiences {', '.join(sorted(repr(a) for a in audiences))}.",
            )
        now = time.time()
        exp = int(claims.get("exp", 0))
        revoked = self.revoked_through.get(str(claims.get("tid")), 0)
        if now >= exp or int(claims.get("uti", "0")) <= revoked:
            return "ExpiredAuthenticationToken", claims, expired_message(exp, now)
        return "ok", claims, ""

    def revoke_tenant_tokens(self, tenant_id: str) -> None:
        """Every token of ``tenant_id`` issued so far now counts as expired."""
        self.revoked_through[tenant_id] = self.seq

    # ---------------------------------------------------------------- device codes

    def new_device_code(
        self, tenant_id: str, client_id: str, scopes: list[str], lifetime: int
    ) -> _DeviceCode:
        now = time.time()
        for code, entry in list(self.device_codes.items()):
            if entry.expires_at < now - 3600:
                del self.device_codes[code]
        user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))
        entry = _DeviceCode(
            device_code=secrets.token_urlsafe(48),
            user_code=user_code,
            tenant_id=tenant_id,
            client_id=client_id,
            scopes=scopes,
            expires_at=now + lifetime,
        )
        self.device_codes[entry.device_code] = entry
        return entry

    def approve(self, user_code: str | None) -> int:
        """Approve the pending device code ``user_code`` (every pending one when None)."""
        now = time.time()
        count = 0
        for entry in self.device_codes.values():
            if entry.approved or entry.redeemed or entry.expires_at < now:
                continue
            if user_code is None or entry.user_code == user_code.upper().replace("-", ""):
                entry.approved = True
                count += 1
        return count

    def pending_device_codes(self) -> list[dict[str, Any]]:
        now = time.time()
        return [
            {
                "user_code": e.user_code,
                "tenant_id": e.tenant_id,
                "client_id": e.client_id,
                "polls": e.polls,
                "approved": e.approved,
                "expires_in": int(e.expires_at - now),
            }
            for e in self.device_codes.values()
            if not e.redeemed and e.expires_at >= now
        ]


def expired_message(exp: float, now: float) -> str:
    """ARM's message for an expired token."""

    def fmt(ts: float) -> str:
        return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%m/%d/%Y %H:%M:%S")

    return (
        f"The access token expiry UTC time '{fmt(exp)}' is earlier than current UTC time "
        f"'{fmt(now)}'."
    )


# --------------------------------------------------------------------------- ARM auth


def arm_audiences(base_url: str) -> frozenset[str]:
    """Audiences ARM accepts: the public cloud's two names and the emulator's own URL."""
    return frozenset([*(f"{r}/" for r in ARM_RESOURCES), f"{base_url}/"])


def unauthorized(base_url: str, tenant: str, code: str, message: str) -> web.Response:
    """ARM's 401 with ``WWW-Authenticate`` pointing at the emulated authority."""
    challenge = (
        f'Bearer authorization_uri="{base_url}/{tenant}", error="invalid_token", '
        f'error_description="{message.replace(chr(34), chr(39))}"'
    )
    return json_response(
        {"error": {"code": code, "message": message}},
        401,
        {"WWW-Authenticate": challenge},
    )


def authenticate(
    state: EmulatorState, request: web.Request, audiences: frozenset[str]
) -> Claims | web.Response:
    """The validated claims of the request's bearer token, or ARM's 401."""
    header = request.headers.get("Authorization")
    base = state.base_url
    if not header:
        return unauthorized(
            base,
            "common",
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return unauthorized(
            base,
            "common",
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is not in a valid format.",
        )
    code, claims, message = state.tokens.check(token.strip(), audiences)
    if code == "ok" and claims is not None:
        return claims
    tenant = str(claims.get("tid", "common")) if claims else "common"
    return unauthorized(base, tenant, code, message)


# --------------------------------------------------------------------------- Entra errors


def entra_error(
    status: int,
    error: str,
    code: int,
    description: str,
    *,
    extra: Mapping[str, Any] | None = None,
) -> web.Response:
    """Entra's OAuth error shape, ``AADSTS<code>: <description> Trace ID: ...``."""
    now = dt.datetime.now(dt.timezone.utc)
    trace_id = str(uuid.uuid4())
    correlation_id = str(uuid.uuid4())
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    body: dict[str, Any] = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: "
            f"{correlation_id} Timestamp: {stamp}"
        ),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    if extra:
        body.update(extra)
    return json_response(body, status)


class _EntraFailure(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _fail(status: int, error: str, code: int, description: str) -> _EntraFailure:
    return _EntraFailure(entra_error(status, error, code, description))


def _resolve_tenant(state: EmulatorState, name: str, *, allow_generic: bool) -> Tenant:
    """The tenant a path names (GUID, or common/organizations where allowed)."""
    tokens = state.tokens
    if name.lower() in _GENERIC_TENANTS:
        if allow_generic:
            return tokens.managing_tenant()
        raise _fail(
            400,
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by "
            "any provided credentials.",
        )
    if not _GUID.match(name) and not _DNS.match(name):
        raise _fail(
            400,
            "invalid_request",
            900023,
            f"Specified tenant identifier '{name}' is neither a valid DNS name, nor a valid "
            "external domain.",
        )
    tenant = tokens.tenant(name)
    if tenant is None:
        raise _fail(
            400,
            "invalid_request",
            90002,
            f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID "
            "and are signing into the correct cloud. Check with your subscription "
            "administrator, this may happen if there are no active subscriptions for the "
            "tenant.",
        )
    return tenant


def _resource_for(state: EmulatorState, scope_param: str, *, need_default: bool) -> str:
    """The audience (with trailing slash) for the requested scopes."""
    scopes = [s for s in scope_param.split() if s]
    resource_scopes = [
        s for s in scopes if s.lower() not in ("openid", "profile", "offline_access", "email")
    ]
    if len(resource_scopes) != 1:
        raise _fail(
            400,
            "invalid_scope",
            70011,
            f"The provided request must include a 'scope' input parameter naming one "
            f"resource. The provided value for the input parameter 'scope' is not valid: "
            f"'{scope_param}'.",
        )
    scope = resource_scopes[0]
    resource, _, permission = scope.rpartition("/")
    if need_default and permission != ".default":
        raise _fail(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows "
            "must have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )
    resource = resource.rstrip("/")
    known = {*(r.lower() for r in ARM_RESOURCES), state.base_url.lower()}
    if resource.lower() not in known:
        raise _fail(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not found in the tenant. This can "
            "happen if the application has not been installed by the administrator of the "
            "tenant or consented to by any user in the tenant.",
        )
    return f"{resource}/"


def _issuer(state: EmulatorState, tenant_id: str) -> str:
    return f"{state.base_url}/{tenant_id}/v2.0"


def _token_body(
    state: EmulatorState,
    *,
    tenant: Tenant,
    client_id: str,
    audience: str,
    scope: str,
    user: bool,
    want_refresh: bool,
    want_id_token: bool,
) -> dict[str, Any]:
    lifetime = state.settings.token_lifetime
    issuer = _issuer(state, tenant.tenant_id)
    tid = tenant.tenant_id
    user_claims: dict[str, Any] | None = None
    if user:
        oid = object_id("user", tid, "operator")
        upn = f"operator@{_domain(tenant)}"
        user_claims = {
            "upn": upn,
            "unique_name": upn,
            "name": "Emulated Operator",
            "scp": "user_impersonation",
        }
    else:
        oid = object_id("sp", tid, client_id)
    token, _claims = state.tokens.issue_access_token(
        tenant_id=tid,
        oid=oid,
        appid=client_id,
        audience=audience,
        lifetime=lifetime,
        issuer=issuer,
        user=user_claims,
    )
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }
    if user and want_id_token:
        now = int(time.time())
        assert user_claims is not None
        body["id_token"] = state.tokens.sign(
            {
                "aud": client_id,
                "iss": issuer,
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": user_claims["name"],
                "oid": oid,
                "preferred_username": user_claims["upn"],
                "sub": object_id("sub", tid, client_id),
                "tid": tid,
                "ver": "2.0",
            }
        )
        body["client_info"] = _b64url(
            json.dumps({"uid": oid, "utid": tid}, separators=(",", ":")).encode()
        )
    if user and want_refresh:
        refresh = secrets.token_urlsafe(48)
        state.tokens.refresh_tokens[refresh] = _RefreshGrant(tid, client_id, audience)
        body["refresh_token"] = refresh
    return body


def _domain(tenant: Tenant) -> str:
    slug = re.sub(r"[^a-z0-9]+", "", tenant.display_name.lower()) or "tenant"
    return f"{slug}.onmicrosoft.example"


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise _fail(
            400,
            "invalid_request",
            900144,
            f"The request body must contain the following parameter: '{name}'.",
        )
    return value


def _display_scope(scope_param: str) -> str:
    return " ".join(
        s
        for s in scope_param.split()
        if s.lower() not in ("openid", "profile", "offline_access", "email")
    )


# --------------------------------------------------------------------------- handlers


async def openid_configuration(ctx: Ctx) -> web.StreamResponse:
    state = ctx.state
    name = ctx.params["tenant"]
    try:
        tenant = _resolve_tenant(state, name, allow_generic=True)
    except _EntraFailure as failure:
        return failure.response
    tid = name if name.lower() in _GENERIC_TENANTS else tenant.tenant_id
    base = f"{ctx.base_url}/{tid}"
    return json_response(
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["HS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0"
            if name.lower() not in _GENERIC_TENANTS
            else (f"{ctx.base_url}/{{tenantid}}/v2.0"),
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }
    )


async def instance_discovery(ctx: Ctx) -> web.StreamResponse:
    """MSAL's instance discovery: say our host is its own, known cloud."""
    endpoint = ctx.q("authorization_endpoint") or ""
    match = re.search(r"//[^/]+/([^/?]+)", endpoint)
    tenant = match.group(1) if match else "common"
    host = ctx.base_url.split("//", 1)[1]
    return json_response(
        {
            "tenant_discovery_endpoint": (
                f"{ctx.base_url}/{tenant}/v2.0/.well-known/openid-configuration"
            ),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
    )


async def device_code(ctx: Ctx) -> web.StreamResponse:
    state = ctx.state
    try:
        tenant = _resolve_tenant(state, ctx.params["tenant"], allow_generic=True)
        form = await ctx.request.post()
        fields = {k: str(v) for k, v in form.items()}
        client_id = _required(fields, "client_id")
        scope_param = _required(fields, "scope")
        _resource_for(state, scope_param, need_default=False)
    except _EntraFailure as failure:
        return failure.response
    settings = state.settings
    entry = state.tokens.new_device_code(
        tenant.tenant_id, client_id, scope_param.split(), settings.device_code_lifetime
    )
    uri = f"{ctx.base_url}/_emulator/device-code"
    return json_response(
        {
            "user_code": entry.user_code,
            "device_code": entry.device_code,
            "verification_uri": uri,
            "expires_in": settings.device_code_lifetime,
            "interval": settings.device_code_interval,
            "message": (
                f"To sign in, use a web browser to open the page {uri} and enter the code "
                f"{entry.user_code} to authenticate."
            ),
        }
    )


async def token(ctx: Ctx) -> web.StreamResponse:
    try:
        form = await ctx.request.post()
        fields = {k: str(v) for k, v in form.items()}
        grant = _required(fields, "grant_type")
        if grant == "client_credentials":
            return _client_credentials(ctx, fields)
        if grant == _DEVICE_GRANT:
            return _device_code_grant(ctx, fields)
        if grant == "refresh_token":
            return _refresh_grant(ctx, fields)
        raise _fail(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant}'.",
        )
    except _EntraFailure as failure:
        return failure.response


def _basic_auth_secret(request: web.Request, client_id: str) -> str | None:
    """The secret from ``Authorization: Basic`` (client_secret_basic), if it names the client."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return urllib.parse.unquote(password) if urllib.parse.unquote(user) == client_id else None


def _client_credentials(ctx: Ctx, fields: Mapping[str, str]) -> web.Response:
    state = ctx.state
    tenant = _resolve_tenant(state, ctx.params["tenant"], allow_generic=False)
    client_id = _required(fields, "client_id")
    owner = state.estate.tenant_for_client(client_id)
    if owner is None or owner.tenant_id.lower() != tenant.tenant_id.lower():
        raise _fail(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant.display_name}'. This can happen if the application has not been "
            "installed by the administrator of the tenant or consented to by any user in the "
            "tenant. You may have sent your authentication request to the wrong tenant.",
        )
    secret = fields.get("client_secret")
    if secret is None:
        secret = _basic_auth_secret(ctx.request, client_id)
    if secret is None:
        raise _fail(
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the "
            "'client_credentials' grant type.",
        )
    if not hmac.compare_digest(secret.encode(), owner.client_secret.encode()):
        raise _fail(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is "
            "the client secret value, not the client secret ID, for a secret added to app "
            f"'{client_id}'.",
        )
    scope_param = _required(fields, "scope")
    audience = _resource_for(state, scope_param, need_default=True)
    body = _token_body(
        state,
        tenant=tenant,
        client_id=client_id,
        audience=audience,
        scope=_display_scope(scope_param),
        user=False,
        want_refresh=False,
        want_id_token=False,
    )
    return json_response(body, headers={"Cache-Control": "no-store, no-cache"})


def _device_code_grant(ctx: Ctx, fields: Mapping[str, str]) -> web.Response:
    state = ctx.state
    code = _required(fields, "device_code")
    client_id = _required(fields, "client_id")
    entry = state.tokens.device_codes.get(code)
    if entry is None or entry.redeemed or entry.client_id != client_id:
        raise _fail(
            400,
            "invalid_grant",
            70000,
            "The provided value for the input parameter 'device_code' is not valid.",
        )
    if entry.expires_at < time.time():
        raise _fail(
            400, "expired_token", 70019, "Verification code expired. The device code has expired."
        )
    entry.polls += 1
    auto = state.settings.device_code_auto_approve_after
    if auto is not None and entry.polls > auto:
        entry.approved = True
    if not entry.approved:
        raise _fail(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    tenant = state.tokens.tenant(entry.tenant_id)
    assert tenant is not None
    scope_param = " ".join(entry.scopes)
    audience = _resource_for(state, scope_param, need_default=False)
    entry.redeemed = True
    body = _token_body(
        state,
        tenant=tenant,
        client_id=client_id,
        audience=audience,
        scope=_display_scope(scope_param),
        user=True,
        want_refresh="offline_access" in entry.scopes,
        want_id_token="openid" in entry.scopes,
    )
    return json_response(body, headers={"Cache-Control": "no-store, no-cache"})


def _refresh_grant(ctx: Ctx, fields: Mapping[str, str]) -> web.Response:
    state = ctx.state
    refresh = _required(fields, "refresh_token")
    client_id = _required(fields, "client_id")
    grant = state.tokens.refresh_tokens.get(refresh)
    if grant is None or grant.client_id != client_id:
        raise _fail(
            400,
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid. The refresh token is not valid.",
        )
    tenant = state.tokens.tenant(grant.tenant_id)
    assert tenant is not None
    scope_param = fields.get("scope") or f"{grant.resource}.default"
    audience = _resource_for(state, scope_param, need_default=False)
    scopes = scope_param.split()
    body = _token_body(
        state,
        tenant=tenant,
        client_id=client_id,
        audience=audience,
        scope=_display_scope(scope_param),
        user=True,
        want_refresh=True,
        want_id_token="openid" in scopes,
    )
    return json_response(body, headers={"Cache-Control": "no-store, no-cache"})


def register(router: Router) -> None:
    """Add the Entra ID routes (no bearer token needed, no api-version)."""
    router.add(
        "GET",
        "/{tenant}/v2.0/.well-known/openid-configuration",
        openid_configuration,
        name="entra.openid_configuration",
        auth=False,
    )
    router.add("POST", "/{tenant}/oauth2/v2.0/token", token, name="entra.token", auth=False)
    router.add(
        "POST", "/{tenant}/oauth2/v2.0/devicecode", device_code, name="entra.devicecode", auth=False
    )
    router.add(
        "GET",
        "/common/discovery/instance",
        instance_discovery,
        name="entra.instance_discovery",
        auth=False,
    )


__all__ = [
    "Claims",
    "TokenService",
    "arm_audiences",
    "authenticate",
    "entra_error",
    "register",
]
