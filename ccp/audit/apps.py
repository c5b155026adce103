from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "ccp.audit"
    label = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        from .receivers import admin_change_recorded

        post_save.connect(admin_change_recorded, sender=LogEntry, dispatch_uid="audit_admin_log_entry")
