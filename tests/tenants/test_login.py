"""Agents and supervisors log in at /accounts/login/ and land on /agent/."""

from tests.factories import PASSWORD, UserFactory


def test_agent_logs_in_and_lands_on_the_workspace(client, agent):
    response = client.post("/accounts/login/", {"username": agent.user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/agent/"
    page = client.get("/agent/")
    assert page.status_code == 200
    assert agent.name in page.content.decode()


def test_wrong_password_says_so(client, agent):
    response = client.post("/accounts/login/", {"username": agent.user.username, "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_workspace_needs_login(client, db):
    response = client.get("/agent/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_user_without_tenant_is_told_so(client, db):
    client.force_login(UserFactory())
    response = client.get("/agent/")
    assert response.status_code == 403
    assert "not a member of any tenant" in response.content.decode()
