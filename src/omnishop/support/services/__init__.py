"""The support desk's business operations (one module per concern; import them from here)."""

from . import (
    chat,  # the chat registers its sender on import
    desk,  # the agent's desk: actions on orders from a conversation
)
from .assignment import choose_assignee, online_agents, set_online
from .conversations import (
    Incoming,
    IncomingAttachment,
    assign,
    get_for_agent,
    link_order,
    of_customer,
    rate,
    receive,
    record_event,
    register_sender,
    reply,
    sanitise_html,
    sender_for,
    sender_verified,
    set_priority,
    set_status,
    set_tags,
    visible_to,
    wake_snoozed,
)
from .email_in import ImapConfig, imap_config, poll_imap, receive_email, reply_address
from .email_out import resend_failed
from .sla import add_business_minutes, business_minutes_between, set_due_times
from .threading import find_conversation, message_ids, order_for, order_numbers_in

__all__ = [
    "ImapConfig",
    "Incoming",
    "IncomingAttachment",
    "add_business_minutes",
    "assign",
    "business_minutes_between",
    "chat",
    "choose_assignee",
    "desk",
    "find_conversation",
    "get_for_agent",
    "imap_config",
    "link_order",
    "message_ids",
    "of_customer",
    "online_agents",
    "order_for",
    "order_numbers_in",
    "poll_imap",
    "rate",
    "receive",
    "receive_email",
    "record_event",
    "register_sender",
    "reply",
    "reply_address",
    "resend_failed",
    "sanitise_html",
    "sender_for",
    "sender_verified",
    "set_due_times",
    "set_online",
    "set_priority",
    "set_status",
    "set_tags",
    "visible_to",
    "wake_snoozed",
]
