"""Operators can inspect events and deliveries in the admin; tenant admins cannot see the bus."""

from ccp.events import services
from ccp.events.models import Delivery
from tests.factories import PASSWORD, MembershipFactory, UserFactory


def test_operator_sees_deliveries_with_attempts_but_never_the_secret(client, tenant, partner):
    operator = UserFactory(username="operator", is_staff=True, is_superuser=True)
    subscription, secret = services.subscription_create(partner=partner, url="https://example.com/h", event_types=["*"])
    event = services.event_publish(tenant=tenant, partner=partner, type="work.offered", data={})
    services.event_fan_out(event_pks=[event.pk])
    services.event_relay(event_pks=[event.pk])
    delivery = Delivery.objects.get()
    assert client.login(username=operator.username, password=PASSWORD)

    assert "work.offered" in client.get("/admin/events/event/").content.decode()
    page = client.get(f"/admin/events/delivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert secret not in client.get(f"/admin/events/subscription/{subscription.pk}/change/").content.decode()


def test_tenant_admin_cannot_open_the_event_bus(client, tenant):
    admin_member = MembershipFactory(tenant=tenant, role="admin")
    assert client.login(username=admin_member.user.username, password=PASSWORD)
    assert client.get("/admin/events/event/").status_code in (302, 403)
