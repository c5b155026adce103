from django.db import models


class IdempotencyKey(models.Model):
    """A POST that a caller tagged with `Idempotency-Key`: its body hash and the first response."""

    owner = models.CharField(max_length=80, help_text="Who sent it: partner:<id> or user:<id>.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    path = models.CharField(max_length=500)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="uniq_idempotency_owner_key")]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"
