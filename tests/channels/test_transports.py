import json
from pathlib import Path

import pytest
from tests.support.receiver import Receiver

from nightcrew.channels.base import OutboundMessage
from nightcrew.channels.transports import FileTransport, WebhookTransport
from nightcrew.errors import ChannelError

MESSAGE = OutboundMessage(
    idempotency_key="t:evt-1:send",
    tenant="t",
    channel="whatsapp",
    to="+573001234567",
    body="Hola",
    language="es",
    contact_external_id="c-1",
)


def test_file_transport_appends_json_lines(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path / "out" / "box.jsonl")
    transport.send(MESSAGE)
    transport.send(MESSAGE)
    lines = [json.loads(line) for line in (tmp_path / "out" / "box.jsonl").read_text().splitlines()]
    assert [line["idempotency_key"] for line in lines] == ["t:evt-1:send", "t:evt-1:send"]
    assert lines[0]["body"] == "Hola"


def test_webhook_sends_idempotency_key_and_signature() -> None:
    receiver = Receiver().start()
    try:
        delivery = WebhookTransport(receiver.url, secret="s3cret").send(MESSAGE)
        assert delivery.provider_message_id == "rcv-1"
        assert receiver.acknowledged_keys() == {"t:evt-1:send": 1}
        assert receiver.requests[0].body["to"] == "+573001234567"
    finally:
        receiver.stop()


def test_webhook_5xx_is_retryable_and_4xx_is_not() -> None:
    receiver = Receiver(fail_next=1).start()
    try:
        with pytest.raises(ChannelError) as info:
            WebhookTransport(receiver.url).send(MESSAGE)
        assert info.value.retryable
    finally:
        receiver.stop()
    with pytest.raises(ChannelError) as unreachable:
        WebhookTransport("http://127.0.0.1:9/hook", timeout_s=1).send(MESSAGE)
    assert unreachable.value.retryable
