"""The negative suite on every /api/v1/ route, found by walking the URL resolver (issue 16.6).

`ROUTES` classifies each route: who may call it (partner token, agent session, supervisor session, or
public), its methods, the partner scope it needs and the object its URL (or `to`) names. A route the
resolver has and the table lacks — a new endpoint — fails `test_every_api_route_is_classified`, and
so does a table entry that disagrees with the view (its base class, scope or methods). Then:

* partner routes: no token → 401, a bad or expired token → 401, a token lacking the scope → 403; a
  route naming an object of the partner → 404 for another partner, and for the partner's own token
  on the same kind of object in another tenant (another partner's installation);
* agent routes: no session (also: only a partner token) → 401/403 `not_authenticated`; a route naming
  a conversation or a work item → 404 for a member of another tenant, 403 `not_a_participant` (work:
  404 `work_not_found`) for a colleague who does not handle it; supervisor routes → 403
  `supervisor_only` for an agent;
* public routes (the schema and its docs page) answer without credentials.

The per-app negative tests (tests/*/test_api.py, `assert_partner_guarded`) stay: they also cover the
bodies and successes of each endpoint; this file makes sure none is left out.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from ccp.events import services as event_services
from ccp.events.models import Delivery, Subscription
from ccp.packages.api.base import PartnerApi
from conversations.models import Conversation
from routing.models import AgentWork
from tenants.api.base import MemberApi
from tenants.choices import Role
from tests.conversations.conftest import install, message, online, post
from tests.conversations.voice import install_call_center, new_call
from tests.factories import MembershipFactory
from tests.helpers import assert_error, assert_partner_guarded, call, partner_client, token_for

PARTNER, AGENT, SUPERVISOR, PUBLIC = "partner", "agent", "supervisor", "public"
CHANNEL, FOREIGN_CHANNEL = "+15550001", "+15550009"
CALL_CENTER, FOREIGN_CALL_CENTER = "+15550100", "+15550109"


@dataclass(frozen=True)
class Route:
    kind: str
    methods: dict = field(default_factory=dict)  # method -> request body (None: no body)
    scope: str | None = None  # partner routes: the scope a token needs (None: any token of the partner)
    names: str | None = None  # the object the URL or `to` names: package, subscription, delivery,
    # conversation, agent, channel, work


_conversation_body = {"resolved": True}
ROUTES: dict[str, Route] = {
    # partner: packages (ccp/packages/api, routing/api/drafts.py)
    "api/v1/partner/": Route(PARTNER, {"GET": None}),
    "api/v1/packages/": Route(PARTNER, {"GET": None, "POST": {"name": "x"}}, "packages"),
    "api/v1/packages/draft/": Route(PARTNER, {"POST": {"description": "a WhatsApp channel"}}, "packages"),
    "api/v1/packages/<str:package_id>/": Route(
        PARTNER, {"GET": None, "PATCH": {"description": "x"}, "DELETE": None}, "packages", "package"
    ),
    "api/v1/packages/<str:package_id>/publish/": Route(PARTNER, {"POST": None}, "packages", "package"),
    # partner: channels, interactions, conversations, agents, consent
    "api/v1/channels/": Route(PARTNER, {"GET": None}, "interactions"),
    "api/v1/interactions/": Route(
        PARTNER, {"POST": {"from": "+491", "entries": [{"id": "n1", "type": "message", "text": "x"}]}}, "interactions"
    ),
    "api/v1/conversations/<str:conversation_id>/": Route(PARTNER, {"GET": None}, "interactions", "conversation"),
    "api/v1/conversations/<str:conversation_id>/messages/": Route(
        PARTNER, {"GET": None}, "interactions", "conversation"
    ),
    "api/v1/conversations/<str:conversation_id>/close/": Route(PARTNER, {"POST": None}, "interactions", "conversation"),
    "api/v1/conversations/<str:conversation_id>/feedback/": Route(
        PARTNER, {"POST": _conversation_body}, "interactions", "conversation"
    ),
    "api/v1/conversations/<str:conversation_id>/route/": Route(
        PARTNER, {"POST": {"queue": "support"}}, "routing", "conversation"
    ),
    "api/v1/agents/": Route(PARTNER, {"GET": None}, "routing", "channel"),
    "api/v1/agents/<str:agent_id>/status/": Route(PARTNER, {"PUT": {"status": "online"}}, "routing", "agent"),
    "api/v1/consent/": Route(
        PARTNER, {"GET": None, "PUT": {"address": "+491", "status": "opt_in"}}, "consent", "channel"
    ),
    # partner: events (ccp/events/api)
    "api/v1/events/": Route(PARTNER, {"GET": None}, "events"),
    "api/v1/events/stream/": Route(PARTNER, {"GET": None}, "events"),
    "api/v1/subscriptions/": Route(
        PARTNER, {"GET": None, "POST": {"url": "https://example.com/x", "event_types": ["*"]}}, "events"
    ),
    "api/v1/subscriptions/<uuid:subscription_id>/": Route(
        PARTNER, {"GET": None, "DELETE": None}, "events", "subscription"
    ),
    "api/v1/subscriptions/<uuid:subscription_id>/deliveries/": Route(PARTNER, {"GET": None}, "events", "subscription"),
    "api/v1/subscriptions/<uuid:subscription_id>/deliveries/<uuid:delivery_id>/redeliver/": Route(
        PARTNER, {"POST": None}, "events", "delivery"
    ),
    # agent (session login; conversations/api)
    "api/v1/agent/state/": Route(AGENT, {"GET": None}),
    "api/v1/agent/status/": Route(AGENT, {"PUT": {"status": "online"}}),
    "api/v1/agent/directory/": Route(AGENT, {"GET": None}),
    "api/v1/agent/work/<str:work_id>/accept/": Route(AGENT, {"POST": None}, names="work"),
    "api/v1/agent/work/<str:work_id>/decline/": Route(AGENT, {"POST": None}, names="work"),
    "api/v1/agent/work/<str:work_id>/acw/complete/": Route(AGENT, {"POST": None}, names="work"),
    "api/v1/agent/work/<str:work_id>/acw/extend/": Route(AGENT, {"POST": {"seconds": 30}}, names="work"),
    "api/v1/agent/conversations/": Route(AGENT, {"GET": None}),
    "api/v1/agent/conversations/<str:conversation_id>/": Route(AGENT, {"GET": None}, names="conversation"),
    "api/v1/agent/conversations/<str:conversation_id>/messages/": Route(
        AGENT, {"GET": None, "POST": {"text": "x"}}, names="conversation"
    ),
    "api/v1/agent/conversations/<str:conversation_id>/typing/": Route(
        AGENT, {"POST": {"typing": True}}, names="conversation"
    ),
    "api/v1/agent/conversations/<str:conversation_id>/transfer/": Route(
        AGENT, {"POST": {"queue": "support"}}, names="conversation"
    ),
    "api/v1/agent/conversations/<str:conversation_id>/close/": Route(AGENT, {"POST": None}, names="conversation"),
    "api/v1/agent/conversations/<str:conversation_id>/feedback/": Route(
        AGENT, {"POST": _conversation_body}, names="conversation"
    ),
    "api/v1/agent/conversations/<str:conversation_id>/summary/": Route(AGENT, {"GET": None}, names="conversation"),
    "api/v1/agent/outbound/": Route(AGENT, {"POST": {"channel_address_id": CHANNEL, "address": "+491", "text": "x"}}),
    "api/v1/agent/consent/": Route(AGENT, {"GET": None, "PUT": {"to": CHANNEL, "address": "+491", "status": "opt_in"}}),
    "api/v1/agent/workspace/channels/": Route(AGENT, {"GET": None}),
    "api/v1/agent/workspace/contacts/": Route(AGENT, {"GET": None}),
    "api/v1/agent/workspace/history/": Route(AGENT, {"GET": None}),
    # supervision and agent tools (conversations/api/supervision.py)
    "api/v1/agent/supervision/conversations/": Route(SUPERVISOR, {"GET": None}),
    "api/v1/agent/conversations/<str:conversation_id>/monitor/": Route(SUPERVISOR, {"POST": None}),
    "api/v1/agent/conversations/<str:conversation_id>/notes/": Route(
        AGENT, {"GET": None, "POST": {"text": "x"}}, names="conversation"
    ),
    "api/v1/agent/conversations/<str:conversation_id>/join/": Route(SUPERVISOR, {"POST": None}),
    "api/v1/agent/conversations/<str:conversation_id>/reassign/": Route(SUPERVISOR, {"POST": {"queue": "support"}}),
    "api/v1/agent/agents/<str:agent_id>/status/": Route(SUPERVISOR, {"PUT": {"status": "away"}}),
    "api/v1/agent/canned-responses/": Route(AGENT, {"GET": None, "POST": {"shortcut": "x", "text": "x"}}),
    "api/v1/agent/canned-responses/<str:canned_response_id>/": Route(
        AGENT, {"GET": None, "PATCH": {"text": "x"}, "DELETE": None}
    ),
    "api/v1/agent/search/": Route(AGENT, {"GET": None}),
    "api/v1/supervisor/overview/": Route(SUPERVISOR, {"GET": None}),
    # voice calls (conversations/api/calls.py): the partner's, then the agent's
    "api/v1/calls/": Route(PARTNER, {"POST": {"from": "+491", "call_id": "neg-1"}}, "interactions", "call_center"),
    "api/v1/calls/<str:call_id>/": Route(PARTNER, {"GET": None}, "interactions", "call"),
    "api/v1/calls/<str:call_id>/events/": Route(
        PARTNER, {"POST": {"id": "neg-e1", "type": "ringing"}}, "interactions", "call"
    ),
    "api/v1/calls/<str:call_id>/transcript/": Route(
        PARTNER, {"POST": {"segments": [{"id": "s", "speaker": "agent", "text": "x"}]}}, "interactions", "call"
    ),
    "api/v1/calls/<str:call_id>/controls/<str:request_id>/result/": Route(
        PARTNER, {"POST": {"status": "done"}}, "interactions", "call"
    ),
    "api/v1/agent/calls/": Route(AGENT, {"GET": None, "POST": {"channel_address_id": CALL_CENTER, "address": "+491"}}),
    "api/v1/agent/calls/<str:call_id>/controls/": Route(AGENT, {"POST": {"action": "hangup"}}, names="call"),
    # operations reports (ccp/operations/api)
    "api/v1/agent/reports/summary/": Route(SUPERVISOR, {"GET": None}),
    "api/v1/agent/reports/agents/": Route(SUPERVISOR, {"GET": None}),
    "api/v1/agent/reports/realtime/": Route(SUPERVISOR, {"GET": None}),
    # public: the OpenAPI schema and its page
    "api/v1/schema/": Route(PUBLIC, {"GET": None}),
    "api/v1/docs/": Route(PUBLIC, {"GET": None}),
    "api/v1/events/schemas/": Route(PUBLIC, {"GET": None}),
    "api/v1/events/asyncapi.json": Route(PUBLIC, {"GET": None}),
}


def api_routes() -> dict[str, URLPattern]:
    """Every /api/v1/ route the resolver serves, as its full pattern string."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern

    return {route: p for route, p in walk(get_resolver().url_patterns) if route.startswith("api/v1/")}


def _view_class(pattern: URLPattern):
    return getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)


def test_every_api_route_is_classified():
    served = api_routes()
    missing = sorted(set(served) - set(ROUTES))
    assert not missing, f"routes without a negative-suite classification (add them to ROUTES): {missing}"
    assert sorted(set(ROUTES) - set(served)) == [], "ROUTES names routes the resolver no longer has"
    for route, pattern in served.items():
        spec, cls = ROUTES[route], _view_class(pattern)
        if cls is None:  # a plain view function: only the SSE stream is one
            assert pattern.callback.__name__ == "event_stream" and spec.kind == PARTNER, route
            continue
        methods = {m.upper() for m in cls.http_method_names if m not in ("options", "head") and hasattr(cls, m)}
        assert methods == set(spec.methods), (route, methods)
        if spec.kind == PARTNER:
            assert issubclass(cls, PartnerApi), route
            assert list(cls.required_scopes) == ([spec.scope] if spec.scope else []), route
        elif spec.kind in (AGENT, SUPERVISOR):
            assert issubclass(cls, MemberApi), route
            # supervisor routes refuse plain agents; agent routes let agents in (any member, or a
            # narrower set that includes them, e.g. agent state is for agents and supervisors only)
            assert (Role.AGENT in cls.allowed_roles or not cls.allowed_roles) == (spec.kind == AGENT), route
        else:
            assert not issubclass(cls, (PartnerApi, MemberApi)), route


# --- the world the suite runs in -----------------------------------------------------------------


@pytest.fixture
def world(api, other_api, tenant, other_tenant, partner, other_partner, connected_app, other_connected_app):
    """Acme (with `partner`'s package) and Globex (with `other_partner`'s): in each a conversation
    held by an agent, another agent, a supervisor; `partner` has a subscription with a delivery."""
    channel = install(tenant, partner)
    install(other_tenant, other_partner, address=FOREIGN_CHANNEL, developer_name="rival_sms", key="sms")
    alice = online(MembershipFactory(tenant=tenant, role="agent", display_name="Alice"))
    bob = MembershipFactory(tenant=tenant, role="agent", display_name="Bob")
    carol = online(MembershipFactory(tenant=other_tenant, role="agent", display_name="Carol"))
    conversation = post(api, message("help")).json()["conversation_id"]
    foreign_conversation = post(other_api, message("hilfe"), to=FOREIGN_CHANNEL).json()["conversation_id"]
    work = AgentWork.objects.get(agent=alice)
    assert _session(alice).post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    install_call_center(tenant, partner, address=CALL_CENTER)
    install_call_center(other_tenant, other_partner, address=FOREIGN_CALL_CENTER, developer_name="rival_voice")
    assert new_call(api, "acme-call", to=CALL_CENTER).status_code == 201
    assert new_call(other_api, "globex-call", to=FOREIGN_CALL_CENTER).status_code == 201
    subscription = event_services.subscription_create(
        partner=partner, url="https://example.com/hooks", event_types=["*"]
    )[0]
    with override_settings(EVENTS_VALIDATE_PAYLOADS=False):  # a stand-in event, only for the delivery routes
        event = event_services.event_publish(tenant=tenant, partner=partner, type="message.created", data={"n": 1})
    event_services.event_fan_out(event_pks=[event.pk])
    event_services.event_relay(event_pks=[event.pk])
    return SimpleNamespace(
        owner_app=connected_app,
        other_app=other_connected_app,
        channel=channel,
        package=channel.installation.package,
        alice=alice,
        bob=bob,
        supervisor=MembershipFactory(tenant=tenant, role="supervisor"),
        stranger=MembershipFactory(tenant=other_tenant, role="agent"),
        foreign_agent=carol,
        conversation=conversation,
        foreign_conversation=foreign_conversation,
        work=work,
        subscription=subscription,
        delivery=Delivery.objects.get(subscription=subscription),
    )


def _session(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


def _url(route: str, world, *, foreign: bool = False) -> str:
    values = {
        "<str:package_id>": str(world.package.pk),
        "<uuid:subscription_id>": str(world.subscription.pk),
        "<uuid:delivery_id>": str(world.delivery.pk),
        "<str:conversation_id>": world.foreign_conversation if foreign else world.conversation,
        "<str:agent_id>": str((world.foreign_agent if foreign else world.alice).pk),
        "<str:work_id>": str(world.work.pk),
        "<str:call_id>": "globex-call" if foreign else "acme-call",
        "<str:request_id>": "00000000-0000-4000-8000-000000000000",
        "<str:canned_response_id>": "00000000-0000-0000-0000-000000000000",
    }
    url = "/" + route
    for placeholder, value in values.items():
        url = url.replace(placeholder, value)
    assert "<" not in url, f"{route}: the suite does not know how to fill this URL; teach _url"
    return url


def _with_channel(method: str, url: str, body, channel: str):
    """Name the channel as `to`: in the query for reads, in the body for writes."""
    if method == "GET":
        return f"{url}?to={channel}&address=%2B491", body
    return url, {**(body or {}), "to": channel}


# --- the suites ----------------------------------------------------------------------------------


def test_every_partner_route_refuses_the_wrong_caller(world):
    checked = 0
    for route, spec in ROUTES.items():
        if spec.kind != PARTNER:
            continue
        for method, body in spec.methods.items():
            with _context(method, route):
                _partner_checks(world, route, spec, method, body)
            checked += 1
    assert checked >= 20
    # nothing the refused calls named was changed
    assert Conversation.objects.get(pk=world.conversation).status == "active"
    assert Conversation.objects.get(pk=world.foreign_conversation).status != "closed"
    assert Subscription.objects.filter(pk=world.subscription.pk).exists()


def _partner_checks(world, route: str, spec: Route, method: str, body) -> None:
    url = _url(route, world)
    if spec.names == "channel" or route == "api/v1/interactions/":
        url, body = _with_channel(method, url, body, CHANNEL)
    if spec.names == "call_center":
        body = {**body, "to": CALL_CENTER}
    other = world.other_app if spec.names else None
    assert_partner_guarded(method, url, scope=spec.scope, owner_app=world.owner_app, other_app=other, data=body)
    if spec.names in ("conversation", "agent", "channel", "call", "call_center"):
        # the partner's own token on the same kind of object in the other tenant (another partner's)
        if spec.names == "channel":
            foreign_url, foreign_body = _with_channel(method, url.split("?")[0], spec.methods[method], FOREIGN_CHANNEL)
        elif spec.names == "call_center":
            foreign_url, foreign_body = url, {**body, "to": FOREIGN_CALL_CENTER}
        else:
            foreign_url, foreign_body = _url(route, world, foreign=True), body
        response = call(partner_client(token_for(world.owner_app)), method, foreign_url, foreign_body)
        assert_error(response, 404)


@contextmanager
def _context(method: str, route: str):
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{method} /{route}: {exc}") from exc


def test_the_interactions_route_refuses_another_partners_channel(world):
    body = {**ROUTES["api/v1/interactions/"].methods["POST"], "to": CHANNEL}
    response = call(partner_client(token_for(world.other_app)), "POST", "/api/v1/interactions/", body)
    assert_error(response, 404, "unknown_channel")


def test_every_agent_route_refuses_the_wrong_caller(world):
    partner_only = partner_client(token_for(world.owner_app))
    checked = 0
    for route, spec in ROUTES.items():
        if spec.kind not in (AGENT, SUPERVISOR):
            continue
        for method, body in spec.methods.items():
            with _context(method, route):
                _agent_checks(world, route, spec, method, body, partner_only)
            checked += 1
    assert checked >= 20
    conversation = Conversation.objects.get(pk=world.conversation)
    assert conversation.status == "active"  # bob's close, transfer and messages were all refused
    assert not conversation.messages.filter(text="x").exists()


def _agent_checks(world, route: str, spec: Route, method: str, body, partner_only: APIClient) -> None:
    url = _url(route, world)
    for anonymous in (APIClient(), partner_only):
        response = call(anonymous, method, url, body)
        assert response.status_code in (401, 403), response.status_code
        assert_error(response, response.status_code, "not_authenticated")
    if spec.kind == SUPERVISOR:
        assert_error(call(_session(world.alice), method, url, body), 403, "supervisor_only")
    if spec.names == "conversation":
        assert_error(call(_session(world.stranger), method, url, body), 404, "conversation_not_found")
        assert_error(call(_session(world.bob), method, url, body), 403, "not_a_participant")
    elif spec.names == "call":
        assert_error(call(_session(world.stranger), method, url, body), 404, "call_not_found")
        assert_error(call(_session(world.bob), method, url, body), 403, "not_a_participant")
    elif spec.names == "work":
        assert_error(call(_session(world.stranger), method, url, body), 404, "work_not_found")
        assert_error(call(_session(world.bob), method, url, body), 404, "work_not_found")


def test_public_routes_answer_without_credentials(db):
    for route, spec in ROUTES.items():
        if spec.kind == PUBLIC:
            response = APIClient().get("/" + route)
            assert response.status_code == 200, route
    schema = json.loads(APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/json").content)
    assert "/api/v1/agent/conversations/{conversation_id}/summary/" in schema["paths"]
