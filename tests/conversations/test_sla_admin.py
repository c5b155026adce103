"""SLA policies in the admin: a tenant admin's own queues, channels and calendars only, one of queue
or channel, at least one target."""

import pytest

from conversations.models import SlaPolicy
from routing.models import Queue
from tenants.models import BusinessHours
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
ADD = "/admin/conversations/slapolicy/add/"


def test_a_tenant_admin_sets_a_policy_on_their_own_queue_only(client, tenant, other_tenant, channel):
    admin_member = MembershipFactory(tenant=tenant, role="admin")
    own = Queue.objects.create(tenant=tenant, name="billing")
    foreign = Queue.objects.create(tenant=other_tenant, name="billing")
    foreign_hours = BusinessHours.objects.create(tenant=other_tenant, name="theirs", weekly={})
    client.force_login(admin_member.user)
    form = client.get(ADD).content.decode()
    assert str(own.pk) in form and str(foreign.pk) not in form and str(foreign_hours.pk) not in form

    refused = client.post(ADD, {"name": "Theirs", "queue": str(foreign.pk), "first_response_seconds": "60"})
    assert refused.status_code == 200 and not SlaPolicy.objects.exists()  # not a valid choice
    both = client.post(
        ADD, {"name": "Both", "queue": str(own.pk), "channel": str(channel.pk), "first_response_seconds": "60"}
    )
    assert "Choose a queue or a channel" in both.content.decode() and not SlaPolicy.objects.exists()
    none = client.post(ADD, {"name": "None", "queue": str(own.pk)})
    assert "Set at least one target" in none.content.decode()

    done = client.post(ADD, {"name": "Billing", "queue": str(own.pk), "first_response_seconds": "120"})
    assert done.status_code == 302, done.content[:2000]
    policy = SlaPolicy.objects.get()
    assert (policy.tenant, policy.queue, policy.first_response_seconds) == (tenant, own, 120)
