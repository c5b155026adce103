"""The webhook sender connects to the address it checked (DNS pinning), with the name kept for Host/SNI/TLS."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import timezone

from ccp.events.models import Delivery, DeliveryAttempt, Event
from ccp.events.services import delivery_attempt, subscription_create
from ccp.events.services.pinning import pinned_session, session_pin

PUBLIC = "93.184.216.34"  # a global address: passes the check; unreachable from the test machine


class _Server:
    """An HTTP(S) server on 127.0.0.1 that records the Host header and the TLS server name it saw."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.hosts: list[str] = []
        self.sni: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.hosts.append(self.headers["Host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _certificate(tmp_path, name: str):
    """A self-signed certificate for `name` (its own CA), as files: (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_a_pinned_host_is_reached_at_its_address_without_dns_and_keeps_its_name():
    server = _Server()
    try:
        url = f"http://hooks.invalid:{server.port}/ccp"  # .invalid never resolves
        session = pinned_session()
        with pytest.raises(requests.ConnectionError, match="no checked address pinned"):
            session.post(url, data=b"{}", timeout=3)
        session_pin(session, url, [ipaddress.ip_address("127.0.0.1")])
        assert session.post(url, data=b"{}", timeout=3).status_code == 204
        assert server.hosts == [f"hooks.invalid:{server.port}"]
    finally:
        server.close()


def test_over_tls_the_name_is_sent_as_sni_and_verified_against_the_certificate(tmp_path):
    cert, key = _certificate(tmp_path, "hooks.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _Server(tls=context)
    try:
        session = pinned_session()
        session.verify = str(cert)
        url = f"https://hooks.test:{server.port}/ccp"
        session_pin(session, url, ["127.0.0.1"])
        assert session.post(url, data=b"{}", timeout=3).status_code == 204
        assert server.sni[-1] == "hooks.test" and server.hosts == [f"hooks.test:{server.port}"]
        # a certificate for another name fails, though the address is the same
        other = f"https://other.test:{server.port}/ccp"
        session_pin(session, other, ["127.0.0.1"])
        with pytest.raises(requests.exceptions.SSLError):
            session.post(other, data=b"{}", timeout=3)
    finally:
        server.close()


@pytest.mark.django_db
def test_dns_rebinding_after_the_check_does_not_reach_the_internal_address(tenant, partner, settings, monkeypatch):
    """The resolver answers a public address to the check, then 127.0.0.1: the POST must not follow."""
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    settings.EVENTS_DELIVERY_CONNECT_TIMEOUT = 1
    internal = socket.socket()
    internal.bind(("127.0.0.1", 0))
    internal.listen(8)
    internal.settimeout(0.5)
    port = internal.getsockname()[1]
    answers = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, *args, **kwargs)
        address = PUBLIC if not answers else "127.0.0.1"
        answers.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        subscription, _ = subscription_create(
            partner=partner, url=f"https://rebind.example:{port}/hook", event_types=["*"]
        )
        event = Event.objects.create(
            tenant=tenant, partner=partner, type="test.ping", data={}, occurred_at=timezone.now(), replay_id=1
        )
        now = timezone.now()
        delivery = Delivery.objects.create(
            subscription=subscription, event=event, next_attempt_at=now, window_started_at=now
        )
        answers.clear()  # the creation-time check resolved too; count the delivery's own lookups
        delivery_attempt(delivery_id=delivery.pk)
        attempt = DeliveryAttempt.objects.get(delivery=delivery)
        assert not attempt.succeeded and attempt.status_code is None
        assert answers == [PUBLIC]  # resolved once, by the check; the connection did not ask again
        with pytest.raises(TimeoutError):
            internal.accept()  # nothing connected to the internal address
    finally:
        internal.close()
