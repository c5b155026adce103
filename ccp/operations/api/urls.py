from django.urls import path

from .views import ReportAgentsApi, ReportRealtimeApi, ReportSummaryApi

urlpatterns = [
    path("agent/reports/summary/", ReportSummaryApi.as_view(), name="reports-summary"),
    path("agent/reports/agents/", ReportAgentsApi.as_view(), name="reports-agents"),
    path("agent/reports/realtime/", ReportRealtimeApi.as_view(), name="reports-realtime"),
]
