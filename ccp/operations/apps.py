from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Operations: the metrics a contact center is run by, historical and live reports."""

    name = "ccp.operations"
    label = "operations"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"
