"""Azure errors as the project's own types, mapped once, here.

Every SDK exception that leaves a wrapper is turned into an :class:`AzureError`
subclass with a user-facing message and, where the service said so, how long to wait
before trying again (``retry_after``, from ``Retry-After``, Cost Management's
``x-ms-ratelimit-microsoft.costmanagement-*-retry-after`` or Resource Graph's
``x-ms-user-quota-resets-after``).

The SDK is imported lazily inside :func:`map_exception`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
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


def map_exception(exc: BaseException, *, what: str) -> AzureError:
    """The project's error for ``exc``, raised while doing ``what`` (for the message)."""
    if isinstance(exc, AzureError):
        return exc
    from azure.core import exceptions as core

    if isinstance(exc, core.ClientAuthenticationError) and exc.response is None:
        return AuthError(f"{what}: sign-in failed: {_first_line(exc)}")
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) if response is not None else None
    headers: Mapping[str, str] | None = getattr(response, "headers", None)
    request_id = headers.get("x-ms-request-id") if headers else None
    retry_after = retry_after_from_headers(headers)
    code, message = _error_body(response) if response is not None else (None, None)
    detail = message or _first_line(exc)
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
    if isinstance(
        exc, (core.ServiceRequestError, core.ServiceResponseError, core.ServiceRequestTimeoutError)
    ):
        return UnavailableError(f"{what}: cannot reach Azure: {_first_line(exc)}", **kwargs)
    if isinstance(exc, (TimeoutError, ConnectionError, OSError)):
        return UnavailableError(f"{what}: connection problem: {_first_line(exc)}", **kwargs)
    if isinstance(exc, core.HttpResponseError):
        return AzureError(f"{what}: Azure answered {status}: {detail}", **kwargs)
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return BadResponseError(f"{what}: unexpected response: {_first_line(exc)}", **kwargs)
    return AzureError(f"{what}: {type(exc).__name__}: {_first_line(exc)}", **kwargs)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
