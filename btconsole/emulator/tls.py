"""Certificates for the emulator: a self-signed CA and a loopback server certificate.

The CA (certificate and key) lives in a directory created 0700; its PEM is written 0600
and is what clients trust through ``connection_verify`` or a profile's ``ca_bundle``.
When the directory already holds a CA it is reused, so a config written by
``btconsole emulator serve --write-config`` stays valid across restarts. The server
certificate is made fresh at every start (SAN ``IP:127.0.0.1`` and ``DNS:localhost``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_NAME = "emulator-ca.pem"
CA_KEY_NAME = "emulator-ca.key"
SERVER_CERT_NAME = "server.pem"
SERVER_KEY_NAME = "server.key"

_CA_LIFETIME = dt.timedelta(days=3650)
_SERVER_LIFETIME = dt.timedelta(days=30)


class TlsError(Exception):
    """The certificate directory is unusable (message names the path and the problem)."""


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of the PEM files the server and its clients use."""

    directory: Path
    ca_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        """An SSL context serving the server certificate (TLS 1.2 or newer)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert_path), str(self.key_path))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts only the emulator CA, with full verification."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` created 0600 (replacing any existing file)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    tmp.chmod(0o600)
    tmp.replace(path)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _new_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "btconsole emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, "btconsole emulator local CA"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _new_server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _SERVER_LIFETIME)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    """The CA stored in ``directory`` if both files are there and still valid for a year."""
    cert_file, key_file = directory / CA_CERT_NAME, directory / CA_KEY_NAME
    if not (cert_file.is_file() and key_file.is_file()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise TlsError(f"{directory}: cannot read the emulator CA ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsError(f"{key_file}: not an EC private key")
    if cert.not_valid_after_utc < _now() + dt.timedelta(days=365):
        return None
    return key, cert


def prepare_directory(directory: Path) -> None:
    """Create ``directory`` 0700 (or tighten an existing one to 0700).

    Raises:
        TlsError: the directory cannot be created or is not a directory.
    """
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
    except OSError as exc:
        raise TlsError(f"{directory}: cannot create the certificate directory ({exc})") from exc


def ensure_tls(directory: Path | None = None) -> TlsMaterial:
    """Make (or reuse) the CA in ``directory`` and a fresh server certificate.

    With ``directory=None`` a new private temporary directory is used; the caller owns
    its removal (``shutil.rmtree(material.directory)``).

    Raises:
        TlsError: the directory or the stored CA cannot be used.
    """
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="btconsole-emulator-"))
    prepare_directory(directory)
    loaded = _load_ca(directory)
    try:
        if loaded is None:
            ca_key, ca_cert = _new_ca()
            _write_private(directory / CA_KEY_NAME, _key_pem(ca_key))
            _write_private(
                directory / CA_CERT_NAME, ca_cert.public_bytes(serialization.Encoding.PEM)
            )
        else:
            ca_key, ca_cert = loaded
        key, cert = _new_server_cert(ca_key, ca_cert)
        _write_private(directory / SERVER_KEY_NAME, _key_pem(key))
        _write_private(
            directory / SERVER_CERT_NAME,
            cert.public_bytes(serialization.Encoding.PEM)
            + ca_cert.public_bytes(serialization.Encoding.PEM),
        )
    except OSError as exc:
        raise TlsError(f"{directory}: cannot write certificates ({exc})") from exc
    return TlsMaterial(
        directory=directory,
        ca_path=directory / CA_CERT_NAME,
        cert_path=directory / SERVER_CERT_NAME,
        key_path=directory / SERVER_KEY_NAME,
    )
