"""Team assignment: the playbook's rules in order, the default team, and what always reaches a person (pure)."""

from __future__ import annotations

import pytest

from nightcrew.crm.assignment import assign_team
from nightcrew.playbook import load_playbook
from nightcrew.playbook.schemas import Playbook


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return load_playbook()


def test_the_first_matching_rule_wins_and_says_which(playbook: Playbook) -> None:
    pt_cancel = assign_team(playbook, intent="cancel", segment="warm", language="pt", country="BR")
    assert (pt_cancel.team, pt_cancel.rule, pt_cancel.handoff) == ("admissions-pt", 1, False)
    assert pt_cancel.reason == "rule 2 (intent=cancel, language=pt) -> admissions-pt"
    es_cancel = assign_team(playbook, intent="cancel", segment="warm", language="es", country="CO")
    assert (es_cancel.team, es_cancel.rule) == ("support", 2)


def test_no_rule_matched_goes_to_the_default_team(playbook: Playbook) -> None:
    result = assign_team(playbook, intent="pricing", segment="hot", language="es", country="MX")
    assert (result.team, result.rule, result.handoff) == ("admissions-es", None, False)
    assert result.reason == "no rule matched: default team admissions-es"


def test_a_country_rule_routes_a_brazilian_writing_in_spanish(playbook: Playbook) -> None:
    assert assign_team(playbook, intent="pricing", segment=None, language="es", country="BR").team == "admissions-pt"


@pytest.mark.parametrize("intent", ["human", "complaint"])
def test_human_and_complaint_reach_a_person_even_when_the_playbook_forgets_them(
    playbook: Playbook, intent: str
) -> None:
    assert playbook.assignment is not None
    careless = playbook.model_copy(
        update={"assignment": playbook.assignment.model_copy(update={"always_human": [], "rules": []})}
    )
    assert assign_team(careless, intent=intent, segment=None, language="es", country="CO").handoff
    no_rules = playbook.model_copy(update={"assignment": None})
    assert assign_team(no_rules, intent=intent, segment=None, language="es", country="CO").handoff
    assert not assign_team(no_rules, intent="pricing", segment=None, language="es", country="CO").handoff
