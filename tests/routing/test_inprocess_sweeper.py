"""Without Celery beat (the embedded default) the ASGI server runs the sweeps itself when ccp_up asks."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from routing import services
from routing.models import AgentWork, WorkItem
from tests.factories import MembershipFactory
from tests.servers import daphne_server, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_server_sweeps_a_silent_partner_back_to_platform_routing(tenant, partner):
    member = MembershipFactory(tenant=tenant, role="agent")
    with transaction.atomic():
        services.presence_set(membership=member, status="online")
        item = services.work_item_create(tenant=tenant, reference="s-1", routing_owner="partner", partner=partner)
    WorkItem.objects.filter(pk=item.pk).update(routing_deadline=timezone.now() - timedelta(seconds=1))
    assert not AgentWork.objects.exists()
    with daphne_server(CCP_INPROCESS_SWEEP="1", CCP_SWEEP_SECONDS="0.3"):
        work = wait_for(lambda: AgentWork.objects.filter(work_item=item).first(), what="the sweep to route it")
    assert work.agent == member and work.status == "offered"
