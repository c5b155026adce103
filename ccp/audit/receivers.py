"""Every change made in the Django admin (its LogEntry) becomes an audit entry."""

from __future__ import annotations

from .context import current_request
from .services import audit_record

_ACTIONS = {1: "admin.add", 2: "admin.change", 3: "admin.delete"}


def admin_change_recorded(sender, instance, created, **kwargs) -> None:
    if not created:
        return
    user = instance.user
    membership = getattr(user, "membership", None)
    tenant = membership.tenant if membership is not None else None
    if tenant is None and instance.action_flag != 3:  # an operator: the tenant of what they changed
        try:
            tenant = getattr(instance.get_edited_object(), "tenant", None)
        except Exception:
            tenant = None
    content_type = instance.content_type
    try:
        change = instance.get_change_message()
    except Exception:  # a change message Django cannot parse: keep it raw
        change = instance.change_message
    request = current_request()
    diff = getattr(request, "_ccp_admin_diff", None) if request is not None else None
    if request is not None:
        request._ccp_admin_diff = None  # one save, one entry
    after = {"change": change} if change else {}
    if diff:
        after.update(diff["after"] or {})
    audit_record(
        action=_ACTIONS.get(instance.action_flag, "admin.change"),
        before=diff["before"] if diff else None,
        tenant=tenant,
        object_type=f"{content_type.app_label}.{content_type.model}" if content_type else "",
        object_id=instance.object_id or "",
        object_repr=instance.object_repr,
        after=after or None,
        user=user,
    )
