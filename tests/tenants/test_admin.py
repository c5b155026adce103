"""Django admin: operators see everything; a tenant admin sees and edits only their own tenant."""

import pytest

from tenants.models import Membership, Tenant
from tests.factories import PASSWORD, MembershipFactory, UserFactory


@pytest.fixture
def operator(db):
    return UserFactory(username="operator", is_staff=True, is_superuser=True)


def test_operator_creates_tenant_partner_and_member_in_the_admin(client, operator):
    client.force_login(operator)
    response = client.post("/admin/tenants/tenant/add/", {"slug": "initech", "name": "Initech", "is_active": "on"})
    assert response.status_code == 302, response.content[:2000]
    tenant = Tenant.objects.get(slug="initech")

    response = client.post(
        "/admin/packages/partner/add/",
        {
            "partner_identifier": "sms-co",
            "name": "SMS Co",
            "type": "channel_provider",
            "metadata": "{}",
            "connected_apps-TOTAL_FORMS": "0",
            "connected_apps-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]

    response = client.post(
        "/admin/tenants/membership/add/",
        {"tenant": str(tenant.pk), "username": "peter", "password": "long-enough-1", "role": "agent"},
    )
    assert response.status_code == 302, response.content[:2000]
    member = Membership.objects.get(user__username="peter")
    assert member.tenant == tenant and member.role == "agent"
    assert member.user.check_password("long-enough-1")
    assert not member.user.is_staff


def test_operator_creates_connected_app_and_sees_the_secret_once(client, operator, partner):
    client.force_login(operator)
    response = client.post(
        "/admin/packages/connectedapp/add/",
        {"partner": str(partner.pk), "name": "prod", "scope_choices": ["interactions", "events"]},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "client_secret" in text and "shown once" in text
    app = partner.connected_apps.get(name="prod")
    assert app.scope_list == ["interactions", "events"]


def test_tenant_admin_sees_only_own_tenant(client, tenant, other_tenant):
    admin_member = MembershipFactory(tenant=tenant, role="admin")
    own_agent = MembershipFactory(tenant=tenant, role="agent")
    foreign_agent = MembershipFactory(tenant=other_tenant, role="agent")
    assert client.login(username=admin_member.user.username, password=PASSWORD)

    listing = client.get("/admin/tenants/membership/").content.decode()
    assert own_agent.user.username in listing
    assert foreign_agent.user.username not in listing

    tenants = client.get("/admin/tenants/tenant/").content.decode()
    assert "Acme" in tenants and "Globex" not in tenants

    # another tenant's rows cannot be opened, edited or deleted by URL
    foreign_url = f"/admin/tenants/membership/{foreign_agent.pk}/change/"
    assert client.get(foreign_url).status_code in (302, 403, 404)
    client.post(foreign_url, {"role": "admin", "display_name": "hijacked"})
    foreign_agent.refresh_from_db()
    assert foreign_agent.role == "agent" and foreign_agent.display_name != "hijacked"
    assert client.get(f"/admin/tenants/tenant/{other_tenant.pk}/change/").status_code in (302, 403, 404)

    # the admin does not show models outside the tenant space
    index = client.get("/admin/").content.decode()
    assert "Memberships" in index
    assert "Partners" not in index and "Users" not in index


def test_tenant_admin_adds_an_agent_to_their_own_tenant_only(client, tenant, other_tenant):
    admin_member = MembershipFactory(tenant=tenant, role="admin")
    client.force_login(admin_member.user)
    form = client.get("/admin/tenants/membership/add/").content.decode()
    assert 'name="tenant"' not in form  # the tenant is not theirs to choose
    response = client.post(
        "/admin/tenants/membership/add/",
        {"tenant": str(other_tenant.pk), "username": "newbie", "password": "long-enough-1", "role": "agent"},
    )
    assert response.status_code == 302, response.content[:2000]
    assert Membership.objects.get(user__username="newbie").tenant == tenant


def test_tenant_admin_cannot_create_tenants(client, tenant):
    admin_member = MembershipFactory(tenant=tenant, role="admin")
    client.force_login(admin_member.user)
    assert client.get("/admin/tenants/tenant/add/").status_code == 403
    assert client.post("/admin/tenants/tenant/add/", {"slug": "evil", "name": "Evil"}).status_code == 403
    assert not Tenant.objects.filter(slug="evil").exists()


def test_agent_cannot_use_the_admin(client, agent):
    response = client.post("/admin/login/", {"username": agent.user.username, "password": PASSWORD})
    assert response.status_code == 200  # the login form again, with an error
    assert "staff account" in response.content.decode()
    client.force_login(agent.user)
    assert client.get("/admin/tenants/membership/").status_code == 302  # sent to the admin login


def test_duplicate_username_is_a_form_error(client, tenant):
    admin_member = MembershipFactory(tenant=tenant, role="admin")
    client.force_login(admin_member.user)
    response = client.post(
        "/admin/tenants/membership/add/",
        {"username": admin_member.user.username, "password": "long-enough-1", "role": "agent"},
    )
    assert response.status_code == 200
    assert "This username is taken." in response.content.decode()


@pytest.fixture
def two_tenants_rows(tenant, other_tenant):
    """Skills, agent skills, custom objects and records in both tenants, named after their tenant."""
    from routing.models import AgentSkill, Skill
    from tenants.models import CustomObjectDefinition, CustomRecord

    for t in (tenant, other_tenant):
        skill = Skill.objects.create(tenant=t, name=f"billing-{t.slug}")
        member = MembershipFactory(tenant=t, role="agent", display_name=f"Agent {t.slug}")
        AgentSkill.objects.create(tenant=t, membership=member, skill=skill, level=3)
        definition = CustomObjectDefinition.objects.create(
            tenant=t, api_name=f"Order_{t.slug}__c", fields={"n": {"type": "string"}}
        )
        CustomRecord.objects.create(tenant=t, definition=definition, data={"n": "x"})


def test_a_tenant_admins_filter_sidebars_list_only_their_tenants_rows(client, tenant, two_tenants_rows):
    client.force_login(MembershipFactory(tenant=tenant, role="admin").user)
    skills = client.get("/admin/routing/agentskill/")
    assert skills.status_code == 200
    assert "billing-acme" in skills.content.decode() and "billing-globex" not in skills.content.decode()
    records = client.get("/admin/tenants/customrecord/")
    assert records.status_code == 200
    assert "Order_acme__c" in records.content.decode() and "Order_globex__c" not in records.content.decode()


def test_an_operator_still_filters_across_tenants(client, operator, two_tenants_rows):
    client.force_login(operator)
    page = client.get("/admin/routing/agentskill/").content.decode()
    assert "billing-acme" in page and "billing-globex" in page


def test_a_tenant_admins_lookups_and_autocompletes_stay_in_their_tenant(client, tenant, other_tenant, two_tenants_rows):
    from routing.models import Skill

    client.force_login(MembershipFactory(tenant=tenant, role="admin").user)
    foreign = Skill.objects.get(tenant=other_tenant)
    by_lookup = client.get("/admin/routing/agentskill/", {"skill__id__exact": str(foreign.pk)})
    assert "Agent globex" not in by_lookup.content.decode()

    def autocomplete(field, term):
        response = client.get(
            "/admin/autocomplete/",
            {"app_label": "routing", "model_name": "agentskill", "field_name": field, "term": term},
        )
        assert response.status_code == 200, response.content[:500]
        return [r["text"] for r in response.json()["results"]]

    assert autocomplete("skill", "billing") == ["billing-acme"]
    members = autocomplete("membership", "Agent")
    assert members and all("@ acme" in m for m in members), members


def test_a_standard_channel_with_an_address_the_tenant_already_has_is_a_form_error(client, tenant, other_tenant):
    from tenants.models import Channel, ContactCenter

    center = ContactCenter.objects.create(tenant=tenant, name="Own")
    foreign = ContactCenter.objects.create(tenant=other_tenant, name="Theirs")
    Channel.objects.create(tenant=tenant, contact_center=center, channel_key="a", name="a", channel_address_id="+1")
    Channel.objects.create(
        tenant=other_tenant, contact_center=foreign, channel_key="a", name="a", channel_address_id="+2"
    )
    client.force_login(MembershipFactory(tenant=tenant, role="admin").user)
    form = {"contact_center": str(center.pk), "channel_key": "b", "name": "b", "channel_type": "messaging"}
    response = client.post("/admin/tenants/channel/add/", {**form, "channel_address_id": "+1", "is_active": "on"})
    assert response.status_code == 200, response.status_code
    assert "is already a channel of this tenant" in response.content.decode()
    # another tenant's standard channel is no clash: address ids are not platform-wide any more
    response = client.post("/admin/tenants/channel/add/", {**form, "channel_address_id": "+2", "is_active": "on"})
    assert response.status_code == 302, response.content[:1000]
    assert Channel.objects.filter(tenant=tenant, channel_address_id="+2").exists()
