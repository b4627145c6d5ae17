"""`talon send --starttls --smtp-ca FILE`: real STARTTLS sessions with a local aiosmtpd server
whose certificate is made here (a throwaway CA signs it; cryptography's x509 builder).

The server demands STARTTLS before MAIL and before AUTH, so a delivered message proves the
whole session ran over the verified TLS channel. A CA that did not sign the server's
certificate, or a certificate for another host name, fails the send (exit 5, one clear
message, nothing delivered, the password never shown); a bad `--smtp-ca` file is refused
before anything is sent (exit 2)."""
from __future__ import annotations

import email
import logging
import socket
import ssl
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from ipaddress import ip_address
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.e2e.delivery_world import SENDER, STEWARD, Mo, build, send

PASSWORD = "tls-S3cret-pa55"
B = "blocker"


# ------------------------------------------------------------------------------------------
# Certificates


@dataclass
class Ca:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    pem: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Talon tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.now(timezone.utc)
    return builder.not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))


def make_ca(folder: Path, cn: str) -> Ca:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_validity(x509.CertificateBuilder())
            .subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    pem = folder / f"{cn}.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Ca(key, cert, pem)


def make_server_cert(folder: Path, ca: Ca, stem: str, dns: list[str], ips: list[str]
                     ) -> tuple[Path, Path]:
    """(certificate PEM, key PEM) of a server certificate for `dns` and `ips`, signed by `ca`."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ip_address(i)) for i in ips]
    cert = (_validity(x509.CertificateBuilder())
            .subject_name(_name(dns[0] if dns else ips[0])).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                           critical=False)
            .sign(ca.key, hashes.SHA256()))
    cert_pem, key_pem = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert_pem, key_pem


@dataclass
class Pki:
    ca: Ca  # signed the servers' certificates
    stranger: Ca  # signed nothing the server shows
    server: tuple[Path, Path]  # for localhost and 127.0.0.1
    elsewhere: tuple[Path, Path]  # for mail.talon.example only
    folder: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, stranger = make_ca(folder, "Talon Test Root CA"), make_ca(folder, "Stranger CA")
    return Pki(ca, stranger, make_server_cert(folder, ca, "server", ["localhost"], ["127.0.0.1"]),
               make_server_cert(folder, ca, "elsewhere", ["mail.talon.example"], []), folder)


# ------------------------------------------------------------------------------------------
# The server


class TlsCollector:
    """Keeps each envelope with the TLS state of the session it came in."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], email.message.Message, dict | None]] = []
        self.logins: list[tuple[bytes | None, bool, bool]] = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content)
        tls = None
        if session.ssl is not None:
            obj = session.ssl.get("ssl_object")
            tls = {"cipher": session.ssl.get("cipher"), "version": obj.version() if obj else None}
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), msg, tls))
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"talon"
              and auth_data.password == PASSWORD.encode())
        self.logins.append((getattr(auth_data, "login", None), ok, session.ssl is not None))
        return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def tls_peer(cert: tuple[Path, Path]):
    """aiosmtpd on 127.0.0.1 offering STARTTLS with `cert`, requiring it before MAIL and AUTH,
    and requiring login."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, cert))
    handler = TlsCollector()
    # The server thread logs a refused handshake with its traceback while the CLI runs, and the
    # CLI runner captures stderr: the talon output a test reads must be the client's alone.
    quiet = [logging.getLogger(name) for name in ("mail.log", "asyncio")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.CRITICAL + 1)
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), tls_context=context,
                            require_starttls=True, authenticator=handler.authenticator,
                            auth_required=True, auth_require_tls=True)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()
        for q, level in zip(quiet, levels):
            q.setLevel(level)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    clinics = [Mo("100001", "one@mo.example", {"r1": [("ATT.X", B, "a1", False)]}),
               Mo("100002", "two@mo.example", {"r1": [("ATT.X", B, "b1", False)]})]
    return build(tmp_path_factory.mktemp("tls"), clinics, ["r1"],
                 unassigned={"r1": [("ATT.MO.UNKNOWN", B, "u1", False)]})


def _send(world, host: str, port: int, *args: str):
    return send(world, "--smtp", f"{host}:{port}", "--starttls", "--user", "talon", *args,
                env={"TALON_SMTP_PASSWORD": PASSWORD})


# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_starttls_with_the_given_ca_delivers(world, pki, host):
    with tls_peer(pki.server) as (peer, port):
        result = _send(world, host, port, "--smtp-ca", str(pki.ca.pem))
    assert result.exit_code == 0, result.output
    assert "3 message(s) sent" in result.output and PASSWORD not in result.output
    assert peer.logins == [(b"talon", True, True)]  # one login, inside TLS
    assert sorted(tuple(r) for _, r, _, _ in peer.envelopes) == [
        ("one@mo.example",), ("steward@talon.example",), ("two@mo.example",)]
    for mail_from, _, msg, tls in peer.envelopes:
        assert mail_from == SENDER and msg["From"].endswith(f"<{SENDER}>")
        assert tls is not None and tls["version"] in ("TLSv1.2", "TLSv1.3"), tls


def test_a_ca_that_did_not_sign_the_certificate_fails(world, pki):
    with tls_peer(pki.server) as (peer, port):
        stranger = _send(world, "127.0.0.1", port, "--smtp-ca", str(pki.stranger.pem))
        system = _send(world, "127.0.0.1", port)  # the system's CAs do not know ours either
    for result in (stranger, system):
        assert result.exit_code == 5, result.output
        assert f"the TLS certificate of SMTP server 127.0.0.1:{port} is not trusted" in result.output
        assert "0 message(s) sent" in result.output and "Traceback" not in result.output
        assert "failed: MO 100001" in result.output and "failed: steward" in result.output
        assert PASSWORD not in result.output
    assert f"not signed by a CA of --smtp-ca {pki.stranger.pem}" in stranger.output
    assert "give the CA that signed it with --smtp-ca FILE" in system.output
    assert peer.envelopes == [] and peer.logins == []


def test_a_certificate_for_another_host_fails(world, pki):
    with tls_peer(pki.elsewhere) as (peer, port):
        result = _send(world, "127.0.0.1", port, "--smtp-ca", str(pki.ca.pem))
    assert result.exit_code == 5, result.output
    assert "is not trusted" in result.output
    assert "the certificate does not name 127.0.0.1" in result.output
    assert PASSWORD not in result.output
    assert peer.envelopes == [] and peer.logins == []


def _der(pki: Pki, path: Path) -> Path:
    path.write_bytes(pki.ca.cert.public_bytes(serialization.Encoding.DER))
    return path


def _key_only(pki: Pki, path: Path) -> Path:
    path.write_bytes(pki.ca.key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return path


def _garbled(pki: Pki, path: Path) -> Path:
    path.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                    "-----END CERTIFICATE-----\n")
    return path


@pytest.mark.parametrize("make, needle", [
    (lambda pki, p: p, "--smtp-ca: no such file"),
    (lambda pki, p: (p.mkdir(), p)[1], "--smtp-ca: not a file"),
    (lambda pki, p: (p.write_text("just some text\n"), p)[1], "not a PEM certificate file"),
    (_der, "not a PEM certificate file"),
    (_key_only, "not a PEM certificate file"),
    (_garbled, "--smtp-ca: the PEM certificates cannot be loaded"),
])
def test_a_bad_ca_file_exits_2_before_sending(world, pki, tmp_path, make, needle):
    ca = make(pki, tmp_path / "ca.pem")
    with tls_peer(pki.server) as (peer, port):
        result = _send(world, "127.0.0.1", port, "--smtp-ca", str(ca))
    assert result.exit_code == 2, result.output
    assert needle in result.output and str(ca) in result.output
    assert "Traceback" not in result.output and PASSWORD not in result.output
    assert peer.envelopes == [] and peer.logins == []


def test_an_unreadable_ca_file_exits_2(world, pki, tmp_path, monkeypatch):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.ca.pem.read_bytes())
    real = Path.read_bytes

    def refuse(self):  # chmod 000 does not stop root, who runs the tests in some containers
        if self == ca:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    result = _send(world, "127.0.0.1", _free_port(), "--smtp-ca", str(ca))
    assert result.exit_code == 2, result.output
    assert "--smtp-ca: cannot read the file (Permission denied)" in result.output


def test_smtp_ca_needs_starttls(world, pki):
    result = send(world, "--smtp", f"127.0.0.1:{_free_port()}", "--smtp-ca", str(pki.ca.pem))
    assert result.exit_code == 2, result.output
    assert "--smtp-ca is for --starttls" in result.output
    assert STEWARD not in result.output  # refused before anything was built
