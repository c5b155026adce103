from django.db import models


class PartnerType(models.TextChoices):
    CHANNEL_PROVIDER = "channel_provider", "Channel provider (messaging, SMS, social)"
    TELEPHONY = "telephony", "Telephony / contact-center system"
    ISV = "isv", "Independent software vendor"
    INTERNAL = "internal", "The tenant's own integration"
