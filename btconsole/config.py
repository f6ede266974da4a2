"""Configuration: one TOML file, one ``[profiles.NAME]`` table per customer.

Loading never raises anything but :class:`~btconsole.errors.ConfigError`, whose
``problems`` list holds every problem found, one line each, in the form
``FILE:LINE: KEY: what is wrong`` so that a user can act on it. The schema lives in
this module as data (:data:`GLOBAL_KEYS`, :data:`PROFILE_KEYS`, ...) and drives
validation, ``config show`` and the docs.

This module imports neither Textual nor any Azure SDK.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from btconsole.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

APP_NAME = "btconsole"
CONFIG_ENV = "BTCONSOLE_CONFIG"
CONFIG_FILENAME = "config.toml"

AUTH_METHODS = (
    "cli",
    "device-code",
    "client-secret",
    "certificate",
    "managed-identity",
    "workload-identity",
    "default",
)
DOMAINS = ("arc", "circuits", "policy", "spend", "health")
CURRENCIES_HINT = "an ISO 4217 code such as GBP, EUR or USD"

# The public client id of the Azure CLI; the usual choice for device-code sign-in.
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_PROFILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}

# Keys that look like a secret: refused in the file with a pointer to the right place.
_SECRET_KEYS = {"client_secret", "certificate_password", "password", "secret", "token"}


@dataclass(frozen=True)
class CloudConfig:
    """Endpoints of one Azure cloud (a national cloud or a custom one)."""

    name: str
    resource_manager: str
    authority_host: str
    token_scope: str
    portal: str
    ca_bundle: str | None = None
    custom: bool = False


KNOWN_CLOUDS: dict[str, CloudConfig] = {
    "AzureCloud": CloudConfig(
        name="AzureCloud",
        resource_manager="https://management.azure.com/",
        authority_host="https://login.microsoftonline.com/",
        token_scope="https://management.azure.com/.default",
        portal="https://portal.azure.com/",
    ),
    "AzureUSGovernment": CloudConfig(
        name="AzureUSGovernment",
        resource_manager="https://management.usgovcloudapi.net/",
        authority_host="https://login.microsoftonline.us/",
        token_scope="https://management.usgovcloudapi.net/.default",
        portal="https://portal.azure.us/",
    ),
    "AzureChinaCloud": CloudConfig(
        name="AzureChinaCloud",
        resource_manager="https://management.chinacloudapi.cn/",
        authority_host="https://login.chinacloudapi.cn/",
        token_scope="https://management.chinacloudapi.cn/.default",
        portal="https://portal.azure.cn/",
    ),
}


# The token scope of a custom cloud without ``token_scope``: Azure Resource Manager's
# public audience, which is what the Azure SDK's management clients ask for whatever
# their base_url (azure.mgmt.core.tools.get_arm_endpoints) and what a private
# endpoint or proxy in front of Resource Manager needs. A cloud with its own audience
# (Azure Stack Hub: the activeDirectoryResourceId of `az cloud show`) sets token_scope.
CUSTOM_CLOUD_TOKEN_SCOPE = "https://management.azure.com/.default"


@dataclass(frozen=True)
class Thresholds:
    """When a finding becomes a warning."""

    agent_versions_behind: int = 2
    compliance_percent: float = 90.0
    # Arc patch state: an assessment older than this many days is stale (no assessment
    # at all is stale too: Resource Graph keeps 30 days); critical updates pending
    # longer than critical_patch_days are a warning
    patch_assessment_days: int = 7
    critical_patch_days: int = 14


@dataclass(frozen=True)
class CacheTTL:
    """How long cached records of each domain count as fresh, in seconds."""

    arc: float = 300.0
    circuits: float = 120.0
    policy: float = 900.0
    spend: float = 3600.0
    health: float = 120.0  # Service Health, Resource Health, alerts, patch state

    def for_domain(self, domain: str) -> float:
        """The TTL of ``domain`` (one of :data:`DOMAINS`)."""
        return float(getattr(self, domain))


@dataclass(frozen=True)
class Profile:
    """One customer: a tenant, its subscriptions and how to sign in to it."""

    name: str
    display_name: str
    tenant_id: str
    auth: str
    cloud: CloudConfig
    subscriptions: tuple[str, ...] | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    certificate_path: str | None = None
    certificate_password_env: str | None = None
    token_file_path: str | None = None
    monthly_budget: float | None = None
    currency: str = "GBP"
    thresholds: Thresholds = field(default_factory=Thresholds)
    ttl: CacheTTL = field(default_factory=CacheTTL)
    allow_actions: bool = False
    #: A customer discovered through a ``kind = "lighthouse"`` profile: that profile's
    #: name (it signs in with the provider's credential, see btconsole.lighthouse);
    #: ``None`` for a configured customer.
    provider: str | None = None
    #: A discovered customer whose delegation is gone: its cached data is kept and
    #: shown as such, never refreshed.
    delegation_gone: bool = False
    #: A discovered customer billed on its provider's partner billing account: the
    #: Cost Management scope of that customer
    #: (``/providers/Microsoft.Billing/billingAccounts/{id}/customers/{customerId}``),
    #: where the engine reads its spend in one query (``None``: per subscription).
    billing_scope: str | None = None


PROFILE_KINDS = ("customer", "lighthouse")


@dataclass(frozen=True)
class CustomerOverride:
    """What a Lighthouse profile's ``[profiles.NAME.customers."TENANT-ID"]`` table says
    about one discovered customer. ``None`` means "not set": the engine keeps its own
    default (the tenant's display name, no budget, the profile's thresholds, ...)."""

    tenant_id: str
    display_name: str | None = None
    monthly_budget: float | None = None
    currency: str | None = None
    thresholds: Thresholds | None = None
    exclude: bool = False
    allow_actions: bool | None = None


@dataclass(frozen=True)
class LighthouseProfile:
    """A managed-service provider's Azure Lighthouse sign-in (``kind = "lighthouse"``).

    One credential in the provider's own tenant (``tenant_id``, any auth method) sees
    every subscription customers delegated to it. The customers are discovered, not
    configured: one per delegated tenant (``GET /tenants``, category ``ProjectedBy``,
    and the ``tenantId`` of each ``GET /subscriptions`` entry), named from the tenant's
    display name (the tenant id when it has none). For the engine:

    - ``customer_for(tenant_id)`` gives the override of a discovered tenant, if any;
      ``excluded(tenant_id)`` says whether to skip it; ``display_name_for``,
      ``budget_for``, ``currency_for``, ``thresholds_for`` and ``allow_actions_for``
      resolve each setting (override first, else the profile's own default).
    - ``customers`` may name tenants that are not (or no longer) delegated: keep them
      out of the customer list, never invent one from an override.
    - ``billing_account`` (a partner billing account name) asks for spend at the
      billing customer's scope (``/providers/Microsoft.Billing/billingAccounts/{id}/
      customers/{customerId}``): one Cost Management query per customer; without it,
      or for a tenant that is not a customer of the account, spend is read per
      subscription.
    - ``credential_profile()`` is a :class:`Profile` for the provider's own tenant, so
      the credential code (and ``secrets set NAME``) works unchanged.

    ``thresholds``, ``ttl`` and ``allow_actions`` are the defaults of every discovered
    customer; ``display_name`` names the provider (default: the profile name).
    """

    name: str
    display_name: str
    tenant_id: str
    auth: str
    cloud: CloudConfig
    client_id: str | None = None
    client_secret_env: str | None = None
    certificate_path: str | None = None
    certificate_password_env: str | None = None
    token_file_path: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    ttl: CacheTTL = field(default_factory=CacheTTL)
    allow_actions: bool = False
    billing_account: str | None = None
    customers: dict[str, CustomerOverride] = field(default_factory=dict)

    kind = "lighthouse"

    def customer_for(self, tenant_id: str) -> CustomerOverride | None:
        return self.customers.get(tenant_id.lower())

    def excluded(self, tenant_id: str) -> bool:
        override = self.customer_for(tenant_id)
        return override is not None and override.exclude

    def display_name_for(self, tenant_id: str, tenant_display_name: str | None) -> str:
        override = self.customer_for(tenant_id)
        if override is not None and override.display_name:
            return override.display_name
        return tenant_display_name or tenant_id.lower()

    def budget_for(self, tenant_id: str) -> float | None:
        override = self.customer_for(tenant_id)
        return override.monthly_budget if override is not None else None

    def currency_for(self, tenant_id: str) -> str:
        override = self.customer_for(tenant_id)
        return override.currency if override is not None and override.currency else "GBP"

    def thresholds_for(self, tenant_id: str) -> Thresholds:
        override = self.customer_for(tenant_id)
        if override is not None and override.thresholds is not None:
            return override.thresholds
        return self.thresholds

    def allow_actions_for(self, tenant_id: str) -> bool:
        override = self.customer_for(tenant_id)
        if override is not None and override.allow_actions is not None:
            return override.allow_actions
        return self.allow_actions

    def credential_profile(self) -> Profile:
        """The provider's own sign-in as a :class:`Profile` (its tenant, no
        subscription list: every delegated subscription is visible)."""
        return Profile(
            name=self.name,
            display_name=self.display_name,
            tenant_id=self.tenant_id,
            auth=self.auth,
            cloud=self.cloud,
            client_id=self.client_id,
            client_secret_env=self.client_secret_env,
            certificate_path=self.certificate_path,
            certificate_password_env=self.certificate_password_env,
            token_file_path=self.token_file_path,
            thresholds=self.thresholds,
            ttl=self.ttl,
            allow_actions=self.allow_actions,
        )


@dataclass(frozen=True)
class KeyRemap:
    """One line of the ``[keys]`` table: a binding (by id) and the keys it takes instead
    of its default ones (Textual's key names, comma-separated)."""

    binding_id: str
    keys: str
    line: int | None = None


@dataclass(frozen=True)
class Config:
    """The effective configuration: global settings plus every profile."""

    path: Path
    exists: bool
    theme: str = "bt"
    refresh_concurrency: int = 64
    allow_plaintext_keyring: bool = False
    refresh_interval: float = 30.0
    graph_threshold: int = 50
    profiles: dict[str, Profile] = field(default_factory=dict)
    keys: tuple[KeyRemap, ...] = ()
    #: ``kind = "lighthouse"`` profiles, by name (never also in ``profiles``: the
    #: per-customer code paths see only configured customers).
    lighthouse: dict[str, LighthouseProfile] = field(default_factory=dict)

    def keymap(self) -> dict[str, str]:
        """The ``[keys]`` table as binding id -> keys (Textual's keymap)."""
        return {remap.binding_id: remap.keys for remap in self.keys}

    def profile(self, name: str) -> Profile:
        """The profile called ``name``.

        Raises:
            ConfigError: no such profile (the message lists the known ones).
        """
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ConfigError(
                f"{self.path}: no profile named {name!r} (profiles: {known})"
            ) from None


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class KeySpec:
    """One configuration key: its kind, whether it is required, and what it means."""

    kind: str  # "str", "int", "float", "bool", "guid", "guids", "duration", "env", "path"
    doc: str
    required: bool = False
    auth: tuple[str, ...] | None = None  # only valid with these auth methods


GLOBAL_KEYS: dict[str, KeySpec] = {
    "theme": KeySpec("str", "Theme name: bt, bt-light, high-contrast, monochrome or a user theme."),
    "refresh_concurrency": KeySpec("int", "Most requests in flight at once (1-256)."),
    "allow_plaintext_keyring": KeySpec(
        "bool", "Allow a plaintext keyring backend (and unencrypted token cache). Default false."
    ),
    "refresh_interval": KeySpec(
        "duration", "How often the console checks for data past its TTL (default 30s)."
    ),
    "graph_threshold": KeySpec(
        "int", "Use Resource Graph for a customer with more subscriptions than this (default 50)."
    ),
}

PROFILE_KEYS: dict[str, KeySpec] = {
    "display_name": KeySpec("str", "Customer name shown in the console (default: profile name)."),
    "tenant_id": KeySpec("guid", "Microsoft Entra tenant ID of the customer.", required=True),
    "subscriptions": KeySpec("guids", "Subscription IDs to show; absent means all visible."),
    "auth": KeySpec("str", "Sign-in method: " + ", ".join(AUTH_METHODS) + ".", required=True),
    "client_id": KeySpec(
        "guid",
        "Application (client) ID. Required for client-secret and certificate.",
        auth=(
            "device-code",
            "client-secret",
            "certificate",
            "managed-identity",
            "workload-identity",
            "default",
        ),
    ),
    "client_secret_env": KeySpec(
        "env",
        "Environment variable holding the client secret (else the keyring).",
        auth=("client-secret",),
    ),
    "certificate_path": KeySpec(
        "path", "PEM or PKCS12 certificate with its private key.", auth=("certificate",)
    ),
    "certificate_password_env": KeySpec(
        "env",
        "Environment variable holding the certificate password (else the keyring).",
        auth=("certificate",),
    ),
    "token_file_path": KeySpec(
        "path",
        "Federated token file (default: $AZURE_FEDERATED_TOKEN_FILE).",
        auth=("workload-identity",),
    ),
    "cloud": KeySpec(
        "cloud", "AzureCloud, AzureUSGovernment, AzureChinaCloud, or a table of endpoints."
    ),
    "monthly_budget": KeySpec("float", "Monthly budget across the customer's subscriptions."),
    "currency": KeySpec("currency", "Currency of the budget (" + CURRENCIES_HINT + ")."),
    "thresholds": KeySpec("table", "Warning thresholds (see [profiles.NAME.thresholds])."),
    "ttl": KeySpec("table", "Cache TTL per domain (see [profiles.NAME.ttl])."),
    "allow_actions": KeySpec("bool", "Allow write actions such as policy evaluation."),
}

PROFILE_KEYS["kind"] = KeySpec(
    "str", 'Profile kind: "customer" (default: one customer) or "lighthouse" (see below).'
)

#: Keys of a ``kind = "lighthouse"`` profile: the sign-in keys of a customer profile,
#: per-customer settings moving to ``[profiles.NAME.customers."TENANT-ID"]``.
LIGHTHOUSE_KEYS: dict[str, KeySpec] = {
    "kind": KeySpec("str", 'Must be "lighthouse".', required=True),
    **{
        key: spec
        for key, spec in PROFILE_KEYS.items()
        if key not in ("kind", "subscriptions", "monthly_budget", "currency")
    },
    "display_name": KeySpec("str", "The provider's name (default: profile name)."),
    "tenant_id": KeySpec(
        "guid", "The provider's own (managing) tenant ID, where it signs in.", required=True
    ),
    "allow_actions": KeySpec(
        "bool", "Allow write actions for every discovered customer (override per customer)."
    ),
    "billing_account": KeySpec(
        "str", "Partner billing account name: read spend per billing customer (optional)."
    ),
    "customers": KeySpec("table", 'Per-customer overrides: [profiles.NAME.customers."TENANT-ID"].'),
}

CUSTOMER_OVERRIDE_KEYS: dict[str, KeySpec] = {
    "display_name": KeySpec("str", "Name shown instead of the tenant's display name."),
    "monthly_budget": KeySpec("float", "Monthly budget across the customer's subscriptions."),
    "currency": KeySpec("currency", "Currency of the budget (" + CURRENCIES_HINT + ")."),
    "thresholds": KeySpec("table", "Warning thresholds for this customer."),
    "exclude": KeySpec("bool", "Leave this delegated tenant out of the console."),
    "allow_actions": KeySpec("bool", "Allow write actions for this customer."),
}

CLOUD_KEYS: dict[str, KeySpec] = {
    "name": KeySpec("str", "A label for the custom cloud (default: custom)."),
    "resource_manager": KeySpec("url", "Resource Manager endpoint (https).", required=True),
    "authority_host": KeySpec("url", "Entra ID authority host (https).", required=True),
    "token_scope": KeySpec(
        "str",
        f"Token scope: the cloud's ARM audience + /.default (default: {CUSTOM_CLOUD_TOKEN_SCOPE}).",
    ),
    "portal": KeySpec("url", "Portal base URL for links (default: Azure public portal)."),
    "ca_bundle": KeySpec("path", "PEM file of CA certificates to trust for these endpoints."),
}

THRESHOLD_KEYS: dict[str, KeySpec] = {
    "agent_versions_behind": KeySpec(
        "int", "Arc agent versions behind the newest seen before a warning (default 2)."
    ),
    "compliance_percent": KeySpec("percent", "Compliance % below which to warn (default 90)."),
    "patch_assessment_days": KeySpec(
        "int", "Days without an Arc patch assessment before a warning (default 7)."
    ),
    "critical_patch_days": KeySpec(
        "int", "Days critical updates may stay pending on an Arc machine (default 14)."
    ),
}

TTL_KEYS: dict[str, KeySpec] = {
    domain: KeySpec("duration", f"Cache TTL of the {domain} domain, e.g. 5m, 90s, 1h.")
    for domain in DOMAINS
}


# The [keys] table: binding ids ("app.help") and key lists ("f1", "ctrl+h,question_mark").
# Which ids exist and which keys clash is known to the console's bindings
# (btconsole.ui.keys.keymap_problems), checked by `config validate` and at start-up.
_BINDING_ID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
KEY_MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")


def split_keys(value: str) -> list[str]:
    """``"f1, ctrl+h"`` -> ``["f1", "ctrl+h"]`` (a key list as Textual splits it)."""
    return [key.strip() for key in value.split(",")]


def key_syntax_problem(value: str) -> str | None:
    """Why ``value`` is not a key list (``"x"``, ``"ctrl+x"``, ``"f1,question_mark"``),
    or None. The key names themselves are checked against Textual's by the console."""
    keys = split_keys(value)
    if not value.strip() or any(not key for key in keys):
        return f"{value!r} is not a list of keys (a key, or keys separated by commas)"
    for key in keys:
        *modifiers, name = key.split("+") if key != "+" else ["+"]
        if not name or any(ch.isspace() for ch in key):
            return f"{key!r} is not a key (write ctrl+x, f1, question_mark or a character)"
        unknown = [m for m in modifiers if m not in KEY_MODIFIERS]
        if unknown:
            return f"{key!r}: unknown modifier {unknown[0]!r} (use {', '.join(KEY_MODIFIERS)})"
    return None


# --------------------------------------------------------------------------- paths


def default_config_path() -> Path:
    """The platform's config file path (``~/.config/btconsole/config.toml`` on Linux)."""
    from platformdirs import user_config_path

    return user_config_path(APP_NAME) / CONFIG_FILENAME


def resolve_config_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """Which config file to use, and whether the user named it explicitly.

    Order: ``--config FILE``, then ``$BTCONSOLE_CONFIG``, then the platform default.
    """
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser(), True
    return default_config_path(), False


# --------------------------------------------------------------------------- loading


class _Locator:
    """Finds the line of a table or key in a TOML text, for error messages.

    A light scan, not a parser: good enough to point at ``[profiles.x]`` headers and
    ``key =`` lines, which is where every validation error lives.
    """

    _HEADER = re.compile(r"^\s*\[\s*([^\]\[]+?)\s*\]\s*(#.*)?$")
    _KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                table = tuple(_split_dotted(header.group(1)))
                self._lines.setdefault(table, number)
                continue
            key = self._KEY.match(line)
            if key:
                path = table + tuple(_split_dotted(key.group(1)))
                self._lines.setdefault(path, number)

    def line(self, path: tuple[str, ...]) -> int | None:
        """Line of ``path`` (or of its nearest enclosing table), or None."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None


def _split_dotted(text: str) -> list[str]:
    parts: list[str] = []
    for raw in re.findall(r""""[^"]*"|'[^']*'|[^.]+""", text):
        part = raw.strip()
        if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return parts


class _Problems:
    """Collects validation problems with file and line."""

    def __init__(self, path: Path, locator: _Locator) -> None:
        self.path = path
        self.locator = locator
        self._found: list[tuple[int, str]] = []

    @property
    def items(self) -> list[str]:
        """Every problem, in file order."""
        return [text for _, text in sorted(self._found, key=lambda item: item[0])]

    def __len__(self) -> int:
        return len(self._found)

    def add(self, key_path: tuple[str, ...], message: str) -> None:
        line = self.locator.line(key_path)
        where = f"{self.path}:{line}" if line else str(self.path)
        key = ".".join(key_path)
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        self._found.append((line or 0, text))


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the configuration.

    A missing default file gives an empty config (``exists=False``); a missing file
    the user named explicitly is an error.

    Raises:
        ConfigError: the file cannot be read, is not valid TOML, or fails validation;
            ``problems`` lists every problem found.
    """
    path, explicit_path = resolve_config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit_path:
            raise ConfigError(f"{path}: config file not found") from None
        return Config(path=path, exists=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {_os_reason(exc)}") from None
    return parse_config(text, path)


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def parse_config(text: str, path: Path) -> Config:
    """Parse and validate a config text that came from ``path``.

    Raises:
        ConfigError: with every problem found.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error(path, exc)) from None
    problems = _Problems(path, _Locator(text))
    config = _validate(data, path, problems)
    if problems.items:
        count = len(problems.items)
        summary = problems.items[0] if count == 1 else f"{path}: {count} problems found"
        raise ConfigError(summary, problems=problems.items)
    assert config is not None
    return config


def _toml_error(path: Path, exc: Exception) -> str:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        reason = message[: match.start()].strip()
        return f"{path}:{match.group(1)}:{match.group(2)}: invalid TOML: {reason}"
    match = re.search(r"\(at end of document\)", message)
    if match:
        lines = max(1, path.read_text(encoding="utf-8", errors="replace").count("\n"))
        reason = message[: match.start()].strip()
        return f"{path}:{lines}:1: invalid TOML: {reason} (at end of file)"
    return f"{path}: invalid TOML: {message}"


def _validate(data: Mapping[str, Any], path: Path, problems: _Problems) -> Config | None:
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("profiles", "keys"):
            continue
        spec = GLOBAL_KEYS.get(key)
        if spec is None:
            problems.add((key,), _unknown_key_message(key, GLOBAL_KEYS, extra=("profiles", "keys")))
            continue
        checked = _check_value(spec, value, (key,), problems)
        if checked is not _INVALID:
            settings[key] = checked
    concurrency = settings.get("refresh_concurrency")
    if concurrency is not None and not 1 <= concurrency <= 256:
        problems.add(("refresh_concurrency",), f"must be between 1 and 256, not {concurrency}")

    profiles: dict[str, Profile] = {}
    lighthouse: dict[str, LighthouseProfile] = {}
    raw_profiles = data.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        problems.add(("profiles",), "must be a table of [profiles.NAME] tables")
        raw_profiles = {}
    for name, raw in raw_profiles.items():
        kind = raw.get("kind", "customer") if isinstance(raw, dict) else "customer"
        if kind not in PROFILE_KINDS:
            problems.add(
                ("profiles", name, "kind"),
                f"unknown profile kind {kind!r}; use one of: {', '.join(PROFILE_KINDS)}",
            )
            continue
        if kind == "lighthouse":
            provider = _validate_lighthouse(name, raw, problems)
            if provider is not None:
                lighthouse[name] = provider
            continue
        profile = _validate_profile(name, raw, problems)
        if profile is not None:
            profiles[name] = profile

    keys = _validate_keys(data.get("keys", {}), problems)

    if problems.items:
        return None
    return Config(
        path=path,
        exists=True,
        profiles=profiles,
        keys=keys,
        lighthouse=lighthouse,
        **settings,
    )


def _validate_keys(raw: Any, problems: _Problems) -> tuple[KeyRemap, ...]:
    """The ``[keys]`` table: ``app.help = "f1"`` lines (the id quoted or not: unquoted,
    TOML reads it as a dotted key, a table ``app`` holding ``help``)."""
    if not isinstance(raw, dict):
        problems.add(("keys",), 'must be a table of binding ids ([keys] with app.help = "f1")')
        return ()
    remaps: list[KeyRemap] = []
    for parts, value in _leaves(raw, ()):
        key_path = ("keys", *parts)
        binding_id = ".".join(parts)
        if not _BINDING_ID_RE.match(binding_id):
            problems.add(
                key_path,
                f"{binding_id!r} is not a binding id (such as app.help; "
                "docs/configuration.md lists them)",
            )
            continue
        remaps.extend(_key_remap(binding_id, value, key_path, problems))
    return tuple(remaps)


def _leaves(table: Mapping[str, Any], parts: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for key, value in table.items():
        if isinstance(value, dict) and value:
            found.extend(_leaves(value, (*parts, key)))
        else:
            found.append(((*parts, key), value))
    return found


def _key_remap(
    binding_id: str, value: Any, key_path: tuple[str, ...], problems: _Problems
) -> list[KeyRemap]:
    if not isinstance(value, str):
        problems.add(
            key_path, f'must be a string of keys such as "f1" or "ctrl+h,f1", not {value!r}'
        )
        return []
    problem = key_syntax_problem(value)
    if problem:
        problems.add(key_path, problem)
        return []
    keys = ",".join(split_keys(value))
    return [KeyRemap(binding_id, keys, problems.locator.line(key_path))]


def _validate_profile(name: str, raw: Any, problems: _Problems) -> Profile | None:
    base = ("profiles", name)
    start = len(problems)
    if not _PROFILE_NAME_RE.match(name):
        problems.add(
            base,
            "profile names use letters, digits, '-' and '_' (up to 63 characters)",
        )
    if not isinstance(raw, dict):
        problems.add(base, "must be a table ([profiles.NAME])")
        return None

    auth = raw.get("auth")
    if isinstance(auth, str) and auth not in AUTH_METHODS:
        problems.add(
            (*base, "auth"),
            f"unknown auth method {auth!r}; use one of: {', '.join(AUTH_METHODS)}",
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        key_path = (*base, key)
        if key in _SECRET_KEYS:
            problems.add(
                key_path,
                "secrets never go in the config file; name an environment variable "
                f"(client_secret_env) or run: btconsole secrets set {name}",
            )
            continue
        spec = PROFILE_KEYS.get(key)
        if spec is None:
            problems.add(key_path, _unknown_key_message(key, PROFILE_KEYS))
            continue
        if spec.auth is not None and auth in AUTH_METHODS and auth not in spec.auth:
            problems.add(key_path, f"is not used with auth = {auth!r}")
            continue
        if key == "kind":
            continue  # "customer": checked by the caller
        if key == "cloud":
            values[key] = _validate_cloud(value, key_path, problems)
        elif key == "thresholds":
            values[key] = _validate_table(value, key_path, THRESHOLD_KEYS, problems, Thresholds)
        elif key == "ttl":
            values[key] = _validate_table(value, key_path, TTL_KEYS, problems, CacheTTL)
        else:
            values[key] = _check_value(spec, value, key_path, problems)

    for key, spec in PROFILE_KEYS.items():
        if spec.required and key not in raw:
            problems.add((*base, key), "missing (required)")
    _sign_in_keys_present(raw, auth, base, problems)

    if len(problems) > start:
        return None
    subscriptions = values.get("subscriptions")
    return Profile(
        name=name,
        display_name=values.get("display_name") or name,
        tenant_id=values["tenant_id"].lower(),
        auth=values["auth"],
        cloud=values.get("cloud") or KNOWN_CLOUDS["AzureCloud"],
        subscriptions=tuple(s.lower() for s in subscriptions) if subscriptions else None,
        client_id=values["client_id"].lower() if values.get("client_id") else None,
        client_secret_env=values.get("client_secret_env"),
        certificate_path=values.get("certificate_path"),
        certificate_password_env=values.get("certificate_password_env"),
        token_file_path=values.get("token_file_path"),
        monthly_budget=values.get("monthly_budget"),
        currency=values.get("currency", "GBP"),
        thresholds=values.get("thresholds") or Thresholds(),
        ttl=values.get("ttl") or CacheTTL(),
        allow_actions=values.get("allow_actions", False),
    )


def _sign_in_keys_present(
    raw: dict[str, Any], auth: Any, base: tuple[str, ...], problems: _Problems
) -> None:
    """The keys an auth method cannot do without (a customer's profile or a provider's)."""
    if auth in ("client-secret", "certificate") and "client_id" not in raw:
        problems.add((*base, "client_id"), f"missing (required with auth = {auth!r})")
    if auth == "certificate" and "certificate_path" not in raw:
        problems.add((*base, "certificate_path"), "missing (required with auth = 'certificate')")


def _validate_lighthouse(name: str, raw: Any, problems: _Problems) -> LighthouseProfile | None:
    """A ``kind = "lighthouse"`` profile: the sign-in keys, then each override."""
    base = ("profiles", name)
    start = len(problems)
    if not _PROFILE_NAME_RE.match(name):
        problems.add(base, "profile names use letters, digits, '-' and '_' (up to 63 characters)")
    assert isinstance(raw, dict)
    auth = raw.get("auth")
    if isinstance(auth, str) and auth not in AUTH_METHODS:
        problems.add(
            (*base, "auth"), f"unknown auth method {auth!r}; use one of: {', '.join(AUTH_METHODS)}"
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        key_path = (*base, key)
        if key in _SECRET_KEYS:
            problems.add(
                key_path,
                "secrets never go in the config file; name an environment variable "
                f"(client_secret_env) or run: btconsole secrets set {name}",
            )
            continue
        spec = LIGHTHOUSE_KEYS.get(key)
        if spec is None:
            if key in ("subscriptions", "monthly_budget", "currency"):
                problems.add(
                    key_path,
                    "not used by a lighthouse profile: its customers and their subscriptions "
                    "are discovered; set a budget per customer in [profiles."
                    f'{name}.customers."TENANT-ID"]',
                )
            else:
                problems.add(key_path, _unknown_key_message(key, LIGHTHOUSE_KEYS))
            continue
        if spec.auth is not None and auth in AUTH_METHODS and auth not in spec.auth:
            problems.add(key_path, f"is not used with auth = {auth!r}")
            continue
        if key == "kind":
            continue
        if key == "cloud":
            values[key] = _validate_cloud(value, key_path, problems)
        elif key == "thresholds":
            values[key] = _validate_table(value, key_path, THRESHOLD_KEYS, problems, Thresholds)
        elif key == "ttl":
            values[key] = _validate_table(value, key_path, TTL_KEYS, problems, CacheTTL)
        elif key == "customers":
            values[key] = _validate_overrides(value, key_path, problems)
        else:
            values[key] = _check_value(spec, value, key_path, problems)
    for key, spec in LIGHTHOUSE_KEYS.items():
        if spec.required and key not in raw:
            problems.add((*base, key), "missing (required)")
    _sign_in_keys_present(raw, auth, base, problems)
    if len(problems) > start:
        return None
    return LighthouseProfile(
        name=name,
        display_name=values.get("display_name") or name,
        tenant_id=values["tenant_id"].lower(),
        auth=values["auth"],
        cloud=values.get("cloud") or KNOWN_CLOUDS["AzureCloud"],
        client_id=values["client_id"].lower() if values.get("client_id") else None,
        client_secret_env=values.get("client_secret_env"),
        certificate_path=values.get("certificate_path"),
        certificate_password_env=values.get("certificate_password_env"),
        token_file_path=values.get("token_file_path"),
        thresholds=values.get("thresholds") or Thresholds(),
        ttl=values.get("ttl") or CacheTTL(),
        allow_actions=values.get("allow_actions", False),
        billing_account=values.get("billing_account"),
        customers=values.get("customers") or {},
    )


def _validate_overrides(
    value: Any, key_path: tuple[str, ...], problems: _Problems
) -> dict[str, CustomerOverride]:
    if not isinstance(value, dict):
        problems.add(key_path, 'must be a table of [..customers."TENANT-ID"] tables')
        return {}
    out: dict[str, CustomerOverride] = {}
    for tenant_id, raw in value.items():
        path = (*key_path, tenant_id)
        if not is_guid(tenant_id):
            problems.add(path, f"{tenant_id!r} is not a tenant ID (a GUID)")
            continue
        if tenant_id.lower() in out:
            problems.add(path, "the same tenant twice (tenant IDs are not case-sensitive)")
            continue
        if not isinstance(raw, dict):
            problems.add(path, "must be a table of overrides")
            continue
        start = len(problems)
        checked: dict[str, Any] = {}
        for key, item in raw.items():
            spec = CUSTOMER_OVERRIDE_KEYS.get(key)
            if spec is None:
                problems.add((*path, key), _unknown_key_message(key, CUSTOMER_OVERRIDE_KEYS))
                continue
            if key == "thresholds":
                checked[key] = _validate_table(
                    item, (*path, key), THRESHOLD_KEYS, problems, Thresholds
                )
            else:
                checked[key] = _check_value(spec, item, (*path, key), problems)
        if len(problems) > start:
            continue
        out[tenant_id.lower()] = CustomerOverride(tenant_id=tenant_id.lower(), **checked)
    return out


def _validate_cloud(value: Any, key_path: tuple[str, ...], problems: _Problems) -> Any:
    if isinstance(value, str):
        cloud = KNOWN_CLOUDS.get(value)
        if cloud is None:
            problems.add(
                key_path,
                f"unknown cloud {value!r}; use {', '.join(KNOWN_CLOUDS)} or a table of endpoints",
            )
            return _INVALID
        return cloud
    if not isinstance(value, dict):
        problems.add(key_path, "must be a cloud name or a table of endpoints")
        return _INVALID
    start = len(problems)
    checked: dict[str, Any] = {}
    for key, item in value.items():
        spec = CLOUD_KEYS.get(key)
        if spec is None:
            problems.add((*key_path, key), _unknown_key_message(key, CLOUD_KEYS))
            continue
        checked[key] = _check_value(spec, item, (*key_path, key), problems)
    for key, spec in CLOUD_KEYS.items():
        if spec.required and key not in value:
            problems.add((*key_path, key), "missing (required for a custom cloud)")
    bundle = checked.get("ca_bundle")
    if isinstance(bundle, str):
        unusable = _unusable_ca_bundle(bundle)
        if unusable:
            problems.add(
                (*key_path, "ca_bundle"),
                f"{bundle} holds no usable PEM certificate ({unusable}); give the PEM file "
                "of the CA that signed these endpoints' certificates (or a self-signed "
                "certificate itself)",
            )
    scope = checked.get("token_scope")
    if isinstance(scope, str) and not scope.endswith("/.default"):
        problems.add(
            (*key_path, "token_scope"),
            f"{scope!r} must end with /.default (the cloud's Resource Manager audience "
            f"followed by /.default, such as {CUSTOM_CLOUD_TOKEN_SCOPE})",
        )
    if len(problems) > start:
        return _INVALID
    resource_manager = _with_slash(checked["resource_manager"])
    return CloudConfig(
        name=checked.get("name", "custom"),
        resource_manager=resource_manager,
        authority_host=_with_slash(checked["authority_host"]),
        token_scope=checked.get("token_scope") or CUSTOM_CLOUD_TOKEN_SCOPE,
        portal=_with_slash(checked.get("portal") or KNOWN_CLOUDS["AzureCloud"].portal),
        ca_bundle=checked.get("ca_bundle"),
        custom=True,
    )


def _unusable_ca_bundle(path: str) -> str | None:
    """Why ``path`` cannot serve as a CA bundle (OpenSSL's reason), or None.

    Loaded once per file version: 60 profiles often share one bundle.
    """
    try:
        stat = Path(path).stat()
    except OSError as exc:
        return exc.strerror or str(exc)
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _BUNDLE_CHECKS:
        _BUNDLE_CHECKS[key] = _load_ca_bundle(path)
    return _BUNDLE_CHECKS[key]


_BUNDLE_CHECKS: dict[tuple[str, int, int], str | None] = {}


def _load_ca_bundle(path: str) -> str | None:
    import ssl

    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError as exc:
        return str(exc.reason) if exc.reason else "malformed PEM"
    except (OSError, ValueError) as exc:
        return str(getattr(exc, "strerror", None) or exc)
    return None


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _validate_table(
    value: Any,
    key_path: tuple[str, ...],
    specs: Mapping[str, KeySpec],
    problems: _Problems,
    factory: Callable[..., Any],
) -> Any:
    if not isinstance(value, dict):
        problems.add(key_path, "must be a table")
        return _INVALID
    start = len(problems)
    checked: dict[str, Any] = {}
    for key, item in value.items():
        spec = specs.get(key)
        if spec is None:
            problems.add((*key_path, key), _unknown_key_message(key, specs))
            continue
        checked[key] = _check_value(spec, item, (*key_path, key), problems)
    if len(problems) > start:
        return _INVALID
    return factory(**checked)


class _Invalid:
    pass


_INVALID: Any = _Invalid()


def _check_value(spec: KeySpec, value: Any, key_path: tuple[str, ...], problems: _Problems) -> Any:
    """Check one scalar value against its spec; return it normalised or _INVALID."""
    kind = spec.kind

    def bad(message: str) -> Any:
        problems.add(key_path, message)
        return _INVALID

    if kind == "bool":
        return value if isinstance(value, bool) else bad(f"must be true or false, not {value!r}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return bad(f"must be a whole number, not {value!r}")
        if value < 0:
            return bad(f"must not be negative, not {value}")
        return value
    if kind in ("float", "percent"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return bad(f"must be a number, not {value!r}")
        if value < 0 or (kind == "percent" and value > 100):
            limit = "between 0 and 100" if kind == "percent" else "zero or more"
            return bad(f"must be {limit}, not {value}")
        return float(value)
    if kind == "duration":
        seconds = parse_duration(value)
        if seconds is None:
            return bad(f"must be a duration such as 90s, 5m or 1h (or seconds), not {value!r}")
        return seconds
    if kind == "guids":
        if not isinstance(value, list) or not value:
            return bad("must be a non-empty list of subscription IDs (or leave it out for all)")
        bad_items = [item for item in value if not isinstance(item, str) or not is_guid(item)]
        if bad_items:
            return bad(f"not a GUID: {bad_items[0]!r}")
        return value
    if not isinstance(value, str):
        return bad(f"must be a string, not {value!r}")
    if kind == "guid" and not is_guid(value):
        return bad(f"{value!r} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    if kind == "env" and not _ENV_NAME_RE.match(value):
        return bad(f"{value!r} is not an environment variable name")
    if kind == "currency" and not _CURRENCY_RE.match(value):
        return bad(f"{value!r} is not {CURRENCIES_HINT}")
    if kind == "url":
        if not value.lower().startswith("https://"):
            return bad(f"{value!r} must be an https:// URL (TLS verification is always on)")
        return value
    if kind == "path":
        expanded = Path(value).expanduser()
        if not expanded.is_file():
            return bad(f"file not found: {value}")
        return str(expanded)
    if not value.strip():
        return bad("must not be empty")
    return value


def _unknown_key_message(
    key: str, specs: Mapping[str, KeySpec], extra: tuple[str, ...] = ()
) -> str:
    import difflib

    known = [*specs, *extra]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
    return f"unknown key{hint}"


def is_guid(value: str) -> bool:
    """True if ``value`` is a GUID in the 8-4-4-4-12 form."""
    return bool(_GUID_RE.match(value))


def parse_duration(value: Any) -> float | None:
    """Seconds in ``value`` (``"90s"``, ``"5m"``, ``"1h"``, ``"1d"``, or a number), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    if not isinstance(value, str):
        return None
    match = _DURATION_RE.match(value)
    if not match:
        return None
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    return seconds if seconds > 0 else None


def format_duration(seconds: float) -> str:
    """The shortest exact form of ``seconds``: ``5m``, ``90s``, ``1h``, ``1.5s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
