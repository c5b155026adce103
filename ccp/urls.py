from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ccp import oauth_urls
from ccp.operations.views import reports_page
from ccp.packages.oauth import ThrottledIntrospectTokenView, ThrottledRevokeTokenView, ThrottledTokenView
from conversations.views import agent_workspace
from routing.views import supervisor_page

SWAGGER_CDN = "https://cdn.jsdelivr.net"
SWAGGER_CSP = csp_update({"script-src": [SWAGGER_CDN], "style-src": [SWAGGER_CDN], "img-src": [SWAGGER_CDN]})

api_v1 = [
    path("", include("ccp.packages.api.urls")),
    path("", include("routing.api.urls")),
    path("", include("tenants.api.urls")),
    path("", include("ccp.events.api.urls")),
    path("", include("consent.api.urls")),
    path("", include("conversations.api.urls")),
    path("", include("ccp.operations.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI from its CDN, its init script as a file (the split view) — no inline code for the CSP.
    path("docs/", SWAGGER_CSP(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/agent/", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # before the include: the endpoints that check client secrets are throttled (ccp.packages.oauth)
    path("o/token/", ThrottledTokenView.as_view(), name="oauth-token"),
    path("o/revoke_token/", ThrottledRevokeTokenView.as_view(), name="oauth-revoke-token"),
    path("o/introspect/", ThrottledIntrospectTokenView.as_view(), name="oauth-introspect"),
    path("o/", include((oauth_urls.urlpatterns, "oauth2_provider"), namespace="oauth2_provider")),
    path("api/v1/", include(api_v1)),
    path("agent/", agent_workspace, name="agent-workspace"),
    path("supervisor/", supervisor_page, name="supervisor"),
    path("supervisor/reports/", reports_page, name="supervisor-reports"),
    # The workspace's few static files (no build step) are served by the app itself, so a bare
    # `daphne ccp.asgi:application` works; a reverse proxy may serve STATIC_ROOT in front of it.
    re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}),
]

handler404 = "ccp.core.api.json_404"
handler500 = "ccp.core.api.json_500"
