import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from ccp.ai.prompts import prompt_template_check
from ccp.core.errors import Invalid
from ccp.packages.choices import Owner
from tenants.models import Membership, Tenant

from .choices import (
    ACTIVE_STATUSES,
    HOLDING_STATUSES,
    OPEN_ITEM_STATUSES,
    Engine,
    PresenceStatus,
    QueueOrdering,
    Strategy,
    WorkItemStatus,
    WorkStatus,
)

DEFAULT_CAPACITY = {"messaging": 4, "voice": 1, "video": 1}


def default_capacity() -> dict:
    return dict(DEFAULT_CAPACITY)


def call_blocks_messaging(*, voice_blocks_messaging: bool, used: dict[str, int], channel_type: str) -> bool:
    """Cross-channel rule: an agent on a voice or video call (and whose presence says so) gets no new
    messaging work. The one place this rule is written."""
    on_call = used.get("voice", 0) > 0 or used.get("video", 0) > 0
    return bool(voice_blocks_messaging and channel_type == "messaging" and on_call)


def offer_timeout_seconds(*, queue: "Queue | None", channel_type: str) -> int:
    """How long an offer rings before it times out: calls ring shorter than chats. The queue's own
    timeout for its channel type, else the platform default. The one place this rule is written."""
    if channel_type == "voice":
        if queue is not None and queue.voice_offer_timeout_seconds:
            return queue.voice_offer_timeout_seconds
        return settings.ROUTING_VOICE_OFFER_TIMEOUT_SECONDS
    return queue.offer_timeout_seconds if queue is not None else settings.ROUTING_OFFER_TIMEOUT


class AgentPresence(models.Model):
    """An agent's presence (online/busy/away/offline) and capacity per channel type; the routing lock row."""

    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="presence")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=PresenceStatus.choices, default=PresenceStatus.OFFLINE)
    status_since = models.DateTimeField(auto_now_add=True)
    capacity = models.JSONField(default=default_capacity, help_text='Per channel type, e.g. {"messaging": 4}.')
    voice_blocks_messaging = models.BooleanField(
        default=True, help_text="While on a voice or video call, no new messaging work is offered."
    )
    ignored_offers = models.PositiveIntegerField(default=0, help_text="Offers timed out in a row.")
    last_offered_at = models.DateTimeField(null=True, blank=True)
    last_work_ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "status"])]

    def __str__(self) -> str:
        return f"{self.membership} {self.status}"

    def max_for(self, channel_type: str) -> int:
        return int(self.capacity.get(channel_type, 0) or 0)


class AgentStatusSpan(models.Model):
    """A stretch of time an agent spent in one presence status: the history reports add up."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="status_spans")
    status = models.CharField(max_length=16, choices=PresenceStatus.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Empty while the agent is still in it.")

    class Meta:
        ordering = ["started_at"]
        indexes = [models.Index(fields=["tenant", "started_at"])]
        constraints = [
            models.UniqueConstraint(fields=["agent"], condition=Q(ended_at__isnull=True), name="one_open_status_span")
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.status} from {self.started_at}"


class Skill(models.Model):
    """A skill agents have and work may require (e.g. billing, spanish)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="skills")
    name = models.SlugField(max_length=80)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_skill_per_tenant")]

    def __str__(self) -> str:
        return self.name


class AgentSkill(models.Model):
    """An agent's level (1-5) in a skill."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="agents")
    level = models.PositiveSmallIntegerField(default=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "skill"], name="uniq_agent_skill"),
            models.CheckConstraint(condition=Q(level__gte=1) & Q(level__lte=5), name="agent_skill_level_1_5"),
        ]

    def __str__(self) -> str:
        return f"{self.membership} {self.skill}={self.level}"


class Queue(models.Model):
    """A work queue: required skills, ordering, offer timeout, overflow and the routing strategy."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="queues")
    name = models.SlugField(max_length=80)
    required_skills = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"skill": "billing", "level": 2, "optional": false, "drop_after": null}]',
    )
    priority = models.IntegerField(default=0, help_text="Work of this queue starts at this priority.")
    ordering = models.CharField(max_length=16, choices=QueueOrdering.choices, default=QueueOrdering.FIFO)
    aging_seconds = models.PositiveIntegerField(
        default=60, help_text="With priority ordering, waiting this long adds one priority point."
    )
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.MOST_AVAILABLE)
    offer_timeout_seconds = models.PositiveIntegerField(default=30)
    voice_offer_timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long a call offer rings; empty: ROUTING_VOICE_OFFER_TIMEOUT_SECONDS."
    )
    overflow_queue = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    overflow_after_seconds = models.PositiveIntegerField(null=True, blank=True)
    prefer_previous_agent = models.BooleanField(default=True)
    members = models.ManyToManyField(Membership, blank=True, related_name="queues")
    service_level_seconds = models.PositiveIntegerField(
        default=20, help_text="Service level: work answered within this many seconds of entering routing."
    )
    business_hours = models.ForeignKey(
        "tenants.BusinessHours",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="queues",
        help_text="The queue's opening hours (SLA clocks of its work count only open time).",
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_queue_per_tenant")]

    def __str__(self) -> str:
        return self.name


class WorkItem(models.Model):
    """A routable unit (a messaging session, later a call): what it needs and whether it is served."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="work_items")
    kind = models.CharField(max_length=40, default="messaging_session")
    reference = models.CharField(max_length=80, help_text="What is routed, e.g. the session id.")
    channel_type = models.CharField(max_length=16, default="messaging")
    partner = models.ForeignKey("packages.Partner", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    routing_owner = models.CharField(max_length=16, choices=Owner.choices, default=Owner.PLATFORM)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="work_items")
    required_skills = models.JSONField(default=list, blank=True)
    priority = models.IntegerField(default=0)
    attributes = models.JSONField(default=dict, blank=True, help_text="Shown with the offer: contact, channel…")
    status = models.CharField(max_length=16, choices=WorkItemStatus.choices, default=WorkItemStatus.QUEUED)
    excluded_agents = models.JSONField(default=list, blank=True, help_text="Agents who declined or ignored it.")
    preferred_agent = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    is_transfer = models.BooleanField(default=False)
    routing_request_id = models.UUIDField(null=True, blank=True)
    routing_deadline = models.DateTimeField(null=True, blank=True)
    offer_timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="The channel type's offer timeout (settings.ROUTING_CHANNEL_TYPES), if any."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["tenant", "status", "priority", "enqueued_at"]),
            models.Index(fields=["tenant", "created_at"], name="work_item_tenant_created"),  # reports
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "reference"],
                condition=Q(status__in=OPEN_ITEM_STATUSES, is_transfer=False),
                name="one_open_work_item_per_reference",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference} ({self.status})"

    def offer_timeout(self) -> int:
        """How long an offer of this item waits for an answer: its queue's timeout, or the channel
        type's default (an asynchronous channel's is longer) when that is longer. A call rings for its
        queue's (or the platform's) voice timeout, shorter than a chat's (`offer_timeout_seconds`)."""
        queue = self.queue if self.queue_id else None
        base = offer_timeout_seconds(queue=queue, channel_type=self.channel_type)
        return base if self.channel_type == "voice" else max(base, self.offer_timeout_seconds or 0)


class AgentWorkQuerySet(models.QuerySet):
    def holding(self) -> "AgentWorkQuerySet":
        """Work that holds capacity: offered, accepted or in after-call work."""
        return self.filter(status__in=HOLDING_STATUSES)

    def used_capacity(self) -> dict:
        """Capacity held per agent and channel type, summed in the database (one query):
        {agent id: {channel type: weight}}; agents holding nothing are absent."""
        used: dict = {}
        for row in self.holding().values("agent_id", "channel_type").annotate(total=models.Sum("weight")).order_by():
            used.setdefault(row["agent_id"], {})[row["channel_type"]] = int(row["total"] or 0)
        return used


class AgentWork(models.Model):
    """An offer or assignment of a work item to an agent, through its whole lifecycle."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    work_item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="works")
    agent = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="works")
    channel_type = models.CharField(max_length=16, default="messaging")
    weight = models.PositiveSmallIntegerField(default=1)
    engine = models.CharField(max_length=16, choices=Engine.choices, default=Engine.PLATFORM)
    status = models.CharField(max_length=16, choices=WorkStatus.choices, default=WorkStatus.OFFERED)
    offered_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When the conversation work ended.")
    acw_ends_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When capacity was released.")
    reason = models.CharField(max_length=200, blank=True)

    objects = AgentWorkQuerySet.as_manager()

    class Meta:
        ordering = ["-offered_at"]
        indexes = [
            models.Index(fields=["agent", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["work_item"], condition=Q(status__in=ACTIVE_STATUSES), name="one_active_work_per_item"
            )
        ]

    def __str__(self) -> str:
        return f"{self.work_item} → {self.agent} ({self.status})"


class RouteDecision(models.Model):
    """Every routing decision, with its inputs and outcome: the audit log and the AI training data."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    work_item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="decisions")
    engine = models.CharField(max_length=16, choices=Engine.choices)
    strategy = models.CharField(max_length=32, blank=True)
    inputs = models.JSONField(default=dict)
    candidates = models.JSONField(default=list)
    chosen_agent = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    work = models.ForeignKey(AgentWork, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=32, help_text="offered, no_agent, refused, fallback, …")
    arm = models.CharField(
        max_length=16, blank=True, help_text="A/B arm when AI routing is enabled: ai or platform; blank when off."
    )
    reason = models.CharField(max_length=300, blank=True)
    latency_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.engine} {self.outcome}"


class RouteFeedback(models.Model):
    """Whether a routed conversation ended resolved, from the end user, the tenant or the agent."""

    class Source(models.TextChoices):
        END_USER = "end_user", "End user"
        TENANT = "tenant", "Tenant"
        AGENT = "agent", "Agent"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    work_item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="feedback")
    source = models.CharField(max_length=16, choices=Source.choices)
    resolved = models.BooleanField()
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.source} resolved={self.resolved}"


class PromptTemplate(models.Model):
    """A tenant's instructions for a generative model, with fillable {placeholder} portions (FIG 17, 0171)."""

    class Purpose(models.TextChoices):
        ROUTING = "routing", "Routing"
        SUMMARY = "summary", "Conversation summary"
        PACKAGE_DRAFT = "package_draft", "Package draft"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.SlugField(max_length=80)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.ROUTING)
    template = models.TextField(help_text="Literal braces are written {{ and }}.")
    is_active = models.BooleanField(default=True, help_text="The one used for its purpose; at most one per purpose.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["purpose", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="uniq_prompt_template_name"),
            models.UniqueConstraint(
                fields=["tenant", "purpose"], condition=Q(is_active=True), name="one_active_prompt_per_purpose"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.purpose})"

    def clean(self) -> None:
        try:
            prompt_template_check(purpose=self.purpose, template=self.template or "")
        except Invalid as exc:
            raise ValidationError({"template": exc.message}) from None


class TunedModel(models.Model):
    """One trained version of a tenant's tuning layer (FIG 17): its metrics, its bytes, its status."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    version = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    source = models.CharField(max_length=16, default="history", help_text="history (route decisions) or dataset")
    metrics = models.JSONField(default=dict, blank=True)
    rows = models.PositiveIntegerField(default=0)
    data = models.BinaryField(help_text="ccp.ai.tuning.TuningLayer.to_bytes(); only bytes this platform wrote.")
    training_seconds = models.FloatField(default=0)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="uniq_tuned_model_version"),
            models.UniqueConstraint(fields=["tenant"], condition=Q(status="active"), name="one_active_tuned_model"),
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.status})"


class AiRoutingConfig(models.Model):
    """A tenant's AI routing switch: on/off, the share of live traffic (the A/B split), skill-group mapping."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="ai_routing")
    enabled = models.BooleanField(default=False)
    share = models.PositiveSmallIntegerField(
        default=50, help_text="Percent of new conversations routed by the AI arm; the rest is the platform arm."
    )
    skill_groups = models.JSONField(
        default=dict,
        blank=True,
        help_text='Predicted skill group → where it goes: {"cards": {"skill": "cards", "level": 1}} or '
        '{"cards": {"queue": "card-team"}}. A group not listed is the skill of the same name.',
    )
    min_probability = models.FloatField(default=0.5, help_text="Below this, the tuned model is not trusted.")
    use_provider = models.BooleanField(default=False, help_text="Ask the generative model (AI_PROVIDER_*) first.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "AI routing configuration"
        constraints = [
            models.CheckConstraint(condition=Q(share__gte=0) & Q(share__lte=100), name="ai_share_0_100"),
            models.CheckConstraint(
                condition=Q(min_probability__gte=0) & Q(min_probability__lte=1), name="ai_min_probability_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"AI routing {'on' if self.enabled else 'off'} ({self.share} %)"
