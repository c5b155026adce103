"""Server-rendered pages lose bidi override controls that untrusted text carries; JSON keeps the data as is."""

import pytest

from ccp.packages.models import Partner
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RLO = "\u202e"


def test_admin_pages_show_partner_supplied_names_without_bidi_controls(client):
    Partner.objects.create(partner_identifier="spoof", name=f"Acme{RLO}gnp.exe", metadata={})
    client.force_login(UserFactory(username="op", is_staff=True, is_superuser=True))
    page = client.get("/admin/packages/partner/")
    html = page.content.decode()
    assert page.status_code == 200 and "Acmegnp.exe" in html
    for control in ("\u202a", "\u202b", "\u202c", "\u202d", RLO, "\u2066", "\u2067", "\u2068", "\u2069"):
        assert control not in html


def test_api_responses_keep_the_data_unchanged(api, partner):
    Partner.objects.filter(pk=partner.pk).update(name=f"Acme{RLO}gnp.exe")
    body = api.get("/api/v1/partner/").content.decode("utf-8")
    assert RLO in body or "\\u202e" in body  # the workspace's scripts neutralise it when showing it
