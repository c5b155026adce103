"""Who is acting and from where, for the audit entries written while a request is served.

`AuditContextMiddleware` remembers the request (its user resolves lazily, after DRF or Django
authenticated it) in a context variable; `current_actor()` reads it. Services called outside a
request (Celery, management commands) record `system` unless they name an actor.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

_request: contextvars.ContextVar = contextvars.ContextVar("ccp_audit_request", default=None)


@dataclass(frozen=True)
class Actor:
    type: str  # user, partner, system
    id: str = ""
    repr: str = ""
    role: str = ""


SYSTEM = Actor("system", "", "system")


def user_actor(user) -> Actor:
    membership = getattr(user, "membership", None) if user is not None else None
    name = (membership.name if membership is not None else "") or user.get_username()
    return Actor("user", str(user.pk), name[:200], membership.role if membership is not None else "")


def current_actor() -> Actor:
    request = _request.get()
    if request is None:
        return SYSTEM
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return SYSTEM
    partner = getattr(user, "partner", None)  # a partner's token (ccp.packages.api.base.PartnerPrincipal)
    if partner is not None and not hasattr(user, "get_username"):
        return Actor("partner", str(partner.pk), str(user)[:200])
    return user_actor(user)


def current_ip() -> str | None:
    request = _request.get()
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def current_request():
    return _request.get()


class AuditContextMiddleware:
    """Make the request (user, source IP) visible to audit_record() for its duration."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)
