"""Helpers shared by the domain wrappers: REST dicts, resource IDs, error mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from contextvars import ContextVar
from datetime import date, datetime, timezone
from typing import Any, TypeVar

from btconsole.azure.errors import map_exception

T = TypeVar("T")


def rest_dict(model: Any) -> dict[str, Any]:
    """An SDK model as the REST JSON it came from (camelCase keys).

    Newer SDKs (TypeSpec) have ``as_dict()`` giving REST keys; older (msrest) ones
    have ``serialize(keep_readonly=True)``.
    """
    if model is None:
        return {}
    if isinstance(model, Mapping) and not hasattr(model, "as_dict"):
        return dict(model)
    serialize = getattr(model, "serialize", None)
    if callable(serialize) and not hasattr(model, "_data"):
        result = serialize(keep_readonly=True)
        return dict(result) if isinstance(result, Mapping) else {}
    as_dict = getattr(model, "as_dict", None)
    if callable(as_dict):
        result = as_dict()
        return dict(result) if isinstance(result, Mapping) else {}
    raise TypeError(f"cannot turn {type(model).__name__} into a dict")


_MISSING = object()


def get(data: Mapping[str, Any] | None, *path: str) -> Any:
    """``data[path[0]][path[1]]...``, None where anything is missing.

    Keys are matched exactly first, then case-insensitively (ARM is not consistent).
    """
    current: Any = data
    for key in path:
        # plain dicts (REST JSON) first: isinstance against the Mapping ABC is slow, and
        # this runs for every field of every record
        if type(current) is dict or isinstance(current, Mapping):
            found = current.get(key, _MISSING)
        else:
            return None
        if found is not _MISSING:
            current = found
            continue
        lowered = key.lower()
        for candidate, value in current.items():
            if isinstance(candidate, str) and candidate.lower() == lowered:
                current = value
                break
        else:
            return None
    return current


def text(value: Any) -> str | None:
    """A plain string (enum values by value), or None."""
    if value is None:
        return None
    inner = getattr(value, "value", value)
    return str(inner)


def integer(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def iso(value: Any) -> str | None:
    """A timestamp as ISO 8601 in UTC (``...Z``), from a datetime or a string."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    raw = str(value).strip()
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return raw
    return iso(parsed)


def resource_parts(resource_id: str) -> tuple[str, str]:
    """(subscription id lower-cased, resource group as written) from an ARM ID."""
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    subscription = ""
    group = ""
    if "subscriptions" in lowered:
        index = lowered.index("subscriptions")
        if index + 1 < len(parts):
            subscription = parts[index + 1].lower()
    if "resourcegroups" in lowered:
        index = lowered.index("resourcegroups")
        if index + 1 < len(parts):
            group = parts[index + 1]
    return subscription, group


async def rest_json(
    client: Any,
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    body: Any = None,
) -> Any:
    """One request through ``client``'s own pipeline; its answer as decoded REST JSON.

    ``client`` is an SDK client (its ``_client`` is the ARM pipeline client, with the
    same credential, transport, policies and rate-limit observer as the SDK's own
    operations) or that pipeline client itself. Instead of an SDK model, which costs
    more CPU to build (and for :func:`rest_dict` to undo) than the request itself
    (docs/performance.md), the JSON is returned as decoded by the pipeline's
    ``ContentDecodePolicy`` (once: not again by ``response.json()``). ``url`` is a
    path under the client's base URL or an absolute link (a ``nextLink``).

    Raises:
        azure.core.exceptions.HttpResponseError: a non-2xx answer (the response kept,
            for :func:`btconsole.azure.errors.map_exception`).
        azure.core.exceptions.DecodeError or ValueError: an answer that is not JSON.
        azure.core.exceptions.ServiceRequestError / ServiceResponseError: no answer.
        (Run it inside :func:`call`, which maps all of these to ``AzureError``.)
    """
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest

    pipeline_client = getattr(client, "_client", client)
    # Newer (TypeSpec) clients keep "{endpoint}" as their pipeline's base URL and fill it
    # from their configuration, as their own send_request does; older ones have the URL.
    endpoint = getattr(getattr(client, "_config", None), "base_url", None)
    fill = {"endpoint": endpoint} if endpoint else {}
    request = HttpRequest(
        method, pipeline_client.format_url(url, **fill), params=dict(params or {}), json=body
    )
    answer = await pipeline_client._pipeline.run(request, stream=False)
    response = answer.http_response
    if not 200 <= response.status_code < 300:
        raise HttpResponseError(response=response)
    data = answer.context.get("deserialized_data")
    if isinstance(data, str):  # served without a JSON content type: decode it anyway
        return json.loads(data) if data.strip() else None
    return data


async def rest_items(client: Any, path: str, api_version: str) -> list[Any]:
    """Every item of an ARM list (``value``, following ``nextLink``), as REST JSON.

    Through ``client``'s pipeline with :func:`rest_json`, not the SDK's pager and
    models. A ``nextLink`` is followed as given (it carries its own api-version).

    Raises:
        as :func:`rest_json`.
    """
    url: str | None = path
    params: dict[str, str] | None = {"api-version": api_version}
    items: list[Any] = []
    while url:
        page = await rest_json(client, "GET", url, params=params)
        items.extend(get(page, "value") or [])
        next_link = get(page, "nextLink")
        url, params = (str(next_link), None) if next_link else (None, None)
    return items


async def operation_result(poller: Any, what: str) -> Any:
    """The result of a long-running operation's poller.

    An operation whose status monitor (``Azure-AsyncOperation``) ends ``Failed`` or
    ``Canceled`` comes back from azure-core as an ``HttpResponseError`` carrying that
    monitor's 200 answer; it becomes an ``AzureError`` saying how the operation ended and
    why, rather than "Azure answered 200". Any other error is left for :func:`call`.

    Raises:
        AzureError: the operation failed or was canceled.
        azure.core.exceptions.HttpResponseError: any other failure.
    """
    from azure.core.exceptions import HttpResponseError

    from btconsole.azure.errors import AzureError

    try:
        return await poller.result()
    except HttpResponseError as exc:
        response = exc.response
        status = getattr(response, "status_code", None)
        if response is None or status is None or not 200 <= status < 300:
            raise
        try:
            body = json.loads(response.text() or "{}")
        except ValueError:
            body = {}
        ended = text(get(body, "status")) or "Failed"
        code = text(get(body, "error", "code"))
        message = text(get(body, "error", "message")) or "no reason given"
        raise AzureError(
            f"{what}: the operation ended {ended}: {code + ': ' if code else ''}{message}",
            status=status,
            code=code,
        ) from exc


async def collect(pager: AsyncIterable[T]) -> list[T]:
    """Every item of an async pager."""
    return [item async for item in pager]


# Set by the refresh engine around a fetch: every request then goes through it, so
# retries, throttling gates and concurrency limits apply per request, not per fetch.
RequestRunner = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]
request_runner: ContextVar[RequestRunner | None] = ContextVar("request_runner", default=None)


async def _mapped(what: str, operation: Callable[[], Awaitable[T]]) -> T:
    try:
        return await operation()
    except Exception as exc:
        raise map_exception(exc, what=what) from exc


async def call(what: str, operation: Callable[[], Awaitable[T]]) -> T:
    """Run one request; any exception leaves as an ``AzureError`` saying ``what``.

    Inside a refresh, the engine's :data:`request_runner` runs it (with retries).

    Raises:
        AzureError: mapped from whatever the SDK raised.
    """
    runner = request_runner.get()
    if runner is None:
        return await _mapped(what, operation)
    result: T = await runner(what, lambda: _mapped(what, operation))
    return result
