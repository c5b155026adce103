from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class PackagesConfig(AppConfig):
    name = "ccp.packages"
    label = "packages"
    verbose_name = "Partner space"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from oauth2_provider.models import AccessToken, Application

        from .models import ConnectedApp, Partner
        from .selectors import forget_grant

        def token_changed(sender, instance, **kwargs):
            forget_grant(token_checksum=instance.token_checksum)

        def app_changed(sender, **kwargs):
            forget_grant()

        for signal in (post_save, post_delete):
            signal.connect(token_changed, sender=AccessToken, weak=False, dispatch_uid=f"ccp-grant-token-{signal}")
            for model in (Application, ConnectedApp, Partner):
                signal.connect(
                    app_changed, sender=model, weak=False, dispatch_uid=f"ccp-grant-{model.__name__}-{signal}"
                )
