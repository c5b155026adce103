"""Consent (FIG 16A/16B): one record per (tenant, channel, end-user address) and its append-only history."""

from django.db import models

from tenants.models import Channel, Tenant

from .choices import ConsentSource, ConsentStatus


class ConsentRecord(models.Model):
    """Whether an end user consents to outbound messages from a tenant on one channel, and who may change it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="consent_records")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="consent_records")
    address = models.CharField(max_length=300, help_text="The end user's address; 'sha256:…' once erased.")
    status = models.CharField(max_length=16, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN)
    owner = models.CharField(max_length=16, help_text="platform or partner, from the package's channel definition.")
    source = models.CharField(max_length=16, choices=ConsentSource.choices, blank=True)
    pending_opt_in = models.BooleanField(
        default=False, help_text="Double opt-in: an opt-in asked for but not yet confirmed by the end user."
    )
    confirmation_due = models.BooleanField(
        default=False, help_text="One confirmation reply (STOP/START/double opt-in) may still be sent."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "channel", "address"]
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="uniq_consent_per_address")]

    def __str__(self) -> str:
        return f"{self.address} on {self.channel_id}: {self.status}"


class ConsentChange(models.Model):
    """One change of a consent record (who, when, old → new, source); never edited or deleted."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    record = models.ForeignKey(
        ConsentRecord, null=True, on_delete=models.SET_NULL, related_name="changes", db_constraint=True
    )
    channel_address_id = models.CharField(max_length=200)
    address = models.CharField(max_length=300, help_text="Hashed ('sha256:…') when the contact is erased.")
    old_status = models.CharField(max_length=16, choices=ConsentStatus.choices)
    new_status = models.CharField(max_length=16, choices=ConsentStatus.choices)
    pending_opt_in = models.BooleanField(default=False, help_text="The change asked for a double opt-in.")
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    actor = models.CharField(max_length=200, help_text="Who: 'partner:<id>', 'agent:<membership id>', 'end_user'.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "address"])]

    def __str__(self) -> str:
        return f"{self.address}: {self.old_status} → {self.new_status} ({self.source})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Consent history is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Consent history is never deleted.")
