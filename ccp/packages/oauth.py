"""django-oauth-toolkit glue: a token may carry only the scopes its connected app was granted."""

from oauth2_provider.scopes import SettingsScopes


class ConnectedAppScopes(SettingsScopes):
    def _app_scopes(self, application) -> list[str]:
        connected = getattr(application, "connected_app", None) if application is not None else None
        return connected.scope_list if connected is not None else []

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        if application is None:
            return super().get_available_scopes(application, request, *args, **kwargs)
        return self._app_scopes(application)

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        if application is None:
            return super().get_default_scopes(application, request, *args, **kwargs)
        return self._app_scopes(application)
