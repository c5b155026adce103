"""Operations' own tables: the rollup of settled work (services/rollup.py) that keeps the historical
reports fast; every number in them is the same aggregate as metrics.py computes from the raw records."""

from django.db import models

from tenants.models import Membership, Tenant


def _count() -> models.BigIntegerField:
    return models.BigIntegerField(default=0, db_default=0)


def _seconds() -> models.FloatField:
    return models.FloatField(default=0, db_default=0)


class WorkRollup(models.Model):
    """The summary's sums for one 15-minute bucket, queue and channel, of work items and conversations
    that entered in the bucket and have settled (nothing about them can change any more)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    bucket = models.DateTimeField(help_text="Start of the 15 minutes (UTC).")
    queue_id = models.UUIDField(null=True, blank=True, help_text="The routing queue (none: no queue).")
    channel_address_id = models.CharField(max_length=200, blank=True)
    offered = _count()
    answered = _count()
    abandoned = _count()
    short_abandoned = _count()
    wait_sum = _seconds()
    in_sl = _count()
    handled = _count()
    handle_sum = _seconds()
    acw_sum = _seconds()
    transfers = _count()
    responded = _count()
    response_sum = _seconds()
    closed = _count()
    resolved = _count()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "bucket", "queue_id", "channel_address_id"],
                name="uniq_work_rollup_bucket",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket} {self.queue_id} {self.channel_address_id}"


class AgentRollup(models.Model):
    """One agent's handled work (by when the work item entered) and presence time in one 15-minute
    bucket, for settled buckets."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    bucket = models.DateTimeField()
    agent = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    handled = _count()
    handle_sum = _seconds()
    acw_sum = _seconds()
    serving_seconds = _seconds()
    working_seconds = _seconds()
    online_seconds = _seconds()
    busy_seconds = _seconds()
    away_seconds = _seconds()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "bucket", "agent"], name="uniq_agent_rollup_bucket")]

    def __str__(self) -> str:
        return f"{self.bucket} {self.agent_id}"


class RollupState(models.Model):
    """How far a tenant's rollup reaches: every bucket before `settled_until` is in the rollup tables."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="+")
    settled_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.tenant_id} settled until {self.settled_until}"
