"""Reusable test helpers: partner tokens and the negative suite every partner endpoint must pass."""

from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken
from rest_framework.test import APIClient

from ccp.packages.models import ConnectedApp

ALL_SCOPES = tuple(settings.PARTNER_SCOPES)


def token_for(connected_app: ConnectedApp, scopes=ALL_SCOPES, *, expires_in: int = 3600) -> str:
    """A bearer token of this connected app, as POST /o/token/ would issue (see test_oauth for that path)."""
    token = AccessToken.objects.create(
        application=connected_app.application,
        token=generate_client_secret(),
        scope=" ".join(scopes),
        expires=timezone.now() + timedelta(seconds=expires_in),
    )
    return token.token


def partner_client(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def call(client: APIClient, method: str, url: str, data=None):
    kwargs = {"format": "json"} if data is not None else {}
    return (
        getattr(client, method.lower())(url, data, **kwargs)
        if data is not None
        else getattr(client, method.lower())(url)
    )


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response has this status and the error envelope (with this code, when given)."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert isinstance(body["error"]["details"], dict), body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def assert_partner_guarded(
    method: str,
    url: str,
    *,
    scope: str | None,
    owner_app: ConnectedApp,
    other_app: ConnectedApp | None = None,
    data=None,
) -> None:
    """The generic negative suite: no token → 401, a token lacking `scope` → 403, another partner → 404.

    `other_app` is a connected app of another partner holding every scope; pass it for endpoints that
    address an object of `owner_app`'s partner (they must answer 404, the same as a missing object).
    """
    response = call(partner_client(None), method, url, data)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")

    response = call(partner_client("not-a-real-token"), method, url, data)
    assert_error(response, 401, "not_authenticated")

    expired = token_for(owner_app, expires_in=-10)
    assert_error(call(partner_client(expired), method, url, data), 401, "not_authenticated")

    if scope:  # an endpoint that any partner token may call has no scope to lack
        lacking = token_for(owner_app, [s for s in ALL_SCOPES if s != scope])
        assert_error(call(partner_client(lacking), method, url, data), 403, "insufficient_scope")

    if other_app is not None:
        other = token_for(other_app)
        assert_error(call(partner_client(other), method, url, data), 404)


def dispatch_pending(*, tenant_id) -> bool:
    """Whether a coalesced dispatch task of the tenant is queued and has not started yet (its
    pending key in Redis, as `routing.services.dispatch_request` sets it)."""
    from ccp.core.redis import redis_client
    from routing.services.dispatch import _dispatch_keys

    client = redis_client()
    return bool(client is not None and client.exists(_dispatch_keys(tenant_id)[0]))


def run_requested_dispatch(tenant_id) -> int:
    """Be the Celery worker for a test without one: check that the commit queued a dispatch task for
    the tenant (`routing.services.dispatch_request`) and run that task here. Returns the offers made."""
    from routing import tasks

    assert dispatch_pending(tenant_id=tenant_id), "no dispatch task was queued for this tenant"
    return tasks.routing_dispatch_task(str(tenant_id))
