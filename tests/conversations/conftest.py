"""Fixtures for the interaction service: an installed package with one channel and agents."""

import pytest
from django.db import transaction

from ccp.events.models import Event
from ccp.packages import services as package_services
from routing import services as routing_services
from tenants import services as tenant_services
from tenants.models import Channel
from tests.factories import MembershipFactory, make_manifest

CHANNEL = "+15550001"


def install(tenant, partner, *, address=CHANNEL, routing_owner="platform", developer_name="acme_whatsapp", key="wa"):
    manifest = make_manifest(developer_name=developer_name)
    manifest["channel_definition"]["routing_owner"] = routing_owner
    package = package_services.package_create(partner=partner, manifest=manifest)
    package_services.package_publish(package=package)
    installation = tenant_services.package_install(
        tenant=tenant,
        developer_name=developer_name,
        partner_identifier=partner.partner_identifier,
        channels=[tenant_services.ChannelSpec(channel_key=key, channel_address_id=address)],
    )
    return installation.channels.get()


@pytest.fixture
def channel(tenant, partner) -> Channel:
    return install(tenant, partner)


def online(membership, capacity=None):
    with transaction.atomic():
        if capacity is not None:
            routing_services.capacity_set(membership=membership, capacity=capacity)
        routing_services.presence_set(membership=membership, status="online")
    return membership


@pytest.fixture
def alice(tenant):
    return MembershipFactory(tenant=tenant, role="agent", display_name="Alice")


@pytest.fixture
def bob(tenant):
    return MembershipFactory(tenant=tenant, role="agent", display_name="Bob")


def message(text="hi", entry_id="e1", **extra):
    return {"id": entry_id, "type": "message", "text": text, **extra}


def post(api, *entries, to=CHANNEL, sender="+4915112345", name="Ann"):
    return api.post(
        "/api/v1/interactions/", {"to": to, "from": sender, "from_name": name, "entries": list(entries)}, format="json"
    )


def events(type_, **filters):
    return list(Event.objects.filter(type=type_, **filters).order_by("pk"))
