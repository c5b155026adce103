from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenant space"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model

        from ccp.packages.models import CommunicationPackage, ConversationChannelDefinition, Partner

        from .models import Channel, Membership, PackageInstallation, Tenant
        from .selectors import forget_channels, forget_memberships

        models = (Channel, PackageInstallation, Tenant, CommunicationPackage, ConversationChannelDefinition, Partner)
        for signal in (post_save, post_delete):
            for model in models:
                signal.connect(forget_channels, sender=model, dispatch_uid=f"ccp-channels-{model.__name__}-{signal}")
            for model in (Membership, Tenant, get_user_model()):
                signal.connect(forget_memberships, sender=model, dispatch_uid=f"ccp-members-{model.__name__}-{signal}")
