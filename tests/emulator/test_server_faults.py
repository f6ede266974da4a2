"""Fault injection: file format, control route, and every kind over real HTTPS."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from azure.core import PipelineClient
from azure.core.pipeline.policies import RetryPolicy
from azure.core.rest import HttpRequest

from btconsole.emulator.estate import Customer
from btconsole.emulator.faults import (
    KIND_PARAMS,
    FaultError,
    load_faults_file,
    parse_faults_toml,
)
from btconsole.emulator.server import ControlError, RunningEmulator

API = {"api-version": "2022-12-01"}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"


def _sub(emulator: RunningEmulator, customer: Customer) -> str:
    return sorted(emulator.estate.visible_subscription_ids(customer.tenant_id))[0]


def _items(emulator: RunningEmulator, token: str, sub: str, **kwargs: Any) -> requests.Response:
    return requests.get(
        f"{emulator.base_url}/_test/subscriptions/{sub}/items",
        params=API,
        headers={"Authorization": f"Bearer {token}"},
        verify=str(emulator.ca_path),
        timeout=kwargs.pop("timeout", 10),
        **kwargs,
    )


# ------------------------------------------------------------------ file format


def test_the_documented_example_parses() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    examples = [b for b in blocks if "[[faults]]" in b]
    assert examples, "docs/emulator.md has no faults example"
    kinds = set()
    for block in examples:
        faults = parse_faults_toml(block, "docs example")
        kinds.update(f.kind for f in faults.faults)
    assert kinds == set(KIND_PARAMS)  # every kind has a documented example


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[faults]]\nkind = 'sneeze'\n", "'kind' must be one of"),
        ("[[faults]]\nkind = 'latency'\nretry_after = 3\n", "unknown key 'retry_after'"),
        ("[[faults]]\nkind = 'throttle'\ncount = 0\n", "'count' must be an integer >= 1"),
        ("[[faults]]\nkind = 'reset'\nprobability = 2\n", "'probability' must be between"),
        ("[[faults]]\nkind = 'server_error'\nstatus = 404\n", "'status' must be an integer >= 500"),
        ("seed = 1\nfault = []\n", "unknown key 'fault'"),
        ("[[faults]\nkind = 1", "invalid TOML"),
        (
            "[[faults]]\nkind = 'costmanagement_throttle'\nquotas = ['qps']\n",
            "'quotas' must list",
        ),
    ],
)
def test_bad_fault_files_are_explained(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "faults.toml"
    path.write_text(text)
    with pytest.raises(FaultError, match=re.escape(message)) as info:
        load_faults_file(path)
    assert str(path) in str(info.value)


def test_missing_fault_file(tmp_path: Path) -> None:
    with pytest.raises(FaultError, match="cannot read"):
        load_faults_file(tmp_path / "nope.toml")


# ------------------------------------------------------------------ control route


def test_control_route_round_trip(emulator: RunningEmulator) -> None:
    assert emulator.control("GET", "faults") == {"seed": 0, "faults": []}
    emulator.set_faults("seed = 3\n[[faults]]\nkind = 'throttle'\nroute = 'test.*'\ncount = 2\n")
    emulator.add_fault(kind="latency", ms=1)
    state = emulator.control("GET", "faults")
    assert state["seed"] == 3
    assert [f["kind"] for f in state["faults"]] == ["throttle", "latency"]
    assert state["faults"][0]["remaining"] == 2
    with pytest.raises(ControlError) as info:
        emulator.add_fault(kind="throttle", bogus=1)
    assert info.value.status == 400
    assert "bogus" in info.value.body["error"]["message"]
    emulator.clear_faults()
    assert emulator.control("GET", "faults")["faults"] == []
    with pytest.raises(ControlError):
        emulator.set_settings(page_size="big")


# ------------------------------------------------------------------ kinds


def test_throttle_is_retried_by_azure_core_and_counted(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    sub = _sub(emulator, customer)
    emulator.add_fault(kind="throttle", route="test.items", count=2, retry_after=0)
    raw = _items(emulator, arm_token, sub)
    assert raw.status_code == 429
    assert raw.headers["Retry-After"] == "0"
    assert raw.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert raw.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"

    client: PipelineClient[HttpRequest, Any] = PipelineClient(
        emulator.base_url, policies=[RetryPolicy()], connection_verify=str(emulator.ca_path)
    )
    request = HttpRequest(
        "GET",
        f"{emulator.base_url}/_test/subscriptions/{sub}/items?api-version=1",
        headers={"Authorization": f"Bearer {arm_token}"},
    )
    response = client.send_request(request)
    assert response.status_code == 200
    assert emulator.stats()["by_route_status"]["test.items"] == {"200": 1, "429": 2}
    assert emulator.control("GET", "faults")["faults"][0]["remaining"] == 0


def test_costmanagement_throttle_sends_only_its_own_headers(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(
        kind="costmanagement_throttle", route="test.*", quotas=["qpu", "entity"], retry_after=7
    )
    resp = _items(emulator, arm_token, _sub(emulator, customer))
    assert resp.status_code == 429
    assert "Retry-After" not in resp.headers
    assert resp.headers["x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"] == "7"
    assert resp.headers["x-ms-ratelimit-microsoft.costmanagement-entity-retry-after"] == "7"
    assert "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after" not in resp.headers


def test_token_bucket_throttles_after_capacity(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(kind="token_bucket", route="test.items", capacity=3, refill_per_second=0.01)
    sub = _sub(emulator, customer)
    answers = [_items(emulator, arm_token, sub) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["x-ms-ratelimit-remaining-subscription-reads"] for r in answers] == [
        "2",
        "1",
        "0",
        "0",
    ]
    assert int(answers[3].headers["Retry-After"]) >= 1
    # Another subscription has its own bucket.
    others = sorted(emulator.estate.visible_subscription_ids(customer.tenant_id))
    if len(others) > 1:
        assert _items(emulator, arm_token, others[1]).status_code == 200


def test_server_error_burst_then_recovery(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(kind="server_error", status=503, count=2, retry_after=1)
    sub = _sub(emulator, customer)
    codes = [_items(emulator, arm_token, sub) for _ in range(3)]
    assert [r.status_code for r in codes] == [503, 503, 200]
    assert codes[0].json()["error"]["code"] == "ServiceUnavailable"
    assert codes[0].headers["Retry-After"] == "1"


def test_latency_delays_the_answer(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(kind="latency", route="test.items", ms=300, count=1)
    sub = _sub(emulator, customer)
    start = time.monotonic()
    assert _items(emulator, arm_token, sub).status_code == 200
    assert time.monotonic() - start >= 0.3
    assert emulator.stats()["faults"] == {"latency": 1}


def test_timed_hang_answers_late(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(kind="hang", route="test.items", seconds=0.4)
    start = time.monotonic()
    assert _items(emulator, arm_token, _sub(emulator, customer)).status_code == 200
    assert time.monotonic() - start >= 0.4


async def test_open_ended_hang_never_answers(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    import ssl

    emulator.add_fault(kind="hang", route="test.items", count=1)
    sub = _sub(emulator, customer)
    ctx = ssl.create_default_context(cafile=str(emulator.ca_path))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.get(
                f"{emulator.base_url}/_test/subscriptions/{sub}/items",
                params=API,
                headers={"Authorization": f"Bearer {arm_token}"},
                ssl=ctx,
                timeout=aiohttp.ClientTimeout(total=0.5),
            )
        # The server notices the client gave up and drops the request (status 0).
        deadline = time.monotonic() + 5
        while emulator.stats()["by_route_status"].get("test.items", {}).get("0") != 1:
            assert time.monotonic() < deadline, "the hanging request was never dropped"
            await asyncio.sleep(0.05)
        # The fault is spent; the next request is answered.
        resp = await session.get(
            f"{emulator.base_url}/_test/subscriptions/{sub}/items",
            params=API,
            headers={"Authorization": f"Bearer {arm_token}"},
            ssl=ctx,
        )
        assert resp.status == 200


def test_reset_drops_the_connection(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(kind="reset", route="test.items", count=1)
    sub = _sub(emulator, customer)
    with pytest.raises(requests.exceptions.ConnectionError):
        _items(emulator, arm_token, sub)
    assert _items(emulator, arm_token, sub).status_code == 200
    assert emulator.stats()["by_route_status"]["test.items"] == {"0": 1, "200": 1}


def test_malformed_body(emulator: RunningEmulator, customer: Customer, arm_token: str) -> None:
    emulator.add_fault(kind="malformed", route="test.items")
    resp = _items(emulator, arm_token, _sub(emulator, customer))
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()


def test_forbidden_for_chosen_subscriptions(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    subs = sorted(emulator.estate.visible_subscription_ids(customer.tenant_id))
    emulator.add_fault(kind="forbidden", subscriptions=[subs[0].upper()])
    resp = _items(emulator, arm_token, subs[0])
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "AuthorizationFailed"
    assert subs[0] in resp.json()["error"]["message"]
    if len(subs) > 1:
        assert _items(emulator, arm_token, subs[1]).status_code == 200
    # Faults without a route only target ARM routes: Entra is untouched.
    assert emulator.stats()["faults"] == {"forbidden": 1}


def test_expire_tokens_expires_current_tokens_only(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    sub = _sub(emulator, customer)
    emulator.add_fault(kind="expire_tokens", count=1)
    first = _items(emulator, arm_token, sub)
    assert first.status_code == 401
    assert first.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert 'error="invalid_token"' in first.headers["WWW-Authenticate"]
    # The same token stays expired ...
    again = _items(emulator, arm_token, sub)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "ExpiredAuthenticationToken"
    # ... and a fresh one works.
    tenant = emulator.estate.tenant(customer.tenant_id)
    assert tenant is not None
    fresh = requests.post(
        f"{emulator.base_url}/{tenant.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "scope": "https://management.azure.com/.default",
        },
        verify=str(emulator.ca_path),
        timeout=10,
    ).json()["access_token"]
    assert _items(emulator, fresh, sub).status_code == 200


def test_route_glob_on_path_and_entra_targeting(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(kind="server_error", route="/_test/subscriptions/*/items", count=1)
    emulator.add_fault(kind="server_error", route="entra.token", count=1, status=500)
    assert _items(emulator, arm_token, _sub(emulator, customer)).status_code == 500
    tenant = emulator.estate.tenant(customer.tenant_id)
    assert tenant is not None
    resp = requests.post(
        f"{emulator.base_url}/{tenant.tenant_id}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials"},
        verify=str(emulator.ca_path),
        timeout=10,
    )
    assert resp.status_code == 500


def _pattern(emulator: RunningEmulator, token: str, sub: str) -> list[int]:
    emulator.reset()
    emulator.set_faults(
        [{"kind": "server_error", "route": "test.items", "probability": 0.5}], seed=42
    )
    return [_items(emulator, token, sub).status_code for _ in range(12)]


def test_probability_is_seeded_and_deterministic(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    sub = _sub(emulator, customer)
    first = _pattern(emulator, arm_token, sub)
    second = _pattern(emulator, arm_token, sub)
    assert first == second
    assert 500 in first and 200 in first


def test_control_routes_are_not_faulted_or_counted(emulator: RunningEmulator) -> None:
    emulator.add_fault(kind="server_error", route="*")
    assert emulator.stats()["total"] == 0
    assert emulator.control("DELETE", "stats")["total"] == 0
