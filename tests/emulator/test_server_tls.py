"""Certificates: what they say, where they live, and that clients verify them."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import stat
from pathlib import Path

import pytest
import requests
from cryptography import x509

from btconsole.emulator.generate import generate
from btconsole.emulator.server import EmulatorServer, RunningEmulator
from btconsole.emulator.tls import TlsError, ensure_tls


def test_ca_and_server_certificate(tmp_path: Path) -> None:
    material = ensure_tls(tmp_path / "tls")
    assert stat.S_IMODE(material.directory.stat().st_mode) == 0o700
    for path in material.directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    ca = x509.load_pem_x509_certificate(material.ca_path.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = x509.load_pem_x509_certificates(material.cert_path.read_bytes())[0]
    assert server.issuer == ca.subject
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_ca_is_reused_and_server_cert_renewed(tmp_path: Path) -> None:
    first = ensure_tls(tmp_path / "tls")
    ca_pem, cert_pem = first.ca_path.read_bytes(), first.cert_path.read_bytes()
    second = ensure_tls(tmp_path / "tls")
    assert second.ca_path.read_bytes() == ca_pem
    assert second.cert_path.read_bytes() != cert_pem


def test_loose_directory_is_tightened(tmp_path: Path) -> None:
    loose = tmp_path / "tls"
    loose.mkdir(mode=0o755)
    ensure_tls(loose)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


def test_unusable_directory_is_a_tls_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TlsError, match="cannot create"):
        ensure_tls(blocker / "tls")


def test_clients_verify_the_emulator(emulator: RunningEmulator) -> None:
    url = f"{emulator.base_url}/_emulator/info"
    assert requests.get(url, verify=str(emulator.ca_path), timeout=10).status_code == 200
    # Without the CA the certificate is (rightly) refused.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=10)
    # localhost is in the certificate too.
    ctx = ssl.create_default_context(cafile=str(emulator.ca_path))
    with (
        socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_only_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        EmulatorServer(generate(seed=1, size="small"), host="0.0.0.0")  # noqa: S104
