"""A tenant admin installs a package through the admin pages (FIG 9, 10) and manages it there."""

import re

from tenants.models import Channel, ContactCenter, CustomObjectDefinition, CustomRecord, PackageInstallation
from tests.factories import PASSWORD, MembershipFactory, published_package

INSTALL = "/admin/tenants/packageinstallation/install/"


def _form(package, **overrides):
    data = {
        "package": str(package.pk),
        "partner_identifier": "acme-comms",
        "contact_center_mode": "new",
        "contact_center_name": "WhatsApp desk",
        "contact_center": "",
        "channels-TOTAL_FORMS": "3",
        "channels-INITIAL_FORMS": "0",
        "channels-MIN_NUM_FORMS": "0",
        "channels-MAX_NUM_FORMS": "20",
        "channels-0-channel_key": "whatsapp",
        "channels-0-name": "WhatsApp",
        "channels-0-channel_type": "messaging",
        "channels-0-channel_address_id": "+15550001",
        "channels-1-channel_type": "messaging",
        "channels-2-channel_type": "messaging",
    }
    data.update(overrides)
    return data


def _login_tenant_admin(client, tenant):
    admin_member = MembershipFactory(tenant=tenant, role="admin")
    assert client.login(username=admin_member.user.username, password=PASSWORD)
    return admin_member


def test_tenant_admin_installs_a_package_through_the_admin(client, tenant, partner):
    package = published_package(partner)
    admin_member = _login_tenant_admin(client, tenant)

    index = client.get("/admin/").content.decode()
    assert "Package installations" in index
    assert client.get("/admin/tenants/packageinstallation/add/")["Location"].endswith(INSTALL)
    page = client.get(INSTALL).content.decode()
    assert "Acme WhatsApp 1.0.0" in page and 'name="tenant"' not in page

    response = client.post(INSTALL, _form(package), follow=True)
    assert response.status_code == 200
    assert "authorization link acme-comms:acme_whatsapp:acme" in response.content.decode()
    installation = PackageInstallation.objects.get()
    assert installation.tenant == tenant and installation.installed_by == admin_member.user
    assert installation.contact_center.name == "WhatsApp desk"
    assert Channel.objects.get().channel_address_id == "+15550001"


def test_wrong_partner_identifier_is_a_form_error_on_that_field(client, tenant, partner):
    package = published_package(partner)
    _login_tenant_admin(client, tenant)
    response = client.post(INSTALL, _form(package, partner_identifier="nope"))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["partner_identifier"] == ["does not match the package's partner"]
    assert not PackageInstallation.objects.exists() and not ContactCenter.objects.exists()


def test_taken_address_is_shown_on_the_channel_row(client, tenant, other_tenant, partner):
    package = published_package(partner)
    Channel.objects.create(  # the address is taken in this partner's namespace (by another tenant)
        tenant=other_tenant,
        contact_center=ContactCenter.objects.create(tenant=other_tenant, name="x"),
        partner=partner,
        channel_key="c",
        name="c",
        channel_address_id="+15550001",
    )
    _login_tenant_admin(client, tenant)
    response = client.post(INSTALL, _form(package))
    assert response.status_code == 200
    row = response.context["formset"].forms[0]
    assert row.errors["channel_address_id"] == ["is already taken in this partner's namespace"]
    assert not PackageInstallation.objects.exists()


def test_no_channel_is_a_form_error(client, tenant, partner):
    package = published_package(partner)
    _login_tenant_admin(client, tenant)
    response = client.post(
        INSTALL, _form(package, **{"channels-0-channel_key": "", "channels-0-channel_address_id": ""})
    )
    assert "Add at least one channel." in response.content.decode()


def test_existing_contact_center_must_be_chosen_and_be_the_tenants(client, tenant, other_tenant, partner):
    package = published_package(partner)
    theirs = ContactCenter.objects.create(tenant=other_tenant, name="Theirs")
    _login_tenant_admin(client, tenant)
    response = client.post(INSTALL, _form(package, contact_center_mode="existing", contact_center=str(theirs.pk)))
    assert "contact_center" in response.context["form"].errors
    assert not PackageInstallation.objects.exists()


def test_tenant_admin_edits_custom_records_validated_against_the_definition(client, tenant, partner):
    package = published_package(partner)
    _login_tenant_admin(client, tenant)
    client.post(INSTALL, _form(package))
    definition = CustomObjectDefinition.objects.get()
    bad = client.post("/admin/tenants/customrecord/add/", {"definition": str(definition.pk), "data": '{"body": 3}'})
    assert bad.status_code == 200
    assert re.search(r"body: 3 is not of type", bad.content.decode().replace("&#x27;", "'"))
    good = client.post("/admin/tenants/customrecord/add/", {"definition": str(definition.pk), "data": '{"body": "Hi"}'})
    assert good.status_code == 302
    record = CustomRecord.objects.get()
    assert record.tenant == tenant and record.data == {"body": "Hi"}


def test_uninstall_action(client, tenant, partner):
    package = published_package(partner)
    _login_tenant_admin(client, tenant)
    client.post(INSTALL, _form(package))
    installation = PackageInstallation.objects.get()
    response = client.post(
        "/admin/tenants/packageinstallation/",
        {"action": "uninstall", "_selected_action": [str(installation.pk)]},
        follow=True,
    )
    assert "Uninstalled acme_whatsapp" in response.content.decode()
    assert not PackageInstallation.objects.exists() and not Channel.objects.exists()


def test_channel_flow_settings_are_checked_in_the_admin(client, tenant, partner):
    package = published_package(partner)
    _login_tenant_admin(client, tenant)
    client.post(INSTALL, _form(package))
    channel = Channel.objects.get()
    url = f"/admin/tenants/channel/{channel.pk}/change/"
    bad = client.post(
        url,
        {"name": "WhatsApp", "is_active": "on", "settings": '{"flow": {"business_hours": {"timezone": "Mars/Base"}}}'},
    )
    assert bad.status_code == 200
    assert "flow.business_hours.timezone: is not a known time zone" in bad.content.decode()
    good_settings = '{"flow": {"greeting": "Hi!"}, "acw_seconds": 30}'
    good = client.post(url, {"name": "WhatsApp", "is_active": "on", "settings": good_settings})
    assert good.status_code == 302
    channel.refresh_from_db()
    assert channel.settings == {"flow": {"greeting": "Hi!"}, "acw_seconds": 30}
