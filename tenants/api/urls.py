from django.urls import path

from .views import ChannelListApi

urlpatterns = [
    path("channels/", ChannelListApi.as_view(), name="channels"),
]
