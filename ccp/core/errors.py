"""Domain exceptions. Services raise these; the API edge maps them to HTTP (ccp.core.api).

Every error carries a stable snake_case `code` and a sentence a caller can act on. The class
family decides the HTTP status at the edge, so a service never names an HTTP status itself.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal that a caller can act on: a stable code, a human message, optional details."""

    code = "error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: Any = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details or {}
        super().__init__(self.message)


class Invalid(DomainError):
    """Bad input (400)."""

    code = "invalid"
    default_message = "The request is not valid."


class NotFound(DomainError):
    """The object is missing or belongs to someone else (404: the two are indistinguishable)."""

    code = "not_found"
    default_message = "Not found."


class Forbidden(DomainError):
    """The caller is known but may not do this (403)."""

    code = "forbidden"
    default_message = "You are not allowed to do this."


class Conflict(DomainError):
    """The request clashes with the current state (409)."""

    code = "conflict"
    default_message = "The request conflicts with the current state."


class Gone(DomainError):
    """What was asked for no longer exists (410)."""

    code = "gone"
    default_message = "This is no longer available."


class NotSupported(DomainError):
    """This deployment cannot do this at all, whatever the request (501): retrying never helps."""

    code = "not_supported"
    default_message = "This deployment does not support this request."


class ServiceUnavailable(DomainError):
    """A service the request needs is not configured or not answering (503)."""

    code = "service_unavailable"
    default_message = "A service this request needs is unavailable."


class RetryLater(ServiceUnavailable):
    """A transaction kept losing database conflicts with concurrent work (503, with Retry-After)."""

    code = "retry_later"
    default_message = "The platform is busy with concurrent changes to the same records; retry in a moment."
    retry_after = 1
