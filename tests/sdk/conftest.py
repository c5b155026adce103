"""SDK fixtures: a recording HTTP server, and SDK clients against it or against the live platform."""

from __future__ import annotations

import pytest

from ccp_partner import Client
from tests.factories import connected_app_for

from .servers import start_recording_server


@pytest.fixture
def recorder():
    recorder, httpd = start_recording_server()
    yield recorder
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def sleeps():
    """What the client asked to sleep, in order (the tests do not really wait)."""
    return []


@pytest.fixture
def recorded_client(recorder, sleeps):
    with Client(recorder.url, "client-id", "client-secret", sleep=sleeps.append, max_retries=3) as client:
        yield client


@pytest.fixture
def live_app(partner):
    """A connected app of `partner` with every scope, made by the real service, and its plain secret."""
    return connected_app_for(partner)


@pytest.fixture
def make_client(live_server, sleeps):
    """Clients of the live platform (or of a proxy in front of it), closed after the test so that the
    live server's keep-alive threads end and release their database connections."""
    clients = []

    def make(client_id, secret, *, base_url=None, **kwargs):
        kwargs.setdefault("sleep", sleeps.append)
        client = Client(base_url or live_server.url, client_id, secret, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def live_client(make_client, live_app):
    app, secret = live_app
    return make_client(app.application.client_id, secret)
