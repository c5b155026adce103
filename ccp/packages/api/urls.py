from django.urls import path

from .views import PackageDetailApi, PackageDraftApi, PackageListCreateApi, PackagePublishApi, PartnerMeApi

urlpatterns = [
    path("partner/", PartnerMeApi.as_view(), name="partner-me"),
    path("packages/", PackageListCreateApi.as_view(), name="packages"),
    path("packages/draft/", PackageDraftApi.as_view(), name="package-draft"),  # before packages/<id>/
    path("packages/<str:package_id>/", PackageDetailApi.as_view(), name="package-detail"),
    path("packages/<str:package_id>/publish/", PackagePublishApi.as_view(), name="package-publish"),
]
