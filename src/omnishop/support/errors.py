"""Support desk failures, one class per business outcome (codes listed in docs/API.md)."""

from omnishop.core.errors import (
    AlreadyExists,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)


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


# A status move the table refuses is the platform-wide `invalid_transition` (one class per code).
InvalidConversationTransition = InvalidTransition


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


class CallNotFound(NotFound):
    code = "call_not_found"
    default_message = "No such call."


class InvalidCallOutcome(ValidationFailed):
    code = "invalid_call_outcome"
    default_message = "A call's outcome is answered, missed, voicemail or failed."


class TooManyAttachments(ValidationFailed):
    code = "too_many_attachments"
    default_message = "Too many attachments on one message."


class InvalidAttachment(ValidationFailed):
    code = "invalid_attachment"
    default_message = "An attachment's content is not valid base64."


class NoOrderLinked(ValidationFailed):
    code = "no_order_linked"
    default_message = "Link the conversation to an order first."


class ReplyCollision(Conflict):
    code = "reply_collision"
    default_message = "Something arrived in the conversation since you opened it; read it, then send again."


# --- Canned replies, CSAT, the contact form (ops) ---------------------------------------------------------


class UnknownPlaceholder(ValidationFailed):
    code = "unknown_placeholder"
    default_message = "The text uses a placeholder the desk does not know."


class CannedReplyExists(AlreadyExists):
    code = "canned_reply_exists"
    default_message = "A canned reply with this key already exists in this language."


class CannedReplyNotFound(NotFound):
    code = "canned_reply_not_found"
    default_message = "No canned reply with this key in this language or in English."


class SurveyLinkInvalid(ValidationFailed):
    code = "survey_link_invalid"
    default_message = "This survey link is not valid; it may have been mistyped."


class SurveyLinkExpired(ValidationFailed):
    code = "survey_link_expired"
    default_message = "This survey link has expired."


class AlreadyRated(Conflict):
    code = "already_rated"
    default_message = "This conversation has already been rated since it was resolved."


class SurveyClosed(Conflict):
    code = "survey_closed"
    default_message = "The conversation was reopened after this survey was sent; it can no longer be rated."


class ChatNotFound(NotFound):
    code = "chat_not_found"
    default_message = "No such chat: the link or session has expired or was altered."


class ChatEmailRequired(ValidationFailed):
    code = "chat_email_required"
    default_message = "Leave your e-mail address: nobody is online, so we answer by e-mail."
