"""Secrets: client secrets and certificate passwords, from the environment or the keyring.

Lookup order for a profile's secret:

1. the environment variable the profile names (``client_secret_env`` or
   ``certificate_password_env``), when it is set and not empty;
2. the keyring: service ``btconsole``, user = the profile name.

Never the config file. A keyring that cannot store secrets (``fail``/``null``
backends, as on a headless SSH host) gives one clear message naming the options;
a plaintext backend (``keyrings.alt`` file keyrings) is refused unless the config
sets ``allow_plaintext_keyring = true``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from btconsole.config import Config, Profile
from btconsole.errors import KeyringUnavailableError, SecretError

SERVICE = "btconsole"

# Backends that store nothing: ``fail`` raises on every call, ``null`` drops everything.
_NO_BACKEND = {"keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"}


def _qualified(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _leaves(backend: Any) -> list[Any]:
    """The real backends behind a chainer backend (or the backend itself)."""
    children = getattr(backend, "backends", None)
    if isinstance(children, (list, tuple)):
        leaves: list[Any] = []
        for child in children:
            leaves.extend(_leaves(child))
        return leaves
    return [backend]


def is_plaintext_backend(backend: Any) -> bool:
    """True for backends that keep secrets unencrypted on disk."""
    name = _qualified(backend)
    return "plaintext" in name.lower() or name.startswith("keyrings.alt.file.Plaintext")


def no_keyring_message(profile_name: str | None = None, env_name: str | None = None) -> str:
    """The one message that tells a user with no keyring backend what to do."""
    variable = env_name or "the variable named by client_secret_env"
    target = profile_name or "PROFILE"
    return (
        "no usable keyring backend on this host (common over SSH). Either put the secret "
        f"in the environment ({variable}, named in the profile), start a Secret Service "
        "session (e.g. dbus-run-session with gnome-keyring-daemon --unlock), or install a "
        "keyring backend (keyring --list-backends shows what is available); then run: "
        f"btconsole secrets set {target}"
    )


@dataclass(frozen=True)
class KeyringInfo:
    """What the keyring looks like from here."""

    backend: str
    usable: bool
    plaintext: bool


def describe_keyring() -> KeyringInfo:
    """Inspect the active keyring backend without touching any secret."""
    import keyring

    backend = keyring.get_keyring()
    leaves = [leaf for leaf in _leaves(backend) if _qualified(leaf) not in _NO_BACKEND]
    plaintext = bool(leaves) and all(is_plaintext_backend(leaf) for leaf in leaves)
    return KeyringInfo(backend=_qualified(backend), usable=bool(leaves), plaintext=plaintext)


def usable_keyring(
    config: Config, profile_name: str | None = None, env_name: str | None = None
) -> Any:
    """The active keyring backend, if it may be used.

    Raises:
        KeyringUnavailableError: no backend that stores secrets, or only a plaintext
            one while the config does not allow it.
    """
    import keyring

    info = describe_keyring()
    if not info.usable:
        raise KeyringUnavailableError(no_keyring_message(profile_name, env_name))
    if info.plaintext and not config.allow_plaintext_keyring:
        raise KeyringUnavailableError(
            f"the keyring backend {info.backend} stores secrets in plaintext; refused. "
            "Set allow_plaintext_keyring = true in the config to accept it, or use an "
            "environment variable named by client_secret_env"
        )
    return keyring.get_keyring()


def _secret_env_name(profile: Profile) -> str | None:
    if profile.auth == "certificate":
        return profile.certificate_password_env
    return profile.client_secret_env


def suggested_env_name(profile: Profile) -> str:
    """A name for the profile's secret variable when the profile names none:
    ``CONTOSO_CLIENT_SECRET`` (``CONTOSO_CERT_PASSWORD`` for a certificate)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", profile.name).strip("_").upper() or "BTCONSOLE"
    if stem[0].isdigit():
        stem = f"P{stem}"
    return f"{stem}_CERT_PASSWORD" if profile.auth == "certificate" else f"{stem}_CLIENT_SECRET"


def env_instead(profile: Profile) -> str:
    """How to give ``profile`` its secret through the environment, in a few words."""
    name = _secret_env_name(profile)
    if name:
        return f"put the secret in the environment variable {name} (named in the profile)"
    key = "certificate_password_env" if profile.auth == "certificate" else "client_secret_env"
    suggested = suggested_env_name(profile)
    return (
        f"put the secret in an environment variable such as {suggested} and name it in "
        f'the profile ({key} = "{suggested}")'
    )


def keyring_for_storing(profile: Profile, config: Config) -> Any:
    """The keyring backend ``btconsole secrets set`` may store ``profile``'s secret in,
    checked before any secret is asked for.

    Raises:
        KeyringUnavailableError: no usable keyring (or only a refused plaintext one);
            the one-line message names the environment variable to use instead.
    """
    try:
        info = describe_keyring()
    except Exception as exc:  # a broken backend raises its own types
        raise KeyringUnavailableError(
            f"the keyring cannot be used here ({type(exc).__name__}); {env_instead(profile)}"
        ) from None
    if not info.usable:
        raise KeyringUnavailableError(
            f"no usable keyring backend on this host ({info.backend}), so nothing can be "
            f"stored; {env_instead(profile)}"
        )
    if info.plaintext and not config.allow_plaintext_keyring:
        raise KeyringUnavailableError(
            f"the keyring backend {info.backend} stores secrets in plaintext; refused: "
            f"{env_instead(profile)}, or set allow_plaintext_keyring = true"
        )
    import keyring

    return keyring.get_keyring()


@dataclass(frozen=True)
class Secret:
    """A secret and where it came from (``env:NAME`` or ``keyring``)."""

    value: str
    source: str

    def __repr__(self) -> str:  # never show the value in logs or tracebacks
        return f"Secret(source={self.source!r}, value='********')"


def lookup_secret(
    profile: Profile,
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    required: bool = True,
) -> Secret | None:
    """The profile's secret: environment variable first, then the keyring.

    With ``required=False`` (certificate passwords, which are optional) a missing
    secret or keyring gives None instead of an error.

    Every "not found" message starts ``secret not found:`` and names the fix first:
    the profile's environment variable (when it names one) and ``btconsole secrets
    set``; why the keyring could not help comes after, never instead.

    Raises:
        SecretError: no secret found (the message names the places to put it).
        KeyringUnavailableError: the profile names no environment variable and the
            keyring is unusable.
    """
    env = os.environ if environ is None else environ
    env_name = _secret_env_name(profile)
    if env_name and env.get(env_name):
        return Secret(env[env_name], f"env:{env_name}")
    try:
        backend = usable_keyring(config, profile.name, env_name)
    except KeyringUnavailableError as exc:
        if not required:
            return None
        if env_name:
            raise SecretError(missing_secret_message(profile, config, keyring=False)) from None
        raise KeyringUnavailableError(f"secret not found: {exc.message}") from None
    try:
        value = backend.get_password(SERVICE, profile.name)
    except Exception as exc:  # keyring backends raise their own types
        if not required:
            return None
        if env_name:
            raise SecretError(
                f"secret not found: set {env_name} (the keyring could not be read: "
                f"{type(exc).__name__})"
            ) from None
        raise KeyringUnavailableError(
            f"secret not found: the keyring could not be read ({type(exc).__name__}); "
            + no_keyring_message(profile.name, env_name)
        ) from None
    if value:
        return Secret(value, "keyring")
    if not required:
        return None
    raise SecretError(missing_secret_message(profile, config, keyring=True))


def missing_secret_message(profile: Profile, config: Config, *, keyring: bool) -> str:
    """The one line for a secret found nowhere: what to set or run.

    ``keyring``: whether the keyring is usable here (it then simply had none).
    """
    env_name = _secret_env_name(profile)
    set_env = f"set {env_name}" if env_name else "name an environment variable in client_secret_env"
    store = f"btconsole secrets set {profile.name}"
    if keyring:
        return f"secret not found: {set_env} or run {store}"
    try:
        info: KeyringInfo | None = describe_keyring()
    except Exception:  # a broken backend raises its own types
        info = None
    if info is not None and info.plaintext and not config.allow_plaintext_keyring:
        return (
            f"secret not found: {set_env}, or allow the plaintext keyring "
            f"(allow_plaintext_keyring = true) and run {store}"
        )
    return f"secret not found: {set_env} (this host has no usable keyring for {store})"


def store_secret(profile_name: str, value: str, config: Config) -> str:
    """Store ``value`` for ``profile_name`` in the keyring; return the backend name.

    Raises:
        SecretError: empty secret.
        KeyringUnavailableError: no usable keyring, or it refused the write.
    """
    if not value:
        raise SecretError("refusing to store an empty secret")
    backend = usable_keyring(config, profile_name)
    try:
        backend.set_password(SERVICE, profile_name, value)
    except Exception as exc:
        raise KeyringUnavailableError(
            f"the keyring refused to store the secret ({type(exc).__name__}: {exc})"
        ) from None
    return _qualified(backend)


def delete_secret(profile_name: str, config: Config) -> bool:
    """Delete the stored secret; return False if there was none.

    Raises:
        KeyringUnavailableError: no usable keyring.
    """
    import keyring.errors

    backend = usable_keyring(config, profile_name)
    try:
        backend.delete_password(SERVICE, profile_name)
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as exc:
        raise KeyringUnavailableError(
            f"the keyring refused to delete the secret ({type(exc).__name__}: {exc})"
        ) from None
    return True


def secret_status(
    profile: Profile, config: Config, *, environ: Mapping[str, str] | None = None
) -> tuple[bool, str]:
    """Whether the profile has a usable secret, and a one-line account of where.

    Never reveals the value.
    """
    env = os.environ if environ is None else environ
    env_name = _secret_env_name(profile)
    needs = profile.auth in ("client-secret", "certificate")
    if env_name and env.get(env_name):
        return True, f"{profile.name}: secret from environment variable {env_name} (set)"
    try:
        backend = usable_keyring(config, profile.name, env_name)
        stored = backend.get_password(SERVICE, profile.name) is not None
    except KeyringUnavailableError as exc:
        prefix = f"{profile.name}: " + (f"${env_name} not set; " if env_name else "")
        return (not needs), prefix + exc.message
    except Exception as exc:
        return (not needs), f"{profile.name}: keyring unreadable ({type(exc).__name__})"
    if stored:
        return True, f"{profile.name}: secret stored in keyring ({_qualified(backend)})"
    if not needs:
        return True, f"{profile.name}: auth = {profile.auth!r} needs no stored secret"
    hint = f"set ${env_name} or " if env_name else ""
    return False, f"{profile.name}: no secret: {hint}run btconsole secrets set {profile.name}"
