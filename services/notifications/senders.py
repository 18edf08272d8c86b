"""Outbound messages to citizens: SMS and e-mail behind one small interface.

A real gateway (an operator's SMS platform, an SMTP relay) implements `Sender`; the
`LoggingSender` logs that a message left (recipient masked, never its text) and keeps the
last few in memory, for development, the demo and tests.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from forms.values import mask_id

log = logging.getLogger(__name__)


class Sender(Protocol):
    def send_sms(self, phone: str, text: str) -> None: ...

    def send_email(self, address: str, subject: str, text: str) -> None: ...


@dataclass(frozen=True)
class SentMessage:
    channel: str  # sms | email
    to: str
    subject: str
    text: str


def mask_phone(phone: str) -> str:
    """A mobile number as logs may show it: 138****5678."""
    return mask_id(phone.strip())


def mask_address(address: str) -> str:
    """An e-mail address as logs may show it: w***@example.com."""
    local, _, domain = address.strip().partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


class LoggingSender:
    """Logs every message (recipient masked) and keeps the last `keep` of them in `sent`."""

    def __init__(self, keep: int = 100):
        self.sent: deque[SentMessage] = deque(maxlen=keep)

    def send_sms(self, phone: str, text: str) -> None:
        # the text may carry a clerk's comment or a name: it stays out of the log
        log.info("SMS to %s (%d characters)", mask_phone(phone), len(text))
        self.sent.append(SentMessage("sms", phone, "", text))

    def send_email(self, address: str, subject: str, text: str) -> None:
        log.info("E-mail to %s (%d characters)", mask_address(address), len(text))
        self.sent.append(SentMessage("email", address, subject, text))


@cache
def default_sender() -> Sender:
    """The process's sender until a real gateway is configured: log only."""
    return LoggingSender()
