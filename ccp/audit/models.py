from django.db import models


class AppendOnly(Exception):
    """An audit entry was about to be changed or deleted."""


class AuditEntry(models.Model):
    """One recorded action. Never changed, never deleted (a database trigger enforces it)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    tenant_id = models.UUIDField(null=True, blank=True, db_index=True, help_text="The tenant the action was in.")
    tenant_slug = models.CharField(max_length=63, blank=True)
    actor_type = models.CharField(max_length=16, help_text="user, partner or system")
    actor_id = models.CharField(max_length=64, blank=True)
    actor_repr = models.CharField(max_length=200, blank=True)
    actor_role = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=64, db_index=True, help_text="What was done, e.g. conversation.monitor.")
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [models.Index(fields=["tenant_id", "-created_at"], name="audit_tenant_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_repr} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise AppendOnly("The audit log is append-only: entries are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("The audit log is append-only: entries are never deleted.")
