"""Azure errors as the project's own types, mapped once, here.

Every SDK exception that leaves a wrapper is turned into an :class:`AzureError`
subclass with a user-facing message and, where the service said so, how long to wait
before trying again (``retry_after``, from ``Retry-After``, Cost Management's
``x-ms-ratelimit-microsoft.costmanagement-*-retry-after`` or Resource Graph's
``x-ms-user-quota-resets-after``).

The SDK is imported lazily inside :func:`map_exception`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from btconsole.errors import EXIT_UNAVAILABLE, BtConsoleError
from btconsole.logs import redact


class AzureError(BtConsoleError):
    """A call to Azure failed. ``retry_after`` is seconds to wait, when known."""

    title = "Azure error"
    reason = "service"
    exit_code = EXIT_UNAVAILABLE
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.request_id = request_id


class AuthError(AzureError):
    """Sign-in failed or the login expired."""

    title = "Sign-in needed"
    reason = "sign-in"


class ForbiddenError(AzureError):
    """The identity lacks a role on the scope."""

    title = "Missing role"
    reason = "access"


class NotFoundError(AzureError):
    """The resource or subscription does not exist (or is not visible)."""

    title = "Not found"
    reason = "not-found"


class ThrottledError(AzureError):
    """Azure asked us to slow down (429)."""

    title = "Throttled"
    reason = "throttled"
    retryable = True


class UnavailableError(AzureError):
    """The service failed (5xx), timed out, or the connection broke."""

    title = "Service unavailable"
    reason = "service"
    retryable = True


class UnreachableError(UnavailableError):
    """No connection to the endpoint: DNS, connection refused or reset, no route, timeout.

    ``endpoint`` is ``https://host[:port]`` when known.
    """

    title = "Cannot reach Azure"
    reason = "unreachable"

    def __init__(self, message: str, *, endpoint: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.endpoint = endpoint


class TlsError(AzureError):
    """The endpoint's certificate is not trusted (or TLS failed): a CA bundle problem."""

    title = "Certificate not trusted"
    reason = "tls"

    def __init__(self, message: str, *, endpoint: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.endpoint = endpoint


class BadResponseError(AzureError):
    """The service answered with something that is not what its API promises."""

    title = "Bad response"
    reason = "bad-response"
    retryable = True


class RequestError(AzureError):
    """The service refused the request as malformed (400) — a bug or an unsupported query."""

    title = "Request refused"
    reason = "request"


_COST_RETRY = re.compile(r"^x-ms-ratelimit-microsoft\.costmanagement-.*retry-after$", re.I)


def retry_after_from_headers(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait before retrying, from whichever header the service used."""
    if not headers:
        return None
    waits: list[float] = []
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in ("retry-after", "retry-after-ms", "x-ms-retry-after-ms") or _COST_RETRY.match(
            lowered
        ):
            seconds = _seconds(value)
            if seconds is not None:
                waits.append(seconds / 1000 if lowered.endswith("-ms") else seconds)
        elif lowered == "x-ms-user-quota-resets-after":
            seconds = _hms(value)
            if seconds is not None and _quota_exhausted(headers):
                waits.append(seconds)
    return max(waits) if waits else None


def _quota_exhausted(headers: Mapping[str, str]) -> bool:
    for name, value in headers.items():
        if name.lower() == "x-ms-user-quota-remaining":
            try:
                return int(value) <= 0
            except ValueError:
                return False
    return False


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value.strip())
    except ValueError:
        return _http_date_delay(value)
    return max(0.0, seconds)


def _http_date_delay(value: str) -> float | None:
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _hms(value: str) -> float | None:
    match = re.match(r"^\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)\s*$", value)
    if not match:
        return _seconds(value)
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _error_body(response: Any) -> tuple[str | None, str | None]:
    """(code, message) from an ARM / Entra / Resource Graph error body."""
    try:
        text = response.text() if callable(getattr(response, "text", None)) else None
    except Exception:
        text = None
    if not text:
        return None, None
    try:
        body = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error = body.get("error", body)
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        return (str(code) if code else None), (str(message) if message else None)
    if isinstance(error, str):  # Entra: {"error": "invalid_client", "error_description": ...}
        return error, body.get("error_description")
    return None, None


@dataclass(frozen=True)
class SignIn:
    """What a sign-in was for, so that its errors can name the fix (all optional)."""

    profile: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    authority: str | None = None
    scope: str | None = None
    auth: str | None = None
    secret_env: str | None = None
    ca_bundle: str | None = None

    def secret_fix(self) -> str:
        """Where the right secret goes, as a command the user can run."""
        target = self.profile or "PROFILE"
        if self.secret_env:
            return f"set {self.secret_env} or run btconsole secrets set {target}"
        return f"run btconsole secrets set {target}"

    def again(self) -> str:
        """How to sign in again."""
        if self.auth == "cli":
            return f"run az login --tenant {self.tenant_id or 'TENANT'}"
        return f"sign in again: btconsole --profile {self.profile or 'PROFILE'}"


def map_exception(exc: BaseException, *, what: str, sign_in: SignIn | None = None) -> AzureError:
    """The project's error for ``exc``, raised while doing ``what`` (for the message).

    ``sign_in`` (given for token requests) lets sign-in errors name the profile's own
    fix (its secret's variable, its tenant). Connection failures become
    :class:`UnreachableError` / :class:`TlsError` naming the endpoint, never a repr.
    """
    if isinstance(exc, AzureError):
        return exc
    from azure.core import exceptions as core

    network = connection_failure(exc, what=what, sign_in=sign_in)
    if network is not None:
        return network
    if isinstance(exc, core.ClientAuthenticationError):
        entra = _entra_failure(exc, what=what, sign_in=sign_in)
        if entra is not None:
            return entra
    if isinstance(exc, core.ClientAuthenticationError) and exc.response is None:
        said = "" if sign_in is not None else "sign-in failed: "  # "cannot sign in" already
        return AuthError(f"{what}: {said}{_first_line(exc)}")
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) if response is not None else None
    headers: Mapping[str, str] | None = getattr(response, "headers", None)
    request_id = headers.get("x-ms-request-id") if headers else None
    retry_after = retry_after_from_headers(headers)
    code, message = _error_body(response) if response is not None else (None, None)
    detail = _clean(message) if message else _first_line(exc)
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "retry_after": retry_after,
        "request_id": request_id,
    }
    if status == 429:
        wait = f" (retry after {retry_after:g}s)" if retry_after is not None else ""
        return ThrottledError(f"{what}: throttled by Azure{wait}", **kwargs)
    if status == 401 or isinstance(exc, core.ClientAuthenticationError):
        if code in ("ExpiredAuthenticationToken",):
            return AuthError(f"{what}: the login expired ({code}); sign in again", **kwargs)
        return AuthError(f"{what}: not signed in or token rejected: {detail}", **kwargs)
    if status == 403:
        return ForbiddenError(
            f"{what}: access denied ({code or 'Forbidden'}); the identity needs a reader "
            f"role on this scope: {detail}",
            **kwargs,
        )
    if status == 404 or isinstance(exc, core.ResourceNotFoundError):
        return NotFoundError(f"{what}: not found ({code or 'NotFound'}): {detail}", **kwargs)
    if status is not None and status >= 500:
        return UnavailableError(f"{what}: Azure answered {status}: {detail}", **kwargs)
    if status == 400:
        return RequestError(f"{what}: request refused ({code or 'BadRequest'}): {detail}", **kwargs)
    if isinstance(exc, core.DecodeError):
        return BadResponseError(f"{what}: the service sent a malformed response", **kwargs)
    if isinstance(exc, core.ServiceResponseTimeoutError):
        return UnavailableError(
            f"{what}: no answer in time: the connection timed out while reading "
            f"({_first_line(exc)})",
            **kwargs,
        )
    if isinstance(
        exc, (core.ServiceRequestError, core.ServiceResponseError, core.ServiceRequestTimeoutError)
    ):
        return UnavailableError(f"{what}: connection problem: {_first_line(exc)}", **kwargs)
    if isinstance(exc, (TimeoutError, ConnectionError, OSError)):
        return UnavailableError(f"{what}: connection problem: {_first_line(exc)}", **kwargs)
    if isinstance(exc, core.HttpResponseError):
        return AzureError(f"{what}: Azure answered {status}: {detail}", **kwargs)
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return BadResponseError(f"{what}: unexpected response: {_first_line(exc)}", **kwargs)
    return AzureError(f"{what}: {type(exc).__name__}: {_first_line(exc)}", **kwargs)


# --------------------------------------------------------------------------- connections

TLS_FIX = "set the profile's cloud ca_bundle to the PEM of its CA (or of the certificate itself)"
UNREACHABLE_FIX = "check the profile's cloud URLs and the network path"


def exception_chain(exc: BaseException, limit: int = 12) -> list[BaseException]:
    """``exc`` and what it wraps: causes, contexts, and the SDKs' wrapped errors
    (azure-core's ``inner_exception``, urllib3's ``reason``, aiohttp's ``os_error``)."""
    found: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(found) < limit:
        current = todo.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        for name in ("__cause__", "__context__", "inner_exception", "reason", "os_error"):
            linked = None
            with contextlib.suppress(Exception):  # a property that raises
                linked = getattr(current, name, None)
            if isinstance(linked, BaseException):
                todo.append(linked)
    return found


def endpoint_of(chain: list[BaseException]) -> str | None:
    """``https://host[:port]`` of the connection that failed, if the chain says."""
    from urllib.parse import urlsplit

    for item in chain:
        host, port = _host_port(item)
        if host:
            shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
            return f"https://{shown}" + (f":{port}" if port and int(port) != 443 else "")
        request = getattr(item, "request", None)
        url = getattr(request, "url", None)
        if isinstance(url, str) and url:
            parts = urlsplit(url)
            return f"{parts.scheme}://{parts.netloc}"
    return None


def _host_port(item: BaseException) -> tuple[str | None, Any]:
    import warnings

    if type(item).__module__.startswith("aiohttp"):
        host = getattr(item, "host", None)
        if isinstance(host, str):
            return host, getattr(item, "port", None)
    with warnings.catch_warnings():  # urllib3 2 deprecates .pool in favour of .conn
        warnings.simplefilter("ignore")
        for name in ("conn", "pool"):
            holder = getattr(item, name, None)
            host = getattr(holder, "host", None)
            if isinstance(host, str) and host:
                return host, getattr(holder, "port", None)
    return None, None


_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "no route to host",
    errno.EHOSTDOWN: "host is down",
    errno.ETIMEDOUT: "connection timed out",
}


def connection_failure(
    exc: BaseException, *, what: str, sign_in: SignIn | None = None
) -> AzureError | None:
    """A :class:`TlsError` or :class:`UnreachableError` if ``exc`` is a failure to
    connect (anywhere in its chain), else None. The message names the endpoint and
    the fix, and never carries a Python repr."""
    import socket
    import ssl

    chain = exception_chain(exc)
    endpoint = endpoint_of(chain) or (
        sign_in.authority.rstrip("/") if sign_in and sign_in.authority else None
    )
    where = endpoint or "the endpoint"
    unreachable_fix = (
        "check authority_host and the network path"
        if sign_in is not None and sign_in.authority
        else UNREACHABLE_FIX
    )
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            detail = _verify_message(item)
            if "hostname mismatch" in detail.lower() or "ip address mismatch" in detail.lower():
                fix = "use the host name the certificate was issued for in the profile's cloud URLs"
            elif sign_in is not None and sign_in.ca_bundle:
                fix = f"ca_bundle {sign_in.ca_bundle} does not hold its CA (or its own certificate)"
            else:
                fix = TLS_FIX
            return TlsError(
                f"{what}: the certificate of {where} is not trusted ({detail}); {fix}",
                endpoint=endpoint,
            )
    for item in chain:
        if isinstance(item, ssl.SSLError):
            detail = _clean(str(getattr(item, "reason", "") or "") or _first_line(item))
            return TlsError(
                f"{what}: TLS with {where} failed ({detail}); check that the URL is the "
                "endpoint's https:// address and that its TLS setup is sound",
                endpoint=endpoint,
            )
    for item in chain:
        if isinstance(item, socket.gaierror):
            if item.errno in (socket.EAI_AGAIN,):
                detail, retryable = "DNS lookup failed (temporary failure)", True
            else:
                detail, retryable = "host name not found (DNS)", False
            error = UnreachableError(
                f"{what}: cannot reach {where}: {detail}; {unreachable_fix}", endpoint=endpoint
            )
            error.retryable = retryable
            return error
    # A reset or abort after the connection was made is the service's failure, not an
    # unreachable endpoint: only errors of the connect phase count here.
    connecting = _connect_phase(chain)
    for item in chain:
        refused = "connection refused" if isinstance(item, ConnectionRefusedError) else None
        found = (
            _UNREACHABLE_ERRNOS.get(getattr(item, "errno", None) or -1) if connecting else None
        ) or refused
        if found is not None:
            return UnreachableError(
                f"{what}: cannot reach {where}: {found}; {unreachable_fix}", endpoint=endpoint
            )
    if _is_connect_timeout(chain):
        return UnreachableError(
            f"{what}: cannot reach {where}: connection timed out; {unreachable_fix}",
            endpoint=endpoint,
        )
    return None


def _verify_message(error: BaseException) -> str:
    """Why verification failed: ``self-signed certificate``, ``Hostname mismatch, ...``."""
    inner = getattr(error, "certificate_error", None)  # aiohttp's wrapper
    if isinstance(inner, BaseException) and inner is not error:
        return _verify_message(inner)
    message = getattr(error, "verify_message", None)
    if isinstance(message, str) and message:
        return _clean(message)
    text = str(error)
    match = re.search(r"certificate verify failed: ([^(')\]]*)", text)
    return _clean(match.group(1)) if match else "verification failed"


# Exceptions (and their subclasses) raised while connecting: aiohttp's connector,
# urllib3's new connection (requests), and connect time-outs.
_CONNECT_ERRORS = {"ClientConnectorError", "NewConnectionError", "ConnectTimeoutError"}


def _connect_phase(chain: list[BaseException]) -> bool:
    return any(cls.__name__ in _CONNECT_ERRORS for item in chain for cls in type(item).__mro__)


def _is_connect_timeout(chain: list[BaseException]) -> bool:
    from azure.core.exceptions import ServiceRequestTimeoutError

    for item in chain:
        if isinstance(item, ServiceRequestTimeoutError):
            return True
        if type(item).__name__ in (
            "ConnectionTimeoutError",
            "ConnectTimeoutError",
            "ConnectTimeout",
        ):
            return True
    return False


# --------------------------------------------------------------------------- Entra

_AADSTS = re.compile(r"AADSTS(\d+)")
_TENANT_CODES = {90002, 900023, 50059, 90072, 500208}
_SECRET_CODES = {7000215, 7000222, 7000216}
_SCOPE_CODES = {500011, 70011, 1002012, 65001}
_CERT_CODES = {700027, 700024, 700023, 50012}
_EXPIRED_CODES = {70043, 700082, 50173, 700084, 9002313, 70008, 50078, 50132}


def _entra_failure(exc: BaseException, *, what: str, sign_in: SignIn | None) -> AuthError | None:
    """An :class:`AuthError` with the fix for an Entra ID (``AADSTS``) refusal."""
    response = getattr(exc, "response", None)
    error, description = _error_body(response) if response is not None else (None, None)
    text = description or str(exc)
    match = _AADSTS.search(text)
    if match is None:
        return None
    code = int(match.group(1))
    ctx = sign_in or SignIn()
    status = getattr(response, "status_code", None) if response is not None else None
    tag = f"AADSTS{code}"
    summary = _entra_summary(text, match.end())
    profile = f"profile {ctx.profile}" if ctx.profile else "the profile"
    if code in _TENANT_CODES:
        named = re.search(r"[Tt]enant (?:identifier )?'([^']{1,100})'", text)
        tenant = ctx.tenant_id or (named.group(1) if named else "(tenant_id)")
        cloud = f" ({ctx.authority.rstrip('/')})" if ctx.authority else ""
        line = (
            f"tenant {tenant} not found ({tag}); check tenant_id in {profile} and that "
            f"authority_host{cloud} is the tenant's cloud"
        )
    elif code == 7000222:
        line = (
            f"the client secret has expired ({tag}); create a new secret for application "
            f"{ctx.client_id or 'client_id'} and {ctx.secret_fix()}"
        )
    elif code == 7000216:
        line = f"no client secret was sent ({tag}); {ctx.secret_fix()}"
    elif code in _SECRET_CODES:
        line = (
            f"the client secret was refused: invalid secret ({tag}); use the secret's value, "
            f"not its ID: {ctx.secret_fix()}"
        )
    elif code in (700016, 7000112, 700038):
        app = ctx.client_id or "client_id"
        tenant = ctx.tenant_id or "the tenant"
        state = "is disabled" if code == 7000112 else "was not found"
        line = (
            f"application {app} {state} in tenant {tenant} ({tag}); check client_id and "
            f"tenant_id in {profile}, and that the application is consented in that tenant"
        )
    elif code in _SCOPE_CODES:
        scope = ctx.scope or "the token scope"
        line = (
            f"{scope} was refused as a token scope ({tag}); set token_scope in {profile}'s "
            "[cloud] table to the cloud's Resource Manager audience followed by /.default"
        )
    elif code in _CERT_CODES:
        line = (
            f"the client certificate was refused ({tag}: {summary}); check certificate_path "
            f"and that its public key is registered on application {ctx.client_id or 'client_id'}"
        )
    elif code in _EXPIRED_CODES:
        line = f"the login expired or was revoked ({tag}); {ctx.again()}"
    elif code in (53003, 530003, 50076, 50079):
        line = (
            f"a tenant policy blocked the sign-in ({tag}: {summary}); ask the tenant's "
            "administrator (Conditional Access or MFA)"
        )
    else:
        line = (
            f"sign-in refused ({tag}: {summary}); check tenant_id, client_id and the "
            f"credential of {profile}"
        )
    return AuthError(
        f"{what}: {line}", status=status, code=tag if error is None else f"{tag} {error}"
    )


def _entra_summary(text: str, start: int) -> str:
    """The first sentence of an AADSTS description, without trace and correlation IDs."""
    rest = text[start:].lstrip(": ")
    rest = re.split(r"\s+Trace ID:|\s+Correlation ID:|\s+Timestamp:|\n", rest)[0]
    sentence = re.split(r"(?<=\.)\s", rest, maxsplit=1)[0]
    return _clean(sentence)[:200].rstrip(".")


_REPR = re.compile(r"\s*(ssl:)?<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _clean(text: str) -> str:
    """One line without Python object reprs."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return _REPR.sub("", line).strip()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return _clean(text)[:300] or type(exc).__name__
