from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Operations: the metrics a contact center is run by, historical and live reports."""

    name = "ccp.operations"
    label = "operations"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ccp.events.signals import events_committed

        from .receivers import events_committed_push

        events_committed.connect(events_committed_push, dispatch_uid="ccp-operations-realtime")
