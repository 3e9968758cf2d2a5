"""The mailer speaks to a relay the way deploy/production promises: STARTTLS or implicit TLS,
with a login, against a real aiosmtpd server holding a certificate from a private CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import NoticeActivities, SendNoticeInput, SmtpSettings, SmtpTls
from tests.support import MailSink, free_port

USER, PASSWORD = "confide-relay", "s3cret-relay-pass"


class TlsSink(MailSink):
    """Keeps each message with whether its session was encrypted and logged in."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[tuple[bool, bool]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((encrypted, bool(session.authenticated)))
        return await super().handle_DATA(server, session, envelope)


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(CA file, server cert, server key): a private CA signing a cert for 127.0.0.1."""
    d = tmp_path_factory.mktemp("smtp-tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Confide test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = d / "ca.pem", d / "cert.pem", d / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


def _server_context(certs) -> ssl.SSLContext:
    _, cert_file, key_file = certs
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def _start(sink: MailSink, **kwargs) -> Controller:
    ctl = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=_authenticator,
        auth_required=True,
        **kwargs,
    )
    ctl.start()
    return ctl


def _notice() -> SendNoticeInput:
    return SendNoticeInput(
        case_id="demo-clinic.F-1",
        step="warn",
        recipient_key="victim-1",
        to="casey@example.org",
        subject="Confide notice",
        body="A notice.",
    )


def _settings(ctl: Controller, tls: SmtpTls, ca_file: Path | None, password=PASSWORD):
    return SmtpSettings(
        host="127.0.0.1",
        port=ctl.port,
        timeout_seconds=10,
        tls=tls,
        username=USER,
        password=SecretStr(password),
        ca_file=str(ca_file) if ca_file else None,
    )


async def test_starttls_with_login_delivers_encrypted_and_authenticated(certs):
    sink = TlsSink()
    ctl = _start(sink, tls_context=_server_context(certs), require_starttls=True)
    try:
        acts = NoticeActivities(_settings(ctl, SmtpTls.starttls, certs[0]))
        await ActivityEnvironment().run(acts.send_notice, _notice())
    finally:
        ctl.stop()
    assert sink.sessions == [(True, True)]
    assert [m["To"] for m in sink.messages] == ["casey@example.org"]


async def test_implicit_tls_with_login_delivers(certs):
    sink = TlsSink()
    # aiosmtpd counts only STARTTLS as TLS when offering AUTH; this session is TLS throughout.
    with pytest.warns(UserWarning, match="AUTH while not requiring TLS"):
        ctl = _start(sink, ssl_context=_server_context(certs), auth_require_tls=False)
    try:
        acts = NoticeActivities(_settings(ctl, SmtpTls.implicit, certs[0]))
        await ActivityEnvironment().run(acts.send_notice, _notice())
    finally:
        ctl.stop()
    assert sink.sessions == [(True, True)]


async def test_a_relay_certificate_no_trusted_ca_signed_is_refused_and_retried(certs):
    sink = TlsSink()
    ctl = _start(sink, tls_context=_server_context(certs), require_starttls=True)
    try:
        # The system's CAs, not the private one: the certificate cannot be verified.
        acts = NoticeActivities(_settings(ctl, SmtpTls.starttls, None))
        with pytest.raises(ApplicationError) as e:
            await ActivityEnvironment().run(acts.send_notice, _notice())
    finally:
        ctl.stop()
    assert e.value.type == "MailServerUnreachable" and not e.value.non_retryable
    assert sink.messages == []


async def test_a_wrong_password_is_retried_not_a_permanent_refusal(certs):
    sink = TlsSink()
    ctl = _start(sink, tls_context=_server_context(certs), require_starttls=True)
    try:
        acts = NoticeActivities(_settings(ctl, SmtpTls.starttls, certs[0], password="wrong"))
        with pytest.raises(ApplicationError) as e:
            await ActivityEnvironment().run(acts.send_notice, _notice())
    finally:
        ctl.stop()
    # Our login is wrong, not the message: retried until an operator fixes the secret.
    assert e.value.type == "MailServerLoginRefused" and not e.value.non_retryable
    assert "wrong" not in str(e.value) and PASSWORD not in str(e.value)
    assert sink.messages == []


async def test_starttls_is_demanded_not_opportunistic(certs):
    """A relay (or someone in the middle) that offers no STARTTLS gets nothing in clear."""
    sink = TlsSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        acts = NoticeActivities(_settings(ctl, SmtpTls.starttls, certs[0]))
        with pytest.raises(ApplicationError) as e:
            await ActivityEnvironment().run(acts.send_notice, _notice())
    finally:
        ctl.stop()
    assert not e.value.non_retryable
    assert sink.messages == []


def test_the_password_never_shows_in_settings_output():
    s = SmtpSettings(username=USER, password=SecretStr(PASSWORD))
    assert PASSWORD not in repr(s) and PASSWORD not in s.model_dump_json()
