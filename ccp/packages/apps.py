from django.apps import AppConfig


class PackagesConfig(AppConfig):
    name = "ccp.packages"
    label = "packages"
    verbose_name = "Partner space"
    default_auto_field = "django.db.models.BigAutoField"
