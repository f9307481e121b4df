"""SMS and WhatsApp through Twilio's Messages API, and the status callbacks that follow each message.

Twilio offers no idempotency key for sending, so a send whose answer is lost may or may not have gone out.
Such failures are reported as not retryable (``details.ambiguous``) unless the caller opts in, because a
duplicate text message is worse than a late one; ``find_sent`` lets the caller look before resending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from nightcrew.channels.base import Delivery, OutboundMessage
from nightcrew.clock import Clock, SystemClock
from nightcrew.crm.connectors.http import error_message, parse_retry_after
from nightcrew.errors import ChannelError, ValidationFailed

TWILIO_API = "https://api.twilio.com"
# Twilio refused these before doing anything, so sending again cannot duplicate the message.
_NOT_PROCESSED = frozenset({429, 503})
_AMBIGUOUS = frozenset({500, 502, 504})
# Delivery progress in order; a late callback never moves a message backwards.
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 5,
    "undelivered": 6,
    "failed": 6,
    "canceled": 6,
}
FINAL_STATUSES = frozenset({"delivered", "read", "undelivered", "failed", "canceled"})
UNDELIVERED = frozenset({"undelivered", "failed", "canceled"})
# Error codes after which trying the same number again is pointless (opted out, landline, not on WhatsApp...).
PERMANENT_ERRORS = frozenset({21211, 21408, 21610, 21612, 21614, 30004, 30005, 30006, 30007, 63003, 63016, 63024})


@dataclass(frozen=True)
class TwilioStatus:
    """One status callback: which message, its new status, and the error if it failed."""

    message_sid: str
    status: str
    error_code: int | None = None
    error_message: str | None = None
    to: str | None = None
    sender: str | None = None
    account_sid: str | None = None
    idempotency_key: str | None = None

    @property
    def final(self) -> bool:
        """No later status will follow."""
        return self.status in FINAL_STATUSES

    @property
    def failed(self) -> bool:
        """The message did not reach the contact."""
        return self.status in UNDELIVERED

    @property
    def permanent(self) -> bool:
        """A failure that another attempt to the same address will not fix."""
        return self.failed and self.error_code in PERMANENT_ERRORS

    def advances(self, current: str | None) -> bool:
        """Whether this callback moves a message whose stored status is ``current`` forward."""
        return STATUS_RANK.get(self.status, -1) > STATUS_RANK.get(current or "", -1)


def parse_status_callback(
    params: Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]], *, url: str | None = None
) -> TwilioStatus:
    """Read a status callback's form (MessageSid, MessageStatus, ErrorCode ...); ``url`` yields our key."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value if isinstance(value, str) else next(iter(value), ""))
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not status:
        raise ValidationFailed("Twilio status callback without MessageSid or MessageStatus")
    code = form.get("ErrorCode")
    key = None
    if url:
        key = next(iter(parse_qs(urlsplit(url).query).get("key", [])), None)
    return TwilioStatus(
        message_sid=sid,
        status=status,
        error_code=int(code) if code and code.isdigit() else None,
        error_message=form.get("ErrorMessage") or None,
        to=form.get("To") or None,
        sender=form.get("From") or None,
        account_sid=form.get("AccountSid") or None,
        idempotency_key=key,
    )


class TwilioTransport:
    """Sends ``sms`` and ``whatsapp`` messages; returns Twilio's message sid as the provider message id."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        whatsapp_from: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        base_url: str = TWILIO_API,
        timeout_s: float = 10.0,
        retry_ambiguous: bool = False,
        api_key_sid: str | None = None,
        clock: Clock | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if not (from_number or whatsapp_from or messaging_service_sid):
            raise ValueError("TwilioTransport needs from_number, whatsapp_from or messaging_service_sid")
        self.account_sid = account_sid
        self.from_number = from_number
        self.whatsapp_from = whatsapp_from
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retry_ambiguous = retry_ambiguous
        self.clock = clock or SystemClock()
        self._auth = httpx.BasicAuth(api_key_sid or account_sid, auth_token)
        self.client = client or httpx.Client(timeout=timeout_s)

    def __repr__(self) -> str:
        return f"TwilioTransport(account_sid={self.account_sid!r}, base_url={self.base_url!r})"

    @property
    def messages_url(self) -> str:
        """The Messages resource of the account."""
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def form_for(self, message: OutboundMessage) -> dict[str, str]:
        """The form fields of the Messages API request for ``message``."""
        if message.channel == "whatsapp":
            if not (self.whatsapp_from or self.messaging_service_sid):
                raise ChannelError("no WhatsApp sender is configured for Twilio", retryable=False)
            to = message.to if message.to.startswith("whatsapp:") else f"whatsapp:{message.to}"
            sender = self.whatsapp_from
            if sender and not sender.startswith("whatsapp:"):
                sender = f"whatsapp:{sender}"
        elif message.channel == "sms":
            to, sender = message.to, self.from_number
        else:
            raise ChannelError(f"Twilio carries sms and whatsapp, not {message.channel}", retryable=False)
        form = {"To": to, "Body": message.body}
        if sender:
            form["From"] = sender
        elif self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            raise ChannelError(f"no Twilio sender is configured for {message.channel}", retryable=False)
        if self.status_callback:
            joiner = "&" if urlsplit(self.status_callback).query else "?"
            form["StatusCallback"] = f"{self.status_callback}{joiner}{urlencode({'key': message.idempotency_key})}"
        return form

    def send(self, message: OutboundMessage) -> Delivery:
        """POST the message; 429/503 and unreachable are retryable, lost answers are flagged ambiguous."""
        form = self.form_for(message)
        try:
            response = self.client.post(self.messages_url, data=form, auth=self._auth, timeout=self.timeout_s)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ChannelError(f"Twilio unreachable: {type(exc).__name__}", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(
                f"Twilio did not answer ({type(exc).__name__}); the message may have been sent",
                retryable=self.retry_ambiguous,
                details={"ambiguous": True, "idempotency_key": message.idempotency_key},
            ) from exc
        status = response.status_code
        if status in (200, 201):
            payload: dict[str, Any] = response.json()
            return Delivery(transport=self.name, provider_message_id=str(payload["sid"]), status="sent")
        details: dict[str, Any] = {"http_status": status}
        try:
            body = response.json()
            if isinstance(body, dict) and body.get("code") is not None:
                details["twilio_code"] = body["code"]
        except ValueError:
            pass
        reason = error_message(response)
        if status in _NOT_PROCESSED:
            retry_after = parse_retry_after(response.headers, self.clock.now())
            if retry_after is not None:
                details["retry_after"] = retry_after
            raise ChannelError(f"Twilio answered {status}: {reason}", retryable=True, details=details)
        if status in _AMBIGUOUS:
            details.update(ambiguous=True, idempotency_key=message.idempotency_key)
            raise ChannelError(
                f"Twilio answered {status}: {reason}; the message may have been sent",
                retryable=self.retry_ambiguous,
                details=details,
            )
        if status in (401, 403):
            raise ChannelError(
                f"Twilio rejected the credentials ({status}: {reason})", retryable=False, details=details
            )
        raise ChannelError(f"Twilio refused the message ({status}: {reason})", retryable=False, details=details)

    def find_sent(self, message: OutboundMessage, *, since: datetime) -> Delivery | None:
        """Look for ``message`` among those sent to its address since ``since`` (before resending an ambiguous one)."""
        form = self.form_for(message)
        params: dict[str, str] = {"To": form["To"], "DateSent>": since.date().isoformat(), "PageSize": "50"}
        if "From" in form:
            params["From"] = form["From"]
        try:
            response = self.client.get(self.messages_url, params=params, auth=self._auth, timeout=self.timeout_s)
        except httpx.TransportError as exc:
            raise ChannelError(f"Twilio unreachable: {type(exc).__name__}", retryable=True) from exc
        if response.status_code != 200:
            raise ChannelError(
                f"Twilio answered {response.status_code} listing messages: {error_message(response)}",
                retryable=response.status_code in _NOT_PROCESSED or response.status_code >= 500,
            )
        for item in response.json().get("messages", []):
            if item.get("body") == message.body and item.get("direction", "outbound-api").startswith("outbound"):
                return Delivery(transport=self.name, provider_message_id=str(item["sid"]), status="sent")
        return None
