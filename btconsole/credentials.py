"""One ``azure-identity`` credential per profile, built from its ``auth`` method.

Every credential honours the profile's cloud: its authority host (with instance
discovery turned off for custom authorities, which Entra's discovery endpoint does not
know) and its CA bundle (``connection_verify``; verification is never turned off).

The Azure SDK is imported inside :func:`build_credential` only, so importing this
module stays cheap.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from btconsole.config import AZURE_CLI_CLIENT_ID, Config, Profile
from btconsole.errors import CredentialError
from btconsole.fsutil import write_private_file
from btconsole.secretstore import lookup_secret

if TYPE_CHECKING:
    from btconsole.azure.errors import AzureError, SignIn

PromptCallback = Callable[[str, str, datetime], None]


def auth_record_path(profile: Profile) -> Path:
    """Where the device-code ``AuthenticationRecord`` of ``profile`` is kept."""
    from platformdirs import user_data_path

    return user_data_path("btconsole") / "auth" / f"{profile.name}.json"


def ssh_prompt(profile: Profile, stream: TextIO | None = None) -> PromptCallback:
    """A device-code prompt that works over SSH: plain text, no browser, flushed."""

    def prompt(verification_uri: str, user_code: str, expires_on: datetime) -> None:
        out = stream if stream is not None else sys.stderr
        out.write(
            f"btconsole: sign in for profile {profile.name!r} ({profile.display_name}):\n"
            f"  open {verification_uri} on any device and enter the code {user_code}\n"
            f"  (the code expires at {expires_on:%H:%M:%S %Z})\n"
        )
        out.flush()

    return prompt


def _common_kwargs(profile: Profile) -> dict[str, Any]:
    cloud = profile.cloud
    # No connection retries inside the credential: an unreachable authority or an
    # untrusted certificate is reported at once (the refresh engine retries what is
    # worth retrying); Entra's 429/5xx answers are still retried by azure-identity.
    kwargs: dict[str, Any] = {"authority": cloud.authority_host, "retry_connect": 0}
    if cloud.custom:
        kwargs["disable_instance_discovery"] = True
    if cloud.ca_bundle:
        kwargs["connection_verify"] = cloud.ca_bundle
    return kwargs


def _transport_kwargs(profile: Profile) -> dict[str, Any]:
    return {"connection_verify": profile.cloud.ca_bundle} if profile.cloud.ca_bundle else {}


def build_credential(
    profile: Profile,
    config: Config,
    *,
    aio: bool = False,
    environ: Mapping[str, str] | None = None,
    prompt: PromptCallback | None = None,
) -> Any:
    """Build the credential for ``profile``.

    With ``aio`` the result is an ``azure.identity.aio`` credential (for the async SDK
    clients); device code, which has no async form, is wrapped so it runs in a thread.

    Raises:
        CredentialError: the profile cannot give a credential (bad certificate file, ...).
        SecretError / KeyringUnavailableError: a needed secret cannot be found.
    """
    method = profile.auth
    if method == "client-secret":
        secret = lookup_secret(profile, config, environ=environ)
        assert secret is not None  # required=True never returns None
        cls = _identity_class("ClientSecretCredential", aio)
        return cls(profile.tenant_id, profile.client_id, secret.value, **_common_kwargs(profile))
    if method == "certificate":
        password = lookup_secret(profile, config, environ=environ, required=False)
        path = profile.certificate_path
        if not path or not Path(path).is_file():
            raise CredentialError(f"profile {profile.name!r}: certificate file not found: {path}")
        cls = _identity_class("CertificateCredential", aio)
        kwargs = _common_kwargs(profile)
        if password is not None:
            kwargs["password"] = password.value
        try:
            return cls(profile.tenant_id, profile.client_id, certificate_path=path, **kwargs)
        except (ValueError, TypeError) as exc:
            raise CredentialError(
                f"profile {profile.name!r}: cannot load certificate {path}: {exc}"
            ) from None
    if method == "cli":
        cls = _identity_class("AzureCliCredential", aio)
        return cls(tenant_id=profile.tenant_id)
    if method == "managed-identity":
        cls = _identity_class("ManagedIdentityCredential", aio)
        mi_kwargs = _transport_kwargs(profile)
        if profile.client_id:
            mi_kwargs["client_id"] = profile.client_id
        return cls(**mi_kwargs)
    if method == "workload-identity":
        cls = _identity_class("WorkloadIdentityCredential", aio)
        wi_kwargs = _common_kwargs(profile)
        wi_kwargs["tenant_id"] = profile.tenant_id
        if profile.client_id:
            wi_kwargs["client_id"] = profile.client_id
        if profile.token_file_path:
            wi_kwargs["token_file_path"] = profile.token_file_path
        try:
            return cls(**wi_kwargs)
        except ValueError as exc:
            raise CredentialError(f"profile {profile.name!r}: workload identity: {exc}") from None
    if method == "default":
        cls = _identity_class("DefaultAzureCredential", aio)
        default_kwargs = _common_kwargs(profile)
        default_kwargs.pop("disable_instance_discovery", None)
        default_kwargs.pop("retry_connect", None)  # its managed identity probe has its own
        default_kwargs["exclude_interactive_browser_credential"] = True
        if profile.client_id:
            default_kwargs["managed_identity_client_id"] = profile.client_id
        return cls(**default_kwargs)
    if method == "device-code":
        credential = DeviceCodeSignIn(profile, config, prompt=prompt)
        return AsyncAdapter(credential) if aio else credential
    raise CredentialError(f"profile {profile.name!r}: unknown auth method {method!r}")


def _identity_class(name: str, aio: bool) -> Any:
    if aio:
        import azure.identity.aio as identity_aio

        return getattr(identity_aio, name)
    import azure.identity as identity

    return getattr(identity, name)


class DeviceCodeSignIn:
    """A ``DeviceCodeCredential`` that remembers who signed in.

    The first token request of a profile with no saved ``AuthenticationRecord`` runs
    the device-code flow (the prompt goes to stderr as plain text) and saves the record
    (0600). Later starts pass the record back, so tokens come silently from the token
    cache. The cache is encrypted (Secret Service); where that is missing it is kept in
    a 0600 file only if ``allow_plaintext_keyring`` is set, else in memory, and a later
    start signs in again.
    """

    def __init__(
        self, profile: Profile, config: Config, *, prompt: PromptCallback | None = None
    ) -> None:
        from azure.identity import (
            AuthenticationRecord,
            DeviceCodeCredential,
            TokenCachePersistenceOptions,
        )

        self.profile = profile
        self.record_path = auth_record_path(profile)
        self.record: Any = None
        if self.record_path.is_file():
            try:
                self.record = AuthenticationRecord.deserialize(
                    self.record_path.read_text(encoding="utf-8")
                )
            except (OSError, ValueError, KeyError, json.JSONDecodeError):
                self.record = None  # a damaged record only costs one more sign-in
        kwargs = _common_kwargs(profile)
        options = TokenCachePersistenceOptions(
            name=f"btconsole-{profile.name}",
            allow_unencrypted_storage=config.allow_plaintext_keyring,
        )
        self.persistent_cache = _persistence_available(options)
        if self.persistent_cache:
            kwargs["cache_persistence_options"] = options
        if self.record is not None:
            # the record carries the authority (and client id) it was made with
            kwargs.pop("authority", None)
            kwargs["authentication_record"] = self.record
        self._credential = DeviceCodeCredential(
            client_id=profile.client_id or AZURE_CLI_CLIENT_ID,
            tenant_id=profile.tenant_id,
            prompt_callback=prompt or ssh_prompt(profile),
            **kwargs,
        )

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """A token; runs the device-code flow first if nobody has signed in yet."""
        if self.record is None:
            self.record = self._credential.authenticate(scopes=list(scopes))
            write_private_file(self.record_path, self.record.serialize())
        return self._credential.get_token(*scopes, **kwargs)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        """The ``SupportsTokenInfo`` protocol, same behaviour as :meth:`get_token`."""
        if self.record is None:
            self.get_token(*scopes)
        return self._credential.get_token_info(*scopes, options=options)

    def close(self) -> None:
        self._credential.close()

    def __enter__(self) -> DeviceCodeSignIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _persistence_available(options: Any) -> bool:
    """Whether a persistent token cache can be had with ``options`` here."""
    try:
        from azure.identity._persistent_cache import _load_persistent_cache

        _load_persistent_cache(options, False)
    except Exception:  # ImportError (libsecret), ValueError (refused plaintext), ...
        return False
    return True


def sign_in_context(profile: Profile) -> SignIn:
    """What a token request of ``profile`` is for, so its errors can name the fix."""
    from btconsole.azure.errors import SignIn

    secret_env = (
        profile.certificate_password_env
        if profile.auth == "certificate"
        else profile.client_secret_env
    )
    return SignIn(
        profile=profile.name,
        tenant_id=profile.tenant_id,
        client_id=profile.client_id,
        authority=profile.cloud.authority_host,
        scope=profile.cloud.token_scope,
        auth=profile.auth,
        secret_env=secret_env,
        ca_bundle=profile.cloud.ca_bundle,
    )


def sign_in_error(exc: BaseException, profile: Profile) -> AzureError:
    """The project's error for a failed token request of ``profile``: one line saying
    what happened (tenant not found, secret refused, endpoint unreachable, certificate
    not trusted) and the fix."""
    from btconsole.azure.errors import map_exception

    return map_exception(exc, what="cannot sign in", sign_in=sign_in_context(profile))


class SignInErrors:
    """An async credential whose failures are the project's errors (see
    :func:`sign_in_error`), never an SDK exception or a message with a repr.

    The SDK clients' bearer-token policy calls it; the error then leaves the request
    as it is (``map_exception`` keeps an ``AzureError``).
    """

    def __init__(self, credential: Any, profile: Profile) -> None:
        self.credential = credential
        self.profile = profile
        self._lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def _single_flight(self) -> asyncio.Lock:
        """One token request at a time: the first asks Entra, the others then find it
        in the credential's cache. Without it, the sixty customers of a Lighthouse
        provider sharing this credential each asked Entra for the same token at once
        (60 sign-ins for one identity in one refresh). One lock per event loop."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        try:
            async with self._single_flight():
                return await self.credential.get_token(*scopes, **kwargs)
        except Exception as exc:
            raise sign_in_error(exc, self.profile) from exc

    async def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        try:
            async with self._single_flight():
                if hasattr(self.credential, "get_token_info"):
                    return await self.credential.get_token_info(*scopes, options=options)
                from azure.core.credentials import AccessTokenInfo

                token = await self.credential.get_token(*scopes)
                return AccessTokenInfo(token.token, token.expires_on)
        except Exception as exc:
            raise sign_in_error(exc, self.profile) from exc

    async def close(self) -> None:
        await self.credential.close()

    async def __aenter__(self) -> SignInErrors:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncAdapter:
    """Presents a synchronous credential as an async one (runs it in a thread).

    For credentials with no ``azure.identity.aio`` form (device code).
    """

    def __init__(self, credential: Any) -> None:
        self.credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.credential.get_token, *scopes, **kwargs)

    async def close(self) -> None:
        await asyncio.to_thread(self.credential.close)

    async def __aenter__(self) -> AsyncAdapter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
