"""The support desk's pages outside the API: the shop's chat widget endpoints and the agents' live streams."""

from django.urls import path

from . import chat

app_name = "support"

urlpatterns = [
    path("chat/", chat.widget_state, name="chat-state"),
    path("chat/start", chat.start_chat, name="chat-start"),
    path("chat/messages", chat.post_message, name="chat-messages"),
    path("chat/stream", chat.shopper_stream, name="chat-stream"),
    path("chat/transcript", chat.email_transcript, name="chat-transcript"),
    path("agent/stream", chat.agent_inbox_stream, name="agent-inbox-stream"),
    path("agent/conversations/<str:number>/stream", chat.agent_stream, name="agent-stream"),
]
