"""``btconsole emulator serve`` as a real process: output, config writing, exit codes."""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from btconsole.configtools import toml_string
from btconsole.emulator.generate import generate
from btconsole.emulator.serve import main, render_config, secret_env_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SERVE = [sys.executable, "-m", "btconsole.emulator.serve"]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SERVE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_banner(proc: subprocess.Popen[str]) -> dict[str, str]:
    """Read stdout up to the 'press Ctrl-C' line; {label: value}."""
    assert proc.stdout is not None
    lines: dict[str, str] = {}
    for line in proc.stdout:
        if line.startswith("press Ctrl-C"):
            return lines
        label, _, value = line.rstrip("\n").partition(": ")
        lines[label] = value
    raise AssertionError(f"serve exited early: {proc.wait()} {proc.stderr and proc.stderr.read()}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], Path]]:
    config = tmp_path / "conf" / "btconsole.toml"
    proc = _start("--size", "small", "--seed", "2", "--write-config", str(config))
    try:
        yield proc, _read_banner(proc), config
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_prints_url_and_ca_then_stops_cleanly_on_ctrl_c(
    served: tuple[subprocess.Popen[str], dict[str, str], Path],
) -> None:
    proc, banner, _config = served
    url = banner["btconsole emulator"].removeprefix("listening on ")
    assert url.startswith("https://127.0.0.1:")
    ca = Path(banner["CA bundle"])
    assert stat.S_IMODE(ca.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca.parent.stat().st_mode) == 0o700

    import ssl

    ctx = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(f"{url}/_emulator/info", context=ctx, timeout=10) as resp:  # noqa: S310
        info = json.load(resp)
    assert info["seed"] == 2 and info["size"] == "small"

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "Traceback" not in err
    assert err.strip() == "btconsole emulator: stopped"


def test_written_config_matches_the_schema_and_reuses_the_ca(
    served: tuple[subprocess.Popen[str], dict[str, str], Path], tmp_path: Path
) -> None:
    from btconsole.config import parse_config

    proc, banner, config = served
    estate = generate(seed=2, size="small")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    env = config.with_name(config.name + ".env")
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    data = tomllib.loads(config.read_text())
    assert set(data["profiles"]) == {c.slug for c in estate.customers}
    url = banner["btconsole emulator"].removeprefix("listening on ")
    for customer in estate.customers:
        profile = data["profiles"][customer.slug]
        assert profile["tenant_id"] == customer.tenant_id
        assert profile["client_secret_env"] == secret_env_name(customer.slug)
        assert "subscriptions" not in profile
        assert profile["cloud"] == {
            "resource_manager": f"{url}/",
            "authority_host": f"{url}/",
            "token_scope": "https://management.azure.com/.default",
            "ca_bundle": banner["CA bundle"],
        }
    parsed = parse_config(config.read_text(), config)
    assert len(parsed.profiles) == len(estate.customers)

    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in env.read_text().splitlines()
        if line.startswith("export ")
    )
    tenant = estate.tenant(estate.customers[0].tenant_id)
    assert tenant is not None
    assert exports[secret_env_name(estate.customers[0].slug)] == f"'{tenant.client_secret}'"

    ca_before = Path(banner["CA bundle"]).read_bytes()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    again = _start("--size", "small", "--seed", "2", "--write-config", str(config))
    try:
        banner2 = _read_banner(again)
        assert Path(banner2["CA bundle"]).read_bytes() == ca_before
    finally:
        again.send_signal(signal.SIGINT)
        assert again.wait(timeout=20) == 0


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the command in-process: (exit status, stderr)."""
    code = main(list(args))
    return code, capsys.readouterr().err


def test_bad_faults_file_is_one_line_and_64(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = tmp_path / "faults.toml"
    faults.write_text("[[faults]]\nkind = 'latency'\nms = -1\n")
    code, err = _run(capsys, "--size", "small", "--faults", str(faults))
    assert code == 64
    assert err.count("\n") == 1
    assert str(faults) in err and "'ms'" in err

    faults.write_text("[[faults]\n")
    code, err = _run(capsys, "--size", "small", "--faults", str(faults))
    assert code == 64
    assert "invalid TOML" in err and "line 1" in err


def test_unreadable_estate_file_is_64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(capsys, "--estate", str(tmp_path / "missing.json"))
    assert code == 64
    assert err.count("\n") == 1
    assert "missing.json" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, err = _run(capsys, "--estate", str(bad))
    assert code == 64
    assert err.count("\n") == 1 and str(bad) in err


def test_port_in_use_is_69(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = _run(capsys, "--size", "small", "--port", str(port))
    assert code == 69
    assert err.count("\n") == 1
    assert str(port) in err


def test_refuses_to_overwrite_a_foreign_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mine.toml"
    config.write_text('theme = "bt"\n')
    code, err = _run(capsys, "--size", "small", "--write-config", str(config))
    assert code == 64
    assert "refusing to overwrite" in err
    assert config.read_text() == 'theme = "bt"\n'


def test_toml_strings_round_trip() -> None:
    nasty = 'quote " backslash \\ tab \t newline \n bell \x07 del \x7f ünï'
    assert tomllib.loads(f"v = {toml_string(nasty)}")["v"] == nasty


def test_render_config_escapes_display_names() -> None:
    estate = generate(seed=1, size="small")
    estate.customers[0].display_name = 'Evil "Corp"\n[profiles.x]'
    text = render_config(estate, "https://127.0.0.1:1", Path("/tmp/ca.pem"))
    data = tomllib.loads(text)
    assert data["profiles"][estate.customers[0].slug]["display_name"] == 'Evil "Corp"\n[profiles.x]'
    assert "x" not in data["profiles"]


def test_unwritable_config_path_is_64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, err = _run(capsys, "--size", "small", "--write-config", str(blocker / "c.toml"))
    assert code == 64
    assert err.count("\n") == 1


def test_lighthouse_config_has_one_provider_profile_that_sees_every_customer(
    tmp_path: Path,
) -> None:
    """``--lighthouse --write-config``: one kind = "lighthouse" profile, no per-customer
    profiles; its credential (the written secret) signs in and sees every customer."""
    from azure.identity import ClientSecretCredential
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    from btconsole.config import load_config
    from btconsole.emulator.serve import LIGHTHOUSE_PROFILE

    config = tmp_path / "msp.toml"
    proc = _start("--size", "small", "--seed", "2", "--lighthouse", "--write-config", str(config))
    try:
        banner = _read_banner(proc)
        parsed = load_config(config)
        assert parsed.profiles == {}
        provider = parsed.lighthouse[LIGHTHOUSE_PROFILE]
        estate = generate(seed=2, size="small")
        (account,) = estate.billing_accounts
        assert provider.billing_account == account.name
        assert set(provider.customers) == {c.tenant_id for c in estate.customers}
        for customer in estate.customers:  # budgets: the served estate is dated today
            assert provider.currency_for(customer.tenant_id) == customer.currency
        env = config.with_name(config.name + ".env")
        assert stat.S_IMODE(env.stat().st_mode) == 0o600
        (line,) = [x for x in env.read_text().splitlines() if x.startswith("export ")]
        name, _, quoted = line.removeprefix("export ").partition("=")
        assert name == provider.client_secret_env
        url = banner["btconsole emulator"].removeprefix("listening on ")
        assert provider.cloud.resource_manager == f"{url}/"
        credential = ClientSecretCredential(
            provider.tenant_id,
            provider.client_id or "",
            quoted.strip("'"),
            authority=provider.cloud.authority_host,
            disable_instance_discovery=True,
            connection_verify=provider.cloud.ca_bundle,
        )
        client = SubscriptionClient(
            credential,
            base_url=provider.cloud.resource_manager,
            credential_scopes=[provider.cloud.token_scope],
            connection_verify=provider.cloud.ca_bundle,
        )
        with client:
            tenants = {t.tenant_id for t in client.tenants.list()}
            subs = {s.subscription_id for s in client.subscriptions.list()}
        assert tenants == {provider.tenant_id} | {c.tenant_id for c in estate.customers}
        assert subs == {s.subscription_id for s in estate.subscriptions}
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_lighthouse_needs_write_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(capsys, "--size", "small", "--lighthouse")
    assert code == 64 and "--lighthouse needs --write-config" in err


def test_lighthouse_overrides_carry_each_customers_budget(tmp_path: Path) -> None:
    from btconsole.config import parse_config
    from btconsole.emulator.serve import LIGHTHOUSE_PROFILE, render_lighthouse_config

    estate = generate(seed=4, size="medium")
    ca = tmp_path / "ca.pem"
    from tests.certs import self_signed_pem

    self_signed_pem(ca)
    text = render_lighthouse_config(estate, "https://127.0.0.1:4443", ca)
    provider = parse_config(text, tmp_path / "c.toml").lighthouse[LIGHTHOUSE_PROFILE]
    for customer in estate.customers:
        assert provider.budget_for(customer.tenant_id) == customer.monthly_budget
        assert provider.currency_for(customer.tenant_id) == customer.currency
        assert provider.display_name_for(customer.tenant_id, None) == customer.tenant_id
