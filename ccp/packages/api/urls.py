from django.urls import path

from .views import PartnerMeApi

urlpatterns = [
    path("partner/", PartnerMeApi.as_view(), name="partner-me"),
]
