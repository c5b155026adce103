from django.urls import include, path

from . import agent, calls, feedback, outbound, partner, supervision, workspace

urlpatterns = [
    # partner
    path("interactions/", partner.InteractionApi.as_view(), name="interactions"),
    path("conversations/<str:conversation_id>/", partner.ConversationDetailApi.as_view(), name="conversation"),
    path("conversations/<str:conversation_id>/messages/", partner.ConversationMessagesApi.as_view()),
    path("conversations/<str:conversation_id>/route/", partner.ConversationRouteApi.as_view()),
    path("conversations/<str:conversation_id>/close/", partner.ConversationCloseApi.as_view()),
    path("conversations/<str:conversation_id>/feedback/", feedback.ConversationFeedbackApi.as_view()),
    path("agents/", partner.AgentListApi.as_view(), name="agents"),
    path("agents/<str:agent_id>/status/", partner.AgentStatusApi.as_view()),
    # agent (session login)
    path("agent/state/", agent.AgentStateApi.as_view(), name="agent-state"),
    path("agent/status/", agent.AgentStatusSelfApi.as_view()),
    path("agent/directory/", agent.AgentDirectoryApi.as_view()),
    path("agent/work/<str:work_id>/accept/", agent.WorkAcceptApi.as_view()),
    path("agent/work/<str:work_id>/decline/", agent.WorkDeclineApi.as_view()),
    path("agent/work/<str:work_id>/acw/complete/", agent.AcwCompleteApi.as_view()),
    path("agent/work/<str:work_id>/acw/extend/", agent.AcwExtendApi.as_view()),
    path("agent/conversations/", agent.AgentConversationListApi.as_view()),
    path("agent/conversations/<str:conversation_id>/", agent.AgentConversationDetailApi.as_view()),
    path("agent/conversations/<str:conversation_id>/messages/", agent.AgentMessagesApi.as_view()),
    path("agent/conversations/<str:conversation_id>/typing/", agent.AgentTypingApi.as_view()),
    path("agent/conversations/<str:conversation_id>/transfer/", agent.AgentTransferApi.as_view()),
    path("agent/conversations/<str:conversation_id>/close/", agent.AgentCloseApi.as_view()),
    path("agent/outbound/", outbound.AgentOutboundApi.as_view()),
    path("agent/consent/", outbound.AgentConsentApi.as_view()),
    path("agent/conversations/<str:conversation_id>/feedback/", feedback.AgentConversationFeedbackApi.as_view()),
    path("agent/conversations/<str:conversation_id>/summary/", feedback.AgentConversationSummaryApi.as_view()),
    path("agent/workspace/", include(workspace.urlpatterns)),
    # voice calls: the partner's, then the agent's
    path("calls/", calls.CallCreateApi.as_view(), name="calls"),
    path("calls/<str:call_id>/", calls.CallDetailApi.as_view(), name="call"),
    path("calls/<str:call_id>/events/", calls.CallEventApi.as_view()),
    path("calls/<str:call_id>/transcript/", calls.CallTranscriptApi.as_view()),
    path("calls/<str:call_id>/controls/<str:request_id>/result/", calls.CallControlResultApi.as_view()),
    path("agent/calls/", calls.AgentCallsApi.as_view(), name="agent-calls"),
    path("agent/calls/<str:call_id>/controls/", calls.AgentCallControlApi.as_view()),
    # supervision and agent tools (session login; conversations/api/supervision.py)
    path("agent/supervision/conversations/", supervision.SupervisionConversationsApi.as_view()),
    path("agent/conversations/<str:conversation_id>/monitor/", supervision.ConversationMonitorApi.as_view()),
    path("agent/conversations/<str:conversation_id>/notes/", supervision.ConversationNotesApi.as_view()),
    path("agent/conversations/<str:conversation_id>/join/", supervision.ConversationJoinApi.as_view()),
    path("agent/conversations/<str:conversation_id>/reassign/", supervision.ConversationReassignApi.as_view()),
    path("agent/agents/<str:agent_id>/status/", supervision.AgentPresenceBySupervisorApi.as_view()),
    path("agent/canned-responses/", supervision.CannedResponseListApi.as_view()),
    path("agent/canned-responses/<str:canned_response_id>/", supervision.CannedResponseDetailApi.as_view()),
    path("agent/search/", supervision.SearchApi.as_view()),
]
