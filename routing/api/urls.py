from django.urls import path

from .views import SupervisorOverviewApi

urlpatterns = [
    path("supervisor/overview/", SupervisorOverviewApi.as_view(), name="supervisor-overview"),
]
