"""``btconsole doctor``: a working setup, a broken config, a missing secret, an
unreachable endpoint, a certificate it cannot verify, loose permissions, no az."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from btconsole.cache import default_cache_path
from tests.checks.conftest import Run, Site

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lines(out: str, status: str, check: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"{status.ljust(4)}  {check}")]


def test_a_working_setup_passes(clean: Site, cli: Run) -> None:
    code, out, err = cli(clean, "doctor")
    assert code == 0, out + err
    assert lines(out, "OK", "config") and "2 profile(s)" in out
    assert len(lines(out, "OK", "secret")) == 2
    assert len(lines(out, "OK", "token")) == 2
    endpoint = lines(out, "OK", "endpoint")
    assert len(endpoint) == 1 and "reachable (HTTP " in endpoint[0]  # one distinct endpoint
    assert lines(out, "OK", "cache") and lines(out, "OK", "terminal")
    assert out.splitlines()[-1].startswith("doctor: 0 failed")
    assert "FAIL" not in out and "\x1b" not in out


def test_a_broken_config_exits_64(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[profiles.x]\ntenant_id = "not-a-guid"\nauth = "cli"\n', encoding="utf-8")
    code, out, err = cli(None, "--config", str(path), "doctor")
    assert code == 64
    assert lines(out, "FAIL", "config") and "fix: fix the file" in out
    assert f"{path}:2: profiles.x.tenant_id:" in err
    assert lines(out, "OK", "terminal")  # the checks that need no config still ran
    code, out, err = cli(None, "--config", str(tmp_path / "missing.toml"), "doctor")
    assert code == 64 and "no config file at" in out and "btconsole config init" in out


def test_an_unknown_profile_exits_64(clean: Site, cli: Run) -> None:
    code, out, err = cli(clean, "doctor", "-p", "nope")
    assert code == 64 and "no profile named 'nope'" in err and out == ""


def test_a_missing_secret_fails_with_a_hint(
    clean: Site, cli: Run, monkeypatch: pytest.MonkeyPatch, fail_keyring: KeyringBackend
) -> None:
    name = clean.profiles[0]
    env = next(k for k in clean.secrets if k.endswith(name.upper().replace("-", "_")))
    monkeypatch.delenv(env)
    code, out, _ = cli(clean, "doctor", "-p", name)
    assert code == 1
    secret = lines(out, "FAIL", "secret")
    assert len(secret) == 1 and f"${env} not set" in secret[0]
    assert f"fix: export {env}=... or run: btconsole secrets set {name}" in out
    assert lines(out, "FAIL", "keyring") and "no usable keyring backend" in out
    assert "not tried: no secret" in lines(out, "FAIL", "token")[0]


def test_an_unreachable_endpoint_fails(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[profiles.far]
tenant_id = "{TENANT}"
auth = "client-secret"
client_id = "{CLIENT}"
client_secret_env = "FAR_SECRET"
[profiles.far.cloud]
resource_manager = "https://127.0.0.1:{port}/"
authority_host = "https://127.0.0.1:{port}/"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("FAR_SECRET", "s3cret")
    code, out, _ = cli(None, "--config", str(path), "doctor")
    assert code == 1
    failed = lines(out, "FAIL", "endpoint")
    assert len(failed) == 1 and f"https://127.0.0.1:{port}/: unreachable" in failed[0]
    assert "authority https://127.0.0.1" in lines(out, "FAIL", "token")[0]
    assert "s3cret" not in out


def test_tls_without_the_ca_bundle_fails_verification(
    clean: Site, cli: Run, tmp_path: Path
) -> None:
    text = clean.config.read_text(encoding="utf-8")
    stripped = "\n".join(x for x in text.splitlines() if not x.startswith("ca_bundle"))
    path = tmp_path / "config.toml"
    path.write_text(stripped + "\n", encoding="utf-8")
    code, out, _ = cli(None, "--config", str(path), "doctor", "-p", clean.profiles[0])
    assert code == 1
    failed = lines(out, "FAIL", "endpoint")
    assert failed and "TLS verification failed" in failed[0]
    assert "fix: set cloud.ca_bundle" in out


def test_loose_cache_permissions_and_missing_az(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = default_cache_path().parent
    cache_dir.mkdir(parents=True)
    cache_dir.chmod(0o755)
    (cache_dir / "cache.sqlite3").write_bytes(b"")
    (cache_dir / "cache.sqlite3").chmod(0o644)
    port = closed_port()
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[profiles.cli]
tenant_id = "{TENANT}"
auth = "cli"
[profiles.cli.cloud]
resource_manager = "https://127.0.0.1:{port}/"
authority_host = "https://127.0.0.1:{port}/"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("PATH", str(tmp_path))  # no az here
    code, out, _ = cli(None, "--config", str(path), "doctor")
    assert code == 1
    cache = lines(out, "FAIL", "cache")
    assert cache and "is 755, not 700" in cache[0]
    assert f"fix: chmod -R go= {cache_dir}" in out
    az = lines(out, "FAIL", "az")
    assert az and "az command is not on PATH" in az[0]
    assert "az login --tenant" in out
