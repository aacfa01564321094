"""Command line: `python -m app serve | migrate | seed | create-officer`."""

from __future__ import annotations

import asyncio
import getpass
import random
import sys
from collections.abc import Awaitable, Callable

import click
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app import demo
from app.errors import ValidationFailed
from app.settings import ROOT, Settings, get_settings

# Each domain's demo seeder, in dependency order; the composition root lists them.
DemoSeeder = Callable[[AsyncSession, demo.DemoContext], Awaitable[None]]


def demo_seeders() -> list[DemoSeeder]:
    from donations.demo import seed as seed_donations
    from needs.demo import seed as seed_needs
    from recognition.demo import seed as seed_recognition

    return [demo.seed, seed_needs, seed_donations, seed_recognition]


async def seed_reference(session: AsyncSession) -> None:
    """Reference data every installation has: the geography and the item catalogue."""
    from app.geography.services import seed_geography
    from needs.catalog import seed_item_kinds

    await seed_geography(session)
    await seed_item_kinds(session)


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        (ROOT / "var").mkdir(exist_ok=True)
    command.upgrade(alembic_config(database_url), "head")


async def _with_session(database_url: str, work: Callable[[AsyncSession], Awaitable[object]]) -> object:
    engine = create_async_engine(database_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


async def seed_all(settings: Settings, *, with_demo: bool) -> demo.DemoContext | None:
    """Geography always (if empty); demo data once, outside production. Returns what was made."""
    async def work(session: AsyncSession) -> demo.DemoContext | None:
        await seed_reference(session)
        if not with_demo or settings.is_production or await demo.already_seeded(session):
            return None
        ctx = demo.DemoContext(rng=random.Random(2026))
        for seeder in demo_seeders():
            await seeder(session, ctx)
        return ctx

    return await _with_session(settings.database_url, work)  # type: ignore[return-value]


def print_demo_accounts(ctx: demo.DemoContext) -> None:
    click.echo("\nDemo accounts / Tài khoản dùng thử:")
    for role, email, password in ctx.accounts:
        click.echo(f"  {role:<10} {email:<28} {password}")
    click.echo("")


@click.group()
def cli() -> None:
    """Grassroots Library Giving."""


@cli.command("migrate")
def migrate_cmd() -> None:
    """Apply every migration (alembic upgrade head)."""
    migrate(get_settings().database_url)


@cli.command("seed")
@click.option("--demo/--no-demo", default=True, help="Also load demo data (never in production).")
def seed_cmd(demo: bool) -> None:
    """Seed the geography (34 provinces, 3,321 communes) and, unless told not to, demo data."""
    ctx = asyncio.run(seed_all(get_settings(), with_demo=demo))
    if ctx:
        print_demo_accounts(ctx)


@cli.command("create-officer")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True)
@click.option("--password", default=None, help="Prompted for when not given.")
def create_officer_cmd(email: str, full_name: str, password: str | None) -> None:
    """Create a province officer account (the first one is made this way)."""
    from app.auth.services import create_officer

    password = password or getpass.getpass("Password: ")
    settings = get_settings()
    try:
        asyncio.run(
            _with_session(
                settings.database_url,
                lambda s: create_officer(s, email=email, full_name=full_name, password=password),
            )
        )
    except ValidationFailed as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    click.echo(f"Officer {email} created.")


@cli.command("expire")
def expire_cmd() -> None:
    """The daily job: expire open needs past their deadline and pledges unpaid past their time."""
    import datetime as dt

    from donations.services import expire_unpaid
    from needs.services import expire_overdue

    async def work(session: AsyncSession) -> tuple[int, int]:
        now = dt.datetime.now(dt.UTC)
        return await expire_overdue(session, now.date()), await expire_unpaid(session, now)

    needs, pledges = asyncio.run(_with_session(get_settings().database_url, work))  # type: ignore[misc]
    click.echo(f"expired {needs} needs and {pledges} pledges")


def _register_domain_commands() -> None:
    from donations.cli import send_outbox_cmd

    cli.add_command(send_outbox_cmd)


_register_domain_commands()


@cli.command("serve")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def serve_cmd(host: str | None, port: int | None) -> None:
    """Migrate, seed on first start, print the demo accounts, and serve the site."""
    import uvicorn

    settings = get_settings()
    migrate(settings.database_url)
    ctx = asyncio.run(seed_all(settings, with_demo=True))
    if ctx:
        print_demo_accounts(ctx)
    elif not settings.is_production:
        click.echo(f"\nDemo accounts: see README (password {demo.DEMO_PASSWORD}).\n")
    uvicorn.run(
        "app.asgi:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        access_log=False,
    )
