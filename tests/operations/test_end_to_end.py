"""The reports on records written by the real services through the public APIs: a conversation
answered, replied to, closed with after-conversation work; another abandoned before anyone took it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from routing.models import AgentWork
from tests.conversations.conftest import message, online, post

from .conftest import session_client

pytestmark = pytest.mark.django_db


def test_the_reports_count_what_the_apis_did(tenant, api, channel, alice, bob, supervisor, settings):
    channel.settings = {"acw_seconds": 60}
    channel.save()
    online(alice)
    first = post(api, message("my card is blocked")).json()["conversation_id"]
    work = AgentWork.objects.get(status="offered")
    agent = session_client(alice)
    assert agent.post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    reply = agent.post(f"/api/v1/agent/conversations/{first}/messages/", {"text": "Let me look."}, format="json")
    assert reply.status_code == 201, reply.content
    assert agent.post(f"/api/v1/agent/conversations/{first}/close/").status_code == 200
    assert agent.post(f"/api/v1/agent/work/{work.pk}/acw/complete/").status_code == 200
    # a second end user gives up before anyone accepts (an offer declined is not an answer)
    routing_free = post(api, message("hello?", "x1"), sender="+3333").json()["conversation_id"]
    offered = AgentWork.objects.filter(status="offered").first()
    if offered is not None:
        assert session_client(offered.agent).post(f"/api/v1/agent/work/{offered.pk}/decline/").status_code == 200
    assert api.post(f"/api/v1/conversations/{routing_free}/close/").status_code == 200

    body = session_client(supervisor).get("/api/v1/agent/reports/summary/").json()
    total = body["total"]
    assert (total["offered"], total["answered"], total["abandoned"], total["handled"]) == (2, 1, 1, 1)
    work.refresh_from_db()
    assert total["asa_seconds"] == pytest.approx((work.answered_at - work.work_item.created_at).total_seconds())
    assert total["aht_seconds"] == pytest.approx((work.ended_at - work.answered_at).total_seconds())
    assert total["first_response_seconds"] is not None and total["first_response_seconds"] >= 0
    assert total["fcr"] == 1.0  # two contacts, each once
    assert body["rows"][0]["start"] <= timezone.now().isoformat().replace("+00:00", "Z")
    agents = {a["name"]: a for a in session_client(supervisor).get("/api/v1/agent/reports/agents/").json()["agents"]}
    assert agents["Alice"]["handled"] == 1 and agents["Alice"]["online_seconds"] > 0
    assert agents["Bob"]["handled"] == 0
