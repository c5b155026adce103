from django.urls import path

from .views import ConsentApi

urlpatterns = [path("consent/", ConsentApi.as_view(), name="consent")]
