"""Writes in the partner space."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

from ccp.core.errors import Invalid

from .models import ConnectedApp, Partner


def _clean_scopes(scopes: list[str] | str) -> str:
    wanted = scopes.split() if isinstance(scopes, str) else list(scopes)
    unknown = sorted(set(wanted) - set(settings.PARTNER_SCOPES))
    if unknown:
        raise Invalid(
            f"Unknown scope(s): {', '.join(unknown)}. Choose from {', '.join(settings.PARTNER_SCOPES)}.",
            code="invalid_scope",
            details={"scopes": unknown},
        )
    return " ".join(s for s in settings.PARTNER_SCOPES if s in wanted)


@transaction.atomic
def connected_app_create(
    *, partner: Partner, name: str, scopes: list[str] | str, client_secret: str | None = None
) -> tuple[ConnectedApp, str]:
    """Create the partner's OAuth2 client-credentials application; returns it and the plain secret.

    The secret is stored hashed by django-oauth-toolkit, so this is the only time it can be shown.
    """
    Application = get_application_model()
    secret = client_secret or generate_client_secret()
    application = Application.objects.create(
        name=f"{partner.partner_identifier}: {name}",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        hash_client_secret=True,
    )
    app = ConnectedApp.objects.create(
        partner=partner, application=application, name=name, scopes=_clean_scopes(scopes)
    )
    return app, secret


@transaction.atomic
def connected_app_rotate_secret(*, connected_app: ConnectedApp, client_secret: str | None = None) -> str:
    """Issue a new client secret (the old one stops working at once); returns the plain secret."""
    secret = client_secret or generate_client_secret()
    application = connected_app.application
    application.client_secret = secret
    application.save(update_fields=["client_secret"])
    return secret


def connected_app_set_scopes(*, connected_app: ConnectedApp, scopes: list[str] | str) -> ConnectedApp:
    connected_app.scopes = _clean_scopes(scopes)
    connected_app.save(update_fields=["scopes"])
    return connected_app
