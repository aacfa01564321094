"""The outbox: notifications to the platform's users (a need approved, a pledge received, a
payment confirmed, a commendation ...), written with the change they tell of and sent later.

Services only add `OutboxMessage` rows in their own transaction (`notify`);
a job (`send-outbox`) hands the unsent ones, oldest first, to a pluggable `Sender` and stamps
`sent_at`. With `SMTP_HOST` set, `EmailSender` mails each to its recipient; without, the
`LogSender` writes one structured (JSON) log line per message; an SMS sender would implement the
same protocol.

Delivery is at least once: a message is stamped in the same transaction that sent it, so a
crash before commit sends it again next time. On PostgreSQL concurrent runs lock their rows
with `FOR UPDATE SKIP LOCKED` and never send the same message twice; SQLite serialises writers.
A sender that fails on one message leaves it unsent (logged) and the others go on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Protocol

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.auth.models import User
from app.db import Base, utcnow
from app.mail import Mail, Mailer, mailer_for
from app.settings import Settings

log = logging.getLogger("app.outbox")


class OutboxMessage(Base):
    """A notification waiting to be sent by the configured sender (the default writes to the log)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    topic: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(index=True)


def notify(session: AsyncSession, user_id: int | None, topic: str, subject: str, body: str) -> None:
    """Tell a user something, with the change being written (sent once it is committed)."""
    session.add(OutboxMessage(recipient_id=user_id, topic=topic, subject=subject, body=body))


class Sender(Protocol):
    async def send(self, message: OutboxMessage) -> None:
        """Deliver one message, or raise."""


class LogSender:
    """The default: one JSON line per message on the `app.outbox` logger."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self.logger = logger

    async def send(self, message: OutboxMessage) -> None:
        self.logger.info(json.dumps({
            "event": "notification", "id": message.id, "topic": message.topic,
            "recipient_id": message.recipient_id, "subject": message.subject, "body": message.body,
        }, ensure_ascii=False))


class EmailSender:
    """Each message by e-mail to its recipient's address (`app.mail`: SMTP when configured). A
    message whose recipient is gone has no one to reach: it is logged and counted as handled."""

    def __init__(self, session: AsyncSession, mailer: Mailer) -> None:
        self.session = session
        self.mailer = mailer

    async def send(self, message: OutboxMessage) -> None:
        user = await self.session.get(User, message.recipient_id) if message.recipient_id is not None else None
        if user is None:
            log.warning("outbox message %s has no recipient any more; not sent", message.id)
            return
        await self.mailer.send(Mail(to=user.email, subject=message.subject, body=message.body))


def sender_for(session: AsyncSession, settings: Settings) -> Sender:
    """E-mail where an SMTP server is configured (`SMTP_HOST`); otherwise the log."""
    return EmailSender(session, mailer_for(settings)) if settings.smtp_host else LogSender()


async def deliver_pending(session: AsyncSession, sender: Sender, *, limit: int = 500) -> int:
    """Send up to `limit` unsent messages, oldest first; returns how many were sent. The caller
    commits (convention 1)."""
    query = (
        select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        .order_by(OutboxMessage.created_at, OutboxMessage.id).limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    sent = 0
    for message in list(await session.scalars(query)):
        try:
            await sender.send(message)
        except Exception:  # noqa: BLE001 - one failing message must not hold back the others
            log.exception("outbox message %s could not be sent", message.id)
            continue
        message.sent_at = utcnow()
        sent += 1
    await session.flush()
    return sent
