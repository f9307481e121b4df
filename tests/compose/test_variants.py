"""A/B variants: one per contact and plan, the same every time, spread by weight; follow-ups and replies use them
too, and the message and its audit action record which one went out."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from dbos import DBOS
from sqlalchemy import select
from tests.conftest import Env
from tests.support.events import lead, message
from tests.support.playbooks import custom_playbook

from nightcrew.bootstrap import TenantRef
from nightcrew.channels.models import Message
from nightcrew.compose.plans import assign_variant, plan_copy
from nightcrew.crm.models import Contact
from nightcrew.db import transaction
from nightcrew.observe.models import Action
from nightcrew.playbook import load_playbook
from nightcrew.playbook.schemas import MessagePlan, Variant
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.sweeps import run_sweep


def plan(name: str, *variants: tuple[str, int]) -> MessagePlan:
    return MessagePlan(
        name=name,
        template="base",
        variants=[Variant(name=v, template=f"tpl_{v}", weight=w) for v, w in variants],
    )


def test_a_contact_gets_the_same_variant_every_time() -> None:
    nudge = plan("nudge", ("short", 1), ("long", 1))
    first = [assign_variant(nudge, f"contact-{i}") for i in range(200)]
    again = [assign_variant(nudge, f"contact-{i}") for i in range(200)]
    assert first == again
    # A copy of the plan (the playbook loaded again, another process) assigns the same way.
    copy = plan("nudge", ("short", 1), ("long", 1))
    assert [assign_variant(copy, f"contact-{i}") for i in range(200)] == first
    assert {v.name for v in first if v is not None} == {"short", "long"}


def test_assignment_is_per_plan() -> None:
    one, other = plan("one", ("a", 1), ("b", 1)), plan("other", ("a", 1), ("b", 1))
    pairs = [(assign_variant(one, f"c{i}"), assign_variant(other, f"c{i}")) for i in range(400)]
    differing = sum(1 for x, y in pairs if x is not None and y is not None and x.name != y.name)
    # Independent hashes: about half the contacts are in different arms of the two tests.
    assert 150 <= differing <= 250


def test_a_population_splits_by_the_weights() -> None:
    weighted = plan("weighted", ("control", 3), ("challenger", 1))
    counts = Counter(v.name for i in range(20_000) if (v := assign_variant(weighted, f"lead-{i:05d}")) is not None)
    assert counts.keys() == {"control", "challenger"}
    assert abs(counts["control"] / 20_000 - 0.75) < 0.015
    three = plan("three", ("a", 1), ("b", 1), ("c", 2))
    split = Counter(v.name for i in range(20_000) if (v := assign_variant(three, f"x{i}")) is not None)
    assert all(abs(split[k] / 20_000 - share) < 0.015 for k, share in (("a", 0.25), ("b", 0.25), ("c", 0.5)))


def test_plan_copy_without_variants_is_the_plans_template() -> None:
    assert plan_copy(plan("plain"), "c1") == {"template": "base", "variant": None}
    chosen = plan_copy(plan("ab", ("x", 1), ("y", 1)), "c1")
    assert chosen["variant"] in ("x", "y") and chosen["template"] == f"tpl_{chosen['variant']}"


# Through the workflows ------------------------------------------------------------------------------------


def with_variants(data: dict[str, Any]) -> None:
    variants = {
        "followup_nudge": [
            {"name": "nudge_question", "template": "followup_nudge"},
            {"name": "nudge_link", "template": "followup_booking_link"},
        ],
        "reply_schedule": [
            {"name": "times_only", "template": "reply_schedule"},
            {"name": "times_and_trial", "template": "reply_booking"},
        ],
    }
    for item in data["message_plans"]:
        if item["name"] in variants:
            item["variants"] = variants[item["name"]]


def ab_tenant(env: Env, tmp_path: Path) -> tuple[TenantRef, Path]:
    path = custom_playbook(tmp_path / "pb", with_variants)
    return env.container.ensure_tenant(f"{env.tenant.slug}ab", "A/B Academy", path), path


def run(env: Env, tenant: TenantRef, *events: dict[str, Any]) -> list[dict[str, Any]]:
    report = ingest(env.container, tenant, list(events), source="test")
    assert not report.rejected, report.rejected
    return [DBOS.retrieve_workflow(e.workflow_id).get_result() for e in report.accepted]


def one_contact_per_variant(plan: MessagePlan, prefix: str) -> dict[str, str]:
    """An external id that lands in each variant of ``plan``."""
    chosen: dict[str, str] = {}
    for i in range(100):
        variant = assign_variant(plan, f"{prefix}-{i}")
        assert variant is not None
        chosen.setdefault(variant.name, f"{prefix}-{i}")
    assert len(chosen) == len(plan.variants)
    return chosen


def messages_of(env: Env, tenant: TenantRef, purpose: str) -> dict[str, dict[str, Any]]:
    """Per contact, its last message of ``purpose`` and the message.composed action of its workflow."""
    with transaction(env.container.sessions) as session:
        rows = session.execute(
            select(Contact.external_id, Message)
            .join(Contact, Contact.id == Message.contact_id)
            .where(Message.tenant_id == tenant.id, Message.purpose == purpose)
            .order_by(Message.id)
        ).all()
        found = {}
        for external_id, msg in rows:
            composed = session.scalars(
                select(Action).where(
                    Action.tenant_id == tenant.id,
                    Action.workflow_id == msg.workflow_id,
                    Action.kind == "message.composed",
                )
            ).all()
            found[external_id] = {
                "status": msg.status,
                "plan": msg.plan,
                "template": msg.template,
                "variant": msg.variant,
                "composed": [(a.input or {}).get("variant") for a in composed],
            }
        return found


def outbox_variants(env: Env, purpose: str) -> dict[str, str | None]:
    lines = [json.loads(line) for line in env.outbox.read_text().splitlines()]
    return {m["contact_external_id"]: m["metadata"]["variant"] for m in lines if m["purpose"] == purpose}


def test_a_follow_up_message_records_its_variant(env: Env, tmp_path: Path) -> None:
    tenant, path = ab_tenant(env, tmp_path)
    nudge = load_playbook(path).plan("followup_nudge")
    contacts = one_contact_per_variant(nudge, f"{tenant.slug}-fu")
    for n, external_id in enumerate(sorted(contacts.values())):
        run(env, tenant, lead(f"fu-lead-{n}", external_id, phone=f"+57300123450{n}"))
    env.clock.advance(timedelta(hours=48))
    results = run_sweep(env.container, tenant_id=tenant.id).wait()
    assert sorted(r["path"] for r in results) == ["gentle_nudge", "gentle_nudge"], results

    followups = messages_of(env, tenant, "followup")
    template_of = {v.name: v.template for v in nudge.variants}
    for variant, external_id in contacts.items():
        assert followups[external_id] == {
            "status": "sent",
            "plan": "followup_nudge",
            "template": template_of[variant],
            "variant": variant,
            "composed": [variant],
        }
    assert outbox_variants(env, "followup") == {external_id: variant for variant, external_id in contacts.items()}


def test_replies_use_the_contacts_variant_every_time(env: Env, tmp_path: Path) -> None:
    tenant, path = ab_tenant(env, tmp_path)
    reply_plan = load_playbook(path).plan("reply_schedule")
    contacts = one_contact_per_variant(reply_plan, f"{tenant.slug}-re")
    template_of = {v.name: v.template for v in reply_plan.variants}
    for n, (variant, external_id) in enumerate(sorted(contacts.items())):
        run(env, tenant, lead(f"re-lead-{n}", external_id, phone=f"+57300765430{n}"))
        for turn in range(2):
            env.clock.advance(timedelta(minutes=10))
            text = "a que horas son las clases?" if turn == 0 else "y que dias hay clases?"
            [result] = run(
                env, tenant, message(f"re-{n}-{turn}", external_id, text, occurred_at=env.clock.now().isoformat())
            )
            assert result["intent"] == "schedule", result
            [last] = [m for m in messages_of(env, tenant, "reply").items() if m[0] == external_id]
            assert last[1]["variant"] == variant and last[1]["template"] == template_of[variant]
            assert last[1]["composed"] == [variant]
    with transaction(env.container.sessions) as session:
        per_contact = session.execute(
            select(Contact.external_id, Message.variant)
            .join(Contact, Contact.id == Message.contact_id)
            .where(Message.tenant_id == tenant.id, Message.purpose == "reply")
        ).all()
    assert sorted(per_contact) == sorted((external_id, v) for v, external_id in contacts.items() for _ in range(2))
