"""Credential construction per auth method, without any network."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from btconsole.config import Config, load_config
from btconsole.credentials import (
    AsyncAdapter,
    DeviceCodeSignIn,
    auth_record_path,
    build_credential,
    ssh_prompt,
)
from btconsole.errors import CredentialError, KeyringUnavailableError, SecretError
from btconsole.secretstore import SERVICE
from tests.certs import self_signed_pem
from tests.keyrings import MemoryKeyring

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def make_cert(path: Path, password: bytes | None = None) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "btconsole-test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ) + cert.public_bytes(serialization.Encoding.PEM)
    path.write_bytes(pem)
    return path


def config_with(tmp_path: Path, body: str, *, custom: bool = True) -> Config:
    ca = self_signed_pem(tmp_path / "ca.pem")
    cloud = (
        f"""
[profiles.p.cloud]
resource_manager = "https://127.0.0.1:8443/"
authority_host = "https://127.0.0.1:8443/"
ca_bundle = "{ca}"
"""
        if custom
        else ""
    )
    text = f'[profiles.p]\ntenant_id = "{TENANT}"\n{body}\n{cloud}'
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def transport_verify(credential: Any) -> Any:
    return credential._client._pipeline._transport.connection_config.verify


def test_client_secret_from_env_honours_custom_cloud(tmp_path: Path) -> None:
    config = config_with(
        tmp_path, f'auth = "client-secret"\nclient_id = "{CLIENT}"\nclient_secret_env = "P_SECRET"'
    )
    credential = build_credential(config.profile("p"), config, environ={"P_SECRET": "s"})
    from azure.identity import ClientSecretCredential

    assert isinstance(credential, ClientSecretCredential)
    assert credential._authority == "https://127.0.0.1:8443"
    assert credential._instance_discovery is False
    assert credential._tenant_id == TENANT
    assert transport_verify(credential) == str(tmp_path / "ca.pem")


def test_client_secret_public_cloud_keeps_instance_discovery(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.set_password(SERVICE, "p", "from-keyring")
    config = config_with(tmp_path, f'auth = "client-secret"\nclient_id = "{CLIENT}"', custom=False)
    credential = build_credential(config.profile("p"), config, environ={})
    assert credential._authority == "https://login.microsoftonline.com"
    assert credential._instance_discovery is not False
    assert credential._client_credential == "from-keyring"


def test_client_secret_aio(tmp_path: Path) -> None:
    config = config_with(
        tmp_path, f'auth = "client-secret"\nclient_id = "{CLIENT}"\nclient_secret_env = "P_SECRET"'
    )
    credential = build_credential(config.profile("p"), config, aio=True, environ={"P_SECRET": "s"})
    from azure.identity.aio import ClientSecretCredential

    assert isinstance(credential, ClientSecretCredential)
    assert credential._client._authority == "https://127.0.0.1:8443"
    assert transport_verify(credential) == str(tmp_path / "ca.pem")
    asyncio.run(credential.close())


def test_client_secret_missing_secret(tmp_path: Path, fail_keyring: Any) -> None:
    config = config_with(
        tmp_path, f'auth = "client-secret"\nclient_id = "{CLIENT}"\nclient_secret_env = "P_SECRET"'
    )
    with pytest.raises(SecretError) as info:
        build_credential(config.profile("p"), config, environ={})
    assert not isinstance(info.value, KeyringUnavailableError)  # the variable is the fix
    assert info.value.message.startswith("secret not found: set P_SECRET")


def test_client_secret_missing_from_keyring(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    config = config_with(tmp_path, f'auth = "client-secret"\nclient_id = "{CLIENT}"')
    with pytest.raises(SecretError, match="btconsole secrets set p"):
        build_credential(config.profile("p"), config, environ={})


def test_certificate_plain_and_with_keyring_password(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    from azure.identity import CertificateCredential

    plain = make_cert(tmp_path / "plain.pem")
    config = config_with(
        tmp_path,
        f'auth = "certificate"\nclient_id = "{CLIENT}"\ncertificate_path = "{plain}"',
    )
    assert isinstance(
        build_credential(config.profile("p"), config, environ={}), CertificateCredential
    )

    locked = make_cert(tmp_path / "locked.pem", password=b"hunter2")
    config = config_with(
        tmp_path,
        f'auth = "certificate"\nclient_id = "{CLIENT}"\ncertificate_path = "{locked}"',
    )
    with pytest.raises(CredentialError, match="cannot load certificate"):
        build_credential(config.profile("p"), config, environ={})
    memory_keyring.set_password(SERVICE, "p", "hunter2")
    credential = build_credential(config.profile("p"), config, environ={})
    assert isinstance(credential, CertificateCredential)
    assert credential._authority == "https://127.0.0.1:8443"


def test_certificate_password_from_env(tmp_path: Path, fail_keyring: Any) -> None:
    locked = make_cert(tmp_path / "locked.pem", password=b"pw")
    config = config_with(
        tmp_path,
        f'auth = "certificate"\nclient_id = "{CLIENT}"\ncertificate_path = "{locked}"\n'
        'certificate_password_env = "CERT_PW"',
    )
    credential = build_credential(config.profile("p"), config, environ={"CERT_PW": "pw"})
    assert credential._client_id == CLIENT


def test_cli_managed_workload_default(tmp_path: Path) -> None:
    from azure.identity import (
        AzureCliCredential,
        DefaultAzureCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )

    config = config_with(tmp_path, 'auth = "cli"', custom=False)
    cli = build_credential(config.profile("p"), config)
    assert isinstance(cli, AzureCliCredential)
    assert cli.tenant_id == TENANT

    config = config_with(tmp_path, f'auth = "managed-identity"\nclient_id = "{CLIENT}"')
    assert isinstance(build_credential(config.profile("p"), config), ManagedIdentityCredential)

    token_file = tmp_path / "token"
    token_file.write_text("header.payload.sig", encoding="utf-8")
    config = config_with(
        tmp_path,
        f'auth = "workload-identity"\nclient_id = "{CLIENT}"\ntoken_file_path = "{token_file}"',
    )
    workload = build_credential(config.profile("p"), config)
    assert isinstance(workload, WorkloadIdentityCredential)
    assert workload._client._tenant_id == TENANT
    assert workload._client._authority == "https://127.0.0.1:8443"

    config = config_with(tmp_path, 'auth = "default"', custom=False)
    assert isinstance(build_credential(config.profile("p"), config), DefaultAzureCredential)


def test_aio_variants(tmp_path: Path) -> None:
    import azure.identity.aio as aio

    config = config_with(tmp_path, 'auth = "cli"', custom=False)
    credential = build_credential(config.profile("p"), config, aio=True)
    assert isinstance(credential, aio.AzureCliCredential)
    config = config_with(tmp_path, 'auth = "managed-identity"')
    credential = build_credential(config.profile("p"), config, aio=True)
    assert isinstance(credential, aio.ManagedIdentityCredential)
    asyncio.run(credential.close())


def test_workload_identity_without_token_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
    config = config_with(tmp_path, f'auth = "workload-identity"\nclient_id = "{CLIENT}"')
    with pytest.raises(CredentialError, match="workload identity"):
        build_credential(config.profile("p"), config)


def test_device_code_uses_custom_authority_and_saved_record(tmp_path: Path) -> None:
    from azure.identity import AuthenticationRecord

    config = config_with(tmp_path, 'auth = "device-code"')
    profile = config.profile("p")
    credential = build_credential(profile, config)
    assert isinstance(credential, DeviceCodeSignIn)
    assert credential.record is None
    inner = credential._credential
    assert inner._authority == "https://127.0.0.1:8443"
    assert inner._instance_discovery is False
    assert inner._client_id == "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

    record = AuthenticationRecord(TENANT, CLIENT, "127.0.0.1:8443", "uid.utid", "user@example.com")
    path = auth_record_path(profile)
    path.parent.mkdir(parents=True)
    path.write_text(record.serialize(), encoding="utf-8")
    again = build_credential(profile, config)
    assert again.record is not None
    assert again.record.username == "user@example.com"

    path.write_text("{not json", encoding="utf-8")
    assert build_credential(profile, config).record is None  # damaged: sign in again

    adapted = build_credential(profile, config, aio=True)
    assert isinstance(adapted, AsyncAdapter)
    assert isinstance(adapted.credential, DeviceCodeSignIn)


def test_device_code_token_cache_only_persistent_where_allowed(tmp_path: Path) -> None:
    config = config_with(tmp_path, 'auth = "device-code"')
    credential = build_credential(config.profile("p"), config)
    # no Secret Service on a test host, plaintext not allowed: memory only
    assert credential.persistent_cache is False
    text = (tmp_path / "config.toml").read_text(encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        "allow_plaintext_keyring = true\n" + text, encoding="utf-8"
    )
    config = load_config(tmp_path / "config.toml")
    assert build_credential(config.profile("p"), config).persistent_cache is True


def test_ssh_prompt_is_plain_text(tmp_path: Path) -> None:
    config = config_with(tmp_path, 'auth = "device-code"')
    out = io.StringIO()
    prompt = ssh_prompt(config.profile("p"), out)
    prompt("https://microsoft.com/devicelogin", "ABCD-1234", dt.datetime(2026, 1, 1, 12, 30))
    text = out.getvalue()
    assert "https://microsoft.com/devicelogin" in text
    assert "ABCD-1234" in text
    assert "\x1b" not in text
    json.dumps(text)  # plain str
