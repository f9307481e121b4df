"""Twilio: sending through the Messages API, its failures, status callbacks, and inbound messages."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.fakes.crm_servers import FakeApiServer, FakeTwilio, RecordedRequest, Response

from nightcrew.channels.base import OutboundMessage
from nightcrew.channels.twilio import TwilioTransport, parse_status_callback
from nightcrew.clock import FakeClock
from nightcrew.errors import ChannelError, Unauthorized
from nightcrew.events.adapters.twilio import parse_form, twilio_inbound_event, twilio_signature, verify_twilio
from nightcrew.events.schemas import parse_event

SMS = OutboundMessage(
    idempotency_key="acme:lead-42:send.first_touch",
    tenant="acme",
    channel="sms",
    to="+525512345678",
    body="Hola Ana, ¿te gustaría una clase de prueba gratis?",
    language="es",
    contact_external_id="hubspot:101",
)


class CallbackReceiver(FakeApiServer):
    """Where Twilio's status callbacks arrive (our webhook endpoint, in miniature)."""

    def handle(self, request: RecordedRequest) -> Response:
        return 204, None, {}


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver()
    server.start()
    yield server
    server.stop()


def transport(twilio: FakeTwilio, clock: FakeClock, **kw: Any) -> TwilioTransport:
    options: dict[str, Any] = {"from_number": "+14155550100", "whatsapp_from": "+14155238886", "base_url": twilio.url}
    options.update(kw)
    return TwilioTransport(twilio.account_sid, twilio.auth_token, clock=clock, **options)


def test_send_posts_the_documented_form_and_returns_the_sid(
    twilio: FakeTwilio, receiver: CallbackReceiver, clock: FakeClock
) -> None:
    callback = f"{receiver.url}/v1/hooks/twilio/acme/status"
    delivery = transport(twilio, clock, status_callback=callback).send(SMS)
    [request] = twilio.requests
    assert request.brief() == ("POST", f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    credentials = base64.b64encode(f"{twilio.account_sid}:{twilio.auth_token}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {credentials}"
    assert request.form == {
        "To": "+525512345678",
        "Body": SMS.body,
        "From": "+14155550100",
        "StatusCallback": f"{callback}?key=acme%3Alead-42%3Asend.first_touch",
    }
    assert delivery.transport == "twilio"
    assert delivery.provider_message_id in twilio.messages
    assert delivery.provider_message_id is not None and delivery.provider_message_id.startswith("SM")


def test_whatsapp_addresses_carry_the_prefix(twilio: FakeTwilio, clock: FakeClock) -> None:
    message = OutboundMessage(**{**SMS.__dict__, "channel": "whatsapp", "idempotency_key": "k-wa"})
    transport(twilio, clock).send(message)
    form = twilio.requests[0].form
    assert form["To"] == "whatsapp:+525512345678" and form["From"] == "whatsapp:+14155238886"
    service = transport(twilio, clock, from_number=None, whatsapp_from=None, messaging_service_sid="MG" + "1" * 32)
    service.send(SMS)
    assert twilio.requests[1].form["MessagingServiceSid"] == "MG" + "1" * 32 and "From" not in twilio.requests[1].form


def test_status_callbacks_arrive_signed_and_parse(
    twilio: FakeTwilio, receiver: CallbackReceiver, clock: FakeClock
) -> None:
    callback = f"{receiver.url}/v1/hooks/twilio/acme/status"
    sid = transport(twilio, clock, status_callback=callback).send(SMS).provider_message_id
    assert sid is not None
    for status in ("sent", "delivered"):
        assert twilio.fire_status(sid, status).status_code == 204
    assert twilio.fire_status(sid, "failed", error_code=30006).status_code == 204
    statuses = []
    for request in receiver.requests:
        url = f"{receiver.url}{request.target}"
        params = parse_form(request.body)
        verify_twilio(url, params, request.headers, auth_tokens=twilio.auth_token)
        statuses.append(parse_status_callback(params, url=url))
    sent, delivered, failed = statuses
    assert (delivered.message_sid, delivered.status, delivered.final, delivered.failed) == (
        sid,
        "delivered",
        True,
        False,
    )
    assert delivered.idempotency_key == SMS.idempotency_key
    assert delivered.advances("sent") and not sent.advances("delivered")
    assert failed.error_code == 30006 and failed.permanent
    tampered = parse_form(receiver.requests[1].body.replace(b"delivered", b"read"))
    with pytest.raises(Unauthorized, match="does not match"):
        verify_twilio(
            f"{receiver.url}{receiver.requests[1].target}",
            tampered,
            receiver.requests[1].headers,
            auth_tokens=twilio.auth_token,
        )


def test_rate_limits_and_outages_are_retryable(twilio: FakeTwilio, clock: FakeClock) -> None:
    path = rf"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    twilio.script(
        path, 429, headers={"Retry-After": "3"}, body={"code": 20429, "message": "Too Many Requests", "status": 429}
    )
    with pytest.raises(ChannelError) as limited:
        transport(twilio, clock).send(SMS)
    assert limited.value.retryable and limited.value.details == {
        "http_status": 429,
        "twilio_code": 20429,
        "retry_after": 3.0,
    }
    twilio.script(path, 503)
    with pytest.raises(ChannelError) as down:
        transport(twilio, clock).send(SMS)
    assert down.value.retryable
    with pytest.raises(ChannelError) as unreachable:
        TwilioTransport("AC1", "t", from_number="+14155550100", base_url="http://127.0.0.1:9").send(SMS)
    assert unreachable.value.retryable


def test_a_lost_answer_is_ambiguous_and_find_sent_tells_whether_it_went(twilio: FakeTwilio, clock: FakeClock) -> None:
    path = rf"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    twilio.script(path, 201, method="POST", slow_s=0.5)
    sender = transport(twilio, clock, timeout_s=0.15)
    with pytest.raises(ChannelError) as lost:
        sender.send(SMS)
    assert not lost.value.retryable and lost.value.details["ambiguous"] is True
    found = transport(twilio, clock).find_sent(SMS, since=clock.now())
    assert found is not None and found.provider_message_id in twilio.messages
    listing = twilio.calls("GET")[0]
    assert listing.param("To") == "+525512345678" and listing.param("DateSent>") == "2026-01-05"
    other = OutboundMessage(**{**SMS.__dict__, "body": "Otro texto", "idempotency_key": "k2"})
    assert transport(twilio, clock).find_sent(other, since=clock.now()) is None
    twilio.script(path, 500, method="POST")
    with pytest.raises(ChannelError) as server_error:
        transport(twilio, clock, retry_ambiguous=True).send(other)
    assert server_error.value.retryable and server_error.value.details["ambiguous"] is True


def test_refusals_are_not_retryable(twilio: FakeTwilio, clock: FakeClock) -> None:
    bad_number = OutboundMessage(**{**SMS.__dict__, "to": "5512345678"})
    with pytest.raises(ChannelError) as invalid:
        transport(twilio, clock).send(bad_number)
    assert not invalid.value.retryable and invalid.value.details["twilio_code"] == 21211
    assert "Invalid 'To' Phone Number" in invalid.value.message
    with pytest.raises(ChannelError) as denied:
        TwilioTransport(twilio.account_sid, "wrong", from_number="+14155550100", base_url=twilio.url).send(SMS)
    assert not denied.value.retryable and "credentials" in denied.value.message
    email = OutboundMessage(**{**SMS.__dict__, "channel": "email"})
    with pytest.raises(ChannelError):
        transport(twilio, clock).send(email)
    assert "wrong" not in repr(transport(twilio, clock)) and twilio.auth_token not in repr(transport(twilio, clock))


def test_inbound_whatsapp_message_becomes_message_received(clock: FakeClock) -> None:
    url = "https://nightcrew.example.com/v1/hooks/twilio/acme"
    form = {
        "SmsMessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "NumMedia": "0",
        "ProfileName": "Ana",
        "WaId": "525512345678",
        "SmsSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "Body": "Hola, ¿cuánto cuesta?",
        "To": "whatsapp:+14155238886",
        "NumSegments": "1",
        "MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "AccountSid": "AC" + "0" * 31 + "1",
        "From": "whatsapp:+525512345678",
        "ApiVersion": "2010-04-01",
    }
    body = str(httpx.QueryParams(form)).encode()
    verify_twilio(url, parse_form(body), {"X-Twilio-Signature": twilio_signature("tok", url, form)}, auth_tokens="tok")
    event = twilio_inbound_event(parse_form(body), received_at=clock.now(), external_id="hubspot:101")
    assert event == {
        "id": "twilio-SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "type": "message.received",
        "occurred_at": "2026-01-05T12:00:00+00:00",
        "contact": {"external_id": "hubspot:101", "phone": "+525512345678", "name": "Ana"},
        "data": {"channel": "whatsapp", "text": "Hola, ¿cuánto cuesta?", "provider_message_id": form["MessageSid"]},
    }
    parse_event(event)
    photo = twilio_inbound_event(
        {**form, "Body": "", "NumMedia": "1", "From": "+525512345678"}, received_at=clock.now()
    )
    assert photo["contact"]["external_id"] == "tel:+525512345678" and photo["data"] == {
        "channel": "sms",
        "text": "[1 attachment]",
        "provider_message_id": form["MessageSid"],
    }
