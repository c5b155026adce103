"""The base of every partner endpoint: the partner is resolved from the OAuth token once, here.

A subclass declares `required_scopes` and reads `self.partner`; it cannot forget to authenticate or
to scope, because authentication, scope checks and the idempotency owner live in this class.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from ccp.core.api import BaseApi
from ccp.core.redis_health import redis_failed, redis_skipping

from ..models import ConnectedApp, Partner
from ..selectors import bearer_from_header, bearer_grant


@dataclass(frozen=True)
class PartnerPrincipal:
    """What `request.user` is on partner endpoints: the partner behind the token."""

    partner: Partner
    connected_app: ConnectedApp
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self):
        return self.partner.pk

    def __str__(self) -> str:
        return f"partner {self.partner.partner_identifier}"


class PartnerTokenAuthentication(BaseAuthentication):
    """Bearer token from POST /o/token/ (client credentials) → the partner of its connected app.

    One indexed query (token checksum → application → connected app → partner) instead of building
    an oauthlib request per call: that cost 13 % of an interaction request (docs/performance.md).
    An unknown, expired or foreign token authenticates nobody, so `HasPartnerScope` answers 401.
    """

    def authenticate(self, request):
        grant = bearer_grant(bearer_from_header(request.META.get("HTTP_AUTHORIZATION")))
        if grant is None:
            return None
        return PartnerPrincipal(partner=grant.partner, connected_app=grant.connected_app), grant.token

    def authenticate_header(self, request):
        return 'Bearer realm="ccp"'


class HasPartnerScope(BasePermission):
    """The token must carry every scope in the view's `required_scopes`; a view that
    `acts_for_contact_centers` also needs the connected app's `contact_center_scope`."""

    def has_permission(self, request, view) -> bool:
        principal = request.user
        if not isinstance(principal, PartnerPrincipal) or request.auth is None:
            raise exceptions.NotAuthenticated()
        required = list(getattr(view, "required_scopes", []) or [])
        if required and not request.auth.allow_scopes(required):
            raise exceptions.PermissionDenied(
                detail=f"This token lacks the scope(s) {', '.join(required)}; request a token for a "
                f"connected app that was granted them.",
                code="insufficient_scope",
            )
        if getattr(view, "acts_for_contact_centers", False) and not principal.connected_app.contact_center_scope:
            raise exceptions.PermissionDenied(
                detail="This connected app may not act for your contact centers (agents, routing, status sync): "
                "its contact-center scope is off.",
                code="contact_center_scope_required",
            )
        return True


class PartnerRateThrottle(BaseThrottle):
    """`PARTNER_RATE_LIMIT` requests per partner, across its tokens and our processes (shared cache).

    A sliding-window counter: one atomic increment of this window's count per request, plus the
    previous window's count weighted by how much of it still overlaps the last `period` seconds.
    DRF's SimpleRateThrottle keeps every request's timestamp in one cache value, so at 60,000/min
    each request read and rewrote a list of thousands of floats. Refused requests count too.
    """

    def allow_request(self, request, view) -> bool:
        principal = request.user
        if not isinstance(principal, PartnerPrincipal):
            return True
        limit, period = self._parse(settings.PARTNER_RATE_LIMIT)
        if redis_skipping():
            return True  # the counter lives in Redis, which is down: serve rather than refuse everyone
        now = time.time()
        window = int(now // period)
        key = f"throttle:partner:{principal.partner.pk}:{{}}"
        try:
            if hasattr(cache, "incr_expiring"):  # Redis (ccp.core.cache): one round trip
                count = cache.incr_expiring(key.format(window), 2 * period + 1)
            else:  # the embedded default's in-process cache
                try:
                    count = cache.incr(key.format(window))
                except ValueError:  # the first request of this window
                    first = cache.add(key.format(window), 1, timeout=2 * period + 1)
                    count = 1 if first else cache.incr(key.format(window))
            elapsed = now - window * period
            previous = self._previous(key.format(window - 1)) if count <= limit else 0
        except RedisError as exc:
            redis_failed("rate limit", exc)
            return True
        estimate = previous * (1 - elapsed / period) + count
        self._wait = period - elapsed
        return estimate <= limit

    # A closed window's count no longer changes: read it once per process, not once per request.
    _closed_counts: dict[str, int] = {}

    @classmethod
    def _previous(cls, key: str) -> int:
        count = cls._closed_counts.get(key)
        if count is None:
            count = int(cache.get(key, 0))
            if len(cls._closed_counts) > 10_000:
                cls._closed_counts.clear()
            cls._closed_counts[key] = count
        return count

    def wait(self) -> float:
        return float(max(1, math.ceil(getattr(self, "_wait", 1.0))))

    @staticmethod
    def _parse(rate: str) -> tuple[int, int]:
        count, _, unit = rate.partition("/")
        return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit[:1]]


class PartnerApi(BaseApi):
    """Base class of partner endpoints. Sets `self.partner` and `self.connected_app`."""

    authentication_classes = [PartnerTokenAuthentication]
    permission_classes = [HasPartnerScope]
    throttle_classes = [PartnerRateThrottle]
    required_scopes: list[str] = []
    acts_for_contact_centers = False
    partner: Partner
    connected_app: ConnectedApp

    def initial(self, request, *args, **kwargs):
        self.partner = None  # type: ignore[assignment]
        super().initial(request, *args, **kwargs)
        self.partner = request.user.partner
        self.connected_app = request.user.connected_app

    def idempotency_owner(self, request) -> str:
        return f"partner:{request.user.partner.pk}"
