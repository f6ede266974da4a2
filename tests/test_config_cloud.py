"""A custom cloud table as a customer writes it: defaults and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from btconsole.config import CUSTOM_CLOUD_TOKEN_SCOPE, load_config
from btconsole.errors import ConfigError
from tests.certs import self_signed_pem

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"


def write(tmp_path: Path, cloud: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[profiles.lab]
tenant_id = "{TENANT}"
auth = "client-secret"
client_id = "{CLIENT}"
client_secret_env = "LAB_SECRET"

[profiles.lab.cloud]
{cloud}
""",
        encoding="utf-8",
    )
    return path


def test_defaults_of_a_custom_cloud(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'resource_manager = "https://arm.lab.example.net"\n'
        'authority_host = "https://login.lab.example.net"',
    )
    cloud = load_config(path).profile("lab").cloud
    assert cloud.custom and cloud.name == "custom"
    assert cloud.resource_manager == "https://arm.lab.example.net/"
    assert cloud.authority_host == "https://login.lab.example.net/"
    # ARM's public audience (what the Azure SDK asks for), not RESOURCE_MANAGER/.default
    assert cloud.token_scope == CUSTOM_CLOUD_TOKEN_SCOPE == "https://management.azure.com/.default"
    assert cloud.portal == "https://portal.azure.com/" and cloud.ca_bundle is None


def test_an_explicit_token_scope_is_kept(tmp_path: Path) -> None:
    scope = (
        "https://management.contoso.onmicrosoft.com/3f1a0000-0000-0000-0000-000000000000/.default"
    )
    path = write(
        tmp_path,
        'resource_manager = "https://arm.lab.example.net/"\n'
        'authority_host = "https://login.lab.example.net/"\n'
        f'token_scope = "{scope}"',
    )
    assert load_config(path).profile("lab").cloud.token_scope == scope


def test_a_token_scope_without_default_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'resource_manager = "https://arm.lab.example.net/"\n'
        'authority_host = "https://login.lab.example.net/"\n'
        'token_scope = "https://management.azure.com/"',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}:11: profiles.lab.cloud.token_scope: 'https://management.azure.com/' must end "
        "with /.default (the cloud's Resource Manager audience followed by /.default, such as "
        "https://management.azure.com/.default)"
    ]


def test_a_missing_ca_bundle_file_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'resource_manager = "https://arm.lab.example.net/"\n'
        'authority_host = "https://login.lab.example.net/"\n'
        f'ca_bundle = "{tmp_path / "nope.pem"}"',
    )
    with pytest.raises(ConfigError, match="ca_bundle: file not found"):
        load_config(path)


def test_a_ca_bundle_without_a_certificate_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "lab-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n", encoding="utf-8")
    path = write(
        tmp_path,
        'resource_manager = "https://arm.lab.example.net/"\n'
        'authority_host = "https://login.lab.example.net/"\n'
        f'ca_bundle = "{bundle}"',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems[0].endswith(
        f"profiles.lab.cloud.ca_bundle: {bundle} holds no usable PEM certificate "
        "(malformed PEM); give the PEM file of the CA that signed these "
        "endpoints' certificates (or a self-signed certificate itself)"
    )
    bundle.write_text("no certificate here\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\(NO_CERTIFICATE_OR_CRL_FOUND\)"):
        load_config(path)
    self_signed_pem(bundle)  # a real certificate: accepted
    assert load_config(path).profile("lab").cloud.ca_bundle == str(bundle)
