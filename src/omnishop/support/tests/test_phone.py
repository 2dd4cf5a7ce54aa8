"""Calls to the shop's number arrive as Twilio posts them: signed, form-encoded, retried."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from django.test import Client

from omnishop.customers.models import Customer
from omnishop.support.models import Call, CallbackTask, Conversation, Inbox, Message, SlaPolicy
from omnishop.support.services import phone

pytestmark = pytest.mark.django_db
TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
SHOP_NUMBER = "+442079460000"
CALLER = "+447911123456"


def test_our_signature_matches_twilios_published_examples():
    # Twilio's own test vectors (twilio-python tests/unit/test_request_validator.py).
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
        "Caller": "+14158675309",
    }
    pairs = list(params.items())
    assert phone.twilio_signature(auth_token="12345", url=url, params=pairs) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert (
        phone.twilio_signature(auth_token="12345", url=url, params=repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    )
    # Signed with the default port (443 / 80) or without a port: both are Twilio's.
    with_port = url.replace(".com", ".com:1234")
    assert phone.signature_is_valid(
        auth_token="12345", url=with_port, params=pairs, signature="RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    assert phone.signature_is_valid(
        auth_token="12345", url=url, params=pairs, signature="kvajT1Ptam85bY51eRf/AJRuM3w="
    )
    http = url.replace("https", "http")
    assert phone.signature_is_valid(
        auth_token="12345", url=http, params=pairs, signature="0ZXoZLH/DfblKGATFgpif+LLRf4="
    )
    assert not phone.signature_is_valid(
        auth_token="12346", url=url, params=pairs, signature="RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    assert not phone.signature_is_valid(auth_token="", url=url, params=pairs, signature="")


@pytest.fixture
def twilio(settings):
    settings.OMNISHOP_TWILIO_AUTH_TOKEN = TOKEN
    settings.OMNISHOP_PUBLIC_URL = ""
    client = Client()

    def post(name: str, data: dict, *, token: str = TOKEN, url: str | None = None):
        path = f"/support/voice/{name}"
        signed_url = url or f"http://testserver{path}"
        signature = phone.twilio_signature(auth_token=token, url=signed_url, params=list(data.items()))
        return client.post(
            path,
            urlencode(data),
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": signature},
        )

    return post


@pytest.fixture
def phone_inbox(web_channel):
    policy = SlaPolicy.objects.create(name="phones", first_response_minutes=30)
    return Inbox.objects.create(
        code="phone",
        name="Omnishop help line",
        kind=Inbox.Kind.PHONE,
        channel=web_channel,
        address="+44 20 7946 0000",
        sla_policy=policy,
    )


def ringing(sid: str = "CA" + "1" * 32, **extra) -> dict:
    return {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "ringing",
        "Called": SHOP_NUMBER,
        "Caller": CALLER,
        "Direction": "inbound",
        "From": CALLER,
        "FromCountry": "GB",
        "To": SHOP_NUMBER,
        "ToCountry": "GB",
        **extra,
    }


def verbs(response) -> list[str]:
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return [child.tag for child in root]


def test_a_call_with_an_agent_online_rings_the_agent_and_joins_the_callers_conversation(
    twilio, phone_inbox, make_agent, write_in
):
    agent = make_agent("ann", inboxes=[phone_inbox])
    ada = Customer.objects.create(email="ada@example.com", phone=CALLER, first_name="Ada")
    earlier = write_in("My parcel is late", sender="ada@example.com")
    response = twilio("incoming", ringing())
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert verbs(response) == ["Say", "Dial"]
    dial = ET.fromstring(response.content).find("Dial")
    assert [c.text for c in dial.findall("Client")] == [phone.client_identity(agent)]
    assert dial.get("action") == "http://testserver/support/voice/dial"
    call = Call.objects.get()
    assert call.conversation == earlier.conversation and call.conversation.customer == ada
    message = call.conversation.messages.get(via=Message.Via.PHONE)
    assert message.direction == Message.Direction.INBOUND and message.body_text.startswith(
        f"Call from {CALLER}"
    )


def test_an_answered_call_ends_with_its_duration_in_the_thread(twilio, phone_inbox, make_agent):
    make_agent("ann", inboxes=[phone_inbox])
    sid = "CA" + "2" * 32
    twilio("incoming", ringing(sid))
    hangup = twilio(
        "dial", ringing(sid, DialCallStatus="completed", DialCallDuration="190", CallStatus="in-progress")
    )
    assert verbs(hangup) == ["Hangup"]
    assert twilio("status", ringing(sid, CallStatus="completed", CallDuration="192")).status_code == 204
    call = Call.objects.get(provider_sid=sid)
    assert (
        call.outcome == Call.Outcome.ANSWERED and call.duration_seconds == 192 and call.ended_at is not None
    )
    assert Message.objects.get(external_id=sid).body_text == f"Call from {CALLER}, 3 min 12 s, answered"
    assert not CallbackTask.objects.exists()


def test_nobody_online_takes_a_voicemail_and_leaves_a_callback_task(twilio, phone_inbox, make_agent):
    make_agent("ann", inboxes=[phone_inbox], online=False)
    sid = "CA" + "3" * 32
    response = twilio("incoming", ringing(sid))
    assert verbs(response) == ["Say", "Record"]
    record = ET.fromstring(response.content).find("Record")
    assert record.get("action") == "http://testserver/support/voice/goodbye"
    assert record.get("recordingStatusCallback") == "http://testserver/support/voice/recording"
    assert verbs(twilio("goodbye", ringing(sid, RecordingUrl="https://api.twilio.com/x"))) == [
        "Say",
        "Hangup",
    ]
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{'4' * 32}"
    recording = {
        "AccountSid": ACCOUNT,
        "CallSid": sid,
        "RecordingSid": "RE" + "4" * 32,
        "RecordingUrl": url,
        "RecordingStatus": "completed",
        "RecordingDuration": "14",
        "RecordingChannels": "1",
    }
    assert twilio("recording", recording).status_code == 204
    twilio("status", ringing(sid, CallStatus="completed", CallDuration="31"))
    call = Call.objects.get(provider_sid=sid)
    assert call.outcome == Call.Outcome.VOICEMAIL and call.recording_url == url
    task = CallbackTask.objects.get(call=call)
    assert task.conversation == call.conversation
    assert task.due_at > call.ended_at  # within the inbox's 30 business minutes
    assert Message.objects.get(external_id=sid).body_text == f"Call from {CALLER}, 31 s, voicemail"


@pytest.mark.parametrize("final", ["no-answer", "busy", "canceled"])
def test_a_call_nobody_answered_is_missed_and_due_back_within_the_first_response_target(
    twilio, phone_inbox, make_agent, final
):
    make_agent("ann", inboxes=[phone_inbox])
    sid = "CA" + "5" * 32
    twilio("incoming", ringing(sid))
    assert verbs(twilio("dial", ringing(sid, DialCallStatus=final))) == ["Say", "Record"]
    twilio("status", ringing(sid, CallStatus=final, CallDuration="0"))
    call = Call.objects.get(provider_sid=sid)
    assert call.outcome == Call.Outcome.MISSED and call.provider_status == final
    task = CallbackTask.objects.get(call=call)
    from omnishop.support.services import add_business_minutes

    assert task.due_at == add_business_minutes(phone_inbox.sla_policy, call.ended_at, 30)


def test_a_failed_call_is_failed(twilio, phone_inbox):
    sid = "CA" + "6" * 32
    twilio("incoming", ringing(sid))
    twilio("status", ringing(sid, CallStatus="failed"))
    assert Call.objects.get(provider_sid=sid).outcome == Call.Outcome.FAILED


def test_retried_webhooks_change_nothing_twice(twilio, phone_inbox):
    sid = "CA" + "7" * 32
    for _ in range(2):
        twilio("incoming", ringing(sid))
    for _ in range(2):
        twilio("status", ringing(sid, CallStatus="no-answer", CallDuration="0"))
    assert Call.objects.count() == 1 and CallbackTask.objects.count() == 1
    assert Message.objects.filter(via=Message.Via.PHONE).count() == 1
    ended = Call.objects.get().ended_at
    twilio("status", ringing(sid, CallStatus="completed", CallDuration="5"))  # late and out of order
    call = Call.objects.get()
    assert call.ended_at == ended and call.outcome == Call.Outcome.MISSED and call.duration_seconds == 0


def test_a_bad_signature_is_refused_and_nothing_is_stored(twilio, phone_inbox):
    assert twilio("incoming", ringing(), token="not-the-token").status_code == 403
    assert twilio("incoming", ringing(), url="http://evil.example/support/voice/incoming").status_code == 403
    client = Client()
    assert client.post("/support/voice/incoming", ringing()).status_code == 403  # unsigned
    assert not Call.objects.exists() and not Conversation.objects.exists() and not Customer.objects.exists()


def test_a_changed_parameter_breaks_the_signature(twilio, phone_inbox, settings):
    data = ringing()
    signature = phone.twilio_signature(
        auth_token=TOKEN, url="http://testserver/support/voice/incoming", params=list(data.items())
    )
    data["From"] = "+447700900999"
    response = Client().post("/support/voice/incoming", data, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403 and not Call.objects.exists()


def test_behind_a_proxy_the_public_url_is_what_twilio_signed(twilio, phone_inbox, settings):
    settings.OMNISHOP_PUBLIC_URL = "https://shop.example"
    public = "https://shop.example/support/voice/incoming"
    assert twilio("incoming", ringing(), url="http://testserver/support/voice/incoming").status_code == 403
    response = twilio("incoming", ringing(), url=public)
    assert response.status_code == 200
    assert (
        ET.fromstring(response.content).find("Record").get("action")
        == "https://shop.example/support/voice/goodbye"
    )


def test_a_number_we_do_not_answer_is_rejected(twilio, phone_inbox):
    response = twilio("incoming", ringing(To="+441610000000"))
    assert verbs(response) == ["Reject"] and not Call.objects.exists()


def test_the_agent_notes_a_call_and_calls_back(twilio, phone_inbox, make_agent):
    agent = make_agent("ann", inboxes=[phone_inbox], online=False)
    sid = "CA" + "8" * 32
    twilio("incoming", ringing(sid))
    twilio("status", ringing(sid, CallStatus="completed", CallDuration="3"))
    call = Call.objects.get()
    assert [t.call for t in phone.open_callbacks(inbox=phone_inbox)] == [call]
    phone.note_call(call=call, author=agent, notes="Wants to change the delivery address", outcome="answered")
    call.refresh_from_db()
    assert call.notes == "Wants to change the delivery address" and call.agent == agent
    assert Message.objects.get(external_id=sid).body_text.endswith("answered")
    phone.complete_callback(task=call.callback, actor=agent)
    assert not phone.open_callbacks(inbox=phone_inbox).exists()
    assert call.conversation.messages.filter(
        direction=Message.Direction.EVENT, body_text__contains="back"
    ).exists()
    from omnishop.support.errors import InvalidCallOutcome

    with pytest.raises(InvalidCallOutcome):
        phone.note_call(call=call, author=agent, outcome="ringing")


def test_a_withheld_number_is_told_to_call_again_and_nothing_is_stored(twilio, phone_inbox):
    response = twilio("incoming", ringing(From="anonymous", Caller="anonymous"))
    assert verbs(response) == ["Say", "Hangup"]
    assert not Call.objects.exists() and not Customer.objects.exists()


def test_the_call_shows_in_the_conversation_through_the_api(twilio, phone_inbox, make_agent, staff_api):
    make_agent("ann", inboxes=[phone_inbox])
    sid = "CA" + "a" * 32
    twilio("incoming", ringing(sid))
    twilio("dial", ringing(sid, DialCallStatus="completed"))
    twilio("status", ringing(sid, CallStatus="completed", CallDuration="75"))
    number = Call.objects.get().conversation.number
    detail = staff_api.get(f"/support/conversations/{number}").json()
    assert [(c["provider_sid"], c["outcome"], c["duration_seconds"]) for c in detail["calls"]] == [
        (sid, "answered", 75)
    ]
    assert [m["body_text"] for m in detail["messages"] if m["via"] == "phone"] == [
        f"Call from {CALLER}, 1 min 15 s, answered"
    ]
