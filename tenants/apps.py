from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenant space"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ccp.packages.models import CommunicationPackage, ConversationChannelDefinition

        from .models import Channel, PackageInstallation, Tenant
        from .selectors import forget_channels

        models = (Channel, PackageInstallation, Tenant, CommunicationPackage, ConversationChannelDefinition)
        for signal in (post_save, post_delete):
            for model in models:
                signal.connect(forget_channels, sender=model, dispatch_uid=f"ccp-channels-{model.__name__}-{signal}")
