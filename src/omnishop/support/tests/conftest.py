"""Factories for support tests: an e-mail inbox on the web shop, its agents, and a shop to place orders in."""

from __future__ import annotations

import pytest

from omnishop.inventory import services as inventory
from omnishop.orders.tests.conftest import Shop
from omnishop.support import services
from omnishop.support.models import Inbox, Message
from omnishop.support.services import chat_hub, email_in


@pytest.fixture(autouse=True)
def _fresh_inbox_cache():
    """A rolled-back test leaves no signal behind: inbound e-mail must not remember its inboxes."""
    email_in.forget_inboxes()
    yield
    email_in.forget_inboxes()


@pytest.fixture(autouse=True)
def chat_hub_forgets():
    """A flushed test database hands out the same keys again: the process's chat hub must not take an
    earlier test's message for this one's (a stream would wait past it and miss the new one)."""
    chat_hub.HUB.forget()


@pytest.fixture
def shop(web_channel, make_key):
    warehouse = inventory.create_location(code="main-wh", name="Main warehouse")
    inventory.set_channel_locations(channel=web_channel, location_codes=[warehouse.code])
    return Shop(web_channel, warehouse, make_key)


@pytest.fixture
def make_agent(db, django_user_model):
    def make(username: str = "agent", *, inboxes=(), online: bool = True):
        user = django_user_model.objects.create_user(username=username, password="x" * 16, is_staff=True)
        for inbox in inboxes:
            inbox.members.add(user)
        services.set_online(user=user, online=online)
        return user

    return make


@pytest.fixture
def email_inbox(web_channel):
    return Inbox.objects.create(
        code="help",
        name="help@shop.example",
        kind=Inbox.Kind.EMAIL,
        channel=web_channel,
        address="help@shop.example",
    )


@pytest.fixture
def write_in(email_inbox):
    """A shopper's e-mail arriving in the inbox."""

    def write(body: str = "Where is my parcel?", *, sender: str = "ada@example.com", inbox=None, **kw):
        incoming = services.Incoming(
            via=kw.pop("via", Message.Via.EMAIL), body_text=body, sender_email=sender, **kw
        )
        return services.receive(inbox=inbox or email_inbox, incoming=incoming)

    return write
