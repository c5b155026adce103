"""Writing the audit log: `audit_record` (one entry), called by every app's services."""

from __future__ import annotations

import json
import logging

from django.core.serializers.json import DjangoJSONEncoder

from .context import Actor, current_actor, current_ip, current_request
from .models import AuditEntry

logger = logging.getLogger("ccp.audit")


def _jsonable(value):
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))


def audit_record(
    *,
    action: str,
    tenant=None,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    before=None,
    after=None,
    actor: Actor | None = None,
    user=None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it is kept exactly when the change is).

    `obj` (a model instance) fills object type/id/repr unless given. The actor is, in order: `actor`,
    `user` (a Django user), the current request's user or connected app, else `system`.
    `tenant` is a Tenant (or anything with `pk` and `slug`)."""
    if actor is None:
        from .context import user_actor

        actor = user_actor(user) if user is not None else current_actor()
    if obj is not None:
        object_type = object_type or f"{obj._meta.app_label}.{obj._meta.model_name}"
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
    entry = AuditEntry.objects.create(
        tenant_id=getattr(tenant, "pk", None),
        tenant_slug=getattr(tenant, "slug", "") or "",
        actor_type=actor.type,
        actor_id=actor.id,
        actor_repr=actor.repr,
        actor_role=actor.role,
        action=action[:64],
        object_type=object_type[:100],
        object_id=str(object_id)[:64],
        object_repr=str(object_repr)[:200],
        before=_jsonable(before),
        after=_jsonable(after),
        source_ip=current_ip() if current_request() is not None else None,
    )
    logger.debug("%s %s %s %s", actor.repr, action, object_type, object_id, extra={"audit": action})
    return entry
