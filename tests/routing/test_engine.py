"""Platform routing: strategies, skills with levels and relaxation, priority with aging, overflow,
the previous agent, cross-channel rules and dispatch when capacity frees (FIG 13 1332, FIG 14, FIG 18)."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from routing import services
from routing.errors import AgentNotFound, AgentUnavailable, CapacityExhausted
from routing.models import AgentPresence, AgentSkill, AgentWork, Queue, RouteDecision, Skill, WorkItem
from tests.factories import MembershipFactory
from tests.servers import wait_for


def agent(tenant, name, *, capacity=4, skills=None, status="online"):
    member = MembershipFactory(tenant=tenant, role="agent", display_name=name)
    with transaction.atomic():
        services.capacity_set(membership=member, capacity={"messaging": capacity, "voice": 1})
        services.presence_set(membership=member, status=status)
    for skill, level in (skills or {}).items():
        obj, _ = Skill.objects.get_or_create(tenant=tenant, name=skill)
        AgentSkill.objects.create(tenant=tenant, membership=member, skill=obj, level=level)
    return member


def item(tenant, ref, **kwargs):
    with transaction.atomic():
        return services.work_item_create(tenant=tenant, reference=ref, **kwargs)


def offered_to(work_item):
    work = AgentWork.objects.filter(work_item=work_item, status="offered").first()
    return work.agent.display_name if work else None


def hold(tenant, member, n):
    """Give an agent n accepted pieces of work."""
    for i in range(n):
        wi = WorkItem.objects.create(tenant=tenant, reference=f"held-{member.pk}-{i}")
        with transaction.atomic():
            work = services.work_offer(work_item=wi, agent_id=member.pk)
            services.work_accept(work=work)


def test_most_available_prefers_the_lowest_load(tenant):
    busy = agent(tenant, "Busy")
    agent(tenant, "Free")
    hold(tenant, busy, 2)
    assert offered_to(item(tenant, "a")) == "Free"


def test_longest_idle_prefers_who_waited_longest(tenant):
    queue = Queue.objects.create(tenant=tenant, name="idle", strategy="longest_idle")
    a = agent(tenant, "Recent")
    b = agent(tenant, "Waiting")
    AgentPresence.objects.filter(membership=a).update(last_work_ended_at=timezone.now())
    AgentPresence.objects.filter(membership=b).update(last_work_ended_at=timezone.now() - timedelta(minutes=30))
    assert offered_to(item(tenant, "x", queue=queue)) == "Waiting"


def test_round_robin_takes_turns(tenant):
    queue = Queue.objects.create(tenant=tenant, name="rr", strategy="round_robin", prefer_previous_agent=False)
    agent(tenant, "A")
    agent(tenant, "B")
    agent(tenant, "C")
    names = [offered_to(item(tenant, f"r{i}", queue=queue)) for i in range(6)]
    assert sorted(names[:3]) == ["A", "B", "C"] and names[3:] == names[:3]


def test_required_skill_levels_filter_candidates(tenant):
    agent(tenant, "Junior", skills={"billing": 2})
    agent(tenant, "Senior", skills={"billing": 4})
    work_item = item(tenant, "b", required_skills=[{"skill": "billing", "level": 3}])
    assert offered_to(work_item) == "Senior"
    decision = RouteDecision.objects.get(work_item=work_item)
    assert [c["agent_id"] for c in decision.candidates] == [str(AgentWork.objects.get(work_item=work_item).agent_id)]


def test_an_optional_skill_is_relaxed_after_waiting(tenant):
    agent(tenant, "English only", skills={"cards": 3})
    requirement = [
        {"skill": "cards", "level": 1},
        {"skill": "spanish", "level": 1, "optional": True, "drop_after": 30},
    ]
    work_item = item(tenant, "s", required_skills=requirement)
    assert offered_to(work_item) is None
    assert RouteDecision.objects.get(work_item=work_item).outcome == "no_agent"
    WorkItem.objects.filter(pk=work_item.pk).update(enqueued_at=timezone.now() - timedelta(seconds=31))
    services.routing_sweep()
    assert offered_to(work_item) == "English only"


def test_priority_with_aging_orders_waiting_work(tenant):
    queue = Queue.objects.create(tenant=tenant, name="prio", ordering="priority", aging_seconds=60)
    old_low = item(tenant, "old-low", queue=queue, priority=0)
    new_high = item(tenant, "new-high", queue=queue, priority=1)
    WorkItem.objects.filter(pk=old_low.pk).update(enqueued_at=timezone.now() - timedelta(seconds=30))
    solo = agent(tenant, "Solo", capacity=1, status="offline")
    with transaction.atomic():
        services.presence_set(membership=solo, status="online")
    services.routing_dispatch(tenant_id=tenant.pk)
    assert offered_to(new_high) == "Solo"  # 1 + 0 aging beats 0 + 0.5
    # after long enough a low-priority item overtakes: aging
    AgentWork.objects.filter(work_item=new_high).update(status="declined", ended_at=timezone.now())
    WorkItem.objects.filter(pk=new_high.pk).update(status="queued")
    WorkItem.objects.filter(pk=old_low.pk).update(enqueued_at=timezone.now() - timedelta(seconds=180))
    services.routing_dispatch(tenant_id=tenant.pk)
    assert offered_to(old_low) == "Solo"


def test_the_previous_agent_is_preferred(tenant):
    agent(tenant, "Other")
    previous = agent(tenant, "Previous")
    hold(tenant, previous, 1)  # more loaded, yet preferred
    assert offered_to(item(tenant, "p", preferred_agent=previous)) == "Previous"


def test_overflow_moves_waiting_work_to_another_queue(tenant):
    backup = Queue.objects.create(tenant=tenant, name="backup")
    main = Queue.objects.create(tenant=tenant, name="main", overflow_queue=backup, overflow_after_seconds=20)
    helper = agent(tenant, "Backup agent")
    backup.members.add(helper)
    main.members.add(MembershipFactory(tenant=tenant, role="agent"))  # a member who is offline
    work_item = item(tenant, "o", queue=main)
    assert offered_to(work_item) is None
    counts = services.routing_sweep(now=timezone.now() + timedelta(seconds=21))
    assert counts["overflowed"] == 1
    assert offered_to(work_item) == "Backup agent"


def test_a_voice_call_blocks_new_chats(tenant):
    caller = agent(tenant, "On a call")
    agent(tenant, "Chatter", capacity=1)
    call = WorkItem.objects.create(tenant=tenant, reference="call", channel_type="voice")
    with transaction.atomic():
        services.work_accept(work=services.work_offer(work_item=call, agent_id=caller.pk))
    first = item(tenant, "c1")
    assert offered_to(first) == "Chatter"
    second = item(tenant, "c2")
    assert offered_to(second) is None  # the caller has chat capacity but is on a call
    with transaction.atomic(), pytest.raises(CapacityExhausted):
        services.work_offer(work_item=second, agent_id=caller.pk)


@pytest.mark.django_db(transaction=True)
def test_freed_capacity_goes_to_waiting_work_at_once(tenant, celery_worker):
    """Closing work or raising capacity queues a dispatch task on commit; the worker offers at once."""
    solo = agent(tenant, "Solo", capacity=1)
    first = item(tenant, "f1")
    second = item(tenant, "f2")
    assert offered_to(first) == "Solo" and offered_to(second) is None
    work = AgentWork.objects.get(work_item=first)
    with transaction.atomic():
        services.work_accept(work=work)
    with transaction.atomic():
        services.work_close(work=work)
    wait_for(lambda: offered_to(second) == "Solo", timeout=10, what="the dispatch task to offer f2")
    # raising capacity also dispatches
    third = item(tenant, "f3")
    assert offered_to(third) is None
    with transaction.atomic():
        services.capacity_set(membership=solo, capacity={"messaging": 2})
    wait_for(lambda: offered_to(third) == "Solo", timeout=10, what="the dispatch task to offer f3")


@pytest.mark.django_db(transaction=True)
def test_going_online_receives_waiting_work(tenant, celery_worker):
    late = agent(tenant, "Late", status="offline")
    work_item = item(tenant, "w")
    assert offered_to(work_item) is None
    with transaction.atomic():
        services.presence_set(membership=late, status="online")
    wait_for(lambda: offered_to(work_item) == "Late", timeout=10, what="the dispatch task to offer it")


def test_with_eager_celery_the_dispatch_runs_right_after_the_commit(
    tenant, settings, django_capture_on_commit_callbacks
):
    """The embedded default has no worker: the commit that frees capacity dispatches in the same process."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    late = agent(tenant, "Late", status="offline")
    work_item = item(tenant, "w")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services.presence_set(membership=late, status="online")
    assert offered_to(work_item) == "Late"


def test_offers_to_unavailable_or_foreign_agents_change_nothing(tenant, other_tenant):
    away = agent(tenant, "Away", status="away")
    foreign = agent(other_tenant, "Foreign")
    work_item = WorkItem.objects.create(tenant=tenant, reference="e")
    with transaction.atomic(), pytest.raises(AgentUnavailable):
        services.work_offer(work_item=work_item, agent_id=away.pk)
    with transaction.atomic(), pytest.raises(AgentNotFound):
        services.work_offer(work_item=work_item, agent_id=foreign.pk)
    assert not AgentWork.objects.exists()
    work_item.refresh_from_db()
    assert work_item.status == "queued"


def test_invalid_presence_and_capacity_are_refused(tenant):
    from ccp.core.errors import Invalid

    member = agent(tenant, "X")
    with transaction.atomic(), pytest.raises(Invalid) as exc:
        services.presence_set(membership=member, status="sleeping")
    assert exc.value.code == "invalid_status"
    with transaction.atomic(), pytest.raises(Invalid) as exc:
        services.capacity_set(membership=member, capacity={"messaging": -1, "fax": 2})
    assert set(exc.value.details) == {"messaging", "fax"}
