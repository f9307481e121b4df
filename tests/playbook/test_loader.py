from pathlib import Path

import pytest

from nightcrew.errors import PlaybookError
from nightcrew.playbook import load_playbook, sample_playbook_path
from nightcrew.playbook.loader import parse_playbook


def test_sample_playbook_validates_with_every_template() -> None:
    playbook = load_playbook()
    assert playbook.business.name == "Aurora Kids Academy"
    assert playbook.languages == ["es", "pt", "en"]
    assert playbook.segment_for_probability(0.9) == "hot"
    assert playbook.segment_for_probability(0.2) == "warm"
    assert playbook.segment_for_probability(0.01) == "cold"


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    text = sample_playbook_path().read_text(encoding="utf-8")
    broken = text.replace('start: "09:00"', 'strat: "09:00"').replace("kind: won", "kind: winner")
    with pytest.raises(PlaybookError) as info:
        parse_playbook(broken, tmp_path / "playbook.yaml")
    problems = info.value.details
    assert any("hours.strat" in p and "Extra inputs" in p for p in problems)
    assert any("stages.6.kind" in p for p in problems)
    line_of_typo = next(i for i, line in enumerate(broken.splitlines(), 1) if "strat:" in line)
    assert any(p.startswith(f"{tmp_path / 'playbook.yaml'}:{line_of_typo}:") for p in problems)


def test_unknown_reference_is_rejected(tmp_path: Path) -> None:
    text = (
        sample_playbook_path().read_text(encoding="utf-8").replace("default_segment: warm", "default_segment: lukewarm")
    )
    with pytest.raises(PlaybookError, match="default_segment 'lukewarm' is not one of the segments"):
        parse_playbook(text, tmp_path / "p.yaml")


def test_missing_template_is_reported(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(sample_playbook_path().parent, tmp_path / "pb")
    (tmp_path / "pb" / "templates" / "pt" / "first_touch_hot.j2").unlink()
    with pytest.raises(PlaybookError, match=r"pt/first_touch_hot\.j2"):
        load_playbook(tmp_path / "pb" / "playbook.yaml")


def test_not_yaml_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="not valid YAML"):
        parse_playbook("business: [unclosed", tmp_path / "p.yaml")
