"""Emulated Entra ID: unmodified azure-identity credentials, Entra's error shapes,
the device-code flow, and the bearer-token check on ARM routes."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import (
    AuthenticationRecord,
    ClientSecretCredential,
    DeviceCodeCredential,
)
from azure.identity.aio import ClientSecretCredential as AioClientSecretCredential

from btconsole.emulator.estate import Customer
from btconsole.emulator.server import RunningEmulator

ARM_SCOPE = "https://management.azure.com/.default"
PUBLIC_CLIENT = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


def jwt_claims(token: str) -> dict[str, Any]:
    import base64

    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def whoami(emulator: RunningEmulator, token: str, **params: str) -> requests.Response:
    return requests.get(
        f"{emulator.base_url}/_test/whoami",
        params={"api-version": "2022-12-01", **params},
        headers={"Authorization": f"Bearer {token}"},
        verify=str(emulator.ca_path),
        timeout=10,
    )


def token_post(emulator: RunningEmulator, tenant: str, data: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{emulator.base_url}/{tenant}/oauth2/v2.0/token",
        data=data,
        verify=str(emulator.ca_path),
        timeout=10,
    )


def secret_credential(
    emulator: RunningEmulator, tenant_id: str, client_id: str, secret: str
) -> ClientSecretCredential:
    return ClientSecretCredential(
        tenant_id,
        client_id,
        secret,
        authority=emulator.authority,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_path),
    )


def test_sync_client_secret_credential_gets_a_token_arm_accepts(
    emulator: RunningEmulator, customer: Customer, credential: ClientSecretCredential
) -> None:
    before = time.time()
    access = credential.get_token(ARM_SCOPE)
    assert before + 3500 < access.expires_on <= time.time() + 3600
    claims = jwt_claims(access.token)
    tenant = emulator.estate.tenant(customer.tenant_id)
    assert tenant is not None
    assert claims["tid"] == customer.tenant_id
    assert claims["appid"] == tenant.client_id
    assert claims["aud"] == "https://management.azure.com/"
    assert claims["oid"]

    resp = whoami(emulator, access.token)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["tenant_id"] == customer.tenant_id
    assert set(body["visible"]) == {
        s.lower() for s in emulator.estate.visible_subscription_ids(customer.tenant_id)
    }
    assert emulator.route_count("entra.token") == 1


async def test_async_client_secret_credential_gets_a_token(
    emulator: RunningEmulator, customer: Customer, aio_credential: AioClientSecretCredential
) -> None:
    access = await aio_credential.get_token(ARM_SCOPE)
    assert jwt_claims(access.token)["tid"] == customer.tenant_id
    assert emulator.route_count("entra.token") == 1


def test_token_for_the_emulator_base_url_scope(
    emulator: RunningEmulator, credential: ClientSecretCredential
) -> None:
    access = credential.get_token(f"{emulator.base_url}/.default")
    assert jwt_claims(access.token)["aud"] == f"{emulator.base_url}/"
    assert whoami(emulator, access.token).status_code == 200


def test_token_lifetime_setting_is_honoured(
    emulator: RunningEmulator, credential: ClientSecretCredential
) -> None:
    emulator.set_settings(token_lifetime=120)
    access = credential.get_token(ARM_SCOPE)
    assert access.expires_on - time.time() <= 120


def test_wrong_secret_is_entra_401_invalid_client(
    emulator: RunningEmulator, customer: Customer
) -> None:
    tenant = emulator.estate.tenant(customer.tenant_id)
    assert tenant is not None
    cred = secret_credential(emulator, tenant.tenant_id, tenant.client_id, "not-the-secret")
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        cred.get_token(ARM_SCOPE)

    resp = token_post(
        emulator,
        tenant.tenant_id,
        {
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": "nope",
            "scope": ARM_SCOPE,
        },
    )
    assert resp.status_code == 401
    body = resp.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    for key in ("timestamp", "trace_id", "correlation_id"):
        assert body[key]


def test_client_secret_basic_is_accepted(emulator: RunningEmulator, customer: Customer) -> None:
    tenant = emulator.estate.tenant(customer.tenant_id)
    assert tenant is not None
    resp = requests.post(
        f"{emulator.base_url}/{tenant.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "scope": ARM_SCOPE,
        },
        auth=(tenant.client_id, tenant.client_secret),
        verify=str(emulator.ca_path),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert whoami(emulator, resp.json()["access_token"]).status_code == 200


def test_unknown_tenant_and_unknown_client(emulator: RunningEmulator, customer: Customer) -> None:
    tenant = emulator.estate.tenant(customer.tenant_id)
    assert tenant is not None
    unknown = "00000000-0000-0000-0000-000000000001"
    cred = secret_credential(emulator, unknown, tenant.client_id, tenant.client_secret)
    # As with Entra, discovery already fails for an unknown tenant; MSAL says so.
    with pytest.raises(ClientAuthenticationError, match="authority configuration"):
        cred.get_token(ARM_SCOPE)
    resp = token_post(
        emulator,
        unknown,
        {
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "scope": ARM_SCOPE,
        },
    )
    assert resp.status_code == 400
    assert resp.json()["error_codes"] == [90002]

    other = next(t for t in emulator.estate.tenants if t.tenant_id != tenant.tenant_id)
    cred = secret_credential(emulator, tenant.tenant_id, other.client_id, other.client_secret)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        cred.get_token(ARM_SCOPE)


@pytest.mark.parametrize(
    ("scope", "error", "code"),
    [
        ("https://management.azure.com/user_impersonation", "invalid_scope", 1002012),
        ("https://vault.azure.net/.default", "invalid_resource", 500011),
    ],
)
def test_bad_client_credential_scopes(
    emulator: RunningEmulator, customer: Customer, scope: str, error: str, code: int
) -> None:
    tenant = emulator.estate.tenant(customer.tenant_id)
    assert tenant is not None
    resp = token_post(
        emulator,
        tenant.tenant_id,
        {
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "scope": scope,
        },
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == error
    assert resp.json()["error_codes"] == [code]


def test_unsupported_grant(emulator: RunningEmulator, customer: Customer) -> None:
    resp = token_post(emulator, customer.tenant_id, {"grant_type": "password"})
    assert resp.status_code == 400
    assert resp.json()["error"] == "unsupported_grant_type"


def test_openid_configuration_names_the_endpoints(
    emulator: RunningEmulator, customer: Customer
) -> None:
    resp = requests.get(
        f"{emulator.base_url}/{customer.tenant_id}/v2.0/.well-known/openid-configuration",
        verify=str(emulator.ca_path),
        timeout=10,
    )
    config = resp.json()
    base = f"{emulator.base_url}/{customer.tenant_id}"
    assert config["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert config["device_authorization_endpoint"] == f"{base}/oauth2/v2.0/devicecode"
    assert config["issuer"] == f"{base}/v2.0"


def test_instance_discovery_route(emulator: RunningEmulator, customer: Customer) -> None:
    """What MSAL asks when given ``instance_discovery=<emulator URL>`` (azure-identity
    itself would ask login.microsoftonline.com: always pass disable_instance_discovery)."""
    resp = requests.get(
        f"{emulator.base_url}/common/discovery/instance",
        params={
            "api-version": "1.1",
            "authorization_endpoint": (
                f"{emulator.base_url}/{customer.tenant_id}/oauth2/v2.0/authorize"
            ),
        },
        verify=str(emulator.ca_path),
        timeout=10,
    )
    assert resp.json()["tenant_discovery_endpoint"] == (
        f"{emulator.base_url}/{customer.tenant_id}/v2.0/.well-known/openid-configuration"
    )


# ------------------------------------------------------------------ bearer-token check


def test_arm_rejects_missing_bad_and_foreign_tokens(
    emulator: RunningEmulator, arm_token: str
) -> None:
    resp = requests.get(
        f"{emulator.base_url}/_test/whoami?api-version=1",
        verify=str(emulator.ca_path),
        timeout=10,
    )
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "AuthenticationFailed"
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer authorization_uri="{emulator.base_url}/')
    assert 'error="invalid_token"' in challenge

    head, payload, _sig = arm_token.split(".")
    forged = f"{head}.{payload}.{'A' * 43}"
    resp = whoami(emulator, forged)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_expired_token_is_rejected(
    emulator: RunningEmulator, credential: ClientSecretCredential
) -> None:
    emulator.set_settings(token_lifetime=0)
    access = credential.get_token(ARM_SCOPE)
    resp = whoami(emulator, access.token)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert "is earlier than current UTC time" in resp.json()["error"]["message"]
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_token_expired_on_the_server_side(emulator: RunningEmulator, customer: Customer) -> None:
    def mint() -> str:
        token, _claims = emulator.state.tokens.issue_access_token(
            tenant_id=customer.tenant_id,
            oid="11111111-1111-1111-1111-111111111111",
            appid="22222222-2222-2222-2222-222222222222",
            audience="https://management.azure.com/",
            lifetime=-5,
            issuer=f"{emulator.base_url}/{customer.tenant_id}/v2.0",
        )
        return token

    resp = whoami(emulator, emulator.on_loop(mint))
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "ExpiredAuthenticationToken"


def test_token_sees_only_its_tenants_subscriptions(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    visible = emulator.estate.visible_subscription_ids(customer.tenant_id)
    mine = sorted(visible)[0]
    other = next(
        s
        for c in emulator.estate.customers
        if c.tenant_id != customer.tenant_id
        for s in c.subscription_ids
        if s not in visible
    )

    def items(sub: str) -> requests.Response:
        return requests.get(
            f"{emulator.base_url}/_test/subscriptions/{sub}/items",
            params={"api-version": "2022-12-01"},
            headers={"Authorization": f"Bearer {arm_token}"},
            verify=str(emulator.ca_path),
            timeout=10,
        )

    assert items(mine).status_code == 200
    refused = items(other)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "AuthorizationFailed"
    missing = items("00000000-0000-0000-0000-00000000dead")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "SubscriptionNotFound"


# ------------------------------------------------------------------ device code


def _device_credential(
    emulator: RunningEmulator, tenant_id: str, **kwargs: Any
) -> DeviceCodeCredential:
    return DeviceCodeCredential(
        client_id=PUBLIC_CLIENT,
        tenant_id=tenant_id,
        authority=emulator.authority,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_path),
        **kwargs,
    )


def test_device_code_credential_end_to_end(emulator: RunningEmulator, customer: Customer) -> None:
    """Approve through the control route once the client is polling."""
    emulator.set_settings(device_code_interval=0)
    prompts: list[tuple[str, str, datetime]] = []
    approver_errors: list[BaseException] = []

    def approve_when_polled(user_code: str) -> None:
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                pending = emulator.control("GET", "device-code")["pending"]
                if any(p["user_code"] == user_code and p["polls"] >= 2 for p in pending):
                    emulator.approve_device_code(user_code)
                    return
            raise AssertionError("the client never polled")
        except BaseException as exc:  # reported by the test thread
            approver_errors.append(exc)

    threads: list[threading.Thread] = []

    def prompt(uri: str, user_code: str, expires_on: datetime) -> None:
        prompts.append((uri, user_code, expires_on))
        thread = threading.Thread(target=approve_when_polled, args=(user_code,))
        thread.start()
        threads.append(thread)

    cred = _device_credential(emulator, customer.tenant_id, prompt_callback=prompt)
    record = cred.authenticate(scopes=[ARM_SCOPE])
    for thread in threads:
        thread.join()
    assert not approver_errors
    assert isinstance(record, AuthenticationRecord)
    assert record.tenant_id == customer.tenant_id
    assert record.client_id == PUBLIC_CLIENT
    assert record.authority == emulator.authority.split("//", 1)[1]
    assert "@" in record.username
    assert len(prompts) == 1
    assert prompts[0][0].startswith(emulator.base_url)

    stats = emulator.stats()
    assert stats["by_route_status"]["entra.token"]["400"] >= 2  # authorization_pending
    assert stats["by_route_status"]["entra.token"]["200"] == 1

    # The access token works on ARM and is a user token of that tenant.
    access = cred.get_token(ARM_SCOPE)
    claims = jwt_claims(access.token)
    assert claims["tid"] == customer.tenant_id
    assert claims["idtyp"] == "user"
    assert whoami(emulator, access.token).status_code == 200


def test_device_code_auto_approval_after_polls(
    emulator: RunningEmulator, customer: Customer
) -> None:
    emulator.set_settings(device_code_interval=0, device_code_auto_approve_after=3)
    cred = _device_credential(emulator, customer.tenant_id, prompt_callback=lambda *a: None)
    record = cred.authenticate(scopes=[ARM_SCOPE])
    assert record.tenant_id == customer.tenant_id
    assert emulator.stats()["by_route_status"]["entra.token"] == {"200": 1, "400": 3}


def test_refresh_token_grant(emulator: RunningEmulator, customer: Customer) -> None:
    emulator.set_settings(device_code_auto_approve_after=0)
    scope = f"{ARM_SCOPE} openid profile offline_access"
    flow = requests.post(
        f"{emulator.base_url}/{customer.tenant_id}/oauth2/v2.0/devicecode",
        data={"client_id": PUBLIC_CLIENT, "scope": scope},
        verify=str(emulator.ca_path),
        timeout=10,
    ).json()
    assert flow["interval"] == 5 and flow["expires_in"] == 900
    first = token_post(
        emulator,
        customer.tenant_id,
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "client_id": PUBLIC_CLIENT,
            "device_code": flow["device_code"],
        },
    ).json()
    assert {"access_token", "refresh_token", "id_token", "client_info"} <= set(first)

    again = token_post(
        emulator,
        customer.tenant_id,
        {
            "grant_type": "refresh_token",
            "client_id": PUBLIC_CLIENT,
            "refresh_token": first["refresh_token"],
            "scope": scope,
        },
    )
    assert again.status_code == 200, again.text
    assert jwt_claims(again.json()["access_token"])["tid"] == customer.tenant_id

    bad = token_post(
        emulator,
        customer.tenant_id,
        {"grant_type": "refresh_token", "client_id": PUBLIC_CLIENT, "refresh_token": "nope"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_grant"


def test_approving_nothing_is_a_404(emulator: RunningEmulator) -> None:
    from btconsole.emulator.server import ControlError

    with pytest.raises(ControlError) as info:
        emulator.approve_device_code("NOSUCHCODE")
    assert info.value.status == 404
