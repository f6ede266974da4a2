"""``btconsole doctor`` about the keyring: a warning or a failure only when some profile
needs it (a client-secret profile whose environment variable is not set); and the
token line is the same one-line reason the console and ``check`` give."""

from __future__ import annotations

from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from btconsole.secretstore import SERVICE
from tests.checks.conftest import Run, Site


def lines(out: str, status: str, check: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"{status.ljust(4)}  {check}")]


def variable_of(site: Site, index: int = 0) -> str:
    slug = site.profiles[index]
    return next(k for k in site.secrets if k.endswith(slug.upper().replace("-", "_")))


def allowing_plaintext(site: Site, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    text = site.config.read_text(encoding="utf-8")
    path.write_text("allow_plaintext_keyring = true\n" + text, encoding="utf-8")
    return path


def test_a_refused_plaintext_keyring_no_profile_needs_is_not_a_warning(
    clean: Site, cli: Run, plaintext_keyring: KeyringBackend
) -> None:
    code, out, err = cli(clean, "doctor")
    assert code == 0, out + err
    keyring = lines(out, "OK", "keyring")
    assert len(keyring) == 1 and "plaintext; not needed by these profiles" in keyring[0]
    assert "WARN" not in out and "FAIL" not in out
    assert out.splitlines()[-1].startswith("doctor: 0 failed, 0 warning(s)")


def test_a_refused_plaintext_keyring_fails_when_a_profile_needs_it(
    clean: Site, cli: Run, monkeypatch: pytest.MonkeyPatch, plaintext_keyring: KeyringBackend
) -> None:
    name = clean.profiles[0]
    monkeypatch.delenv(variable_of(clean))
    code, out, _ = cli(clean, "doctor")
    assert code == 1
    keyring = lines(out, "FAIL", "keyring")
    assert len(keyring) == 1 and f"refused; needed by: {name}" in keyring[0]
    assert "fix: set allow_plaintext_keyring = true" in out


def test_an_allowed_plaintext_keyring_warns_only_when_needed(
    clean: Site,
    cli: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    plaintext_keyring: KeyringBackend,
) -> None:
    path = allowing_plaintext(clean, tmp_path)
    code, out, _ = cli(None, "--config", str(path), "doctor")
    assert code == 0 and not lines(out, "WARN", "keyring"), out
    assert lines(out, "OK", "keyring")

    name = clean.profiles[0]
    plaintext_keyring.set_password(SERVICE, name, clean.secrets[variable_of(clean)])
    monkeypatch.delenv(variable_of(clean))
    code, out, _ = cli(None, "--config", str(path), "doctor")
    assert code == 0, out  # a warning, and the secret from the keyring works
    warned = lines(out, "WARN", "keyring")
    assert len(warned) == 1 and f"allowed by the config); needed by: {name}" in warned[0]
    assert any("secret stored in keyring" in x for x in lines(out, "OK", "secret"))
    assert len(lines(out, "OK", "token")) == len(clean.profiles)


def test_no_keyring_backend_no_profile_needs_is_ok(
    clean: Site, cli: Run, fail_keyring: KeyringBackend
) -> None:
    code, out, _ = cli(clean, "doctor")
    assert code == 0, out
    assert lines(out, "OK", "keyring") and "WARN" not in out


def test_the_token_line_is_the_sign_in_reason(
    clean: Site, cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, variable = clean.profiles[0], variable_of(clean)
    monkeypatch.setenv(variable, "not-the-secret")
    code, out, _ = cli(clean, "doctor", "-p", name)
    assert code == 1
    token = lines(out, "FAIL", "token")
    assert len(token) == 1
    assert token[0].endswith(
        f"{name}: cannot sign in: the client secret was refused: invalid secret "
        f"(AADSTS7000215); use the secret's value, not its ID: set {variable} or run "
        f"btconsole secrets set {name}"
    )
    assert "not-the-secret" not in out and "Trace ID" not in out
