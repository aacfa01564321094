"""Declarative base with a naming convention, and the SQLAlchemy config for Litestar."""

from __future__ import annotations

import datetime as dt
import enum

from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
)
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Enum, Integer, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: DateTimeUTC(timezone=True)}


def enum_column(cls: type[enum.Enum], length: int = 32) -> Enum:
    """Enums are stored by value, as strings (portable across SQLite and PostgreSQL)."""
    return Enum(
        cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class IntEnumType(TypeDecorator[enum.IntEnum]):
    """An IntEnum stored as its integer, so the database can sort and compare it."""

    impl = Integer
    cache_ok = True

    def __init__(self, enum_class: type[enum.IntEnum]) -> None:
        super().__init__()
        self.enum_class = enum_class

    def process_bind_param(self, value: object, dialect: object) -> int | None:
        return None if value is None else int(value)  # type: ignore[call-overload]

    def process_result_value(self, value: object, dialect: object) -> enum.IntEnum | None:
        return None if value is None else self.enum_class(value)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def insert_once(session: AsyncSession, row: object, conflict: str | Exception) -> None:
    """Write a new row whose unique key a concurrent request may have just taken (a double
    submit): inside a savepoint, so that a clash leaves the request's transaction usable, and
    answered with 409 and the `conflict` message (or the `conflict` error itself) instead of a
    database error."""
    from app.errors import IllegalTransition

    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise (conflict if isinstance(conflict, Exception) else IllegalTransition(conflict)) from exc


@event.listens_for(Engine, "savepoint")
def _sqlite_savepoint_inside_a_transaction(conn, _name) -> None:  # type: ignore[no-untyped-def]
    """SQLite's driver begins a transaction only at the first INSERT, UPDATE or DELETE; a SAVEPOINT
    before any would be the outermost, and releasing it would commit on the spot (a row written by
    `insert_once` would then survive the request's rollback). Begin the transaction first."""
    if conn.dialect.name == "sqlite" and not conn.connection.driver_connection.in_transaction:
        conn.exec_driver_sql("BEGIN")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """Foreign keys on and WAL for SQLite; other databases are left alone."""
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sqlalchemy_config(database_url: str, *, echo: bool = False) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        connection_string=database_url,
        metadata=Base.metadata,
        create_all=False,
        before_send_handler="autocommit_include_redirects",
        session_config=AsyncSessionConfig(expire_on_commit=False),
        session_dependency_key="db_session",
        alembic_config=AlembicAsyncConfig(script_location="migrations"),
        engine_config=_engine_config(database_url, echo),
    )


def _engine_config(database_url: str, echo: bool):  # type: ignore[no-untyped-def]
    from advanced_alchemy.config import EngineConfig

    if database_url.startswith("sqlite"):
        return EngineConfig(echo=echo)
    return EngineConfig(echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True)


def import_models() -> None:
    """Import every domain's models so Base.metadata is complete (Alembic, tests).
    Like app/asgi.py and app/cli.py, this is composition: the one place app names the domains."""
    import app.audit  # noqa: F401
    import app.auth.models  # noqa: F401
    import app.geography.models  # noqa: F401
    import app.outbox  # noqa: F401
    import donations.models  # noqa: F401
    import needs.models  # noqa: F401
    import recognition.models  # noqa: F401
