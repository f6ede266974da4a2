"""Entra ID refusals the emulator does not serve (expired secret, Conditional Access,
a certificate assertion refused, an unknown code), through the real path: the async
``azure-identity`` credential over HTTPS to a loopback authority that answers the
OpenID discovery and then refuses the token in Entra's error shape."""

from __future__ import annotations

import dataclasses
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from btconsole.azure import subscriptions
from btconsole.azure.errors import AuthError
from btconsole.azure.session import AzureSession
from btconsole.config import Profile
from tests.azure.conftest import Emulated, run
from tests.certs import self_signed_leaf

APP = "e4b06ce6-0741-47a8-bce4-2c8218072e8c"


class _Entra(BaseHTTPRequestHandler):
    """OpenID discovery, then the refusal in ``refusal`` for every token request."""

    refusal: ClassVar[tuple[int, str, int, str]] = (400, "invalid_request", 0, "")

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        tenant = self.path.strip("/").split("/", 1)[0]
        base = f"https://127.0.0.1:{self.server.server_address[1]}/{tenant}"
        self._json(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/v2.0",
            },
        )

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, error, code, description = self.refusal
        trace = uuid.uuid4()
        self._json(
            status,
            {
                "error": error,
                "error_description": (
                    f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: "
                    f"{uuid.uuid4()} Timestamp: 2026-12-04 12:00:00Z"
                ),
                "error_codes": [code],
                "trace_id": str(trace),
            },
        )

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def entra(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed_leaf(tmp_path / "entra")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Entra)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", cert
    finally:
        server.shutdown()
        server.server_close()


def refused(
    emulated: Emulated,
    entra: tuple[str, Path],
    refusal: tuple[int, str, int, str],
    monkeypatch: pytest.MonkeyPatch,
) -> AuthError:
    monkeypatch.setattr(_Entra, "refusal", refusal)
    url, cert = entra
    base = emulated.profile()
    profile: Profile = dataclasses.replace(
        base, cloud=dataclasses.replace(base.cloud, authority_host=url, ca_bundle=str(cert))
    )

    async def body() -> Any:
        async with AzureSession(profile, emulated.config, environ=emulated.environ) as session:
            return await subscriptions.list_subscriptions(session)

    with pytest.raises(AuthError) as info:
        run(body)
    error = info.value
    assert error.reason == "sign-in"
    assert "\n" not in error.message and " object at 0x" not in error.message
    assert "Trace ID" not in error.message and "Correlation" not in error.message
    for secret in emulated.environ.values():
        assert secret not in error.message
    return error


def test_expired_secret(
    fresh: Emulated, entra: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    description = (
        f"The provided client secret keys for app '{APP}' are expired. Visit the Azure "
        "portal to create new keys for your app."
    )
    error = refused(fresh, entra, (401, "invalid_client", 7000222, description), monkeypatch)
    profile = fresh.profile()
    assert error.message.startswith("cannot sign in: the client secret has expired (AADSTS7000222)")
    assert f"set {profile.client_secret_env} or run btconsole secrets set {profile.name}" in (
        error.message
    )


def test_conditional_access(
    fresh: Emulated, entra: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    description = (
        "Access has been blocked by Conditional Access policies. The access policy does not "
        "allow token issuance."
    )
    error = refused(fresh, entra, (400, "invalid_grant", 53003, description), monkeypatch)
    assert error.message == (
        "cannot sign in: a tenant policy blocked the sign-in (AADSTS53003: Access has been "
        "blocked by Conditional Access policies); ask the tenant's administrator "
        "(Conditional Access or MFA)"
    )


def test_disabled_application(
    fresh: Emulated, entra: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    description = f"Application '{APP}'(btconsole reader) is disabled."
    error = refused(fresh, entra, (400, "unauthorized_client", 7000112, description), monkeypatch)
    assert " is disabled in tenant " in error.message and "(AADSTS7000112)" in error.message


def test_an_unknown_code_keeps_entras_first_sentence(
    fresh: Emulated, entra: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    description = "Something new went wrong. More words that are not needed."
    error = refused(fresh, entra, (400, "invalid_request", 9999999, description), monkeypatch)
    assert error.message == (
        "cannot sign in: sign-in refused (AADSTS9999999: Something new went wrong); check "
        f"tenant_id, client_id and the credential of profile {fresh.profile().name}"
    )
