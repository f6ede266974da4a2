"""Failures above a scope, through the real path: the SDK's async clients and
``azure-identity`` over HTTPS against the emulator (or a closed loopback port).

Each failure leaves as the project's error with its reason class and one line that
says what happened and the fix: no Python repr, no secret.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from btconsole.azure import subscriptions
from btconsole.azure.errors import AuthError, TlsError, UnavailableError, UnreachableError
from btconsole.azure.session import AzureSession
from btconsole.config import Profile
from btconsole.errors import (
    REASONS,
    BtConsoleError,
    ConfigError,
    KeyringUnavailableError,
    SecretError,
)
from tests.azure.conftest import Emulated, run
from tests.certs import self_signed_leaf
from tests.keyrings import MemoryKeyring


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_cloud(profile: Profile, **changes: Any) -> Profile:
    return dataclasses.replace(profile, cloud=dataclasses.replace(profile.cloud, **changes))


def failure(emulated: Emulated, profile: Profile, environ: dict[str, str]) -> BtConsoleError:
    """The error listing ``profile``'s subscriptions raises (it must raise one)."""

    async def body() -> Any:
        async with AzureSession(profile, emulated.config, environ=environ) as session:
            return await subscriptions.list_subscriptions(session)

    with pytest.raises(BtConsoleError) as info:
        run(body)
    return info.value


def assert_one_clean_line(error: BtConsoleError, *secrets: str) -> None:
    assert error.reason in REASONS
    assert "\n" not in error.message
    assert " object at 0x" not in error.message and "<" not in error.message
    assert "Traceback" not in error.message
    for secret in secrets:
        assert secret not in error.message


def test_missing_env_secret_names_the_variable_and_the_command(
    fresh: Emulated, memory_keyring: MemoryKeyring
) -> None:
    profile = fresh.profile()
    variable = profile.client_secret_env
    assert variable is not None
    environ = {k: v for k, v in fresh.environ.items() if k != variable}
    error = failure(fresh, profile, environ)
    assert type(error) is SecretError and error.reason == "credential"
    assert error.message == (
        f"secret not found: set {variable} or run btconsole secrets set {profile.name}"
    )
    assert_one_clean_line(error)
    assert fresh.emulator.route_count("entra.token") == 0  # nothing was sent


def test_missing_env_secret_with_a_refused_plaintext_keyring_blames_the_variable(
    fresh: Emulated, plaintext_keyring: KeyringBackend
) -> None:
    profile = fresh.profile()
    variable = profile.client_secret_env
    environ = {k: v for k, v in fresh.environ.items() if k != variable}
    error = failure(fresh, profile, environ)
    assert not isinstance(error, KeyringUnavailableError)
    assert error.reason == "credential"
    assert error.message.startswith(f"secret not found: set {variable}, or allow")
    assert f"btconsole secrets set {profile.name}" in error.message
    assert_one_clean_line(error)


def test_missing_env_secret_without_any_keyring(
    fresh: Emulated, fail_keyring: KeyringBackend
) -> None:
    profile = fresh.profile()
    variable = profile.client_secret_env
    environ = {k: v for k, v in fresh.environ.items() if k != variable}
    error = failure(fresh, profile, environ)
    assert isinstance(error, SecretError) and error.reason == "credential"
    assert error.message.startswith(f"secret not found: set {variable} (")
    assert_one_clean_line(error)


def test_unreachable_authority_names_the_url_and_the_fix(fresh: Emulated) -> None:
    port = closed_port()
    url = f"https://127.0.0.1:{port}"
    profile = with_cloud(fresh.profile(), authority_host=f"{url}/", resource_manager=f"{url}/")
    error = failure(fresh, profile, fresh.environ)
    assert isinstance(error, UnreachableError) and error.reason == "unreachable"
    assert f"cannot reach {url}: connection refused" in error.message
    assert error.message.startswith("cannot sign in: ")
    assert "authority_host" in error.message  # the fix
    assert "ssl:" not in error.message
    assert error.endpoint == url
    assert_one_clean_line(error, *fresh.environ.values())


def test_unreachable_resource_manager_after_a_good_sign_in(fresh: Emulated) -> None:
    port = closed_port()
    url = f"https://127.0.0.1:{port}"
    profile = with_cloud(fresh.profile(), resource_manager=f"{url}/")
    error = failure(fresh, profile, fresh.environ)
    assert fresh.emulator.route_count("entra.token") == 1  # the token was fine
    assert isinstance(error, UnreachableError) and error.reason == "unreachable"
    assert error.message.startswith(f"listing subscriptions: cannot reach {url}: connection")
    assert "check the profile's cloud URLs" in error.message
    assert_one_clean_line(error)


def test_dns_failure_is_unreachable_and_not_retried(
    fresh: Emulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "login.nowhere.test":  # resolved here, so no query leaves the host
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    profile = with_cloud(fresh.profile(), authority_host="https://login.nowhere.test/")
    error = failure(fresh, profile, fresh.environ)
    assert isinstance(error, UnreachableError) and error.reason == "unreachable"
    assert "cannot reach https://login.nowhere.test: host name not found (DNS)" in error.message
    assert error.retryable is False
    assert_one_clean_line(error)


def test_untrusted_certificate_without_the_ca_bundle_names_ca_bundle(fresh: Emulated) -> None:
    profile = with_cloud(fresh.profile(), ca_bundle=None)
    error = failure(fresh, profile, fresh.environ)
    assert isinstance(error, TlsError) and error.reason == "tls"
    assert f"the certificate of {fresh.emulator.base_url} is not trusted" in error.message
    assert "(self-signed certificate in certificate chain)" in error.message
    assert "ca_bundle" in error.message
    assert_one_clean_line(error)


def test_a_bundle_without_the_right_ca_names_the_bundle(fresh: Emulated, tmp_path: Path) -> None:
    other = self_signed_leaf(tmp_path / "other")[0]
    profile = with_cloud(fresh.profile(), ca_bundle=str(other))
    error = failure(fresh, profile, fresh.environ)
    assert isinstance(error, TlsError) and error.reason == "tls"
    assert f"ca_bundle {other} does not hold its CA" in error.message
    assert_one_clean_line(error)


def test_tenant_not_found(fresh: Emulated) -> None:
    tenant = "00000000-1111-4222-8333-444444444444"
    profile = dataclasses.replace(fresh.profile(), tenant_id=tenant)
    error = failure(fresh, profile, fresh.environ)
    assert isinstance(error, AuthError) and error.reason == "sign-in"
    assert error.message.startswith(f"cannot sign in: tenant {tenant} not found (AADSTS90002)")
    assert f"check tenant_id in profile {profile.name}" in error.message
    assert "Trace ID" not in error.message
    assert_one_clean_line(error, *fresh.environ.values())


def test_bad_secret(fresh: Emulated) -> None:
    profile = fresh.profile()
    variable = profile.client_secret_env
    assert variable is not None
    environ = {**fresh.environ, variable: "not-the-secret"}
    error = failure(fresh, profile, environ)
    assert isinstance(error, AuthError) and error.reason == "sign-in"
    assert "invalid secret (AADSTS7000215)" in error.message
    assert f"set {variable} or run btconsole secrets set {profile.name}" in error.message
    assert_one_clean_line(error, "not-the-secret", *fresh.environ.values())


def test_unknown_client_id(fresh: Emulated) -> None:
    client = "99999999-8888-4777-8666-555555555555"
    profile = dataclasses.replace(fresh.profile(), client_id=client)
    error = failure(fresh, profile, fresh.environ)
    assert isinstance(error, AuthError) and error.reason == "sign-in"
    assert f"application {client} was not found" in error.message
    assert "(AADSTS700016)" in error.message and "check client_id" in error.message
    assert_one_clean_line(error)


# --------------------------------------------------------------------------- self-signed


class _NotHere(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def leaf_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on loopback with a self-signed leaf certificate (404 to all)."""
    cert, key = self_signed_leaf(tmp_path / "leaf")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotHere)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


def test_a_self_signed_leaf_certificate_is_accepted_as_ca_bundle(
    fresh: Emulated, leaf_server: tuple[str, Path]
) -> None:
    url, cert = leaf_server
    profile = with_cloud(fresh.profile(), authority_host=f"{url}/", ca_bundle=str(cert))
    error = failure(fresh, profile, fresh.environ)
    # TLS passed: the server's answer (404, not an Entra document) is what failed
    assert not isinstance(error, (TlsError, UnreachableError)), error.message
    assert_one_clean_line(error)
    # and the same file serves Resource Manager requests (the session's TLS context)
    from btconsole.azure.session import _ssl_context

    async def get() -> int:
        import aiohttp

        connector = aiohttp.TCPConnector(ssl=_ssl_context(str(cert)))
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.get(f"{url}/subscriptions") as response,
        ):
            return response.status

    assert asyncio.run(get()) == 404
    without = with_cloud(fresh.profile(), authority_host=f"{url}/", ca_bundle=None)
    assert isinstance(failure(fresh, without, fresh.environ), TlsError)


def test_a_token_scope_entra_does_not_know(fresh: Emulated) -> None:
    scope = "https://arm.lab.example.net/.default"  # RESOURCE_MANAGER/.default, say
    profile = with_cloud(fresh.profile(), token_scope=scope)
    error = failure(fresh, profile, fresh.environ)
    assert isinstance(error, AuthError) and error.reason == "sign-in"
    assert f"{scope} was refused as a token scope (AADSTS500011)" in error.message
    assert "set token_scope" in error.message
    assert_one_clean_line(error)


def test_device_code_still_signs_in_through_the_error_wrapper(fresh: Emulated) -> None:
    """The wrapper gives ``get_token_info`` to a credential that has only ``get_token``
    (device code, run in a thread)."""
    fresh.emulator.set_settings(device_code_interval=0, device_code_auto_approve_after=0)
    profile = dataclasses.replace(
        fresh.profile(), auth="device-code", client_id=None, client_secret_env=None
    )

    async def body() -> Any:
        async with AzureSession(profile, fresh.config, environ={}) as session:
            return await subscriptions.list_subscriptions(session)

    found = run(body)
    customer = fresh.emulator.estate.customers[0]
    assert {r.subscription_id for r in found} == {s.lower() for s in customer.subscription_ids}


def test_a_ca_bundle_spoiled_after_loading_the_config_is_a_config_error(
    fresh: Emulated, tmp_path: Path
) -> None:
    spoiled = tmp_path / "spoiled.pem"
    spoiled.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n", encoding="utf-8")
    profile = with_cloud(fresh.profile(), ca_bundle=str(spoiled))
    error = failure(fresh, profile, fresh.environ)
    assert isinstance(error, ConfigError) and error.reason == "config"
    assert error.message.startswith(f"ca_bundle {spoiled} cannot be loaded (malformed PEM)")
    assert_one_clean_line(error)


def test_a_reset_after_connecting_is_the_service_not_unreachable(fresh: Emulated) -> None:
    fresh.emulator.add_fault(kind="reset", route="subscriptions.list")
    error = failure(fresh, fresh.profile(), fresh.environ)
    assert isinstance(error, UnavailableError) and not isinstance(error, UnreachableError)
    assert error.reason == "service" and "Connection reset" in error.message
    assert_one_clean_line(error)
