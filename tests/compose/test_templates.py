import pytest

from nightcrew.compose.plans import pick_plan
from nightcrew.compose.templates import TemplateComposer, first_name
from nightcrew.errors import ConfigurationError
from nightcrew.playbook import load_playbook

PLAYBOOK = load_playbook()
CONTACT = {"name": "maría josé", "fields": {"child_age": 9, "inquiry_type": "coding_course"}}


@pytest.mark.parametrize(
    ("segment", "stage", "expected"),
    [
        ("hot", "new", "first_touch_hot"),
        ("warm", "new", "first_touch_warm"),
        ("cold", "new", "first_touch_cold"),
        ("hot", "trial_booked", "trial_confirmation"),
        ("hot", "engaged", "first_touch_default"),
    ],
)
def test_most_specific_plan_wins(segment: str, stage: str, expected: str) -> None:
    assert pick_plan(PLAYBOOK, purpose="outreach", segment=segment, stage=stage, language="es").name == expected


def test_templates_differ_by_segment_and_speak_the_language() -> None:
    composer = TemplateComposer(PLAYBOOK)
    hot = composer.render("first_touch_hot", "p", "es", CONTACT).text
    warm = composer.render("first_touch_warm", "p", "es", CONTACT).text
    pt = composer.render("first_touch_hot", "p", "pt", CONTACT).text
    assert hot != warm
    assert "clase de prueba" in hot and "agendar" in hot
    assert "programación" in hot and "9 años" in hot
    assert "aula experimental" in pt and "programação" in pt
    assert hot.startswith("¡Hola María!")


def test_missing_fields_read_naturally() -> None:
    text = TemplateComposer(PLAYBOOK).render("first_touch_warm", "p", "en", {"name": None, "fields": {}}).text
    assert text.startswith("Hi, thanks")
    assert "how old is your child" in text


def test_unknown_template_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        TemplateComposer(PLAYBOOK).render("nope", "p", "es", CONTACT)


def test_first_name() -> None:
    assert first_name("  ana maria ") == "Ana"
    assert first_name(None) == ""
