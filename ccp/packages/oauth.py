"""django-oauth-toolkit glue: a token may carry only the scopes its connected app was granted;
`POST /o/token/` is throttled per client id and address and costs the same for known and unknown
client ids; a deactivated connected app gets no token."""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import json
import math
import time
from urllib.parse import unquote_plus

from axes.helpers import get_client_ip_address  # the address the login lockout uses too
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import SettingsScopes
from oauth2_provider.views import IntrospectTokenView, RevokeTokenView, TokenView


def _connected(application):
    return getattr(application, "connected_app", None) if application is not None else None


class ConnectedAppScopes(SettingsScopes):
    def _app_scopes(self, application) -> list[str]:
        connected = _connected(application)
        return connected.scope_list if connected is not None and connected.is_active else []

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        if application is None:
            return super().get_available_scopes(application, request, *args, **kwargs)
        return self._app_scopes(application)

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        if application is None:
            return super().get_default_scopes(application, request, *args, **kwargs)
        return self._app_scopes(application)


# The secret checks of the client authentication running in this thread/task (None: not in one).
_secret_checks: contextvars.ContextVar[list | None] = contextvars.ContextVar("ccp_secret_checks", default=None)


class ConnectedAppValidator(OAuth2Validator):
    """OAUTH2_VALIDATOR_CLASS. Two changes to client authentication:

    - an application whose connected app is deactivated is unknown (`invalid_client`);
    - every failed authentication costs one password hash. django-oauth-toolkit hashes the secret
      only when the client id exists (≈ 0.3 s with PBKDF2, against ≈ 0.02 s for an unknown id), so
      client ids could be enumerated by timing. Like Django's ModelBackend for unknown usernames,
      we hash the presented secret once when no stored secret was checked.
    """

    def _load_application(self, client_id, request):
        application = super()._load_application(client_id, request)
        connected = _connected(application)
        if application is not None and connected is not None and not connected.is_active:
            request.client = None
            return None
        return application

    def _check_secret(self, provided_secret, stored_secret):
        checks = _secret_checks.get()
        if checks is not None:
            checks.append(1)
        return super()._check_secret(provided_secret, stored_secret)

    def authenticate_client(self, request, *args, **kwargs):
        checks: list = []
        reset = _secret_checks.set(checks)
        try:
            authenticated = super().authenticate_client(request, *args, **kwargs)
        finally:
            _secret_checks.reset(reset)
        if not authenticated and not checks:
            make_password(_presented_secret(request))  # the cost of checking a wrong secret
        return authenticated


def _presented_secret(request) -> str:
    """The client secret of an oauthlib request (Basic header or body), or ''."""
    headers = request.headers
    _, secret = _basic_credentials(headers.get("HTTP_AUTHORIZATION") or headers.get("Authorization"))
    return secret or getattr(request, "client_secret", None) or ""


def _basic_credentials(header: str | None) -> tuple[str, str]:
    """(client id, secret) of an `Authorization: Basic …` value, or ('', '')."""
    kind, _, value = (header or "").partition(" ")
    if kind != "Basic" or not value:
        return "", ""
    try:
        client_id, _, secret = base64.b64decode(value.strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "", ""
    return unquote_plus(client_id), unquote_plus(secret)


def _parse_rate(rate: str) -> tuple[int, int]:
    count, _, unit = rate.partition("/")
    return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit.strip()[:1]]


def token_request_allowed(*, client_id: str, address: str) -> tuple[bool, int]:
    """Count one token request of (client id, address) in the shared cache; (allowed, retry after s).

    A fixed window of `OAUTH_TOKEN_RATE_LIMIT`; refused requests count too. The client id is hashed
    into the key (it is caller-supplied and unbounded)."""
    limit, period = _parse_rate(settings.OAUTH_TOKEN_RATE_LIMIT)
    now = time.time()
    window = int(now // period)
    digest = hashlib.sha256(client_id.encode("utf-8", "replace")).hexdigest()[:32]
    key = f"throttle:token:{digest}:{address}:{window}"
    if cache.add(key, 1, timeout=period + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=period + 1)
            count = 1
    return count <= limit, max(1, math.ceil((window + 1) * period - now))


class ClientThrottleMixin:
    """A per-(client id, client address) throttle in front of an endpoint that checks client
    secrets: over `OAUTH_TOKEN_RATE_LIMIT` it answers 429 `{"error": "rate_limited"}` before any
    secret is hashed (each check costs a password hash: unthrottled, a few callers could spend the
    server's CPU)."""

    # The views below are csrf-exempt (django-oauth-toolkit marks their dispatch); this dispatch
    # comes first in their MRO, so it must carry the marks itself.
    @method_decorator(csrf_exempt)
    @method_decorator(login_not_required)
    def dispatch(self, request, *args, **kwargs):
        client_id, _ = _basic_credentials(request.headers.get("Authorization"))
        client_id = client_id or request.POST.get("client_id", "")
        allowed, retry_after = token_request_allowed(
            client_id=client_id[:200], address=get_client_ip_address(request) or "unknown"
        )
        if not allowed:
            body = {
                "error": "rate_limited",
                "error_description": f"Too many requests for this client from this address; retry in "
                f"{retry_after} s (a token is valid for an hour: reuse it).",
            }
            response = HttpResponse(json.dumps(body), status=429, content_type="application/json")
            response["Retry-After"] = str(retry_after)
            response["Cache-Control"] = "no-store"
            return response
        return super().dispatch(request, *args, **kwargs)


class ThrottledTokenView(ClientThrottleMixin, TokenView):
    """`POST /o/token/`, throttled."""


class ThrottledRevokeTokenView(ClientThrottleMixin, RevokeTokenView):
    """`POST /o/revoke_token/` authenticates the client too: throttled the same way."""


class ThrottledIntrospectTokenView(ClientThrottleMixin, IntrospectTokenView):
    """`/o/introspect/` accepts client credentials too: throttled the same way."""
