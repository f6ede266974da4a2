"""Configuration loading and validation: every error names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from btconsole.config import (
    KNOWN_CLOUDS,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
)
from btconsole.errors import ConfigError
from tests.certs import self_signed_pem

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SUB = "99999999-8888-7777-6666-555555555555"

GOOD = f"""
theme = "bt-light"
refresh_concurrency = 8

[profiles.contoso]
display_name = "Contoso Ltd"
tenant_id = "{TENANT}"
subscriptions = ["{SUB.upper()}"]
auth = "client-secret"
client_id = "{CLIENT}"
client_secret_env = "CONTOSO_SECRET"
monthly_budget = 25000
currency = "EUR"
allow_actions = true

[profiles.contoso.thresholds]
agent_versions_behind = 3
compliance_percent = 95.5

[profiles.contoso.ttl]
arc = "90s"
spend = "2h"

[profiles.gov]
tenant_id = "{TENANT}"
auth = "cli"
cloud = "AzureUSGovernment"
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_good_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.theme == "bt-light"
    assert config.refresh_concurrency == 8
    contoso = config.profile("contoso")
    assert contoso.display_name == "Contoso Ltd"
    assert contoso.subscriptions == (SUB,)  # normalised to lower case
    assert contoso.monthly_budget == 25000.0
    assert contoso.currency == "EUR"
    assert contoso.allow_actions is True
    assert contoso.thresholds.agent_versions_behind == 3
    assert contoso.thresholds.compliance_percent == 95.5
    assert contoso.ttl.arc == 90.0
    assert contoso.ttl.spend == 7200.0
    assert contoso.ttl.circuits == 120.0  # default
    assert contoso.cloud == KNOWN_CLOUDS["AzureCloud"]
    gov = config.profile("gov")
    assert gov.display_name == "gov"
    assert gov.subscriptions is None
    assert gov.allow_actions is False
    assert gov.cloud.resource_manager == "https://management.usgovcloudapi.net/"


def test_custom_cloud_table(tmp_path: Path) -> None:
    ca = self_signed_pem(tmp_path / "ca.pem")
    text = f"""
[profiles.lab]
tenant_id = "{TENANT}"
auth = "client-secret"
client_id = "{CLIENT}"
[profiles.lab.cloud]
resource_manager = "https://127.0.0.1:8443"
authority_host = "https://127.0.0.1:8443/"
ca_bundle = "{ca}"
"""
    cloud = load_config(write(tmp_path, text)).profile("lab").cloud
    assert cloud.custom
    assert cloud.resource_manager == "https://127.0.0.1:8443/"
    # ARM's public audience, as the Azure SDK asks for (not RESOURCE_MANAGER/.default)
    assert cloud.token_scope == "https://management.azure.com/.default"
    assert cloud.ca_bundle == str(ca)


def test_missing_default_file_is_empty_config(tmp_path: Path) -> None:
    config = load_config(None)
    assert not config.exists
    assert config.profiles == {}


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_env_var_selects_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD, "from-env.toml")
    monkeypatch.setenv("BTCONSOLE_CONFIG", str(path))
    assert load_config(None).path == path


def test_bad_toml_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, 'theme = "bt"\n[profiles.x]\ntenant_id = = 3\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message.startswith(f"{path}:3:")
    assert "invalid TOML" in info.value.message
    assert info.value.exit_code == 64


def test_every_problem_is_listed_at_once_in_file_order(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        f"""colour = "purple"
[profiles.a]
tenant_id = "not-a-guid"
auth = "password"
[profiles.b]
tenant_id = "{TENANT}"
auth = "client-secret"
""",
    )
    assert len(problems) == 4, problems
    assert ":1: colour: unknown key" in problems[0]
    assert ":3: profiles.a.tenant_id: 'not-a-guid' is not a GUID" in problems[1]
    assert ":4: profiles.a.auth: unknown auth method 'password'" in problems[2]
    assert "profiles.b.client_id: missing (required with auth = 'client-secret')" in problems[3]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("auth = 'cli'\nfoo = 1", "profiles.p.foo: unknown key"),
        ("auth = 'cli'\ntenant = 'x'", "did you mean 'tenant_id'?"),
        ("auth = 'magic'", "unknown auth method 'magic'"),
        ("auth = 'cli'\nclient_secret = 's3cret'", "secrets never go in the config file"),
        ("auth = 'cli'\nclient_secret_env = 'X'", "is not used with auth = 'cli'"),
        ("auth = 'cli'\nsubscriptions = ['nope']", "not a GUID: 'nope'"),
        ("auth = 'cli'\nsubscriptions = []", "non-empty list"),
        ("auth = 'cli'\ncloud = 'Mars'", "unknown cloud 'Mars'"),
        ("auth = 'cli'\ncurrency = 'pounds'", "is not an ISO 4217 code"),
        ("auth = 'cli'\nmonthly_budget = -5", "must be zero or more"),
        ("auth = 'cli'\nallow_actions = 'yes'", "must be true or false"),
        ("auth = 'cli'\n[profiles.p.ttl]\narc = 'soon'", "profiles.p.ttl.arc: must be a duration"),
        ("auth = 'cli'\n[profiles.p.ttl]\nweather = '5m'", "profiles.p.ttl.weather: unknown key"),
        (
            "auth = 'cli'\n[profiles.p.thresholds]\ncompliance_percent = 120",
            "must be between 0 and 100",
        ),
        (
            "auth = 'cli'\n[profiles.p.cloud]\nresource_manager = 'http://x'\n"
            "authority_host = 'https://x'",
            "must be an https:// URL",
        ),
        (
            "auth = 'cli'\n[profiles.p.cloud]\nresource_manager = 'https://x'",
            "profiles.p.cloud.authority_host: missing",
        ),
        (
            "auth = 'cli'\n[profiles.p.cloud]\nresource_manager = 'https://x'\n"
            "authority_host = 'https://x'\nca_bundle = '/no/such/ca.pem'",
            "file not found: /no/such/ca.pem",
        ),
        ("auth = 'certificate'\nclient_id = '" + CLIENT + "'", "certificate_path: missing"),
    ],
)
def test_each_error_names_file_line_and_key(tmp_path: Path, snippet: str, expected: str) -> None:
    text = f'[profiles.p]\ntenant_id = "{TENANT}"\n{snippet}\n'
    problems = problems_of(tmp_path, text)
    assert any(expected in problem for problem in problems), problems
    path = tmp_path / "config.toml"
    assert all(problem.startswith(f"{path}:") for problem in problems), problems


def test_missing_required_fields(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "[profiles.p]\ndisplay_name = 'P'\n")
    assert any("profiles.p.tenant_id: missing (required)" in p for p in problems)
    assert any("profiles.p.auth: missing (required)" in p for p in problems)
    assert all(":1: " in p for p in problems), problems  # points at the table header


def test_bad_profile_name_and_global_values(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        f'refresh_concurrency = 0\n[profiles."bad name"]\ntenant_id = "{TENANT}"\nauth = "cli"\n',
    )
    assert any("refresh_concurrency: must be between 1 and 256" in p for p in problems)
    assert any("profile names use letters" in p for p in problems)


def test_parse_config_single_problem_summary(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("wat = 1\n", tmp_path / "c.toml")
    assert info.value.message.startswith(f"{tmp_path / 'c.toml'}:1: wat: unknown key")
    assert info.value.problems == [info.value.message]


def test_unknown_profile_lists_known(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match=r"no profile named 'nope' \(profiles: contoso, gov\)"):
        config.profile("nope")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90.0), ("5m", 300.0), ("1h", 3600.0), ("1d", 86400.0), (45, 45.0), ("250ms", 0.25)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "soon", "-5m", 0, True, "5 minutes", None])
def test_bad_durations(value: object) -> None:
    assert parse_duration(value) is None


def test_format_duration_round_trips() -> None:
    for text in ("5m", "90s", "2h", "1d"):
        seconds = parse_duration(text)
        assert seconds is not None
        assert format_duration(seconds) == text


def test_every_key_is_documented() -> None:
    from btconsole.config import (
        CLOUD_KEYS,
        CUSTOMER_OVERRIDE_KEYS,
        GLOBAL_KEYS,
        LIGHTHOUSE_KEYS,
        PROFILE_KEYS,
        THRESHOLD_KEYS,
        TTL_KEYS,
    )

    docs = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text(encoding="utf-8")
    for specs in (GLOBAL_KEYS, PROFILE_KEYS, CLOUD_KEYS, THRESHOLD_KEYS, TTL_KEYS):
        for key in specs:
            assert f"| `{key}` |" in docs, key
    lighthouse = docs.split("## Lighthouse", 1)[1].split("\n## ", 1)[0]
    for specs in (LIGHTHOUSE_KEYS, CUSTOMER_OVERRIDE_KEYS):
        for key in specs:
            assert f"`{key}`" in lighthouse, key


def test_documented_example_is_valid(tmp_path: Path) -> None:
    docs = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text(encoding="utf-8")
    example = docs.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "lab.pem").write_text("x", encoding="utf-8")
    self_signed_pem(tmp_path / "lab-ca.pem")
    example = example.replace("~/.config/btconsole/", f"{tmp_path}/")
    config = parse_config(example, tmp_path / "example.toml")
    assert set(config.profiles) == {"contoso", "fabrikam", "lab"}
    assert config.profile("lab").cloud.custom
