"""Engine and session factory; the only module that knows which database dialect is in use."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    String,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every nightcrew table."""

    metadata = MetaData(naming_convention=NAMING)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for in-memory or non-SQLite)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def prepare_sqlite_file(url: str) -> None:
    """Create the SQLite file's folder and switch it to WAL before any pool or DBOS opens it."""
    path = sqlite_path(url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _on_sqlite_savepoint(conn: Any, _name: str | None) -> None:
    # The sqlite3 module opens a transaction only before INSERT/UPDATE/DELETE. A SAVEPOINT issued first
    # (begin_nested as a transaction's first write) would open one itself, and its RELEASE would commit it:
    # that row would outlive a rollback of the rest. Begin the outer transaction first.
    raw = conn.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN")


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine configured for the dialect: WAL and a busy timeout on SQLite, a pool on PostgreSQL."""
    if url.startswith("sqlite"):
        prepare_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "savepoint", _on_sqlite_savepoint)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _on_dbos_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # What DBOS sets on its own SQLite connections (IMMEDIATE writers, a long busy timeout), plus NORMAL
    # synchronous: in WAL mode a commit then needs no fsync, and a crash still loses no committed checkpoint
    # that the WAL had already received; only a power cut can lose the last transactions.
    dbapi_conn.isolation_level = "IMMEDIATE"
    dbapi_conn.execute("PRAGMA busy_timeout=30000")
    dbapi_conn.execute("PRAGMA foreign_keys=ON")
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")


def make_dbos_sqlite_engine(url: str) -> Engine:
    """The engine DBOS uses for its checkpoints on SQLite (its own settings, without an fsync per commit)."""
    prepare_sqlite_file(url)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _on_dbos_sqlite_connect)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work at the edge: commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ping(factory: sessionmaker[Session]) -> None:
    """Ask the database for ``SELECT 1`` in a transaction of its own; raises when it does not answer."""
    with transaction(factory) as session:
        session.execute(text("SELECT 1"))


def refresh_statistics(engine: Engine) -> None:
    """On SQLite, re-gather the statistics the planner chooses indexes by; PostgreSQL's autovacuum does this itself.

    ``PRAGMA optimize`` before SQLite 3.46 only looks at tables this connection has queried, so a fresh
    connection would do nothing: sampled ANALYZE instead (``analysis_limit``: about a thousand rows per index,
    milliseconds even on millions of rows). Run after bulk work and now and then.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        sqlite_statistics(connection)
        connection.commit()


def sqlite_statistics(connection: Any) -> None:
    """Sampled ANALYZE on an open SQLite connection (see refresh_statistics)."""
    connection.execute(text("PRAGMA analysis_limit=1000"))
    connection.execute(text("ANALYZE"))


def is_unique_violation(error: BaseException) -> bool:
    """Whether a database error is a unique-constraint violation, on either dialect."""
    orig = getattr(error, "orig", None)
    if orig is None:
        return False
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == "23505":
        return True
    return isinstance(orig, sqlite3.IntegrityError) and "UNIQUE" in str(orig)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC instants on both dialects (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use the Clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Bytewise(FunctionElement[str]):
    """``Bytewise(expr)``: ``expr`` compared in code-point order, whatever collation the database was created with.

    A range ``prefix <= Bytewise(x) < successor(prefix)`` then holds exactly the values starting with ``prefix``,
    and an index on the same expression (migration 0012) serves it. SQLite compares text that way already.
    """

    type = String()
    inherit_cache = True
    name = "bytewise"


@compiles(Bytewise)
def _bytewise_sqlite(element: Bytewise, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(Bytewise, "postgresql")
def _bytewise_postgresql(element: Bytewise, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'
