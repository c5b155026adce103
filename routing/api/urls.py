from django.urls import path

from .drafts import PackageDraftApi
from .views import SupervisorOverviewApi

urlpatterns = [
    path("supervisor/overview/", SupervisorOverviewApi.as_view(), name="supervisor-overview"),
    path("packages/draft/", PackageDraftApi.as_view(), name="package-draft"),
]
