"""The agent websocket opens only from the workspace's own origin: scheme, host and port all count."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from ccp.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(user, *, origin: str, host: str | None = "localhost:8000", **extra: str) -> list:
    client = Client()
    client.force_login(user)
    headers = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"origin", origin.encode())]
    if host is not None:
        headers.append((b"host", host.encode()))
    headers += [(k.replace("_", "-").encode(), v.encode()) for k, v in extra.items()]
    return headers


def _connects(headers) -> bool:
    async def attempt():
        communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        await communicator.disconnect()
        return connected

    return async_to_sync(attempt)()


def test_same_origin_connects(agent):
    assert _connects(_headers(agent.user, origin="http://localhost:8000"))


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:8080",  # another app on the same host: the port used to be ignored
        "http://localhost",  # port 80 is not port 8000
        "https://localhost:8000",  # the page was not served over https
        "http://evil.example:8000",
        "null",
        "",
    ],
)
def test_another_origin_is_refused(agent, origin):
    assert not _connects(_headers(agent.user, origin=origin))


def test_a_host_outside_allowed_hosts_is_refused_even_from_its_own_origin(agent):
    assert not _connects(_headers(agent.user, origin="http://evil.example:8000", host="evil.example:8000"))


def test_behind_a_tls_proxy_the_https_origin_is_ours(agent, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    headers = _headers(agent.user, origin="https://localhost", host="localhost", x_forwarded_proto="https")
    assert _connects(headers)
    assert not _connects(_headers(agent.user, origin="http://localhost", host="localhost", x_forwarded_proto="https"))


def test_csrf_trusted_origins_are_matched_exactly(agent, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://workspace.example.com"]
    assert _connects(_headers(agent.user, origin="https://workspace.example.com"))
    assert not _connects(_headers(agent.user, origin="https://workspace.example.com:8443"))
    assert not _connects(_headers(agent.user, origin="http://workspace.example.com"))
