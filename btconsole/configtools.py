"""``config show`` and ``config init``: render the effective config, write a starter."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from btconsole.config import (
    KNOWN_CLOUDS,
    CloudConfig,
    Config,
    LighthouseProfile,
    Profile,
    format_duration,
)
from btconsole.errors import UsageError
from btconsole.fsutil import write_private_file

SECRET_MASK = "********"


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string, with every escape TOML requires.

    (JSON's escapes are not enough: TOML also forbids a raw DEL.)
    """
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return toml_string(str(value))


def _table_name(*parts: str) -> str:
    import re

    return ".".join(p if re.match(r"^[A-Za-z0-9_-]+$", p) else toml_string(p) for p in parts)


def secret_source(profile: Profile, environ: Mapping[str, str] | None = None) -> str | None:
    """Where the profile's secret comes from, masked; None if it needs no secret."""
    env = os.environ if environ is None else environ
    if profile.auth == "client-secret":
        what, variable = "client secret", profile.client_secret_env
    elif profile.auth == "certificate":
        what, variable = "certificate password", profile.certificate_password_env
    else:
        return None
    if variable and env.get(variable):
        return f"{what}: from ${variable} (set, {SECRET_MASK})"
    keyring_place = f'the keyring (service "btconsole", user "{profile.name}")'
    if variable:
        return f"{what}: ${variable} is not set; falls back to {keyring_place}"
    return f"{what}: from {keyring_place}"


def render_effective(config: Config, environ: Mapping[str, str] | None = None) -> str:
    """The effective configuration as TOML, defaults filled in, secrets masked."""
    source = str(config.path) if config.exists else f"{config.path} (not found; defaults)"
    lines = [
        f"# effective configuration from {source}",
        f"theme = {toml_string(config.theme)}",
        f"refresh_concurrency = {config.refresh_concurrency}",
        f"allow_plaintext_keyring = {_toml_value(config.allow_plaintext_keyring)}",
        f"refresh_interval = {toml_string(format_duration(config.refresh_interval))}",
        f"graph_threshold = {config.graph_threshold}",
    ]
    if not config.profiles and not config.lighthouse:
        lines += ["", "# no profiles: add one with [profiles.NAME] (see btconsole config init)"]
    for profile in config.profiles.values():
        lines += ["", f"[{_table_name('profiles', profile.name)}]"]
        lines.append(f"display_name = {toml_string(profile.display_name)}")
        lines.append(f"tenant_id = {toml_string(profile.tenant_id)}")
        if profile.subscriptions:
            lines.append(f"subscriptions = {_toml_value(list(profile.subscriptions))}")
        else:
            lines.append("# subscriptions: all visible to the credential")
        lines.append(f"auth = {toml_string(profile.auth)}")
        for key in (
            "client_id",
            "client_secret_env",
            "certificate_path",
            "certificate_password_env",
            "token_file_path",
        ):
            value = getattr(profile, key)
            if value is not None:
                lines.append(f"{key} = {toml_string(value)}")
        masked = secret_source(profile, environ)
        if masked:
            lines.append(f"# {masked}")
        if profile.monthly_budget is not None:
            lines.append(f"monthly_budget = {profile.monthly_budget!r}")
        lines.append(f"currency = {toml_string(profile.currency)}")
        lines.append(f"allow_actions = {_toml_value(profile.allow_actions)}")
        cloud = profile.cloud
        if not cloud.custom and cloud.name in KNOWN_CLOUDS:
            lines.append(f"cloud = {toml_string(cloud.name)}")
        else:
            lines += ["", f"[{_table_name('profiles', profile.name, 'cloud')}]"]
            lines.append(f"name = {toml_string(cloud.name)}")
            lines.append(f"resource_manager = {toml_string(cloud.resource_manager)}")
            lines.append(f"authority_host = {toml_string(cloud.authority_host)}")
            lines.append(f"token_scope = {toml_string(cloud.token_scope)}")
            lines.append(f"portal = {toml_string(cloud.portal)}")
            if cloud.ca_bundle:
                lines.append(f"ca_bundle = {toml_string(cloud.ca_bundle)}")
        lines += ["", f"[{_table_name('profiles', profile.name, 'thresholds')}]"]
        lines.append(f"agent_versions_behind = {profile.thresholds.agent_versions_behind}")
        lines.append(f"compliance_percent = {profile.thresholds.compliance_percent!r}")
        lines += ["", f"[{_table_name('profiles', profile.name, 'ttl')}]"]
        for domain in ("arc", "circuits", "policy", "spend"):
            seconds = profile.ttl.for_domain(domain)
            lines.append(f"{domain} = {toml_string(format_duration(seconds))}")
    for provider in config.lighthouse.values():
        lines += _render_lighthouse(provider, environ)
    if config.keys:
        lines += ["", "[keys]"]
        lines += [f"{toml_string(r.binding_id)} = {toml_string(r.keys)}" for r in config.keys]
    return "\n".join(lines) + "\n"


def _render_cloud(name: str, cloud: CloudConfig) -> list[str]:
    if not cloud.custom and cloud.name in KNOWN_CLOUDS:
        return [f"cloud = {toml_string(cloud.name)}"]
    lines = ["", f"[{_table_name('profiles', name, 'cloud')}]"]
    lines.append(f"name = {toml_string(cloud.name)}")
    lines.append(f"resource_manager = {toml_string(cloud.resource_manager)}")
    lines.append(f"authority_host = {toml_string(cloud.authority_host)}")
    lines.append(f"token_scope = {toml_string(cloud.token_scope)}")
    lines.append(f"portal = {toml_string(cloud.portal)}")
    if cloud.ca_bundle:
        lines.append(f"ca_bundle = {toml_string(cloud.ca_bundle)}")
    return lines


def _render_lighthouse(provider: LighthouseProfile, environ: Mapping[str, str] | None) -> list[str]:
    name = provider.name
    lines = ["", f"[{_table_name('profiles', name)}]", 'kind = "lighthouse"']
    lines.append(f"display_name = {toml_string(provider.display_name)}")
    lines.append(f"tenant_id = {toml_string(provider.tenant_id)}")
    lines.append("# customers: discovered, one per tenant that delegated to this tenant")
    lines.append(f"auth = {toml_string(provider.auth)}")
    for key in (
        "client_id",
        "client_secret_env",
        "certificate_path",
        "certificate_password_env",
        "token_file_path",
        "billing_account",
    ):
        value = getattr(provider, key)
        if value is not None:
            lines.append(f"{key} = {toml_string(value)}")
    if provider.billing_account is None:
        lines.append("# billing_account: none; spend is read per subscription")
    masked = secret_source(provider.credential_profile(), environ)
    if masked:
        lines.append(f"# {masked}")
    lines.append(f"allow_actions = {_toml_value(provider.allow_actions)}")
    lines += _render_cloud(name, provider.cloud)
    lines += ["", f"[{_table_name('profiles', name, 'thresholds')}]"]
    lines.append(f"agent_versions_behind = {provider.thresholds.agent_versions_behind}")
    lines.append(f"compliance_percent = {provider.thresholds.compliance_percent!r}")
    lines += ["", f"[{_table_name('profiles', name, 'ttl')}]"]
    for domain in ("arc", "circuits", "policy", "spend"):
        lines.append(f"{domain} = {toml_string(format_duration(provider.ttl.for_domain(domain)))}")
    for tenant_id, override in provider.customers.items():
        lines += ["", f"[{_table_name('profiles', name, 'customers', tenant_id)}]"]
        for key in ("display_name", "monthly_budget", "currency", "allow_actions"):
            value = getattr(override, key)
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        if override.exclude:
            lines.append("exclude = true")
        if override.thresholds is not None:
            table = _table_name("profiles", name, "customers", tenant_id, "thresholds")
            lines += ["", f"[{table}]"]
            lines.append(f"agent_versions_behind = {override.thresholds.agent_versions_behind}")
            lines.append(f"compliance_percent = {override.thresholds.compliance_percent!r}")
    return lines


def explain(config: Config) -> list[str]:
    """One line per profile for ``config validate``: its kind and what it will discover."""
    lines: list[str] = []
    for profile in config.profiles.values():
        subs = (
            f"{len(profile.subscriptions)} listed subscription(s)"
            if profile.subscriptions
            else "every subscription its credential sees"
        )
        lines.append(
            f"  {profile.name}: customer profile: one customer, {profile.display_name!r}, "
            f"in tenant {profile.tenant_id} ({profile.auth}); reads {subs}"
        )
    for provider in config.lighthouse.values():
        excluded = sum(1 for o in provider.customers.values() if o.exclude)
        overrides = len(provider.customers) - excluded
        spend = (
            f"spend per billing customer of account {provider.billing_account} (per "
            "subscription for tenants that are not its customers)"
            if provider.billing_account
            else "spend per subscription (no billing_account)"
        )
        lines.append(
            f"  {provider.name}: lighthouse profile: signs in once to tenant "
            f"{provider.tenant_id} ({provider.auth}) and discovers one customer per "
            f"delegated tenant; {overrides} override(s), {excluded} excluded; {spend}"
        )
        configured = {p.tenant_id for p in config.profiles.values()}
        both = sorted(t for t in provider.customers if t in configured)
        for tenant_id in both:
            lines.append(f"    tenant {tenant_id} also has a profile of its own; it is shown once")
    return lines


STARTER = """\
# btconsole configuration. Every key: docs/configuration.md
# Check it with:  btconsole config validate

# Theme: bt (default), bt-light, high-contrast, monochrome, or a file in
# ~/.config/btconsole/themes/. NO_COLOR in the environment selects monochrome.
theme = "bt"

# Most Azure requests in flight at once, across all customers.
refresh_concurrency = 64

# A plaintext keyring backend (a file) is refused unless this is true.
allow_plaintext_keyring = false

# How often the console looks for data past its TTL and refreshes it (like k9s'
# refresh rate), and above how many subscriptions a customer is listed through
# Azure Resource Graph instead of per-subscription calls.
refresh_interval = "30s"
graph_threshold = 50

# One table per customer. Uncomment and fill in:
#
# [profiles.contoso]
# display_name = "Contoso Ltd"
# tenant_id = "00000000-0000-0000-0000-000000000000"
# # subscriptions = ["00000000-0000-0000-0000-000000000000"]  # absent: all visible
# auth = "client-secret"        # cli, device-code, client-secret, certificate,
#                               # managed-identity, workload-identity, default
# client_id = "00000000-0000-0000-0000-000000000000"
# client_secret_env = "CONTOSO_CLIENT_SECRET"  # else: btconsole secrets set contoso
# cloud = "AzureCloud"          # AzureUSGovernment, AzureChinaCloud, or a table
# monthly_budget = 25000.0
# currency = "GBP"
# allow_actions = false         # true allows write actions (policy evaluation)
#
# [profiles.contoso.thresholds]
# agent_versions_behind = 2     # Arc agents this many versions behind the newest warn
# compliance_percent = 90       # policy compliance below this warns
#
# [profiles.contoso.ttl]        # how long cached data counts as fresh
# arc = "5m"
# circuits = "2m"
# policy = "15m"
# spend = "1h"
"""


LIGHTHOUSE_STARTER = (
    STARTER.split("# One table per customer.", 1)[0]
    + """\
# An MSP's Azure Lighthouse sign-in: one credential in your own (managing) tenant.
# Every customer tenant that delegated subscriptions or resource groups to it becomes
# a customer in the console, named from the tenant's display name. Delegate to this
# sign-in's principal (docs/configuration.md, "Lighthouse"):
#   Reader                        Arc machines and clusters, ExpressRoute circuits
#   Resource Policy Contributor   trigger policy evaluations (with allow_actions)
#   Cost Management Reader        spend (or the billing role, with billing_account)
# Uncomment and fill in:
#
# [profiles.msp]
# kind = "lighthouse"
# display_name = "Our managed services"
# tenant_id = "00000000-0000-0000-0000-000000000000"   # YOUR tenant, not a customer's
# auth = "client-secret"        # cli, device-code, client-secret, certificate,
#                               # managed-identity, workload-identity, default
# client_id = "00000000-0000-0000-0000-000000000000"
# client_secret_env = "MSP_CLIENT_SECRET"  # else: btconsole secrets set msp
# # billing_account = "00000000-0000-0000-0000-000000000000_00000000-0000-0000-0000-000000000000"
# #   a partner (CSP) billing account: spend read once per customer at its scope
# allow_actions = false         # default for every customer; override per customer
#
# [profiles.msp.thresholds]     # defaults for every customer
# agent_versions_behind = 2
# compliance_percent = 90
#
# # Optional, per customer tenant (its tenant ID, quoted): every key may be left out.
# [profiles.msp.customers."11111111-1111-1111-1111-111111111111"]
# display_name = "Contoso Ltd"  # instead of the tenant's display name
# monthly_budget = 25000.0
# currency = "GBP"              # currency of monthly_budget
# allow_actions = true
# # exclude = true              # leave this tenant out of the console
#
# [profiles.msp.customers."11111111-1111-1111-1111-111111111111".thresholds]
# compliance_percent = 95
#
# Per-customer profiles ([profiles.NAME] without kind) still work beside it.
"""
)


def write_starter(path: Path, *, force: bool, lighthouse: bool = False) -> None:
    """Write the commented starter config to ``path`` (0600); ``lighthouse`` writes the
    Azure Lighthouse one (one ``kind = "lighthouse"`` profile).

    Raises:
        UsageError: ``path`` exists and ``force`` is false.
    """
    if path.exists() and not force:
        raise UsageError(f"{path}: already exists; use --force to overwrite it")
    try:
        write_private_file(path, LIGHTHOUSE_STARTER if lighthouse else STARTER)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
