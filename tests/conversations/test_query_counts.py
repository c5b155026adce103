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
    # 12 with the test's savepoints (BEGIN/COMMIT in production); 17 before the hot-path work.
    assert _queries(lambda: post(api, message("second", "e1"))) <= 12
    assert _queries(lambda: post(api, message("third", "e2"))) <= 12


def test_a_message_to_an_agent_holding_the_conversation_costs_11_queries(api, channel, alice):
    online(alice)
    post(api, message("first", "e0"))
    with transaction.atomic():
        services.agent_work_accept(agent=alice, work=AgentWork.objects.get(agent=alice))
    # lock the conversation (with its contact), session, participants, duplicate check, append
    # (update + insert in a savepoint), the event row, and the request's own savepoint pair
    assert _queries(lambda: post(api, message("to alice", "e1"))) <= 11


def test_routing_a_new_conversation_does_not_grow_with_the_number_of_agents(api, channel, tenant):
    online(MembershipFactory(tenant=tenant, role="agent"))
    post(api, message("warm", "w1"), sender="+0")  # steady state: token and channel lookups are cached
    few = _queries(lambda: post(api, message("a", "a1"), sender="+1"))
    for _ in range(8):
        online(MembershipFactory(tenant=tenant, role="agent"))
    many = _queries(lambda: post(api, message("b", "b1"), sender="+2"))
    assert many == few, (few, many)


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
