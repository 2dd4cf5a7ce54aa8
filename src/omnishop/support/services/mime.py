"""Reading an e-mail as clients and providers send it: headers (RFC 2047 words in any charset), the text and
HTML bodies in their declared charsets, attachments and inline images, the SPF/DKIM verdicts the receiving
server recorded, whether it was written by a machine (auto-reply, bounce, list), and the new part of a reply
without the quoted history. Pure functions over the stdlib `email` package (policy=default); no database."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

import nh3
from mailparser_reply import EmailReplyParser

from .conversations import IncomingAttachment

# Labels clients put on text that is really in a wider charset (WHATWG encoding rules): decoding with the
# superset never hurts text that is truly in the narrower one.
CHARSET_SUPERSETS = {
    "gb2312": "gbk",
    "gb_2312-80": "gbk",
    "euc-cn": "gbk",
    "x-gbk": "gbk",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "iso-8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}
# Languages whose "On … wrote:" / "From: … Sent:" headers the reply parser looks for.
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "zh"]
_REPLY_PARSER = EmailReplyParser(languages=REPLY_LANGUAGES)
# Where clients start the quoted history in HTML (Gmail, Apple Mail and Thunderbird, Outlook).
HTML_QUOTE_START = re.compile(
    r"<div[^>]*class=\"?gmail_quote|<blockquote[^>]*type=\"?cite|<div[^>]*id=\"?(?:divRplyFwdMsg|appendonsend)"
    r"|<div[^>]*class=\"?moz-cite-prefix|<hr[^>]*id=\"?stopSpelling",
    re.IGNORECASE,
)
FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|fw|wg|tr|rv|转发|轉寄|转寄)\s*[:：]", re.IGNORECASE)
MACHINE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply)@", re.IGNORECASE)
VERDICT = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)


class _RememberingHeaders(HeaderRegistry):
    """The stdlib's header registry, remembering the headers it built. With policy.default every read of a
    header parses it again (the parser itself asks a part for its Content-Type about six times); a parsed
    header is an immutable str, so the same (name, value) can be handed out again. Bounded: forgets all of
    them at HEADER_MEMORY entries."""

    def __init__(self) -> None:
        super().__init__()
        self._built: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: str) -> BaseHeader:
        key = (name, value)
        found = self._built.get(key)
        if found is None:
            if len(self._built) >= HEADER_MEMORY:
                self._built.clear()
            found = self._built[key] = super().__call__(name, value)
        return found


HEADER_MEMORY = 4096
# policy.default (what the e-mail service reads, and anymail's parser with it: inbound.py) with parsed headers
# remembered; nothing else differs.
POLICY = policy.default.clone(header_factory=_RememberingHeaders())


def parse(raw: bytes) -> EmailMessage:
    """A MIME message from its bytes (as an IMAP server or a provider's raw field hands it over)."""
    message = BytesParser(policy=POLICY).parsebytes(raw)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage objects
    return message


def codec(charset: str | None) -> str:
    name = (charset or "utf-8").strip().strip('"').lower()
    return CHARSET_SUPERSETS.get(name, name)


SINGLE_BYTE = re.compile(r"^(windows-125\d|iso-8859-\d+|latin-?1|us-ascii|ascii|cp125\d)$")


def decode_bytes(data: bytes, charset: str | None) -> str:
    if SINGLE_BYTE.match(codec(charset)) and not data.isascii():
        # Non-ASCII text that is valid UTF-8 under a single-byte label was transcoded on the way (a provider
        # posting the MIME as a UTF-8 form field, a relay): genuine latin-1 text is almost never valid UTF-8.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(codec(charset), errors="replace")
    except LookupError:  # a charset Python does not know: UTF-8 is the best guess today
        return data.decode("utf-8", errors="replace")


def header(message: Message, name: str) -> str:
    """A header's text with encoded words (=?GB2312?B?…?=) decoded in their charsets; '' when absent."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return decode_words(str(value))
    return ""


def headers(message: Message, name: str) -> list[str]:
    return [decode_words(str(v)) for k, v in message.raw_items() if k.lower() == name.lower()]


def decode_words(raw: str) -> str:
    raw = re.sub(r"\r?\n[ \t]", " ", raw)
    try:
        pieces = decode_header(raw)
    except Exception:  # a malformed encoded word: show the header as it came
        return raw.strip()
    out = []
    for piece, charset in pieces:
        if isinstance(piece, bytes):
            # 8-bit bytes the parser kept as surrogates come back as latin-1 bytes; try UTF-8 first.
            if charset is None:
                try:
                    out.append(piece.decode("utf-8"))
                    continue
                except UnicodeDecodeError:
                    pass
            out.append(decode_bytes(piece, charset or "utf-8"))
        else:
            out.append(piece)
    return "".join(out).strip()


def message_id(message: Message) -> str:
    """The Message-ID with its angle brackets, as headers quote it."""
    value = header(message, "Message-ID").strip()
    found = re.search(r"<[^<>\s]+>", value)
    if found:
        return found.group(0)
    return f"<{value}>" if value else ""


def addresses(message: Message, *names: str) -> list[str]:
    found: list[str] = []
    for name in names:
        for _, addr in getaddresses(headers(message, name)):
            addr = addr.strip()  # case kept: the reply token in a `+` address is case-sensitive
            if addr and addr not in found:
                found.append(addr)
    return found


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment" or bool(part.get_filename())


def bodies(message: Message) -> tuple[str, str, list[IncomingAttachment]]:
    """The first text/plain and text/html parts that are not attachments, and everything else as files."""
    text = html = ""
    files: list[IncomingAttachment] = []
    stack: list[Message] = [message]
    while stack:
        part = stack.pop(0)
        ctype = part.get_content_type()
        if ctype == "message/rfc822" and part is not message:
            # A message forwarded as an attachment: handed to the attachment check, not unpacked into ours.
            inner = part.get_payload()
            inner_msg = inner[0] if isinstance(inner, list) and inner else None
            content = inner_msg.as_bytes() if isinstance(inner_msg, Message) else b""
            subject = header(inner_msg, "Subject") if isinstance(inner_msg, Message) else ""
            files.append(IncomingAttachment(f"{subject or 'message'}.eml", ctype, content))
            continue
        if ctype in ("message/delivery-status", "message/disposition-notification"):
            continue  # a bounce's machine-readable report: neither body nor file
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack = list(children) + stack
            continue
        if not _is_attachment(part) and ctype == "text/plain" and not text:
            text = _text_of(part)
        elif not _is_attachment(part) and ctype == "text/html" and not html:
            html = _text_of(part)
        else:
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
            name = part.get_filename() or ""
            name = decode_words(name) if name else f"part-{len(files) + 1}"
            files.append(IncomingAttachment(name, ctype, content))
    return text, html, files


def auth_results(message: Message) -> dict:
    """SPF/DKIM/DMARC verdicts from the receiving server's headers (the topmost one: what the sender wrote
    below it could be forged). Authentication-Results (RFC 8601), Received-SPF, Mailgun's X-Mailgun-*."""
    verdicts: dict[str, str] = {}
    top = header(message, "Authentication-Results")
    for method, result in VERDICT.findall(top):
        verdicts.setdefault(method.lower(), result.lower())
    spf = header(message, "Received-SPF") or header(message, "X-Mailgun-Spf")
    if spf and "spf" not in verdicts:
        verdicts["spf"] = spf.split()[0].strip(";").lower()
    dkim = header(message, "X-Mailgun-Dkim-Check-Result")
    if dkim and "dkim" not in verdicts:
        verdicts["dkim"] = dkim.split()[0].strip(";").lower()
    return verdicts


def machine_reason(message: Message) -> str:
    """Why this e-mail was written by a machine (auto-reply, bounce, list mail), or '' for a person's."""
    # Bounces first: they often say Auto-Submitted too, but they report a failed delivery of ours.
    if message.get_content_type() == "multipart/report":
        return "delivery report (bounce)"
    sender = parseaddr(header(message, "From"))[1]
    if MACHINE_SENDERS.match(sender):
        return f"sent by {sender.split('@')[0].lower()} (bounce)"
    if header(message, "Return-Path").strip() == "<>":
        return "null return path (bounce)"
    auto = header(message, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return f"auto-submitted ({auto.split(';')[0]})"
    precedence = header(message, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"precedence {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if header(message, name):
            return f"{name.lower()} header"
    return ""


def html_to_text(html: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>|</h\d>", "\n", html)
    text = nh3.clean(text, tags=set())
    text = text.replace("&nbsp;", " ").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# Separators the reply parser does not know: QQ Mail / Foxmail's "原始邮件" (original message) line.
EXTRA_SEPARATORS = re.compile(r"^\s*-{5,}\s*(原始邮件|原始郵件|Original)\s*-{5,}\s*$", re.MULTILINE)


def _cut_quoted_tail(text: str) -> str:
    """Drop a trailing block of '>' lines and the attribution line ending in ':' just above it (a client
    language the parser misses: "Le … a écrit :")."""
    lines = text.split("\n")
    end = len(lines)
    while end > 0 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        end -= 1
    if end == len(lines) or not any(line.lstrip().startswith(">") for line in lines[end:]):
        return text
    if end > 0 and lines[end - 1].rstrip().endswith(":"):
        end -= 1
    return "\n".join(lines[:end]).rstrip() or text


def latest_reply(text: str) -> str:
    """The new part of a reply: quoted history ("On … wrote:", "> …", Outlook's From/Sent block) cut off."""
    text = text.replace("\r\n", "\n")
    if not text.strip():
        return ""
    found = EXTRA_SEPARATORS.search(text)
    if found and found.start() > 0:
        text = text[: found.start()]
    reply = (_REPLY_PARSER.parse_reply(text) or "").strip() or text.strip()
    return _cut_quoted_tail(reply)


def html_without_history(html: str) -> str:
    found = HTML_QUOTE_START.search(html)
    return html[: found.start()] if found and found.start() > 0 else html


@dataclass
class Mail:
    """What the desk needs of one e-mail."""

    message_id: str
    subject: str
    sender_email: str
    sender_name: str
    recipients: list[str]
    in_reply_to: str
    references: str
    text: str  # the new part only (for display)
    html: str  # the new part only (sanitised later by the core)
    full_text: str
    attachments: list[IncomingAttachment]
    auth_results: dict
    machine_reason: str
    raw: str
    extra: dict = field(default_factory=dict)


def read(message: Message, *, raw: bytes | None = None, recipients: list[str] | None = None) -> Mail:
    """Everything the desk reads of one e-mail (raw: the bytes as received, kept for the record)."""
    raw = raw if raw is not None else message.as_bytes()
    subject = header(message, "Subject")
    # The customer is who the From header names: that is what SPF/DKIM (DMARC alignment) vouch for.
    name, sender = parseaddr(header(message, "From"))
    text, html, files = bodies(message)
    full_text = (text or html_to_text(html)).replace("\r\n", "\n")
    forwarded = bool(FORWARD_SUBJECT.match(subject))
    mid = message_id(message) or f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@omnishop.invalid>"
    return Mail(
        message_id=mid,
        subject=subject,
        sender_email=sender.strip().lower(),
        sender_name=name.strip(),
        recipients=(recipients or [])
        + addresses(message, "To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"),
        in_reply_to=header(message, "In-Reply-To"),
        references=header(message, "References"),
        text=full_text.strip() if forwarded else latest_reply(full_text),
        html=html if forwarded else html_without_history(html),
        full_text=full_text,
        attachments=files,
        auth_results=auth_results(message),
        machine_reason=machine_reason(message),
        raw=raw_text(raw),
    )


def raw_text(raw: bytes) -> str:
    """The message as stored: UTF-8 when it is, else latin-1 (byte for byte: `.encode("latin-1")` gives the
    original back, whatever 8-bit charset its parts used)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\x00", "")
