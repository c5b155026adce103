import uuid
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from ccp.packages.choices import ChannelType
from ccp.packages.manifest import fields_schema
from ccp.packages.models import CommunicationPackage, ConnectedApp, Partner

from .choices import ChannelKind, InstallationStatus, Role


def time_zone_validate(value: str) -> None:
    """An IANA time-zone name zoneinfo knows (e.g. Europe/Berlin, UTC); empty means UTC."""
    if value and value not in _time_zones():
        raise ValidationError(f"'{value}' is not an IANA time zone (e.g. Europe/Berlin).")


_ZONES: set[str] = set()


def _time_zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones() | {"UTC"})
    return _ZONES


class Tenant(models.Model):
    """A customer organisation with its own contact center (FIG 3 tenant space)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=63, unique=True, help_text="Short name, used in authorization links.")
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        blank=True,
        validators=[time_zone_validate],
        help_text="IANA time zone (e.g. Europe/Berlin; empty: UTC): where report days and hours begin.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    notify_agent_on_monitor = models.BooleanField(
        default=False,
        help_text="Tell the agents of a conversation when a supervisor starts monitoring it (off: a silent monitor).",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug


class Membership(models.Model):
    """A user's place in one tenant: admin, supervisor or agent. A user belongs to one tenant."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    display_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant__slug", "user__username"]
        indexes = [models.Index(fields=["tenant", "role"])]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant.slug} ({self.role})"

    @property
    def name(self) -> str:
        return self.display_name or self.user.get_full_name() or self.user.get_username()


class ContactCenter(models.Model):
    """A tenant's contact center; for a partner, the proxy to its contact-center system (FIG 11 1108)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contact_centers")
    name = models.CharField(max_length=200)
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="contact_centers"
    )
    connector_url = models.CharField(max_length=500, blank=True)
    connected_app = models.ForeignKey(ConnectedApp, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    login_url = models.CharField(max_length=500, blank=True, help_text="The partner's custom login URL, if any.")
    metadata = models.JSONField(default=dict, blank=True)
    skills = models.JSONField(default=list, blank=True, help_text="Skill names this contact center uses.")
    queues = models.JSONField(default=list, blank=True, help_text="Work queue names this contact center uses.")
    agents = models.ManyToManyField(
        Membership,
        blank=True,
        related_name="contact_centers",
        help_text="Agents who serve this contact center. Its partner sees and sets only these agents and those "
        "assigned to no contact center; an agent assigned only to other contact centers is hidden from it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_contact_center_name")]

    def __str__(self) -> str:
        return self.name


class PackageInstallation(models.Model):
    """A tenant's installed instance of a published package (FIG 10), with its authorization link."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="installations")
    package = models.ForeignKey(CommunicationPackage, on_delete=models.PROTECT, related_name="installations")
    developer_name = models.CharField(max_length=80)
    contact_center = models.ForeignKey(ContactCenter, on_delete=models.PROTECT, related_name="installations")
    authorization_link = models.CharField(max_length=300, unique=True)
    status = models.CharField(max_length=16, choices=InstallationStatus.choices, default=InstallationStatus.ACTIVE)
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    installed_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__slug", "developer_name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "developer_name"], name="uniq_installation_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.developer_name} {self.package.version} @ {self.tenant.slug}"

    @property
    def is_active(self) -> bool:
        return self.status == InstallationStatus.ACTIVE


class BusinessHours(models.Model):
    """A business-hours calendar: a time zone, weekly opening hours and holidays (tenants/business_hours.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="business_hours")
    name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[time_zone_validate])
    weekly = models.JSONField(
        default=dict,
        blank=True,
        help_text='Opening hours per weekday, local time: {"mon": [["09:00", "17:00"]], …}; "24:00" ends a day. '
        "No hours at all: always open.",
    )
    closed_message = models.CharField(
        max_length=500, blank=True, help_text="Told to an end user who writes while closed (channels)."
    )

    class Meta:
        verbose_name = "business hours"
        verbose_name_plural = "business hours"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_business_hours_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from .business_hours import weekly_check

        problems = weekly_check(self.weekly or {})
        if problems:
            raise ValidationError({"weekly": [f"{day}: {', '.join(p)}" for day, p in problems.items()]})

    def calendar(self):
        """This calendar for the arithmetic of tenants/business_hours.py (holidays read once)."""
        from .business_hours import Calendar

        return Calendar(self.time_zone, dict(self.weekly or {}), frozenset(h.date for h in self.holidays.all()))


class Holiday(models.Model):
    """A local date a business-hours calendar is closed all day."""

    calendar = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="uniq_holiday_per_calendar")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class Channel(models.Model):
    """A channel of a contact center: a messaging channel or a call center (voice/video), standard or custom."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="channels")
    contact_center = models.ForeignKey(ContactCenter, on_delete=models.PROTECT, related_name="channels")
    installation = models.ForeignKey(
        PackageInstallation, null=True, blank=True, on_delete=models.CASCADE, related_name="channels"
    )
    kind = models.CharField(max_length=16, choices=ChannelKind.choices, default=ChannelKind.CUSTOM)
    channel_key = models.SlugField(max_length=80, help_text="Unique within the tenant.")
    name = models.CharField(max_length=200)
    channel_type = models.CharField(max_length=16, choices=ChannelType.choices, default=ChannelType.MESSAGING)
    partner = models.ForeignKey(
        Partner,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        help_text="The partner whose package provides this channel (its address namespace); none for standard ones.",
    )
    channel_address_id = models.CharField(
        max_length=200,
        help_text="The partner's address for this channel (a phone number, a page id…): unique in the partner's "
        "namespace and in the tenant.",
    )
    is_active = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True, help_text="Flow and consent settings of this channel.")
    business_hours = models.ForeignKey(
        BusinessHours,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="channels",
        help_text="When set, the channel is closed outside these hours (the flow's closed message is sent).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant__slug", "channel_key"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "channel_key"], name="uniq_channel_key_per_tenant"),
            # Inbound traffic is resolved by (partner, address id): one tenant cannot claim another
            # partner's address, and within a partner the address names one channel.
            models.UniqueConstraint(
                fields=["partner", "channel_address_id"],
                condition=models.Q(partner__isnull=False),
                name="uniq_channel_address_per_partner",
            ),
            models.UniqueConstraint(fields=["tenant", "channel_address_id"], name="uniq_channel_address_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.channel_address_id})"

    @property
    def entity(self) -> str:
        """The FIG 8 808 database entity this channel is: a messaging channel or a call center."""
        return "call center" if self.channel_type in (ChannelType.VOICE, ChannelType.VIDEO) else "messaging channel"


class CustomObjectDefinition(models.Model):
    """A tenant-specific entry of the data dictionary (FIG 10 0122): a custom object's fields."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="custom_object_definitions")
    installation = models.ForeignKey(
        PackageInstallation, null=True, blank=True, on_delete=models.CASCADE, related_name="custom_objects"
    )
    namespace = models.CharField(
        max_length=80, blank=True, help_text="The declaring package's developer name; blank for the tenant's own."
    )
    api_name = models.CharField(max_length=80)
    label = models.CharField(max_length=200, blank=True)
    fields = models.JSONField(help_text="JSON-schema properties of a record.")
    required = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__slug", "namespace", "api_name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "namespace", "api_name"], name="uniq_custom_object_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.namespace}.{self.api_name}" if self.namespace else self.api_name

    @property
    def schema(self) -> dict:
        return fields_schema(self.fields, self.required)


class CustomRecord(models.Model):
    """A record of a custom object: every object's rows share this table (JSONB data, FIG 10 0122)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="custom_records")
    definition = models.ForeignKey(CustomObjectDefinition, on_delete=models.CASCADE, related_name="records")
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "definition"])]

    def __str__(self) -> str:
        return f"{self.definition.api_name} {str(self.id)[:8]}"
