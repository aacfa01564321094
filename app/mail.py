"""E-mail out: by SMTP when `SMTP_HOST` is set, otherwise one log line per message.

`mailer_for(settings)` picks the mailer once; everything that sends mail (the outbox job, the
password reset) asks it, so one setting turns every message of the platform into real e-mail.
The SMTP client is aiosmtplib (STARTTLS on 587 by default, implicit TLS on 465 with
`SMTP_SECURITY=tls`, plain only when asked for, e.g. a relay on the same host).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Protocol

import aiosmtplib

from app.settings import Settings

log = logging.getLogger("app.mail")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None:
        """Hand one message to the mail system, or raise."""


class LogMailer:
    """Without an SMTP server (development, the demo): the message as one JSON log line."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self.logger = logger

    async def send(self, mail: Mail) -> None:
        self.logger.info(json.dumps({"event": "mail", "to": mail.to, "subject": mail.subject, "body": mail.body},
                                    ensure_ascii=False))


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def message(self, mail: Mail) -> EmailMessage:
        s = self.settings
        message = EmailMessage()
        message["From"] = formataddr((s.mail_from_name, s.mail_from))
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain=s.mail_from.rpartition("@")[2] or None)
        message.set_content(mail.body)  # UTF-8 text: Vietnamese as it is
        return message

    async def send(self, mail: Mail) -> None:
        s = self.settings
        assert s.smtp_host is not None
        await aiosmtplib.send(
            self.message(mail),
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            use_tls=s.smtp_security == "tls",
            start_tls=True if s.smtp_security == "starttls" else False,
            timeout=s.smtp_timeout_seconds,
        )


def mailer_for(settings: Settings) -> Mailer:
    return SmtpMailer(settings) if settings.smtp_host else LogMailer()
