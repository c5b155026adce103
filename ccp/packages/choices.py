from django.db import models


class PartnerType(models.TextChoices):
    CHANNEL_PROVIDER = "channel_provider", "Channel provider (messaging, SMS, social)"
    TELEPHONY = "telephony", "Telephony / contact-center system"
    ISV = "isv", "Independent software vendor"
    INTERNAL = "internal", "The tenant's own integration"


class PackageStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class ChannelType(models.TextChoices):
    MESSAGING = "messaging", "Messaging"
    VOICE = "voice", "Voice"
    VIDEO = "video", "Video"
    EMAIL = "email", "E-mail"


class Owner(models.TextChoices):
    PLATFORM = "platform", "Platform"
    PARTNER = "partner", "Partner"
