"""Contact search: the start of any word of a name (accents and case aside), of an email or external id in any
case, or a phone however typed; served by the indexes of migrations 0012 and 0014 and correct on SQLite,
PostgreSQL, and PostgreSQL created with a non-C collation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from tests.conftest import PG_ADMIN, Env, _pg_available

from nightcrew.crm.models import Contact, Tenant
from nightcrew.crm.repository import ContactRepository, matching_ids, successor
from nightcrew.db import make_engine, make_session_factory, transaction
from nightcrew.migrations import upgrade

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PEOPLE = [
    # external id, name, email, phone
    ("hs-1001", "Ana Gómez", "ana.gomez@example.com", "+573001234567"),
    ("hs-1002", "Mariana Gómez", "mariana@example.com", "+573001112233"),
    ("hs-1020", "Anabel Ruiz", "a.ruiz@example.com", None),
    ("10293", "Luis Ana", "luis@example.com", "+5511987654321"),
    ("ab9x", "María López", "MARIA.LOPEZ@Example.com", None),
    ("ab:1", "Jorge Díaz", None, None),
    ("hs-2001", "ÁLVARO João da Silva-Pereira", None, None),
]


def add_people(sessions: sessionmaker[Session], tenant_id: int) -> None:
    with transaction(sessions) as session:
        repo = ContactRepository(session, tenant_id)
        for n, (external_id, name, email, phone) in enumerate(PEOPLE):
            repo.insert(
                Contact(
                    external_id=external_id,
                    name=name,
                    email=email,
                    phone=phone,
                    stage="new",
                    fields={},
                    created_at=NOW,
                    updated_at=NOW + timedelta(minutes=n),
                )
            )


def found(sessions: sessionmaker[Session], tenant_id: int, query: str) -> list[str]:
    with transaction(sessions) as session:
        repo = ContactRepository(session, tenant_id)
        ids = [c.external_id for c in repo.search(query, limit=50, offset=0)]
        assert repo.count(query) == len(ids)
        return ids


EXPECTED = {
    # names and emails with a word starting "ana", newest first; not Mariana
    "ana": ["10293", "hs-1020", "hs-1001"],
    "ANA G": ["hs-1001"],
    "ana.gomez@example.com": ["hs-1001"],
    "maria.": ["ab9x"],  # an email stored in mixed case
    "maría": ["ab9x", "hs-1002"],  # María López and Mariana, accents aside
    "maria lop": ["ab9x"],  # without the accent
    "gómez": ["hs-1002", "hs-1001"],  # a surname
    "GOMEZ": ["hs-1002", "hs-1001"],
    "diaz": ["ab:1"],
    "álvaro": ["hs-2001"],  # upper-case accented letters, which SQLite's lower() leaves alone
    "joao da": ["hs-2001"],
    "silva pereira": ["hs-2001"],  # a hyphen is a word break
    "pereira": ["hs-2001"],
    "hs-10": ["hs-1020", "hs-1002", "hs-1001"],
    "HS-1002": ["hs-1002"],
    "1029": ["10293"],
    "10293": ["10293"],
    "ab9": ["ab9x"],
    "ab:": ["ab:1"],
    "+57 300-111 2233": ["hs-1002"],
    "(55) 11 98765 4321": ["10293"],
    "omez": [],  # not a substring search
    "-": [],
    "zzz": [],
}


def test_search_by_prefix_in_any_case_and_by_phone(env: Env) -> None:
    add_people(env.container.sessions, env.tenant.id)
    other = env.container.ensure_tenant(f"{env.tenant.slug}o", "Other location")
    with transaction(env.container.sessions) as session:
        ContactRepository(session, other.id).insert(
            Contact(external_id="hs-1001", name="Ana Other", stage="new", fields={}, created_at=NOW, updated_at=NOW)
        )
    for query, expected in EXPECTED.items():
        assert found(env.container.sessions, env.tenant.id, query) == expected, query
    assert found(env.container.sessions, other.id, "ana") == ["hs-1001"]


def test_the_search_reads_its_indexes(env: Env) -> None:
    add_people(env.container.sessions, env.tenant.id)
    with transaction(env.container.sessions) as session:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            session.execute(text("SET LOCAL enable_seqscan = off"))  # six rows: make the planner show its options
        repo = ContactRepository(session, env.tenant.id)
        compiled = matching_ids(env.tenant.id, "ana").compile(
            session.get_bind(), compile_kwargs={"literal_binds": True}
        )
        explain = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
        plan = "\n".join(
            str(row[-1] if dialect == "sqlite" else row[0]) for row in session.execute(text(explain + str(compiled)))
        )
        assert repo.count("ana") == 3
    for index in ("ix_contact_search_terms_term", "ix_contacts_search_email", "ix_contacts_search_external_id"):
        assert index in plan, plan


def test_successor_is_the_first_string_after_a_prefix() -> None:
    assert successor("ab") == "ac"
    assert successor("a9") == "a:"
    assert successor("a\U0010ffff") == "b"
    assert successor("\U0010ffff") is None
    assert successor("a\ud7ff") == "a\ue000"
    assert successor("") is None


@pytest.fixture
def icu_database_url() -> Iterator[str]:
    """A PostgreSQL database whose default collation is ICU en-US, where ':' sorts before '9'."""
    reason = _pg_available()
    if reason is not None:
        pytest.skip(reason)
    name = f"nightcrew_icu_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        try:
            conn.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        except psycopg.Error as exc:
            pytest.skip(f"no ICU collations on this server: {exc}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_prefixes_hold_under_a_linguistic_collation(icu_database_url: str) -> None:
    upgrade(icu_database_url)
    engine = make_engine(icu_database_url, pool_size=1)
    try:
        sessions = make_session_factory(engine)
        with transaction(sessions) as session:
            # The range a prefix search reads would be empty in this collation's own order ("1029" < x < "102:").
            assert session.scalar(text("SELECT '10293' < '102:'")) is False
            tenant = Tenant(slug="icu", name="ICU", settings={}, created_at=NOW)
            session.add(tenant)
            session.flush()
            tenant_id = tenant.id
        add_people(sessions, tenant_id)
        for query, expected in EXPECTED.items():
            assert found(sessions, tenant_id, query) == expected, query
    finally:
        engine.dispose()


def test_a_renamed_contact_is_found_by_its_new_name_only(env: Env) -> None:
    container, tenant = env.container, env.tenant
    playbook = container.playbook(tenant)
    with transaction(container.sessions) as session:
        container.contacts.bulk_upsert(
            session,
            tenant.id,
            [{"external_id": "imp-1", "name": "Joana Prado"}, {"external_id": "imp-2", "name": "Caio Souza"}],
            now=NOW,
            playbook=playbook,
            source="test",
        )
    assert found(container.sessions, tenant.id, "prado") == ["imp-1"]
    with transaction(container.sessions) as session:
        # The same contact twice in one batch, renamed each time: the last name is the one searched.
        container.contacts.bulk_upsert(
            session,
            tenant.id,
            [
                {"external_id": "imp-1", "name": "Joana Brandão"},
                {"external_id": "imp-1", "name": "Joana Brandão Lima"},
                {"external_id": "imp-3", "name": "Rui Prado"},
                {"external_id": "imp-3", "name": "Rui Paiva"},
            ],
            now=NOW,
            playbook=playbook,
            source="test",
        )
    with transaction(container.sessions) as session:
        container.contacts.upsert(
            session,
            tenant.id,
            {"external_id": "imp-2", "name": "Caio Antunes"},
            now=NOW,
            playbook=playbook,
            stage=None,
            event_key="evt-rename",
        )
    assert found(container.sessions, tenant.id, "prado") == []
    assert found(container.sessions, tenant.id, "brandao lima") == ["imp-1"]
    assert found(container.sessions, tenant.id, "paiva") == ["imp-3"]
    assert found(container.sessions, tenant.id, "souza") == []
    assert found(container.sessions, tenant.id, "antunes") == ["imp-2"]


def test_migration_0014_indexes_the_contacts_already_there(fresh_database_url: str) -> None:
    upgrade(fresh_database_url, "0013")
    engine = make_engine(fresh_database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            tenant_id = conn.execute(
                text(
                    "INSERT INTO tenants (slug, name, settings, created_at) VALUES ('m', 'M', '{}', :at) RETURNING id"
                ),
                {"at": NOW},
            ).scalar_one()
            for n, name in enumerate(["Ana Gómez", None, "João da Silva", "  "]):
                conn.execute(
                    text(
                        "INSERT INTO contacts (tenant_id, external_id, name, consent, fields, stage, human_takeover,"
                        " created_at, updated_at) VALUES (:t, :x, :name, 'unknown', '{}', 'new', false, :at, :at)"
                    ),
                    {"t": tenant_id, "x": f"m-{n}", "name": name, "at": NOW + timedelta(minutes=n)},
                )
        upgrade(fresh_database_url)
        with engine.connect() as conn:
            terms = conn.execute(
                text(
                    "SELECT c.external_id, t.term FROM contact_search_terms t JOIN contacts c ON c.id = t.contact_id"
                    " ORDER BY c.external_id, t.term"
                )
            ).all()
        assert [tuple(row) for row in terms] == [
            ("m-0", "ana gomez"),
            ("m-0", "gomez"),
            ("m-2", "da silva"),
            ("m-2", "joao da silva"),
            ("m-2", "silva"),
        ]
        sessions = make_session_factory(engine)
        assert found(sessions, tenant_id, "silva") == ["m-2"]
    finally:
        engine.dispose()
