"""Routing's domain errors (mapped to HTTP at the API edge by their family)."""

from ccp.core.errors import Conflict, Forbidden, NotFound


class AgentUnavailable(Conflict):
    code = "agent_unavailable"
    default_message = "That agent is not online."


class AgentBusy(AgentUnavailable):
    """Another transaction holds the agent's presence row (it is being offered other work right now)."""

    code = "agent_busy"
    default_message = "That agent is being offered other work right now; try again."


class CapacityExhausted(Conflict):
    code = "capacity_exhausted"
    default_message = "That agent has no free capacity for this channel type."


class AlreadyOffered(Conflict):
    code = "already_offered"
    default_message = "This conversation already has an open offer or an owning agent."


class OfferExpired(Conflict):
    code = "offer_expired"
    default_message = "This offer is no longer open (it expired, was answered or was withdrawn)."


class NotRoutingOwner(Forbidden):
    code = "not_routing_owner"
    default_message = "The platform routes this conversation; the package does not name the partner routing owner."


class WorkNotFound(NotFound):
    code = "work_not_found"
    default_message = "No such work."


class QueueNotFound(NotFound):
    code = "queue_not_found"
    default_message = "No such queue."


class AgentNotFound(NotFound):
    code = "agent_not_found"
    default_message = "No such agent in this tenant."
