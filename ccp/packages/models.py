import uuid

from django.conf import settings
from django.db import models

from .choices import Owner, PackageStatus, PartnerType
from .manifest import fields_schema, version_key


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
    is_active = models.BooleanField(
        default=True, help_text="Off: no new tokens, and every token already issued is revoked at once."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.partner.partner_identifier})"

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split() if s in settings.PARTNER_SCOPES]


class DeveloperName(models.Model):
    """A conversation channel developer name, reserved platform-wide for the partner who first used it."""

    name = models.CharField(max_length=80, unique=True)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="developer_names")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class CommunicationPackage(models.Model):
    """One version of a partner's custom communication package (FIG 3 314): draft, then published and immutable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="packages")
    developer_name = models.CharField(max_length=80, db_index=True)
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=40)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=PackageStatus.choices, default=PackageStatus.DRAFT)
    manifest = models.JSONField(help_text="The normalized manifest this version was built from.")
    connected_app = models.ForeignKey(
        ConnectedApp, null=True, blank=True, on_delete=models.SET_NULL, related_name="packages"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["developer_name", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["developer_name", "version"], name="uniq_package_developer_name_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.status})"

    @property
    def is_published(self) -> bool:
        return self.status == PackageStatus.PUBLISHED

    @property
    def version_key(self) -> tuple[int, int, int]:
        return version_key(self.version)


class ConversationChannelDefinition(models.Model):
    """What a package's channel is (FIG 3 320): types, who routes, who owns consent, capabilities, connector."""

    package = models.OneToOneField(CommunicationPackage, on_delete=models.CASCADE, related_name="channel_definition")
    developer_name = models.CharField(max_length=80)
    label = models.CharField(max_length=200)
    channel_types = models.JSONField(help_text="Subset of messaging, voice, video.")
    routing_owner = models.CharField(max_length=16, choices=Owner.choices, default=Owner.PLATFORM)
    consent_owner = models.CharField(max_length=16, choices=Owner.choices, default=Owner.PLATFORM)
    capabilities = models.JSONField(default=dict, blank=True)
    connector_url = models.CharField(max_length=500, blank=True)
    consent_defaults = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.developer_name


class PlatformEventType(models.Model):
    """A custom platform event type a package defines (FIG 3 318), with the JSON schema of its fields."""

    package = models.ForeignKey(CommunicationPackage, on_delete=models.CASCADE, related_name="event_types")
    api_name = models.CharField(max_length=80)
    label = models.CharField(max_length=200, blank=True)
    outbound_messages = models.BooleanField(
        default=False, help_text="Agents' outbound messages are published as this type."
    )
    fields = models.JSONField(help_text="JSON-schema properties: channel_address_id, payload, recipient, …")
    required = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["package", "api_name"], name="uniq_event_type_per_package")]

    def __str__(self) -> str:
        return self.api_name

    @property
    def schema(self) -> dict:
        return fields_schema(self.fields, self.required)


class PackageCustomObject(models.Model):
    """A custom object a package declares; installing creates a tenant-specific definition of it (FIG 10)."""

    package = models.ForeignKey(CommunicationPackage, on_delete=models.CASCADE, related_name="custom_objects")
    api_name = models.CharField(max_length=80)
    label = models.CharField(max_length=200, blank=True)
    fields = models.JSONField()
    required = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["package", "api_name"], name="uniq_custom_object_per_package")]

    def __str__(self) -> str:
        return self.api_name
