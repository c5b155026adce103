"""The base of every partner endpoint: the partner is resolved from the OAuth token once, here.

A subclass declares `required_scopes` and reads `self.partner`; it cannot forget to authenticate or
to scope, because authentication, scope checks and the idempotency owner live in this class.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from ccp.core.api import BaseApi

from ..models import ConnectedApp, Partner


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


class PartnerTokenAuthentication(OAuth2Authentication):
    """Bearer token from POST /o/token/ (client credentials) → the partner of its connected app."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        token = result[1]
        connected = ConnectedApp.objects.select_related("partner").filter(application_id=token.application_id).first()
        if connected is None:
            raise exceptions.AuthenticationFailed("This token's application is not a partner's connected app.")
        return PartnerPrincipal(partner=connected.partner, connected_app=connected), token

    def authenticate_header(self, request):
        return 'Bearer realm="ccp"'


class HasPartnerScope(BasePermission):
    """The token must carry every scope in the view's `required_scopes`."""

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
        return True


class PartnerRateThrottle(SimpleRateThrottle):
    """`PARTNER_RATE_LIMIT` requests per partner, across its tokens and our processes (shared cache)."""

    scope = "partner"

    def get_rate(self):
        return settings.PARTNER_RATE_LIMIT

    def get_cache_key(self, request, view):
        principal = request.user
        return f"throttle:partner:{principal.partner.pk}" if isinstance(principal, PartnerPrincipal) else None


class PartnerApi(BaseApi):
    """Base class of partner endpoints. Sets `self.partner` and `self.connected_app`."""

    authentication_classes = [PartnerTokenAuthentication]
    permission_classes = [HasPartnerScope]
    throttle_classes = [PartnerRateThrottle]
    required_scopes: list[str] = []
    partner: Partner
    connected_app: ConnectedApp

    def initial(self, request, *args, **kwargs):
        self.partner = None  # type: ignore[assignment]
        super().initial(request, *args, **kwargs)
        self.partner = request.user.partner
        self.connected_app = request.user.connected_app

    def idempotency_owner(self, request) -> str:
        return f"partner:{request.user.partner.pk}"
