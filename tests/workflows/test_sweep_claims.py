"""The cold-lead sweep claims due follow-ups set-based: two sweeps at once split the due set, each row goes to one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from dbos import DBOS
from sqlalchemy import select
from tests.conftest import Env
from tests.support.events import lead

from nightcrew.crm.models import Contact, FollowUp
from nightcrew.crm.repository import DueFollowUps
from nightcrew.db import transaction
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.followup import followup_workflow_id
from nightcrew.workflows.sweeps import run_sweep

T = TypeVar("T")


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Run the calls in threads released together; their results in order (an exception fails the test)."""
    barrier = threading.Barrier(len(calls))
    results: list[T | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


def due_followups(env: Env, n: int) -> list[int]:
    """``n`` contacts, each with a cold check that fell due a minute ago (plus one due later, never claimed)."""
    now = env.clock.now()
    with transaction(env.container.sessions) as session:
        contacts = [
            Contact(tenant_id=env.tenant.id, external_id=f"due-{i}", stage="new", created_at=now, updated_at=now)
            for i in range(n + 1)
        ]
        session.add_all(contacts)
        session.flush()
        rows = [
            FollowUp(
                tenant_id=env.tenant.id,
                contact_id=c.id,
                kind="cold_check",
                due_at=now - timedelta(minutes=1) if i < n else now + timedelta(hours=1),
                status="pending",
                step_index=0,
                created_at=now,
                updated_at=now,
            )
            for i, c in enumerate(contacts)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows[:n]]


def test_two_concurrent_claimers_split_the_due_set_and_each_row_goes_to_one(env: Env) -> None:
    due = due_followups(env, 1_000)
    now = env.clock.now()

    def sweep() -> list[int]:
        mine: list[int] = []
        while True:
            with transaction(env.container.sessions) as session:
                batch = DueFollowUps(session).claim_due(now, 100, followup_workflow_id, env.tenant.id)
            mine += [f.id for f in batch.claimed]
            assert all(f.workflow_id == followup_workflow_id(f.id, 0, "cold_check") for f in batch.claimed)
            if batch.found < 100:
                return mine

    first, second = at_once(sweep, sweep)
    assert len(first) + len(second) == len(due)  # nobody claimed a row twice, within or across sweeps
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == set(due)
    with transaction(env.container.sessions) as session:
        rows = session.execute(
            select(FollowUp.id, FollowUp.status, FollowUp.workflow_id).where(FollowUp.tenant_id == env.tenant.id)
        ).all()
    claimed = {r.id: (r.status, r.workflow_id) for r in rows if r.id in set(due)}
    assert claimed == {i: ("running", f"followup:{i}:cold") for i in due}
    assert [(r.status, r.workflow_id) for r in rows if r.id not in set(due)] == [("pending", None)]  # not due yet


def test_two_concurrent_sweeps_start_each_due_workflow_once_and_a_repeat_starts_nothing(env: Env) -> None:
    ingest(env.container, env.tenant, [lead(f"sw{i}", f"cs{i}") for i in range(9)], source="test")
    for i in range(9):
        DBOS.retrieve_workflow(f"{env.tenant.slug}:sw{i}").get_result()
    env.clock.advance(timedelta(hours=48))  # every lead went cold: nine cold checks are due
    first, second = at_once(
        lambda: run_sweep(env.container, tenant_id=env.tenant.id, batch=2),
        lambda: run_sweep(env.container, tenant_id=env.tenant.id, batch=2),
    )
    ids_first = {h.get_workflow_id() for h in first.handles}
    ids_second = {h.get_workflow_id() for h in second.handles}
    with transaction(env.container.sessions) as session:
        expected = {
            f"followup:{f.id}:cold"
            for f in session.scalars(select(FollowUp).where(FollowUp.tenant_id == env.tenant.id)).all()
        }
    assert len(expected) == 9
    assert ids_first.isdisjoint(ids_second) and ids_first | ids_second == expected
    assert first.followups + second.followups == 9
    results = first.wait() + second.wait()
    assert sorted(r["reason"] for r in results) == ["no_response"] * 9
    again = run_sweep(env.container, tenant_id=env.tenant.id, batch=2)
    assert again.followups == 0 and again.handles == []
