"""Degraded mode in one process: PostgreSQL connections cut mid-request answer 503 with Retry-After
and write nothing; with Redis unreachable the rate limit, sessions and websocket pushes step aside
(the sweep pushes later). The multi-process versions are in tests/faults/."""

from __future__ import annotations

import copy

import psycopg
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.db import connection, transaction
from rest_framework.test import APIClient

from ccp.core import redis_health
from ccp.events import services as event_services
from ccp.events.models import Event
from ccp.packages.models import Partner
from tests.helpers import assert_error
from tests.servers import free_port, wait_for

pytestmark = [pytest.mark.urls("tests.core.urls"), pytest.mark.django_db(transaction=True)]
PROBE = "/api/v1/test/probe/"


@pytest.fixture(autouse=True)
def _fresh_breaker():
    redis_health.redis_recovered()
    yield
    redis_health.redis_recovered()


def _dead_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


@pytest.fixture
def redis_down(settings):
    """The cache and the channel layer point at a port where no Redis listens."""
    url = _dead_redis_url()
    caches = copy.deepcopy(django_settings.CACHES)
    caches["default"]["LOCATION"] = url
    layers = copy.deepcopy(django_settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["hosts"] = [{"address": url, "socket_timeout": 2}]
    settings.CACHES = caches
    settings.CHANNEL_LAYERS = layers
    return url


def test_a_connection_terminated_mid_request_is_a_503_with_retry_after_and_writes_nothing(api):
    def terminate_at_the_insert(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "packages_partner"'):
            pid = connection.connection.info.backend_pid
            db = connection.settings_dict
            with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(terminate_at_the_insert):
        response = api.post(PROBE, {"identifier": "cut-short"}, format="json")
    error = assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == str(django_settings.SERVICE_UNAVAILABLE_RETRY_AFTER)
    assert error["details"] == {"retry_after": django_settings.SERVICE_UNAVAILABLE_RETRY_AFTER}
    connection.close()  # the request's connection died with its backend; the next one is fresh
    assert not Partner.objects.filter(partner_identifier="cut-short").exists()
    assert api.post(PROBE, {"identifier": "next-one"}, format="json").status_code == 201  # recovered


def test_with_redis_down_partner_calls_are_served_without_the_rate_limit(api, redis_down, settings):
    settings.PARTNER_RATE_LIMIT = "1/min"  # would refuse the second call if the counter were reachable
    first = api.post(PROBE, {"identifier": "one"}, format="json")
    second = api.post(PROBE, {"identifier": "two"}, format="json")
    assert (first.status_code, second.status_code) == (201, 201), second.content
    assert redis_health.redis_skipping()  # and the next calls do not even try for a moment


def test_with_redis_down_an_agent_session_is_read_from_the_database(agent, redis_down):
    session = DbSessionStore()  # logged in before the outage: the session is in PostgreSQL
    session[SESSION_KEY] = str(agent.user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = agent.user.get_session_auth_hash()
    session.create()
    client = APIClient()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = session.session_key
    response = client.get("/api/v1/agent/conversations/")
    assert response.status_code == 200, response.content


def test_a_push_that_fails_while_redis_is_down_is_sent_by_the_sweep(tenant, agent, settings):
    live_layers = copy.deepcopy(django_settings.CHANNEL_LAYERS)
    layers = copy.deepcopy(live_layers)
    layers["default"]["CONFIG"]["hosts"] = [{"address": _dead_redis_url(), "socket_timeout": 2}]
    settings.CHANNEL_LAYERS = layers
    settings.EVENTS_VALIDATE_PAYLOADS = False  # a stand-in payload: this tests the push, not the domain
    with transaction.atomic():
        event = event_services.event_publish(
            tenant=tenant, type="message.created", data={"text": "while Redis was down"}, agent_ids=[agent.pk]
        )
    wait_for(lambda: Event.objects.filter(pk=event.pk, push_pending=True).exists(), timeout=20, what="the mark")

    settings.CHANNEL_LAYERS = live_layers  # Redis is back
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(event_services.agent_group(agent.pk), channel)
    redis_health.redis_recovered()
    result = event_services.events_sweep()
    assert result["pushed"] == 1
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "ccp.event" and message["event"]["data"] == {"text": "while Redis was down"}
    assert not Event.objects.filter(push_pending=True).exists()
    assert event_services.events_sweep()["pushed"] == 0  # once


def test_with_redis_down_the_agent_websocket_closes_with_try_again_later(agent, redis_down):
    from channels.testing import WebsocketCommunicator

    from ccp.asgi import application

    session = DbSessionStore()
    session[SESSION_KEY] = str(agent.user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = agent.user.get_session_auth_hash()
    session.create()
    headers = [(b"cookie", f"sessionid={session.session_key}".encode()), (b"origin", b"http://localhost")]

    async def connect():
        communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        closed = await communicator.receive_output(timeout=10)
        await communicator.disconnect()
        return connected, closed

    connected, closed = async_to_sync(connect)()
    assert connected and closed == {"type": "websocket.close", "code": 1013}
