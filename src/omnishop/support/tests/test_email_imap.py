"""Self-hosters' mailboxes polled over IMAP (a real Dovecot on loopback): unseen mail is received and flagged
\\Seen only after it is stored, so a crash in between fetches it again without storing it twice."""

from __future__ import annotations

import imaplib
import itertools
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from omnishop.support import services
from omnishop.support.models import Conversation, Message
from omnishop.support.services import email_in

from .mailservers import dovecot_fixture  # noqa: F401  (the dovecot fixture)

pytestmark = pytest.mark.django_db
MAIL = Path(__file__).parent / "mail"
_folders = itertools.count(1)


@pytest.fixture
def mailbox(dovecot, email_inbox):
    """A fresh folder of the Dovecot user, and a way to deliver .eml files into it (IMAP APPEND)."""
    folder = f"Support{next(_folders)}"
    with imaplib.IMAP4("127.0.0.1", dovecot.port) as imap:
        imap.login(dovecot.username, dovecot.password)
        imap.create(folder)

    class Box:
        config = services.ImapConfig(
            host="127.0.0.1",
            port=dovecot.port,
            username=dovecot.username,
            password=dovecot.password,
            mailbox=folder,
            ssl=False,
        )

        def deliver(self, *names: str, replace: tuple[bytes, bytes] | None = None) -> None:
            with imaplib.IMAP4("127.0.0.1", dovecot.port) as imap:
                imap.login(dovecot.username, dovecot.password)
                for name in names:
                    raw = (MAIL / name).read_bytes()
                    if replace:
                        raw = raw.replace(*replace)
                    assert imap.append(folder, None, None, raw)[0] == "OK"

        def unseen(self) -> int:
            with imaplib.IMAP4("127.0.0.1", dovecot.port) as imap:
                imap.login(dovecot.username, dovecot.password)
                imap.select(folder, readonly=True)
                return len(imap.uid("SEARCH", None, "UNSEEN")[1][0].split())

    return Box()


def test_unseen_mail_is_received_and_flagged_seen(mailbox):
    mailbox.deliver("gmail_reply.eml", "foxmail_gbk.eml", "outlook_big5.eml")
    result = services.poll_imap(config=mailbox.config)
    assert (result.fetched, result.stored) == (3, 3)
    assert mailbox.unseen() == 0
    assert Conversation.objects.count() == 3
    gbk = Message.objects.get(sender_address="zhurong@qq.com")
    assert (
        gbk.subject.endswith("\u9555\u7684\u676f\u5b50\u574f\u4e86")
        and gbk.auth_results["provider"] == "imap"
    )
    assert services.poll_imap(config=mailbox.config).fetched == 0


def test_a_crash_after_storing_fetches_again_and_stores_once(mailbox, monkeypatch):
    mailbox.deliver("gmail_reply.eml")
    real = email_in.receive_email

    def store_then_crash(**kwargs):
        real(**kwargs)  # committed
        raise RuntimeError("the process died before flagging the message \\Seen")

    monkeypatch.setattr(email_in, "receive_email", store_then_crash)
    with pytest.raises(RuntimeError):
        services.poll_imap(config=mailbox.config)
    assert Message.objects.count() == 1 and mailbox.unseen() == 1  # stored, not flagged
    monkeypatch.setattr(email_in, "receive_email", real)
    result = services.poll_imap(config=mailbox.config)
    assert (result.fetched, result.stored) == (1, 0)  # fetched again, already there
    assert Message.objects.count() == 1 and mailbox.unseen() == 0


def test_mail_no_inbox_takes_is_flagged_and_not_fetched_forever(mailbox):
    mailbox.deliver("spoofed_spf_fail.eml", replace=(b"To: help@shop.example", b"To: sales@other.example"))
    mailbox.deliver("outlook_autoreply.eml")  # an out-of-office about nothing of ours
    result = services.poll_imap(config=mailbox.config)
    assert (result.fetched, result.refused, result.dropped, result.stored) == (2, 1, 1, 0)
    assert mailbox.unseen() == 0 and Message.objects.count() == 0


def test_wrong_password_is_an_error_not_silence(mailbox):
    config = services.ImapConfig(**{**mailbox.config.__dict__, "password": "wrong"})
    with pytest.raises(imaplib.IMAP4.error):
        services.poll_imap(config=config)


def test_the_poll_imap_command_reads_the_configured_mailbox(mailbox, settings):
    mailbox.deliver("thunderbird_latin1.eml")
    settings.OMNISHOP_SUPPORT_IMAP_HOST = "127.0.0.1"
    settings.OMNISHOP_SUPPORT_IMAP_PORT = mailbox.config.port
    settings.OMNISHOP_SUPPORT_IMAP_USER = mailbox.config.username
    settings.OMNISHOP_SUPPORT_IMAP_PASSWORD = mailbox.config.password
    settings.OMNISHOP_SUPPORT_IMAP_MAILBOX = mailbox.config.mailbox
    settings.OMNISHOP_SUPPORT_IMAP_SSL = False
    out = StringIO()
    call_command("support", "poll-imap", stdout=out)
    assert out.getvalue().strip() == "1 fetched: 1 stored, 0 kept as events, 0 dropped, 0 refused"
    assert Message.objects.get().sender_address == "francoise.dupont@orange.fr"
