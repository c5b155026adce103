"""Installing a package into a tenant space (FIG 10, 11): all or nothing, scoped, upgradable."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ccp.core.errors import Conflict, Invalid, NotFound
from ccp.packages import services as package_services
from tenants import services
from tenants.models import Channel, ContactCenter, CustomObjectDefinition, CustomRecord, PackageInstallation
from tenants.services import ChannelSpec
from tenants.signals import installation_uninstalling
from tests.factories import make_manifest, published_package


def _install(tenant, partner, channels=None, **kwargs):
    return services.package_install(
        tenant=tenant,
        developer_name=kwargs.pop("developer_name", "acme_whatsapp"),
        partner_identifier=kwargs.pop("partner_identifier", partner.partner_identifier),
        channels=channels or [ChannelSpec(channel_key="whatsapp", channel_address_id="+15550001")],
        **kwargs,
    )


def _nothing_created():
    assert not PackageInstallation.objects.exists()
    assert not Channel.objects.exists()
    assert not ContactCenter.objects.exists()
    assert not CustomObjectDefinition.objects.exists()


def test_install_creates_the_tenant_records(tenant, partner):
    package = published_package(partner)
    installation = _install(tenant, partner)
    assert installation.authorization_link == "acme-comms:acme_whatsapp:acme"
    assert installation.package == package and installation.is_active
    center = installation.contact_center
    assert center.partner == partner and center.connector_url == "https://partner.example/connector.html"
    channel = installation.channels.get()
    assert (channel.channel_key, channel.channel_type, channel.kind) == ("whatsapp", "messaging", "custom")
    assert channel.entity == "messaging channel" and channel.contact_center == center
    definition = CustomObjectDefinition.objects.get(tenant=tenant)
    assert definition.api_name == "WaTemplate__c" and definition.installation == installation


def test_wrong_partner_identifier_is_refused(tenant, partner):
    published_package(partner)
    with pytest.raises(Invalid) as exc:
        _install(tenant, partner, partner_identifier="someone-else")
    assert exc.value.code == "partner_identifier_mismatch"
    assert "partner_identifier" in exc.value.details
    _nothing_created()


def test_a_draft_cannot_be_installed(tenant, partner):
    package_services.package_create(partner=partner, manifest=make_manifest())
    with pytest.raises(NotFound):
        _install(tenant, partner)
    _nothing_created()


def test_installing_twice_is_refused(tenant, partner):
    published_package(partner)
    _install(tenant, partner)
    with pytest.raises(Conflict) as exc:
        _install(tenant, partner, channels=[ChannelSpec(channel_key="second", channel_address_id="+1999")])
    assert exc.value.code == "already_installed"
    assert Channel.objects.count() == 1


def test_a_taken_channel_address_refuses_the_whole_install(tenant, other_tenant, partner):
    published_package(partner)
    _install(other_tenant, partner)
    specs = [
        ChannelSpec(channel_key="ok", channel_address_id="+1777"),
        ChannelSpec(channel_key="clash", channel_address_id="+15550001"),
    ]
    with pytest.raises(Conflict) as exc:
        _install(tenant, partner, channels=specs)
    assert exc.value.code == "channel_address_taken"
    assert "channels[1].channel_address_id" in exc.value.details
    assert not PackageInstallation.objects.filter(tenant=tenant).exists()
    assert not Channel.objects.filter(tenant=tenant).exists()
    assert not ContactCenter.objects.filter(tenant=tenant).exists()


def test_channel_types_must_be_the_definitions(tenant, partner):
    published_package(partner)
    specs = [ChannelSpec(channel_key="phone", channel_address_id="+1", channel_type="voice")]
    with pytest.raises(Invalid) as exc:
        _install(tenant, partner, channels=specs)
    assert exc.value.details == {"channels[0].channel_type": ["must be one of messaging"]}
    _nothing_created()


def test_add_to_an_existing_contact_center_beside_a_standard_channel(tenant, other_tenant, partner):
    published_package(partner)
    center = ContactCenter.objects.create(tenant=tenant, name="Main")
    web = services.channel_add(
        tenant=tenant, contact_center=center, spec=ChannelSpec(channel_key="web", channel_address_id="web-acme")
    )
    installation = _install(tenant, partner, contact_center=center)
    assert installation.contact_center == center
    assert {c.kind for c in center.channels.all()} == {"standard", "custom"}
    assert web.kind == "standard"
    foreign = ContactCenter.objects.create(tenant=other_tenant, name="Theirs")
    with pytest.raises(NotFound):
        _install(other_tenant, partner, contact_center=center)
    assert not foreign.channels.exists()


def test_upgrade_adds_fields_and_objects_and_keeps_records(tenant, partner):
    published_package(partner)
    installation = _install(tenant, partner)
    definition = CustomObjectDefinition.objects.get(tenant=tenant)
    record = CustomRecord.objects.create(tenant=tenant, definition=definition, data={"body": "Hello {{name}}"})

    v2 = make_manifest(version="2.0.0")
    v2["custom_objects"] = [
        {"api_name": "WaTemplate__c", "fields": {"language": {"type": "string"}}},
        {"api_name": "WaOptIn__c", "fields": {"phone": {"type": "string"}}},
    ]
    package_services.package_publish(package=package_services.package_create(partner=partner, manifest=v2))
    services.installation_upgrade(installation=installation)

    installation.refresh_from_db()
    assert installation.package.version == "2.0.0"
    definition.refresh_from_db()
    assert set(definition.fields) == {"body", "language"}
    assert CustomObjectDefinition.objects.filter(tenant=tenant).count() == 2
    record.refresh_from_db()
    assert record.data == {"body": "Hello {{name}}"}
    with pytest.raises(Conflict) as exc:
        services.installation_upgrade(installation=installation)
    assert exc.value.code == "not_newer"


def test_custom_records_are_validated_against_their_definition(tenant, partner):
    published_package(partner)
    _install(tenant, partner)
    definition = CustomObjectDefinition.objects.get(tenant=tenant)
    problems = services.custom_record_problems(definition=definition, data={"body": 5, "extra": 1})
    assert "body" in problems and "data" in problems
    assert services.custom_record_problems(definition=definition, data={"body": "x"}) == {}


def test_uninstall_is_refused_while_conversations_are_open_unless_forced(tenant, other_tenant, partner):
    published_package(partner)
    installation = _install(tenant, partner)
    theirs = _install(other_tenant, partner, channels=[ChannelSpec(channel_key="w", channel_address_id="+2")])
    open_counts = {installation.pk: 2}
    forced = []

    def receiver(sender, installation, force, **kwargs):
        if force:
            forced.append(installation.pk)
            return 0
        return open_counts.get(installation.pk, 0)

    installation_uninstalling.connect(receiver)
    try:
        with pytest.raises(Conflict) as exc:
            services.installation_uninstall(installation=installation)
        assert exc.value.code == "conversations_open" and exc.value.details == {"open_conversations": 2}
        assert PackageInstallation.objects.filter(pk=installation.pk).exists()
        services.installation_uninstall(installation=installation, force=True)
    finally:
        installation_uninstalling.disconnect(receiver)
    assert forced == [installation.pk]
    assert not PackageInstallation.objects.filter(tenant=tenant).exists()
    assert not Channel.objects.filter(tenant=tenant).exists()
    assert not CustomObjectDefinition.objects.filter(tenant=tenant).exists()
    assert PackageInstallation.objects.filter(pk=theirs.pk).exists()
    assert Channel.objects.filter(tenant=other_tenant).count() == 1


def test_deactivate_and_activate(tenant, partner):
    published_package(partner)
    installation = _install(tenant, partner)
    services.installation_set_status(installation=installation, active=False)
    installation.refresh_from_db()
    assert installation.status == "inactive"
    services.installation_set_status(installation=installation, active=True)
    installation.refresh_from_db()
    assert installation.is_active


def test_package_install_command(tenant, partner, capsys):
    published_package(partner)
    call_command(
        "package_install",
        "--tenant=acme",
        "--package=acme_whatsapp@1.0.0",
        "--partner-identifier=acme-comms",
        "--channel=wa:messaging:+1555:WhatsApp",
    )
    assert "acme-comms:acme_whatsapp:acme" in capsys.readouterr().out
    assert Channel.objects.get().name == "WhatsApp"
    with pytest.raises(CommandError, match="already installed"):
        call_command(
            "package_install",
            "--tenant=acme",
            "--package=acme_whatsapp",
            "--partner-identifier=acme-comms",
            "--channel=wa2:messaging:+1556",
        )


def test_an_address_id_is_unique_per_partner_namespace_not_across_partners(
    tenant, other_tenant, partner, other_partner
):
    published_package(partner)
    published_package(other_partner, developer_name="rival_sms")
    _install(other_tenant, other_partner, developer_name="rival_sms")  # the rival's +15550001 in Globex
    installation = _install(tenant, partner)  # acme's own +15550001: another namespace, no clash
    assert installation.channels.get().partner == partner
    assert set(Channel.objects.values_list("partner__partner_identifier", flat=True)) == {
        "acme-comms",
        "rival-comms",
    }


def test_a_tenant_cannot_hold_one_address_id_twice(tenant, partner, other_partner):
    published_package(partner)
    published_package(other_partner, developer_name="rival_sms")
    _install(tenant, partner)
    with pytest.raises(Conflict) as exc:
        _install(
            tenant,
            other_partner,
            developer_name="rival_sms",
            contact_center_name="Rival",
            channels=[ChannelSpec(channel_key="sms", channel_address_id="+15550001")],
        )
    assert exc.value.code == "channel_address_taken"
    assert exc.value.details == {"channels[0].channel_address_id": ["is already a channel of this tenant"]}


def test_the_database_refuses_a_second_channel_with_a_partners_address_id(tenant, other_tenant, partner):
    from django.db import IntegrityError, transaction

    published_package(partner)
    existing = _install(tenant, partner).channels.get()
    center = ContactCenter.objects.create(tenant=other_tenant, name="Elsewhere")
    with pytest.raises(IntegrityError), transaction.atomic():
        Channel.objects.create(
            tenant=other_tenant,
            contact_center=center,
            partner=partner,
            channel_key="copy",
            name="copy",
            channel_address_id=existing.channel_address_id,
        )
