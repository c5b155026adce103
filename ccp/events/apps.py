from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "ccp.events"
    label = "events"
    verbose_name = "Event bus"
    default_auto_field = "django.db.models.BigAutoField"
