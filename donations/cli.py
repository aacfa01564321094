"""Donations' commands, added to `python -m app`'s group by the composition root (app/cli.py).
Until then: `python -m donations.cli` runs `send-outbox`."""

from __future__ import annotations

import asyncio
import logging

import click

from app.cli import _with_session
from app.outbox import deliver_pending, sender_for
from app.settings import get_settings


@click.command("send-outbox")
@click.option("--limit", type=click.IntRange(min=1), default=500, show_default=True,
              help="Send at most this many messages.")
def send_outbox_cmd(limit: int) -> None:
    """Send the waiting notifications (oldest first): by e-mail with SMTP_HOST set, else to the log."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    sent = asyncio.run(_with_session(
        settings.database_url, lambda s: deliver_pending(s, sender_for(s, settings), limit=limit)))
    click.echo(f"{sent} message(s) sent.")


if __name__ == "__main__":
    send_outbox_cmd()
