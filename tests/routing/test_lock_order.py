"""The lock-order rule of routing/services/__init__.py: a transaction waits for at most one presence row; a
candidate whose row another transaction holds is passed over, and the work waits in the queue."""

import threading

import pytest
from django.db import connection, transaction

from routing import services
from routing.errors import AgentUnavailable
from routing.models import AgentPresence, RouteDecision, WorkItem
from tests.factories import MembershipFactory

from .test_dispatch import online_agents

pytestmark = pytest.mark.django_db(transaction=True)


class RowHolder:
    """Another connection holding an agent's presence row locked until released."""

    def __init__(self, membership):
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(membership,))

    def _hold(self, membership):
        try:
            with transaction.atomic():
                AgentPresence.objects.select_for_update().get(membership=membership)
                self.locked.set()
                self.release.wait(timeout=30)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        assert self.locked.wait(timeout=10)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(timeout=30)


def _create(tenant, reference):
    with transaction.atomic():
        return services.work_item_create(tenant=tenant, reference=reference)


def test_a_new_item_passes_over_a_locked_agent_to_a_free_one(tenant):
    busy, free = online_agents(tenant, 2, capacity=2)
    with RowHolder(busy) as holder:
        item = _create(tenant, "r1")
        assert holder.thread.is_alive()  # created while the other transaction still held the row
    item.refresh_from_db()
    assert item.status == "offered"
    assert item.works.get().agent_id == free.pk


def test_when_every_candidate_is_locked_the_item_waits_in_the_queue_and_a_round_offers_it(tenant):
    (busy,) = online_agents(tenant, 1, capacity=2)
    with RowHolder(busy) as holder:
        item = _create(tenant, "r1")
        assert holder.thread.is_alive()
    item.refresh_from_db()
    assert item.status == "queued"
    decision = RouteDecision.objects.get(work_item=item)
    assert decision.outcome == "no_agent"
    assert "agent_busy" in decision.reason
    services.routing_dispatch(tenant_id=tenant.pk)  # what the round asked for after commit does
    item.refresh_from_db()
    assert item.status == "offered"
    assert item.works.get().agent_id == busy.pk


def test_an_explicit_offer_to_one_agent_still_waits_for_its_row(tenant):
    """A partner naming the agent holds no other presence row: it waits rather than refuse."""
    (agent,) = online_agents(tenant, 1, capacity=2)
    with transaction.atomic():
        queued = WorkItem.objects.create(tenant=tenant, reference="r2")
    holder = RowHolder(agent).__enter__()
    offered = {}

    def offer():
        try:
            with transaction.atomic():
                offered["work"] = services.work_offer(work_item=queued, agent_id=agent.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=offer)
    thread.start()
    thread.join(timeout=1)
    assert thread.is_alive()  # waiting for the row, not refused
    holder.__exit__(None, None, None)
    thread.join(timeout=30)
    assert offered["work"].agent_id == agent.pk


def test_an_agent_who_never_went_online_is_unavailable_and_gets_no_presence_row(tenant):
    never = MembershipFactory(tenant=tenant, role="agent")
    with transaction.atomic():
        queued = WorkItem.objects.create(tenant=tenant, reference="r3")
    with pytest.raises(AgentUnavailable), transaction.atomic():
        services.work_offer(work_item=queued, agent_id=never.pk)
    assert not AgentPresence.objects.filter(membership=never).exists()
