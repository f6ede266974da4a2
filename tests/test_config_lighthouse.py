"""Lighthouse profiles: one provider sign-in, per-customer overrides, mixed with
per-customer profiles; ``config validate`` explains each, ``config init --lighthouse``."""

from __future__ import annotations

from pathlib import Path

import pytest

from btconsole.cli import main
from btconsole.config import LighthouseProfile, Thresholds, load_config
from btconsole.configtools import LIGHTHOUSE_STARTER, render_effective
from btconsole.errors import ConfigError

PROVIDER = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CONTOSO = "22222222-3333-4444-5555-666666666666"
FABRIKAM = "33333333-4444-5555-6666-777777777777"
OWN = "44444444-5555-6666-7777-888888888888"

MIXED = f"""
[profiles.msp]
kind = "lighthouse"
display_name = "BT Managed Services"
tenant_id = "{PROVIDER}"
auth = "client-secret"
client_id = "{CLIENT}"
client_secret_env = "MSP_SECRET"
billing_account = "aaaaaaaa-0000-0000-0000-000000000000_bbbbbbbb-0000-0000-0000-000000000000"

[profiles.msp.thresholds]
compliance_percent = 85

[profiles.msp.customers."{CONTOSO.upper()}"]
display_name = "Contoso (managed)"
monthly_budget = 25000
currency = "EUR"
allow_actions = true

[profiles.msp.customers."{CONTOSO.upper()}".thresholds]
compliance_percent = 95

[profiles.msp.customers."{FABRIKAM}"]
exclude = true

[profiles.own]
tenant_id = "{OWN}"
auth = "cli"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_lighthouse_profile_is_parsed_apart_from_customer_profiles(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MIXED))
    assert list(config.profiles) == ["own"]  # per-customer code paths see only these
    provider = config.lighthouse["msp"]
    assert isinstance(provider, LighthouseProfile) and provider.kind == "lighthouse"
    assert provider.tenant_id == PROVIDER and provider.auth == "client-secret"
    assert provider.billing_account is not None and provider.billing_account.endswith("0000")
    assert set(provider.customers) == {CONTOSO, FABRIKAM}  # keys lower-cased

    assert provider.display_name_for(CONTOSO.upper(), "Contoso Ltd") == "Contoso (managed)"
    assert provider.display_name_for(OWN, "Own Corp") == "Own Corp"
    assert provider.display_name_for(OWN, None) == OWN  # a tenant without a display name
    assert provider.budget_for(CONTOSO) == 25000.0 and provider.currency_for(CONTOSO) == "EUR"
    assert provider.budget_for(OWN) is None
    assert provider.thresholds_for(CONTOSO).compliance_percent == 95.0
    assert provider.thresholds_for(OWN) == Thresholds(compliance_percent=85.0)
    assert provider.allow_actions_for(CONTOSO) and not provider.allow_actions_for(OWN)
    assert provider.excluded(FABRIKAM) and not provider.excluded(CONTOSO)

    cred = provider.credential_profile()
    assert (cred.tenant_id, cred.client_id, cred.client_secret_env) == (
        PROVIDER,
        CLIENT,
        "MSP_SECRET",
    )
    assert cred.subscriptions is None


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('kind = "reseller"\n', "kind: unknown profile kind 'reseller'"),
        ("monthly_budget = 5\n", "monthly_budget: not used by a lighthouse profile"),
        (f'subscriptions = ["{OWN}"]\n', "subscriptions: not used by a lighthouse profile"),
        ('[profiles.msp.customers."not-a-guid"]\n', "'not-a-guid' is not a tenant ID"),
        (
            f'[profiles.msp.customers."{OWN}"]\nbudget = 5\n',
            f"customers.{OWN}.budget: unknown key; did you mean 'monthly_budget'?",
        ),
        (f'[profiles.msp.customers."{OWN}"]\ncurrency = "eur"\n', "is not an ISO 4217"),
        (
            f'[profiles.msp.customers."{OWN}"]\nexclude = "yes"\n',
            "exclude: must be true or false",
        ),
    ],
)
def test_lighthouse_problems_name_file_line_and_key(
    tmp_path: Path, snippet: str, expected: str
) -> None:
    base = f'[profiles.msp]\nkind = "lighthouse"\ntenant_id = "{PROVIDER}"\nauth = "cli"\n'
    if snippet.startswith("kind"):
        base = base.replace('kind = "lighthouse"\n', "")
    path = write(tmp_path, base + snippet)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(expected in p and f"{path}:" in p for p in info.value.problems), info.value.problems


def test_lighthouse_needs_its_sign_in(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.msp]\nkind = "lighthouse"\nauth = "client-secret"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = "\n".join(info.value.problems)
    assert "msp.tenant_id: missing (required)" in text
    assert "msp.client_id: missing (required with auth = 'client-secret')" in text


def test_explicit_customer_kind_still_works(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, f'[profiles.own]\nkind = "customer"\ntenant_id = "{OWN}"\nauth = "cli"\n')
    )
    assert config.profile("own").tenant_id == OWN and not config.lighthouse


def test_show_round_trips_a_lighthouse_profile(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MIXED))
    shown = render_effective(config, environ={})
    assert "MSP_SECRET is not set" in shown
    again = load_config(write(tmp_path, shown.replace("# effective", "# was")))
    assert again.lighthouse == config.lighthouse
    assert again.profiles == config.profiles
    only = load_config(write(tmp_path, MIXED.split("[profiles.own]")[0]))
    assert "# no profiles" not in render_effective(only, environ={})


def test_validate_explains_each_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MIXED)
    assert main(["config", "validate", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK (2 profile(s): own, msp)" in out
    assert f"own: customer profile: one customer, 'own', in tenant {OWN} (cli)" in out
    assert (
        f"msp: lighthouse profile: signs in once to tenant {PROVIDER} (client-secret) and "
        "discovers one customer per delegated tenant; 1 override(s), 1 excluded; spend per "
        "billing customer" in out
    )


def test_init_lighthouse_writes_a_starter_whose_example_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    assert main(["config", "init", "--lighthouse", "--config", str(path)]) == 0
    text = path.read_text(encoding="utf-8")
    assert text == LIGHTHOUSE_STARTER and path.stat().st_mode & 0o777 == 0o600
    for role in ("Reader", "Resource Policy Contributor", "Cost Management Reader"):
        assert role in text
    assert main(["config", "validate", "--config", str(path)]) == 0  # all commented out
    lines = []
    for line in text.splitlines():
        candidate = line[2:]
        if (
            line.startswith("# ")
            and ("=" in line or line.startswith("# ["))
            and not candidate.startswith(("#", " "))
        ):
            lines.append(candidate)
        else:
            lines.append(line)
    config = load_config(write(tmp_path, "\n".join(lines)))
    provider = config.lighthouse["msp"]
    assert not config.profiles
    assert provider.customer_for("11111111-1111-1111-1111-111111111111") is not None
    assert provider.thresholds_for("11111111-1111-1111-1111-111111111111").compliance_percent == 95


def test_a_lighthouse_only_config_starts_the_console_not_no_profiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # one provider profile and no customer profile is the MSP's whole config: the
    # console said "no profiles configured". Offline with nothing discovered yet, it
    # says what is missing instead
    for name in ("XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    path = write(tmp_path, MIXED.split("[profiles.own]")[0])
    assert main(["--config", str(path), "--offline"]) == 64
    err = capsys.readouterr().err
    assert "no profiles configured" not in err and "Traceback" not in err
    assert "no customer discovered through Lighthouse profile(s) msp" in err
    assert "start once online" in err
