"""`AuditedAdmin`: a ModelAdmin mixin that gives the audit entry of an admin change its before/after.

The entry itself is written from the admin's own LogEntry (receivers.py); this mixin only remembers,
on the request, the form's changed fields with their old and new values (secrets masked), which the
receiver then records."""

from __future__ import annotations

SENSITIVE = ("password", "secret", "token", "key")
MASK = "***"


def _masked(name: str, value):
    return MASK if any(word in name.lower() for word in SENSITIVE) and value not in (None, "") else value


def _plain(value):
    if hasattr(value, "pk"):
        return str(value.pk)
    if isinstance(value, (list, tuple, set)) or (hasattr(value, "__iter__") and hasattr(value, "model")):
        return [_plain(v) for v in value]
    return value


class AuditedAdmin:
    """Mix into a ModelAdmin before admin.ModelAdmin."""

    def save_model(self, request, obj, form, change):
        changed = list(getattr(form, "changed_data", []) or [])
        request._ccp_admin_diff = {
            "before": {n: _masked(n, _plain(form.initial.get(n))) for n in changed} if change else None,
            "after": {n: _masked(n, _plain(form.cleaned_data.get(n))) for n in changed},
        }
        super().save_model(request, obj, form, change)
