"""tenants 0003: existing custom channels get their partner (their address namespace) on upgrade."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("tenants", "0002_contact_centers_and_installations"), ("conversations", "0001_initial")]
AFTER = [("tenants", "0003_channel_address_per_partner_and_contact_center_agents")]


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_fills_each_custom_channels_partner():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    partner = old.get_model("packages", "Partner").objects.create(partner_identifier="p1", name="P1")
    package = old.get_model("packages", "CommunicationPackage").objects.create(
        partner=partner, developer_name="pkg", name="pkg", version="1.0.0", manifest={}
    )
    tenant = old.get_model("tenants", "Tenant").objects.create(slug="t1", name="T1")
    center = old.get_model("tenants", "ContactCenter").objects.create(tenant=tenant, name="cc")
    installation = old.get_model("tenants", "PackageInstallation").objects.create(
        tenant=tenant, package=package, developer_name="pkg", contact_center=center, authorization_link="p1:pkg:t1"
    )
    Channel = old.get_model("tenants", "Channel")
    Channel.objects.create(
        tenant=tenant, contact_center=center, installation=installation, channel_key="c", channel_address_id="+1"
    )
    Channel.objects.create(
        tenant=tenant, contact_center=center, kind="standard", channel_key="s", channel_address_id="+2"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps.get_model("tenants", "Channel")
    assert dict(new.objects.values_list("channel_key", "partner_id")) == {"c": partner.pk, "s": None}
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # leave the database as the suite expects it
