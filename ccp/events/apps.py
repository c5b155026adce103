from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "ccp.events"
    label = "events"
    verbose_name = "Event bus"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ccp.packages.signals import grants_revoked

        from .services import streams_wake_on_commit

        def wake_revoked_streams(sender, partner_id, **kwargs):
            streams_wake_on_commit(partner_ids={partner_id})

        grants_revoked.connect(wake_revoked_streams, weak=False, dispatch_uid="ccp.events.wake-revoked-streams")
