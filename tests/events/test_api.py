"""Partner endpoints of the event bus: replay, subscriptions, deliveries — and who may see what."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from ccp.events import services
from ccp.events.choices import DeliveryStatus
from ccp.events.models import Delivery, Event, Subscription
from ccp.events.services import event_publish
from tests.helpers import assert_error, assert_partner_guarded

EVENTS = "/api/v1/events/"
STREAM = "/api/v1/events/stream/"
SUBSCRIPTIONS = "/api/v1/subscriptions/"


def publish(tenant, partner, type_="message.created", **data):
    """Publish and number at once (inside a test transaction the on-commit fan-out cannot run)."""
    event = event_publish(tenant=tenant, partner=partner, type=type_, data=data)
    services.event_fan_out(event_pks=[event.pk])
    event.refresh_from_db()
    return event


@pytest.fixture
def subscription(partner):
    return services.subscription_create(partner=partner, url="https://example.com/hooks", event_types=["*"])[0]


@pytest.fixture
def delivery(tenant, partner, subscription):
    event = publish(tenant, partner)
    services.event_relay(event_pks=[event.pk])
    return Delivery.objects.get(event=event)


def test_every_endpoint_is_guarded(connected_app, other_connected_app, subscription, delivery):
    sub = f"{SUBSCRIPTIONS}{subscription.id}/"
    for method, url, data in [
        ("GET", EVENTS, None),
        ("GET", STREAM, None),
        ("GET", SUBSCRIPTIONS, None),
        ("POST", SUBSCRIPTIONS, {"url": "https://example.com/x", "event_types": ["*"]}),
    ]:
        assert_partner_guarded(method, url, scope="events", owner_app=connected_app, data=data)
    for method, url in [
        ("GET", sub),
        ("DELETE", sub),
        ("GET", f"{sub}deliveries/"),
        ("POST", f"{sub}deliveries/{delivery.id}/redeliver/"),
    ]:
        assert_partner_guarded(method, url, scope="events", owner_app=connected_app, other_app=other_connected_app)
    assert Subscription.objects.filter(pk=subscription.pk).exists()  # nobody else could delete it


def test_replay_pages_in_replay_id_order_with_a_cursor(api, tenant, partner):
    events = [publish(tenant, partner, n=n) for n in range(5)]
    first = api.get(f"{EVENTS}?limit=2").json()
    assert [e["data"]["n"] for e in first["events"]] == [0, 1]
    assert first["next_after"] == events[1].replay_id
    second = api.get(f"{EVENTS}?after={first['next_after']}&limit=10").json()
    assert [e["data"]["n"] for e in second["events"]] == [2, 3, 4]
    last = api.get(f"{EVENTS}?after={second['next_after']}").json()
    assert last == {"events": [], "next_after": events[-1].replay_id}
    envelope = second["events"][0]
    assert set(envelope) == {"id", "type", "tenant", "occurred_at", "data"}
    assert envelope["tenant"] == "acme" and envelope["occurred_at"].endswith("Z")


def test_partners_see_neither_another_partners_nor_another_tenants_events(
    api, other_api, tenant, other_tenant, partner, other_partner
):
    mine = publish(tenant, partner, n="mine")
    publish(tenant, other_partner, n="theirs")
    publish(other_tenant, other_partner, n="other tenant")
    internal = event_publish(tenant=other_tenant, type="agent.status_changed", data={"n": "internal"})
    services.event_fan_out(event_pks=[internal.pk])
    assert [e["id"] for e in api.get(EVENTS).json()["events"]] == [mine.replay_id]
    assert [e["data"]["n"] for e in other_api.get(EVENTS).json()["events"]] == ["theirs", "other tenant"]


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "0x10", "99999999999999999999999"])
def test_a_malformed_cursor_is_a_400(api, after):
    error = assert_error(api.get(f"{EVENTS}?after={after}"), 400, "invalid_cursor")
    assert "after" in error["details"]


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_a_bad_limit_is_a_400(api, limit):
    assert_error(api.get(f"{EVENTS}?limit={limit}"), 400, "invalid_limit")


def test_a_cursor_older_than_retention_is_410_naming_the_earliest_id(api, tenant, partner):
    old = [publish(tenant, partner, n=n) for n in range(3)]
    kept = publish(tenant, partner, n=3)
    Event.objects.filter(pk__in=[e.pk for e in old]).update(occurred_at=timezone.now() - timedelta(hours=80))
    services.events_prune()

    error = assert_error(api.get(f"{EVENTS}?after={old[0].replay_id}"), 410, "replay_expired")
    assert error["details"]["earliest_id"] == kept.replay_id
    assert str(kept.replay_id) in error["message"]
    resumed = api.get(f"{EVENTS}?after={error['details']['resume_after']}").json()
    assert [e["id"] for e in resumed["events"]] == [kept.replay_id]
    assert [e["id"] for e in api.get(EVENTS).json()["events"]] == [kept.replay_id]  # no cursor: oldest kept
    assert_error(api.get(f"{STREAM}?after={old[0].replay_id}"), 410, "replay_expired")


def test_stream_refuses_malformed_cursors_in_the_envelope(api):
    assert_error(api.get(f"{STREAM}?after=nope"), 400, "invalid_cursor")
    assert_error(api.get(STREAM, HTTP_LAST_EVENT_ID="x1"), 400, "invalid_cursor")


def test_create_subscription_shows_the_secret_once(api, partner):
    response = api.post(
        SUBSCRIPTIONS, {"url": "https://example.com/hooks", "event_types": ["message.created"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["event_types"] == ["message.created"]
    read = api.get(f"{SUBSCRIPTIONS}{body['id']}/").json()
    assert "secret" not in read and read["url"] == "https://example.com/hooks"
    assert [s["id"] for s in api.get(SUBSCRIPTIONS).json()] == [body["id"]]
    assert Subscription.objects.get().partner == partner


def test_event_types_default_to_everything(api):
    response = api.post(SUBSCRIPTIONS, {"url": "https://example.com/hooks"}, format="json")
    assert response.status_code == 201 and response.json()["event_types"] == ["*"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"url": "https://example.com/h", "event_types": ["message.exploded"]}, "unknown_event_type"),
        ({"url": "https://example.com/h", "event_types": []}, "invalid_event_types"),
        ({"url": "http://example.com/h", "event_types": ["*"]}, "insecure_url"),
        ({"url": "ftp://example.com/h", "event_types": ["*"]}, "invalid_url"),
        ({"url": "not a url", "event_types": ["*"]}, "invalid_url"),
        ({"url": "https://user:pw@example.com/h", "event_types": ["*"]}, "invalid_url"),
        ({"url": "https://10.1.2.3/h", "event_types": ["*"]}, "private_address"),
        ({"url": "https://172.16.0.9/h", "event_types": ["*"]}, "private_address"),
        ({"url": "https://172.31.255.1/h", "event_types": ["*"]}, "private_address"),
        ({"url": "https://192.168.1.1/h", "event_types": ["*"]}, "private_address"),
        ({"url": "https://169.254.169.254/latest/meta-data", "event_types": ["*"]}, "private_address"),
        ({"url": "https://[fe80::1]/h", "event_types": ["*"]}, "private_address"),
        ({"url": "https://[fd00::1]/h", "event_types": ["*"]}, "private_address"),
        ({"url": "https://[::ffff:10.0.0.1]/h", "event_types": ["*"]}, "private_address"),
        ({"url": "https://0.0.0.0/h", "event_types": ["*"]}, "private_address"),
    ],
)
def test_bad_subscriptions_are_refused_with_stable_codes(api, payload, code):
    assert_error(api.post(SUBSCRIPTIONS, payload, format="json"), 400, code)
    assert not Subscription.objects.exists()


def test_loopback_needs_the_setting(api, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    for url in ["http://127.0.0.1:8080/h", "http://localhost/h", "https://[::1]/h"]:
        assert_error(api.post(SUBSCRIPTIONS, {"url": url}, format="json"), 400, "private_address")
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    assert api.post(SUBSCRIPTIONS, {"url": "http://127.0.0.1:8080/h"}, format="json").status_code == 201


def test_custom_types_are_accepted_as_filters(api):
    response = api.post(
        SUBSCRIPTIONS, {"url": "https://example.com/h", "event_types": ["AcmeOutbound__e"]}, format="json"
    )
    assert response.status_code == 201


def test_delete_removes_the_subscription(api, subscription):
    assert api.delete(f"{SUBSCRIPTIONS}{subscription.id}/").status_code == 204
    assert_error(api.get(f"{SUBSCRIPTIONS}{subscription.id}/"), 404, "not_found")


def test_a_missing_subscription_is_404(api):
    assert_error(api.get(f"{SUBSCRIPTIONS}{uuid.uuid4()}/"), 404, "not_found")


def test_only_matching_subscriptions_get_deliveries(tenant, partner, other_partner):
    wants = services.subscription_create(partner=partner, url="https://example.com/a", event_types=["work.offered"])[0]
    other = services.subscription_create(partner=partner, url="https://example.com/b", event_types=["typing.started"])[
        0
    ]
    foreign = services.subscription_create(partner=other_partner, url="https://example.com/c", event_types=["*"])[0]
    event = publish(tenant, partner, "work.offered")
    services.event_relay(event_pks=[event.pk])
    assert list(Delivery.objects.values_list("subscription_id", flat=True)) == [wants.id]
    assert not Delivery.objects.filter(subscription__in=[other, foreign]).exists()


def test_redelivering_a_delivery_still_in_progress_is_409(api, subscription, delivery):
    url = f"{SUBSCRIPTIONS}{subscription.id}/deliveries/{delivery.id}/redeliver/"
    assert_error(api.post(url), 409, "delivery_in_progress")
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.DEAD)
    response = api.post(url)
    assert response.status_code == 202 and response.json()["status"] == "pending"


def test_deliveries_of_another_subscription_are_404(api, partner, subscription, delivery):
    mine_too = services.subscription_create(partner=partner, url="https://example.com/z", event_types=["*"])[0]
    url = f"{SUBSCRIPTIONS}{mine_too.id}/deliveries/{delivery.id}/redeliver/"
    assert_error(api.post(url), 404, "not_found")


def test_replay_and_delivery_lists_cost_the_same_queries_for_3_or_30_rows(api, tenant, partner, subscription):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def batch(n):
        events = [publish(tenant, partner, n=i) for i in range(n)]
        services.event_relay(event_pks=[e.pk for e in events])

    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert api.get(url).status_code == 200
        return len(queries)

    batch(3)
    count(EVENTS)  # steady state: the token lookup is cached after the first call
    small = (count(EVENTS), count(f"{SUBSCRIPTIONS}{subscription.id}/deliveries/"))
    batch(30)
    assert (count(EVENTS), count(f"{SUBSCRIPTIONS}{subscription.id}/deliveries/")) == small
