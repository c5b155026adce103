from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "ccp.core"
    label = "core"
    verbose_name = "Platform core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import schema  # noqa: F401 — registers the OpenAPI extensions
