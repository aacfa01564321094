"""The command line: first officer, seeding, and demo data that never loads in production."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from sqlalchemy import func, select

from app.auth.models import Role, User
from app.geography.models import Library
from app.outbox import OutboxMessage
from app.settings import ROOT
from recognition.models import EntrySource, RollEntry
from tests.conftest import TEST_SECRET


def _cli(url: str, *args: str, environment: str = "development", stdin: str | None = None):  # type: ignore[no-untyped-def]
    env = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": environment, "SECRET_KEY": TEST_SECRET}
    return subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        input=stdin, timeout=120,
    )


async def test_create_officer_command(clean_backend, db) -> None:
    result = _cli(clean_backend.url, "create-officer", "--email", "Boss@SonLa.gov.vn",
                  "--name", "Hà Thị Mai", "--password", "Str0ng-enough!")
    assert result.returncode == 0, result.stderr
    officer = await db.scalar(select(User).where(User.email == "boss@sonla.gov.vn"))
    assert officer.role == Role.OFFICER
    again = _cli(clean_backend.url, "create-officer", "--email", "boss@sonla.gov.vn",
                 "--name", "X", "--password", "Str0ng-enough!")
    assert again.returncode == 2 and "already exists" in again.stderr or "Đã có" in again.stderr
    weak = _cli(clean_backend.url, "create-officer", "--email", "b@x.vn", "--name", "X", "--password", "123")
    assert weak.returncode == 2
    assert await db.scalar(select(func.count()).select_from(User)) == 1


async def test_demo_data_loads_once_and_prints_accounts(clean_backend, db) -> None:
    result = _cli(clean_backend.url, "seed")
    assert result.returncode == 0, result.stderr
    assert "canbo@demo.sonla.vn" in result.stdout and "thuthu@demo.sonla.vn" in result.stdout
    libraries = await db.scalar(select(func.count()).select_from(Library))
    librarians = await db.scalar(select(func.count()).select_from(User).where(User.role == Role.LIBRARIAN))
    assert 35 <= libraries <= 50 and librarians == libraries
    sponsors = list(await db.scalars(select(User).where(User.role == Role.SPONSOR)))
    assert sponsors and all(u.address.endswith("tỉnh Sơn La") for u in sponsors)
    entries = list(await db.scalars(select(RollEntry).where(RollEntry.source == EntrySource.DONATIONS)))
    assert any(not e.anonymous for e in entries) and any(e.anonymous for e in entries)
    assert all(e.address.endswith("tỉnh Sơn La") for e in entries if not e.anonymous)
    assert all(e.address == "" for e in entries if e.anonymous)
    told = list(await db.scalars(select(OutboxMessage.body).where(OutboxMessage.topic == "recognition.commended")))
    assert told and all(re.search(r"https?://[^/\s]+/verify/[0-9a-f]{20}$", body) for body in told)  # opens
    second = _cli(clean_backend.url, "seed")
    assert "canbo@demo.sonla.vn" not in second.stdout
    assert await db.scalar(select(func.count()).select_from(Library)) == libraries


async def test_demo_data_never_loads_in_production(clean_backend, db) -> None:
    result = _cli(clean_backend.url, "seed", environment="production")
    assert result.returncode == 0, result.stderr
    assert await db.scalar(select(func.count()).select_from(User)) == 0


def test_production_requires_a_secret_key(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(ENVIRONMENT="production", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    result = subprocess.run([sys.executable, "-m", "app", "migrate"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


async def test_expire_job(clean_backend, db) -> None:
    import datetime as dt

    from needs.models import Need, NeedStatus
    from tests.support import make_library, make_need

    library = await make_library(db)
    need = await make_need(db, library, deadline=dt.date(2020, 1, 1))
    await db.commit()
    result = _cli(clean_backend.url, "expire")
    assert result.returncode == 0, result.stderr
    assert "expired 1 needs and 0 pledges" in result.stdout
    assert (await db.get(Need, need.id, populate_existing=True)).status == NeedStatus.EXPIRED
