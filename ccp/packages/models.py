import uuid

from django.conf import settings
from django.db import models

from .choices import PartnerType


class Partner(models.Model):
    """A partner (FIG 3 partner space): a company that brings a communication channel to the platform."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner_identifier = models.SlugField(
        max_length=80,
        unique=True,
        help_text="The identifier tenants type when they install this partner's packages (FIG 10).",
    )
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=32, choices=PartnerType.choices, default=PartnerType.CHANNEL_PROVIDER)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.partner_identifier})"


class ConnectedApp(models.Model):
    """A partner's OAuth2 client (client credentials) with the API scopes it may request."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="connected_apps")
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="connected_app"
    )
    name = models.CharField(max_length=200)
    scopes = models.CharField(
        max_length=200, help_text="Space-separated: packages interactions routing consent events."
    )
    contact_center_scope = models.BooleanField(
        default=True, help_text="May act for the partner's contact centers (agents, routing, status sync)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.partner.partner_identifier})"

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split() if s in settings.PARTNER_SCOPES]
