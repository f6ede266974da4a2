"""The router, ARM response helpers, paging, LROs and per-response headers."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from aiohttp import web
from azure.core import PipelineClient
from azure.core.pipeline.policies import RetryPolicy
from azure.core.polling import LROPoller
from azure.core.rest import HttpRequest
from azure.mgmt.core.polling.arm_polling import ARMPolling

from btconsole.emulator.estate import Customer
from btconsole.emulator.http import Ctx, Router, Settings, json_response, split_path
from btconsole.emulator.server import RunningEmulator

API = {"api-version": "2022-12-01"}


async def _handler(ctx: Ctx) -> web.StreamResponse:
    return json_response({})


def _router() -> Router:
    router = Router()
    router.add("GET", "/subscriptions/{subscriptionId}", _handler, name="sub")
    router.add(
        "GET",
        "/subscriptions/{subscriptionId}/providers/Microsoft.HybridCompute/machines",
        _handler,
        name="machines",
    )
    router.add(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{rg}",
        _handler,
        name="rg",
    )
    router.add("GET", "/subscriptions/{subscriptionId}/{anything}/{rg}", _handler, name="generic")
    router.add("POST", "/subscriptions/{subscriptionId}", _handler, name="sub.post")
    return router


def test_router_literals_are_case_insensitive_and_params_keep_case() -> None:
    router = _router()
    m = router.match(
        "GET", split_path("/SUBSCRIPTIONS/AbC/providers/microsoft.hybridcompute/MACHINES")
    )
    assert not isinstance(m, str) and m is not None
    assert m.route.name == "machines"
    assert m.params == {"subscriptionId": "AbC"}


def test_router_prefers_literals_and_reports_method_mismatch() -> None:
    router = _router()
    m = router.match("GET", split_path("/subscriptions/x/resourcegroups/rg1"))
    assert not isinstance(m, str) and m is not None
    assert m.route.name == "rg"
    m = router.match("GET", split_path("/subscriptions/x/other/rg1"))
    assert not isinstance(m, str) and m is not None
    assert m.route.name == "generic"
    assert router.match("DELETE", split_path("/subscriptions/x")) == "method"
    assert router.match("GET", split_path("/nowhere")) is None


def test_router_decodes_segments_and_ignores_empty_ones() -> None:
    assert split_path("//subscriptions/a%20b/x?api-version=1") == ["subscriptions", "a b", "x"]


def test_router_rejects_duplicates_and_bad_patterns() -> None:
    router = _router()
    with pytest.raises(ValueError, match="duplicate"):
        router.add("GET", "/Subscriptions/{id}", _handler, name="again")
    with pytest.raises(ValueError):
        router.add("GET", "/a{b}", _handler, name="bad")
    with pytest.raises(ValueError):
        router.add("GET", "relative", _handler, name="bad")


def test_settings_update_is_checked_and_atomic() -> None:
    settings = Settings()
    settings.update({"page_size": 5, "device_code_auto_approve_after": 2})
    assert settings.page_size == 5
    with pytest.raises(ValueError, match="unknown setting"):
        settings.update({"page_size": 7, "nope": 1})
    assert settings.page_size == 5
    with pytest.raises(ValueError):
        settings.update({"page_size": 0})
    with pytest.raises(ValueError):
        settings.update({"token_lifetime": "1"})


def _get(emulator: RunningEmulator, token: str, url: str, **params: Any) -> requests.Response:
    return requests.get(
        url if url.startswith("https://") else f"{emulator.base_url}{url}",
        params=params or None,
        headers={"Authorization": f"Bearer {token}"},
        verify=str(emulator.ca_path),
        timeout=10,
    )


def _sub(emulator: RunningEmulator, customer: Customer) -> str:
    return sorted(emulator.estate.visible_subscription_ids(customer.tenant_id))[0]


def test_every_response_is_stamped_and_reads_are_counted_down(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    sub = _sub(emulator, customer)
    url = f"/_test/subscriptions/{sub}/items"
    # a bucket that barely refills: the count-down must not depend on how fast the two
    # requests follow each other (at 25/s a loaded machine refilled it in between)
    emulator.set_settings(read_refill_per_second=0.001)
    first = _get(emulator, arm_token, url, **API)
    second = _get(emulator, arm_token, url, **API)
    for resp in (first, second):
        assert resp.status_code == 200
        assert resp.headers["x-ms-request-id"]
        assert resp.headers["x-ms-correlation-request-id"]
    assert first.headers["x-ms-request-id"] != second.headers["x-ms-request-id"]
    remaining = [
        int(r.headers["x-ms-ratelimit-remaining-subscription-reads"]) for r in (first, second)
    ]
    assert remaining == [249, 248]
    tenant_level = _get(emulator, arm_token, "/_test/whoami", **API)
    assert "x-ms-ratelimit-remaining-tenant-reads" in tenant_level.headers
    missing = _get(emulator, arm_token, "/_test/no/such/thing")
    assert missing.headers["x-ms-request-id"]


def test_unknown_routes_and_methods(emulator: RunningEmulator, arm_token: str) -> None:
    resp = _get(emulator, arm_token, "/subscriptions/x/providers/Microsoft.Nope/widgets", **API)
    assert resp.status_code == 404
    error = resp.json()["error"]
    assert error["code"] == "InvalidResourceType"
    assert "widgets" in error["message"] and "Microsoft.Nope" in error["message"]
    resp = _get(emulator, arm_token, "/definitely/not/here")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "NotFound"
    resp = requests.delete(
        f"{emulator.base_url}/_test/whoami",
        params=API,
        headers={"Authorization": f"Bearer {arm_token}"},
        verify=str(emulator.ca_path),
        timeout=10,
    )
    assert resp.status_code == 405
    assert emulator.stats()["by_route"]["unmatched"] == 3


def test_missing_api_version_is_arm_400(emulator: RunningEmulator, arm_token: str) -> None:
    resp = _get(emulator, arm_token, "/_test/whoami")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "MissingApiVersionParameter"
    assert _get(emulator, arm_token, "/_test/whoami", **{"API-Version": "x"}).status_code == 200


@pytest.mark.parametrize("link_key", ["nextLink", "@odata.nextLink"])
def test_paging_follows_next_links_to_the_end(
    emulator: RunningEmulator, customer: Customer, arm_token: str, link_key: str
) -> None:
    emulator.set_settings(page_size=10)
    sub = _sub(emulator, customer)
    url: str | None = (
        f"{emulator.base_url}/_test/subscriptions/{sub}/items?api-version=1&count=25&linkKey={link_key}"
    )
    seen: list[int] = []
    pages = 0
    while url:
        body = _get(emulator, arm_token, url).json()
        seen.extend(item["n"] for item in body["value"])
        url = body.get(link_key)
        pages += 1
        if url:
            assert "%24skiptoken=" in url or "$skiptoken=" in url
            assert "api-version=1" in url
    assert seen == list(range(25))
    assert pages == 3


def test_top_sets_the_page_size_and_bad_tokens_are_400(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    sub = _sub(emulator, customer)
    url = f"/_test/subscriptions/{sub}/items"
    body = _get(emulator, arm_token, url, count="7", **{"$top": "3"}, **API).json()
    assert [i["n"] for i in body["value"]] == [0, 1, 2]
    assert "%24top=3" in body["nextLink"] or "$top=3" in body["nextLink"]
    assert _get(emulator, arm_token, url, **{"$top": "0"}, **API).status_code == 400
    bad = _get(emulator, arm_token, url, **{"$skiptoken": "garbage"}, **API)
    assert bad.status_code == 400


def _lro_client(emulator: RunningEmulator) -> PipelineClient[HttpRequest, Any]:
    return PipelineClient(
        emulator.base_url,
        policies=[RetryPolicy()],
        connection_verify=str(emulator.ca_path),
    )


@pytest.mark.parametrize("style", ["location", "azure-async-operation"])
def test_lro_with_arm_polling(
    emulator: RunningEmulator, customer: Customer, arm_token: str, style: str
) -> None:
    """azure-mgmt-core's ARMPolling drives the emulator's LRO to its result."""
    sub = _sub(emulator, customer)
    client = _lro_client(emulator)
    headers = {"Authorization": f"Bearer {arm_token}"}
    request = HttpRequest(
        "POST",
        f"{emulator.base_url}/_test/subscriptions/{sub}/lro?api-version=1&polls=2&style={style}",
        json={"x": 1},
        headers=headers,
    )
    initial = client._pipeline.run(request)
    assert initial.http_response.status_code == 202
    assert int(initial.http_response.headers["Retry-After"]) >= 1
    assert initial.http_response.headers["Location"].startswith(f"{emulator.base_url}/lro/")

    class _AuthPolling(ARMPolling):
        def request_status(self, status_link: str) -> Any:
            req = HttpRequest("GET", status_link, headers=headers)
            return self._client._pipeline.run(req, stream=False)

    poller: LROPoller[Any] = LROPoller(
        client,
        initial,
        lambda pipeline_response: pipeline_response.http_response.json(),
        _AuthPolling(timeout=0, lro_options={"final-state-via": "location"}),
    )
    assert poller.result(timeout=30) == {"echo": {"x": 1}, "done": True}
    stats = emulator.stats()["by_route"]
    polled = stats.get("lro.poll", 0) + stats.get("lro.status", 0)
    assert polled >= 2


def test_unknown_lro_is_404(emulator: RunningEmulator, arm_token: str) -> None:
    resp = _get(emulator, arm_token, "/lro/0123", **API)
    assert resp.status_code == 404
