"""Canned replies: placeholders filled from the conversation (and nothing else), in the shopper's language with
English as the fallback, unknown placeholders refused at save and left visible at sending."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from omnishop.customers.models import Customer
from omnishop.orders import services as orders
from omnishop.support import services
from omnishop.support.errors import CannedReplyExists, CannedReplyNotFound, UnknownPlaceholder
from omnishop.support.models import CannedReply
from omnishop.support.services import canned

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(db):
    return Customer.objects.create(email="ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def agent(make_agent, email_inbox):
    user = make_agent("sam", inboxes=[email_inbox])
    user.first_name = "Sam"
    user.save()
    return user


def test_placeholders_are_filled_from_the_conversation_its_order_and_the_agent(
    write_in, shop, ada, agent, settings
):
    settings.OMNISHOP_SITE_URL = "https://shop.example"
    order = shop.checkout({shop.variant(): 1}, key="o1", customer=ada)
    conversation = write_in(f"Where is {order.number}?").conversation
    reply = canned.create_canned(
        key="wismo",
        language="en",
        title="Where is my order",
        body="Hi {{ customer.first_name }} ({{customer.name}}), {{ order.number }} is {{ order.status }}: "
        "{{ tracking_url }} — {{ conversation.number }}, {{ agent.first_name }}",
    )
    text = canned.render(reply, conversation, agent)
    assert text == (
        f"Hi Ada (Ada Lovelace), {order.number} is paid and being prepared: "
        f"https://shop.example/track/{order.tracking_token} — {conversation.number}, Sam"
    )


def test_the_tracking_link_is_the_latest_shipments_public_page(write_in, shop, ada, agent, settings):
    settings.OMNISHOP_SITE_URL = "https://shop.example/"
    order = shop.checkout({shop.variant(): 1}, key="o1", customer=ada)
    (fulfilment,) = orders.create_fulfilments(order=order, actor="t")
    orders.ship_fulfilment(fulfilment=fulfilment, carrier="dhl", tracking_number="JD0001", actor="t")
    conversation = write_in("Where is it?").conversation
    assert conversation.order == order
    fulfilment.refresh_from_db()
    assert canned.fill("{{ tracking_url }}", canned.values_for(conversation, agent)).text == (
        f"https://shop.example/track/{fulfilment.tracking_token}"
    )
    assert fulfilment.tracking_token != order.tracking_token


def test_template_code_is_never_run_and_unknown_placeholders_stay_visible_and_reported(write_in, agent):
    conversation = write_in("Hello").conversation
    reply = CannedReply.objects.create(  # written around the service, as an old row or a raw import might be
        key="odd",
        language="en",
        title="Odd",
        body="{{ customer.first_name }} {{ settings.SECRET_KEY }} {% load log %}{{ order.number|upper }} "
        "{{ customer.__class__ }}",
    )
    rendered = canned.preview(reply, conversation, agent)
    assert rendered.text == (
        "{{ customer.first_name }} {{ settings.SECRET_KEY }} {% load log %}{{ order.number|upper }} "
        "{{ customer.__class__ }}"
    )
    assert rendered.unknown == ["settings.SECRET_KEY", "customer.__class__"]
    assert rendered.missing == ["customer.first_name"]  # a new sender without a name: left for the agent


def test_a_known_placeholder_without_a_value_is_left_for_the_agent(write_in, agent):
    conversation = write_in("Hello", sender_name="Nia Jones").conversation
    rendered = canned.fill(
        "Dear {{ customer.first_name }}, order {{ order.number }}", canned.values_for(conversation, agent)
    )
    assert rendered.text == "Dear Nia, order {{ order.number }}"
    assert rendered.missing == ["order.number"] and rendered.unknown == []


def test_an_unknown_placeholder_is_refused_at_save_with_its_name(db):
    with pytest.raises(UnknownPlaceholder) as refused:
        canned.create_canned(key="x", language="en", title="X", body="Hi {{ customer.email }}")
    assert refused.value.code == "unknown_placeholder"
    assert refused.value.details["unknown"] == ["customer.email"]
    assert "{{ customer.email }}" in refused.value.message
    assert not CannedReply.objects.exists()
    reply = canned.create_canned(key="x", language="en", title="X", body="Hi {{ customer.first_name }}")
    with pytest.raises(UnknownPlaceholder):
        canned.update_canned(canned=reply, body="Hi {{ customer.phone }}")
    reply.refresh_from_db()
    assert reply.body == "Hi {{ customer.first_name }}"


def test_a_second_reply_with_the_same_key_and_language_is_refused(db):
    canned.create_canned(key="x", language="en", title="X", body="one")
    with pytest.raises(CannedReplyExists):
        canned.create_canned(key="x", language="en", title="X again", body="two")
    canned.create_canned(key="x", language="zh", title="X 中文", body="二")
    assert CannedReply.objects.count() == 2


def test_the_reply_is_in_the_conversations_language_with_english_as_fallback(write_in, agent):
    canned.ensure_canned_replies()
    chinese = write_in("我的订单在哪里？", language="zh-hans").conversation
    english_reply = CannedReply.objects.get(key="thanks-closing", language="en")
    text = canned.render(english_reply, chinese, agent)
    assert "感谢您的耐心" in text and chinese.number in text
    canned.create_canned(
        key="only-en", language="en", title="Only English", body="Hello {{ agent.first_name }}"
    )
    assert canned.pick(key="only-en", language="zh-hans").language == "en"
    assert canned.render(CannedReply.objects.get(key="only-en"), chinese, agent) == "Hello Sam"
    with pytest.raises(CannedReplyNotFound):
        canned.pick(key="nothing-like-it", language="zh-hans")


def test_the_pickers_list_has_each_key_once_in_the_shoppers_language(write_in, agent):
    canned.ensure_canned_replies()
    canned.create_canned(key="only-en", language="en", title="Only English", body="Hello")
    chinese = write_in("你好", language="zh-hans").conversation
    listed = canned.for_conversation(chinese)
    assert len({c.key for c in listed}) == len(listed)
    assert {c.language for c in listed if c.key != "only-en"} == {"zh"}
    assert [c.language for c in listed if c.key == "only-en"] == ["en"]


def test_the_starter_set_covers_the_common_questions_in_english_and_chinese_and_seeds_once(db):
    added = canned.ensure_canned_replies()
    keys = {
        "where-is-my-order",
        "return-instructions",
        "refund-issued",
        "address-changed",
        "out-of-stock",
        "thanks-closing",
    }
    assert set(CannedReply.objects.values_list("key", flat=True)) == keys
    assert set(CannedReply.objects.values_list("language", flat=True)) == {"en", "zh"}
    assert added == CannedReply.objects.count() == 12
    for reply in CannedReply.objects.all():
        assert canned.unknown_placeholders(reply.body) == []
    edited = CannedReply.objects.get(key="refund-issued", language="en")
    edited.body = "Our own words"
    edited.save()
    call_command("support", "seed-canned")  # the command: nothing missing, nothing overwritten
    assert CannedReply.objects.count() == 12
    edited.refresh_from_db()
    assert edited.body == "Our own words"


def test_a_canned_reply_is_sent_as_the_agents_reply(write_in, agent):
    canned.ensure_canned_replies()
    conversation = write_in("Thanks, all sorted", sender_name="Ada Lovelace").conversation
    text = canned.render(CannedReply.objects.get(key="thanks-closing", language="en"), conversation, agent)
    message = services.reply(conversation=conversation, author=agent, body_text=text, then="resolved")
    assert message.body_text.startswith("Hello Ada,")
    assert "{{" not in message.body_text
