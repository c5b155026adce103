"""An agent's open websocket ends with the agent's access: logout, membership removal, session
expiry, a new password, a deactivated tenant — and then receives nothing more."""

import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from ccp.asgi import application

from .conftest import install, message, online, post

pytestmark = pytest.mark.django_db(transaction=True)


def _logged_in(user) -> tuple[Client, list]:
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return client, [(b"cookie", cookie), (b"origin", b"http://localhost")]


def _in_thread(fn, *args):
    def run():
        try:
            return fn(*args)
        finally:
            connection.close()

    return sync_to_async(run, thread_sensitive=False)()


async def _open(headers) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    assert (await communicator.receive_json_from(timeout=10))["type"] == "hello"
    return communicator


async def _closed_within(communicator, seconds: float) -> float:
    """Seconds until the server closed the socket with 4401 (frames before it are skipped)."""
    started = time.monotonic()
    while True:
        remaining = seconds - (time.monotonic() - started)
        assert remaining > 0, f"the socket was still open after {seconds} s"
        output = await communicator.receive_output(timeout=remaining)
        if output["type"] == "websocket.close":
            assert output["code"] == 4401, output
            return time.monotonic() - started


def _nothing_more_after_an_offer(api, communicator):
    """A new conversation that platform routing would offer the agent: no frame reaches the socket."""

    async def check():
        response = await _in_thread(post, api, message("Call me back, my name is Ann Example"))
        assert response.status_code == 201, response.content
        assert await communicator.receive_nothing(timeout=1.5)

    return check()


@pytest.fixture
def socket_settings(settings):
    """A periodic re-check too slow to matter: a close within seconds is the change's own nudge."""
    settings.AGENT_SOCKET_RECHECK_SECONDS = 60
    return settings


@pytest.fixture
def periodic_settings(settings):
    settings.AGENT_SOCKET_RECHECK_SECONDS = 0.5
    return settings


def test_logout_closes_that_sessions_socket_at_once_and_not_the_others(socket_settings, tenant, partner, api, alice):
    install(tenant, partner)
    online(alice)
    browser, headers = _logged_in(alice.user)
    _, other_headers = _logged_in(alice.user)  # the same agent in a second browser

    async def scenario():
        communicator = await _open(headers)
        other = await _open(other_headers)
        response = await _in_thread(browser.post, "/accounts/logout/")
        assert response.status_code == 302
        assert await _closed_within(communicator, 3) < 3
        await _nothing_more_after_an_offer(api, communicator)
        # the other browser's session is still valid: its socket stays and gets the offer
        frame = await other.receive_json_from(timeout=10)
        while frame["type"] != "work.offered":
            frame = await other.receive_json_from(timeout=10)
        await other.disconnect()

    async_to_sync(scenario)()


def test_removing_the_membership_closes_the_socket(socket_settings, tenant, partner, api, alice):
    install(tenant, partner)
    online(alice)
    _, headers = _logged_in(alice.user)

    async def scenario():
        communicator = await _open(headers)
        await _in_thread(alice.delete)
        assert await _closed_within(communicator, 3) < 3
        await _nothing_more_after_an_offer(api, communicator)

    async_to_sync(scenario)()


def test_an_expired_session_closes_the_socket_at_the_next_recheck(periodic_settings, tenant, alice):
    client, headers = _logged_in(alice.user)
    session = client.session
    session.set_expiry(2)
    session.save()

    async def scenario():
        communicator = await _open(headers)
        assert await _closed_within(communicator, 5) >= 1  # open until the session ran out

    async_to_sync(scenario)()


def test_a_new_password_closes_the_agents_sockets(socket_settings, tenant, alice):
    _, headers = _logged_in(alice.user)

    def change_password():
        alice.user.set_password("a whole new secret")
        alice.user.save()

    async def scenario():
        communicator = await _open(headers)
        await _in_thread(change_password)
        assert await _closed_within(communicator, 3) < 3

    async_to_sync(scenario)()


def test_without_a_nudge_the_periodic_recheck_still_closes_it(periodic_settings, tenant, alice):
    from tenants.models import Tenant

    _, headers = _logged_in(alice.user)

    async def scenario():
        communicator = await _open(headers)
        # an update() sends no signal: only the periodic re-check can notice
        await _in_thread(lambda: Tenant.objects.filter(pk=tenant.pk).update(is_active=False))
        assert await _closed_within(communicator, 3) < 3

    async_to_sync(scenario)()


def test_a_live_session_keeps_its_socket(periodic_settings, tenant, alice):
    _, headers = _logged_in(alice.user)

    async def scenario():
        communicator = await _open(headers)
        assert await communicator.receive_nothing(timeout=2)  # four re-checks passed
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_the_periodic_recheck_closes_only_the_ended_sockets(periodic_settings, tenant, other_tenant, alice, bob):
    from tenants.models import Tenant
    from tests.factories import MembershipFactory

    carol = MembershipFactory(tenant=other_tenant, role="agent", display_name="Carol")
    headers = {m.pk: _logged_in(m.user)[1] for m in (alice, bob, carol)}

    async def scenario():
        sockets = {pk: await _open(h) for pk, h in headers.items()}
        await _in_thread(lambda: Tenant.objects.filter(pk=other_tenant.pk).update(is_active=False))
        assert await _closed_within(sockets[carol.pk], 3) < 3
        for pk in (alice.pk, bob.pk):
            await sockets[pk].send_json_to({"type": "ping"})
            assert (await sockets[pk].receive_json_from(timeout=5))["type"] == "pong"
            await sockets[pk].disconnect()

    async_to_sync(scenario)()


def test_one_bulk_recheck_reads_any_number_of_sockets_in_one_query(tenant, alice, bob, django_assert_num_queries):
    from tenants.selectors import memberships_for_sessions

    pairs = []
    for membership in (alice, bob):
        client, _ = _logged_in(membership.user)
        pairs.append((client.cookies["sessionid"].value, membership.pk))
    ended = Client()
    ended.force_login(bob.user)
    ended_pair = (ended.cookies["sessionid"].value, bob.pk)
    ended.logout()
    sockets = pairs * 250 + [ended_pair, ("no-such-session", alice.pk), (pairs[0][0], bob.pk)]  # 503 sockets
    started = time.process_time()
    with django_assert_num_queries(2):  # the memberships; the sessions not in the cache (the ended ones)
        standing = memberships_for_sessions(sockets=sockets)
    print(f"\nbulk re-check of {len(sockets)} sockets: {(time.process_time() - started) * 1000:.1f} ms CPU")
    assert standing == set(pairs)  # alice's session does not stand for bob's membership
