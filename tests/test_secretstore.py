"""Secret lookup order and keyring backends (keyring's own backends set in tests)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from btconsole.config import KNOWN_CLOUDS, Config, Profile
from btconsole.errors import KeyringUnavailableError, SecretError
from btconsole.secretstore import (
    SERVICE,
    delete_secret,
    describe_keyring,
    lookup_secret,
    secret_status,
    store_secret,
)
from tests.keyrings import MemoryKeyring

TENANT = "11111111-2222-3333-4444-555555555555"


def make_profile(auth: str = "client-secret", env: str | None = "CONTOSO_SECRET") -> Profile:
    return Profile(
        name="contoso",
        display_name="Contoso",
        tenant_id=TENANT,
        auth=auth,
        cloud=KNOWN_CLOUDS["AzureCloud"],
        client_id=TENANT,
        client_secret_env=env if auth == "client-secret" else None,
        certificate_password_env=env if auth == "certificate" else None,
    )


def make_config(allow_plaintext: bool = False) -> Config:
    return Config(path=Path("/nonexistent"), exists=True, allow_plaintext_keyring=allow_plaintext)


def test_environment_wins_over_keyring(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password(SERVICE, "contoso", "from-keyring")
    secret = lookup_secret(make_profile(), make_config(), environ={"CONTOSO_SECRET": "from-env"})
    assert secret is not None
    assert (secret.value, secret.source) == ("from-env", "env:CONTOSO_SECRET")
    assert "from-env" not in repr(secret)


def test_keyring_used_when_env_unset_or_empty(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password(SERVICE, "contoso", "from-keyring")
    for environ in ({}, {"CONTOSO_SECRET": ""}):
        secret = lookup_secret(make_profile(), make_config(), environ=environ)
        assert secret is not None
        assert (secret.value, secret.source) == ("from-keyring", "keyring")


def test_missing_everywhere_names_both_places(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(SecretError) as info:
        lookup_secret(make_profile(), make_config(), environ={})
    assert info.value.message == (
        "secret not found: set CONTOSO_SECRET or run btconsole secrets set contoso"
    )
    assert info.value.exit_code == 64 and info.value.reason == "credential"


def test_no_keyring_backend_blames_the_unset_variable_first(
    fail_keyring: KeyringBackend,
) -> None:
    with pytest.raises(SecretError) as info:
        lookup_secret(make_profile(), make_config(), environ={})
    assert not isinstance(info.value, KeyringUnavailableError)
    assert info.value.message.startswith("secret not found: set CONTOSO_SECRET (")
    assert "no usable keyring" in info.value.message and info.value.reason == "credential"


def test_plaintext_keyring_blames_the_unset_variable_first(
    plaintext_keyring: KeyringBackend,
) -> None:
    with pytest.raises(SecretError) as info:
        lookup_secret(make_profile(), make_config(), environ={})
    assert info.value.message == (
        "secret not found: set CONTOSO_SECRET, or allow the plaintext keyring "
        "(allow_plaintext_keyring = true) and run btconsole secrets set contoso"
    )


def test_no_keyring_backend_gives_the_options(fail_keyring: KeyringBackend) -> None:
    with pytest.raises(KeyringUnavailableError) as info:
        lookup_secret(make_profile(env=None), make_config(), environ={})
    message = info.value.message
    assert message.startswith("secret not found: ")
    assert "no usable keyring backend" in message
    assert "client_secret_env" in message  # the environment variable option
    assert "Secret Service" in message
    assert "keyring backend" in message
    assert "\n" not in message
    assert info.value.exit_code == 69


def test_env_secret_works_without_keyring(fail_keyring: KeyringBackend) -> None:
    secret = lookup_secret(make_profile(), make_config(), environ={"CONTOSO_SECRET": "x"})
    assert secret is not None and secret.value == "x"


def test_null_and_empty_chainer_count_as_no_backend() -> None:
    previous = keyring.get_keyring()
    try:
        keyring.set_keyring(null.Keyring())
        assert not describe_keyring().usable

        class EmptyChainer(chainer.ChainerBackend):
            backends: ClassVar[list[KeyringBackend]] = []  # found nothing on this host

        keyring.set_keyring(EmptyChainer())
        assert not describe_keyring().usable
        keyring.set_keyring(fail.Keyring())
        assert not describe_keyring().usable
    finally:
        keyring.set_keyring(previous)


def test_chainer_of_plaintext_only_is_plaintext(tmp_path: Path) -> None:
    from keyrings.alt.file import PlaintextKeyring

    class PlainChainer(chainer.ChainerBackend):
        backends: ClassVar[list[KeyringBackend]] = [PlaintextKeyring(), null.Keyring()]

    previous = keyring.get_keyring()
    try:
        keyring.set_keyring(PlainChainer())
        info = describe_keyring()
        assert info.usable and info.plaintext
    finally:
        keyring.set_keyring(previous)


def test_plaintext_refused_unless_opted_in(plaintext_keyring: KeyringBackend) -> None:
    info = describe_keyring()
    assert info.usable and info.plaintext
    with pytest.raises(KeyringUnavailableError, match="plaintext; refused"):
        store_secret("contoso", "s3cret", make_config(allow_plaintext=False))
    with pytest.raises(SecretError, match="allow_plaintext_keyring = true"):
        lookup_secret(make_profile(), make_config(allow_plaintext=False), environ={})
    # opted in: it works, and really lands in the backend's file
    store_secret("contoso", "s3cret", make_config(allow_plaintext=True))
    secret = lookup_secret(make_profile(), make_config(allow_plaintext=True), environ={})
    assert secret is not None and secret.value == "s3cret"
    assert Path(plaintext_keyring.file_path).is_file()  # type: ignore[attr-defined]


def test_store_delete_round_trip(memory_keyring: MemoryKeyring) -> None:
    config = make_config()
    store_secret("contoso", "v1", config)
    assert memory_keyring.store[(SERVICE, "contoso")] == "v1"
    assert delete_secret("contoso", config) is True
    assert delete_secret("contoso", config) is False
    with pytest.raises(SecretError, match="empty secret"):
        store_secret("contoso", "", config)


def test_certificate_password_is_optional(memory_keyring: MemoryKeyring) -> None:
    profile = make_profile(auth="certificate", env="CERT_PW")
    assert lookup_secret(profile, make_config(), environ={}, required=False) is None
    memory_keyring.set_password(SERVICE, "contoso", "pw")
    secret = lookup_secret(profile, make_config(), environ={}, required=False)
    assert secret is not None and secret.value == "pw"
    secret = lookup_secret(profile, make_config(), environ={"CERT_PW": "envpw"}, required=False)
    assert secret is not None and secret.value == "envpw"


def test_certificate_password_without_keyring_is_none(fail_keyring: KeyringBackend) -> None:
    profile = make_profile(auth="certificate", env="CERT_PW")
    assert lookup_secret(profile, make_config(), environ={}, required=False) is None


def test_status_never_shows_the_value(memory_keyring: MemoryKeyring) -> None:
    ok, message = secret_status(make_profile(), make_config(), environ={"CONTOSO_SECRET": "zzz"})
    assert ok and "environment variable CONTOSO_SECRET" in message and "zzz" not in message
    ok, message = secret_status(make_profile(), make_config(), environ={})
    assert not ok and "btconsole secrets set contoso" in message
    memory_keyring.set_password(SERVICE, "contoso", "zzz")
    ok, message = secret_status(make_profile(), make_config(), environ={})
    assert ok and "stored in keyring" in message and "zzz" not in message
    ok, _ = secret_status(make_profile(auth="cli"), make_config(), environ={})
    assert ok
