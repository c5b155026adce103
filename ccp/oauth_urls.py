"""The OAuth2 endpoints under /o/: django-oauth-toolkit's, with its application management for operators only.

Partners get their OAuth applications as connected apps (admin, operators); DOT's own management views
(`applications/…`, including `applications/register/`, and `authorized_tokens/…`) would let any
logged-in user — an agent — register an application, so they answer 403 to everyone but superusers
(anonymous visitors are sent to the login page, as DOT does).
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import URLPattern
from oauth2_provider import urls as dot_urls


def operators_only(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_superuser:
            raise PermissionDenied("Only operators manage OAuth applications here.")
        return view(request, *args, **kwargs)

    return wrapped


def _operators_only(pattern: URLPattern) -> URLPattern:
    return URLPattern(pattern.pattern, operators_only(pattern.callback), pattern.default_args, pattern.name)


urlpatterns = [
    *dot_urls.metadata_urlpatterns,
    *dot_urls.base_urlpatterns,
    *(_operators_only(p) for p in dot_urls.management_urlpatterns),
    *dot_urls.oidc_urlpatterns,
    *dot_urls.dcr_urlpatterns,
]
assert len(urlpatterns) == len(dot_urls.urlpatterns), "django-oauth-toolkit added URL groups: classify them here"
