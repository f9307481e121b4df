"""SQLite statistics: gathered on demand (sampled), so the planner picks the indexes a growing table needs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from nightcrew.db import make_engine, refresh_statistics


def test_statistics_are_gathered_on_a_fresh_connection_and_empty_tables_record_none(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/stats.db")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE filled (a INTEGER, b INTEGER)"))
            connection.execute(text("CREATE INDEX ix_filled_a ON filled (a)"))
            connection.execute(text("CREATE TABLE empty (a INTEGER)"))
            connection.execute(text("CREATE INDEX ix_empty_a ON empty (a)"))
            connection.execute(text("INSERT INTO filled VALUES (:a, :b)"), [{"a": i, "b": i % 7} for i in range(3000)])
        refresh_statistics(engine)  # a new connection, which has queried nothing yet
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT tbl, idx FROM sqlite_stat1 ORDER BY tbl")).all()
        assert [tuple(r) for r in rows] == [("filled", "ix_filled_a")]
    finally:
        engine.dispose()
