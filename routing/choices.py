from django.db import models


class PresenceStatus(models.TextChoices):
    ONLINE = "online", "Online"
    BUSY = "busy", "Busy"
    AWAY = "away", "Away"
    OFFLINE = "offline", "Offline"


class WorkItemStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for an agent"
    OFFERED = "offered", "Offered to an agent"
    ASSIGNED = "assigned", "Assigned to an agent"
    DONE = "done", "Done"
    CANCELED = "canceled", "Canceled"


class WorkStatus(models.TextChoices):
    OFFERED = "offered", "Offered"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    TIMED_OUT = "timed_out", "Timed out"
    RESCINDED = "rescinded", "Rescinded"
    ACW = "acw", "After-conversation work"
    CLOSED = "closed", "Closed"


# Work that holds an agent's capacity: an open offer, accepted work, after-conversation work.
HOLDING_STATUSES = (WorkStatus.OFFERED, WorkStatus.ACCEPTED, WorkStatus.ACW)
# Work that owns its work item: at most one per item (a database constraint).
ACTIVE_STATUSES = (WorkStatus.OFFERED, WorkStatus.ACCEPTED)
OPEN_ITEM_STATUSES = (WorkItemStatus.QUEUED, WorkItemStatus.OFFERED, WorkItemStatus.ASSIGNED)


class Engine(models.TextChoices):
    PLATFORM = "platform", "Platform routing"
    PARTNER = "partner", "Partner routing"
    AI = "ai", "AI routing"
    DIRECT = "direct", "Direct (transfer to a named agent)"


class Strategy(models.TextChoices):
    MOST_AVAILABLE = "most_available", "Most available (lowest load)"
    LONGEST_IDLE = "longest_idle", "Longest idle"
    ROUND_ROBIN = "round_robin", "Round robin"


class QueueOrdering(models.TextChoices):
    FIFO = "fifo", "First in, first out"
    PRIORITY = "priority", "Priority, then age (with aging)"
