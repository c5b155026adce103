from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from conversations.views import agent_workspace
from routing.views import supervisor_page

api_v1 = [
    path("", include("routing.api.urls")),  # first: its packages/draft/ must win over packages/<id>/
    path("", include("ccp.packages.api.urls")),
    path("", include("tenants.api.urls")),
    path("", include("ccp.events.api.urls")),
    path("", include("consent.api.urls")),
    path("", include("conversations.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/agent/", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("api/v1/", include(api_v1)),
    path("agent/", agent_workspace, name="agent-workspace"),
    path("supervisor/", supervisor_page, name="supervisor"),
]

handler404 = "ccp.core.api.json_404"
handler500 = "ccp.core.api.json_500"
