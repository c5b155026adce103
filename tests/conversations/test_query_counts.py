"""Query counts on the hot path and list endpoints: fixed, and independent of how many agents or rows."""

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations import services
from routing.models import AgentWork
from tests.factories import MembershipFactory

from .conftest import message, online, post


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_a_message_in_an_existing_conversation_costs_a_fixed_number_of_queries(api, channel, alice):
    online(alice)
    post(api, message("first", "e0"))
    # 6 with the test's savepoints (BEGIN/COMMIT in production); 12 before conversations/sql.py, 17 before
    # the first hot-path work: lock, session + holders + stored entries, whether routing is open, and one
    # statement for the message, the conversation's counters and the event
    assert _queries(lambda: post(api, message("second", "e1"))) <= 6
    assert _queries(lambda: post(api, message("third", "e2"))) <= 6


def test_a_message_to_an_agent_holding_the_conversation_costs_11_queries(api, channel, alice):
    online(alice)
    post(api, message("first", "e0"))
    with transaction.atomic():
        services.agent_work_accept(agent=alice, work=AgentWork.objects.get(agent=alice))
    # lock the conversation (with its contact); session, participants and the duplicate check in one
    # statement; the message, the conversation's counters and the event row in one; the request's own
    # savepoint pair (11 before conversations/sql.py)
    assert _queries(lambda: post(api, message("to alice", "e1"))) <= 5


def test_an_agent_reply_costs_a_fixed_number_of_queries(api, channel, alice, client):
    online(alice)
    post(api, message("first", "e0"))
    with transaction.atomic():
        services.agent_work_accept(agent=alice, work=AgentWork.objects.get(agent=alice))
    client.force_login(alice.user)
    conversation_id = str(alice.participations.get().conversation_id)

    def reply():
        response = client.post(
            f"/api/v1/agent/conversations/{conversation_id}/messages/", {"text": "On its way."}, "application/json"
        )
        assert response.status_code == 201, response.content

    reply()  # steady state: the channel and the outbound event type are cached
    # user, conversation, savepoint pair, lock, participants, presence, consent (with the erased
    # opt-out), and one statement for the message, the counters and both events (14 before)
    assert _queries(reply) <= 9


def test_routing_a_new_conversation_does_not_grow_with_the_number_of_agents(api, channel, tenant):
    online(MembershipFactory(tenant=tenant, role="agent"))
    post(api, message("warm", "w1"), sender="+0")  # steady state: token and channel lookups are cached
    few = _queries(lambda: post(api, message("a", "a1"), sender="+1"))
    for _ in range(8):
        online(MembershipFactory(tenant=tenant, role="agent"))
    many = _queries(lambda: post(api, message("b", "b1"), sender="+2"))
    assert many == few, (few, many)
    # what the request just created is not read back: the contact, the partner, the session (and that
    # nobody holds it yet), that it has no work item, its first text, a new contact's earlier agents;
    # the candidates are one statement and the offer's four writes another (42, then 38 before)
    assert few <= 26


def test_partner_list_endpoints_do_not_grow_with_rows(api, channel, tenant):
    for _ in range(2):
        online(MembershipFactory(tenant=tenant, role="agent"))
    api.get("/api/v1/agents/", {"to": channel.channel_address_id})  # steady state: the token lookup is cached
    small = {
        path: _queries(lambda p=path: api.get(p, {"to": channel.channel_address_id}))
        for path in ("/api/v1/agents/", "/api/v1/channels/", "/api/v1/packages/")
    }
    for _ in range(6):
        online(MembershipFactory(tenant=tenant, role="agent"))
    large = {path: _queries(lambda p=path: api.get(p, {"to": channel.channel_address_id})) for path in small}
    assert large == small
