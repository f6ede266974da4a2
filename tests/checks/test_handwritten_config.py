"""A config written by hand from docs/configuration.md, tried as a customer would: the
"Step by step" example, with the emulator's URL, CA bundle, tenant and application
filled in, run through the CLI (validate, doctor, check), then each mistake of the
docs' table and the line the docs promise for it."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from tests.checks.conftest import Run, Site
from tests.keyrings import MemoryKeyring

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def docs_example() -> str:
    """The TOML block of the "Step by step" section of docs/configuration.md."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("#### Step by step: a custom cloud written by hand") :]
    match = re.search(r"```toml\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def docs_table() -> dict[str, str]:
    """mistake -> the line the docs promise (up to its first `...`)."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("| mistake |") :]
    rows: dict[str, str] = {}
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        said = re.match(r"`([^`]*)`", cells[1])
        assert said is not None
        rows[cells[0]] = said.group(1).split("...")[0]
    return rows


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def handwritten(site: Site, tmp_path: Path, *, port: int | None = None, ca: bool = True) -> Path:
    """The docs' example, filled in for ``site``'s first customer."""
    customer = site.estate.customers[0]
    tenant = site.estate.tenant(customer.tenant_id)
    assert tenant is not None
    base = site.emulator.base_url
    url = base if port is None else f"https://127.0.0.1:{port}"
    text = docs_example()
    text = text.replace("35bf992d-c9e9-4616-a12e-7696a6cecc1b", customer.tenant_id)
    text = text.replace("e4b06ce6-0741-47a8-bce4-2c8218072e8c", tenant.client_id)
    text = text.replace("https://127.0.0.1:40417", url)
    text = text.replace(
        "/tmp/btconsole-emulator-k2j9x1/emulator-ca.pem", str(site.emulator.ca_path)
    )
    if not ca:
        text = "\n".join(x for x in text.splitlines() if not x.startswith("ca_bundle"))
    assert "token_scope" not in text  # the default is what is tried
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def secret_of(site: Site) -> str:
    tenant = site.estate.tenant(site.estate.customers[0].tenant_id)
    assert tenant is not None
    return tenant.client_secret


def problem_line(out: str) -> str:
    lines = [x.strip() for x in out.splitlines() if x.strip().startswith("contoso: ")]
    assert lines, out
    return lines[0]


def test_the_docs_example_just_works(
    clean: Site, cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = handwritten(clean, tmp_path)
    monkeypatch.setenv("CONTOSO_CLIENT_SECRET", secret_of(clean))
    code, out, err = cli(None, "--config", str(path), "config", "validate")
    assert code == 0, out + err
    code, out, err = cli(None, "--config", str(path), "doctor")
    assert code == 0, out + err
    assert "OK    token    contoso: token for https://management.azure.com/.default" in out
    assert f"OK    endpoint {clean.emulator.base_url}/: reachable" in out
    assert "WARN" not in out  # the keyring is not needed: no warning about it
    code, out, err = cli(None, "--config", str(path), "check", "--profile", "contoso")
    assert code in (0, 1), out + err  # all clear or warnings: every figure was read
    assert "DATA INCOMPLETE" not in out and "Contoso Retail [contoso]" in out
    assert "compliance 100.0%" in out and "spend MTD GBP " in out
    assert secret_of(clean) not in out + err


def test_each_mistake_says_what_the_docs_say(
    clean: Site,
    cli: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    table = docs_table()
    good = handwritten(clean, tmp_path)

    def check(path: Path) -> str:
        code, out, err = cli(None, "--config", str(path), "check", "--profile", "contoso")
        assert code == 3, out + err  # incomplete data
        return problem_line(out)

    monkeypatch.delenv("CONTOSO_CLIENT_SECRET", raising=False)
    assert table["`CONTOSO_CLIENT_SECRET` not set"] in check(good)

    monkeypatch.setenv("CONTOSO_CLIENT_SECRET", "not-the-secret")
    line = check(good)
    assert table["wrong secret"] in line and "not-the-secret" not in line

    monkeypatch.setenv("CONTOSO_CLIENT_SECRET", secret_of(clean))
    text = good.read_text(encoding="utf-8")
    tenant = clean.estate.customers[0].tenant_id
    wrong = tmp_path / "wrong-tenant.toml"
    wrong.write_text(text.replace(tenant, "00000000-1111-4222-8333-444444444444"), "utf-8")
    assert "cannot sign in: tenant 00000000-1111-4222-8333-444444444444 not found" in check(wrong)
    assert table["wrong `tenant_id`"].split("...")[0] in check(wrong)

    port = closed_port()
    line = check(handwritten(clean, tmp_path, port=port))
    assert f"cannot sign in: cannot reach https://127.0.0.1:{port}: connection refused" in line
    assert table["wrong port, host down"].replace("40418", str(port)) in line

    line = check(handwritten(clean, tmp_path, ca=False))
    expected = table["`ca_bundle` left out"].replace(
        "https://127.0.0.1:40417", clean.emulator.base_url
    )
    assert expected in line and "object at 0x" not in line


def test_a_missing_secret_with_a_plaintext_keyring_blames_the_variable(
    clean: Site,
    cli: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    plaintext_keyring: KeyringBackend,
) -> None:
    path = handwritten(clean, tmp_path)
    monkeypatch.delenv("CONTOSO_CLIENT_SECRET", raising=False)
    code, out, err = cli(None, "--config", str(path), "check", "--profile", "contoso")
    assert code == 3, out + err
    line = problem_line(out)
    assert "secret not found: set CONTOSO_CLIENT_SECRET, or allow the plaintext keyring" in line
    assert "stores secrets in plaintext; refused" not in line
