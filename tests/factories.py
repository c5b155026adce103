"""factory_boy factories for the test suite."""

import factory
from django.contrib.auth import get_user_model

from ccp.packages import services as package_services
from ccp.packages.models import Partner
from tenants.choices import Role
from tenants.models import Membership, Tenant

PASSWORD = "test-pass-123"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant{n}")
    name = factory.LazyAttribute(lambda o: o.slug.capitalize())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(
        UserFactory, is_staff=factory.LazyAttribute(lambda o: o.factory_parent.role == Role.ADMIN)
    )
    tenant = factory.SubFactory(TenantFactory)
    role = Role.AGENT
    display_name = factory.Faker("name")


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    partner_identifier = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.LazyAttribute(lambda o: f"Partner {o.partner_identifier}")


def connected_app_for(partner: Partner, scopes=("packages", "interactions", "routing", "consent", "events")):
    """A connected app and its plain client secret, made through the real service."""
    return package_services.connected_app_create(partner=partner, name="test app", scopes=list(scopes))


def make_manifest(developer_name: str = "acme_whatsapp", version: str = "1.0.0", **overrides) -> dict:
    """A valid manifest as in PARTNER_API.md; override any top-level key."""
    manifest = {
        "name": "Acme WhatsApp",
        "version": version,
        "description": "WhatsApp for Acme's customers",
        "channel_definition": {
            "developer_name": developer_name,
            "channel_types": ["messaging"],
            "routing_owner": "platform",
            "consent_owner": "partner",
            "capabilities": {"typing": True, "receipts": True, "attachments": True},
            "connector_url": "https://partner.example/connector.html",
        },
        "event_types": [
            {
                "api_name": "AcmeOutbound__e",
                "outbound_messages": True,
                "fields": {
                    "channel_address_id": {"type": "string"},
                    "recipient": {"type": "string"},
                    "payload": {"type": "object"},
                },
            }
        ],
        "custom_objects": [{"api_name": "WaTemplate__c", "fields": {"body": {"type": "string"}}}],
    }
    manifest.update(overrides)
    return manifest


def published_package(partner, **kwargs):
    """Create and publish a package version through the real services."""
    package = package_services.package_create(partner=partner, manifest=make_manifest(**kwargs))
    return package_services.package_publish(package=package)
