"""Support desk failures, one class per business outcome (codes listed in docs/API.md)."""

from omnishop.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed


class InboxNotFound(NotFound):
    code = "inbox_not_found"
    default_message = "No such inbox."


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    default_message = "No such conversation."


class EmptyMessage(ValidationFailed):
    code = "empty_message"
    default_message = "A message needs a text, an HTML body or an attachment."


class SenderRequired(ValidationFailed):
    code = "sender_required"
    default_message = "Say who wrote: an e-mail address, a phone number or a known customer."


class InvalidConversationTransition(InvalidTransition):
    code = "invalid_transition"
    default_message = "The conversation cannot move to that status from where it is."


class SnoozeNeedsTime(ValidationFailed):
    code = "snooze_needs_time"
    default_message = "Snoozing needs a time in the future."


class InvalidRating(ValidationFailed):
    code = "invalid_rating"
    default_message = "A satisfaction rating is a whole number from 1 to 5."


class NotAnInboxMember(PermissionDenied):
    code = "not_an_inbox_member"
    default_message = "Only agents of this conversation's inbox may see or answer it."


class UnverifiedSender(PermissionDenied):
    code = "unverified_sender"
    default_message = "The sender's e-mail failed SPF/DKIM checks; it cannot act on orders."


class OrderOfAnotherCustomer(ValidationFailed):
    code = "order_of_another_customer"
    default_message = "That order belongs to another customer."


class ChatNotFound(NotFound):
    code = "chat_not_found"
    default_message = "No such chat: the link or session has expired or was altered."


class ChatEmailRequired(ValidationFailed):
    code = "chat_email_required"
    default_message = "Leave your e-mail address: nobody is online, so we answer by e-mail."
