from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Tenant admin"
    SUPERVISOR = "supervisor", "Supervisor"
    AGENT = "agent", "Agent"


class InstallationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"


class ChannelKind(models.TextChoices):
    STANDARD = "standard", "Standard (built in)"
    CUSTOM = "custom", "Custom (from a package)"
