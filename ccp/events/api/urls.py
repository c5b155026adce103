from django.urls import path

from .schemas import AsyncApiDocumentApi, EventSchemasApi
from .stream import event_stream
from .views import (
    DeliveryListApi,
    DeliveryRedeliverApi,
    EventListApi,
    SubscriptionDetailApi,
    SubscriptionListCreateApi,
)

urlpatterns = [
    path("events/", EventListApi.as_view(), name="event-list"),
    path("events/stream/", event_stream, name="event-stream"),
    path("events/schemas/", EventSchemasApi.as_view(), name="event-schemas"),
    path("events/asyncapi.json", AsyncApiDocumentApi.as_view(), name="event-asyncapi"),
    path("subscriptions/", SubscriptionListCreateApi.as_view(), name="subscription-list"),
    path("subscriptions/<uuid:subscription_id>/", SubscriptionDetailApi.as_view(), name="subscription-detail"),
    path(
        "subscriptions/<uuid:subscription_id>/deliveries/",
        DeliveryListApi.as_view(),
        name="subscription-deliveries",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/deliveries/<uuid:delivery_id>/redeliver/",
        DeliveryRedeliverApi.as_view(),
        name="delivery-redeliver",
    ),
]
