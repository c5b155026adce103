"""Brute force on the login pages: a username is locked from an address after a few wrong passwords
(django-axes, docs/lockout-and-revocation.md), until the cool-off passes or an operator lifts it."""

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from tests.factories import PASSWORD, UserFactory

PAGES = {
    "/accounts/login/": {"success": "/agent/"},
    "/admin/login/": {"success": "/admin/"},
}


def _login(client, page, username, password, address="127.0.0.1"):
    data = {"username": username, "password": password}
    if page == "/admin/login/":
        data["next"] = "/admin/"
    return client.post(page, data, REMOTE_ADDR=address)


def _logged_in(response, page) -> bool:
    return response.status_code == 302 and response["Location"] == PAGES[page]["success"]


@pytest.fixture
def staff_agent(agent):
    agent.user.is_staff = True  # so the admin login accepts the right password too
    agent.user.save()
    return agent


@pytest.mark.parametrize("page", list(PAGES))
def test_forty_wrong_passwords_then_the_right_one_is_refused(client, staff_agent, page, settings):
    username = staff_agent.user.username
    responses = [_login(client, page, username, f"guess-{i}") for i in range(40)]
    assert responses[0].status_code == 200  # a wrong password: the form again
    assert all(r.status_code in (200, 429) for r in responses)
    assert sum(r.status_code == 200 for r in responses) == settings.AXES_FAILURE_LIMIT - 1
    right = _login(client, page, username, PASSWORD)
    assert right.status_code == 429 and not _logged_in(right, page)
    assert "Too many failed log-ins" in right.content.decode()
    assert "_auth_user_id" not in client.session

    # per username + address: the same user from elsewhere, and another user from here, still log in
    assert _logged_in(_login(Client(), page, username, PASSWORD, address="10.1.2.3"), page)
    other = UserFactory(username="someone-else", is_staff=True)
    assert _logged_in(_login(Client(), page, other.username, PASSWORD), page)


def test_the_limit_counts_failures_not_logins(client, agent, settings):
    username = agent.user.username
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "/accounts/login/", username, "wrong")
    assert _logged_in(_login(client, "/accounts/login/", username, PASSWORD), "/accounts/login/")
    client.post("/accounts/logout/")
    # a success resets the count: as many wrong guesses again before a lockout
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "/accounts/login/", username, "wrong")
    assert _logged_in(_login(client, "/accounts/login/", username, PASSWORD), "/accounts/login/")


def test_an_operator_lifts_the_lockout_with_the_axes_reset_command(client, agent, settings):
    username = agent.user.username
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "/accounts/login/", username, "wrong")
    assert _login(client, "/accounts/login/", username, PASSWORD).status_code == 429
    call_command("axes_reset_username", username)
    assert _logged_in(_login(client, "/accounts/login/", username, PASSWORD), "/accounts/login/")


def test_the_lockout_ends_after_the_cool_off(client, agent, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    username = agent.user.username
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "/accounts/login/", username, "wrong")
    assert _login(client, "/accounts/login/", username, PASSWORD).status_code == 429
    time.sleep(2.5)
    assert _logged_in(_login(client, "/accounts/login/", username, PASSWORD), "/accounts/login/")


def test_an_operator_sees_and_deletes_lockouts_in_the_admin(client, agent, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "/accounts/login/", agent.user.username, "wrong")
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    page = client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and agent.user.username in page.content.decode()


def test_a_tenant_admin_cannot_see_the_platforms_login_attempts(client, tenant_admin, agent, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "/accounts/login/", agent.user.username, "wrong")
    client.force_login(tenant_admin.user)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/axes/accessattempt/").status_code == 403
    assert "/admin/axes/" not in client.get("/admin/").content.decode()
