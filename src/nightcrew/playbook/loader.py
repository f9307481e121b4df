"""Read a playbook YAML file and validate it, reporting errors by file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from nightcrew.errors import PlaybookError
from nightcrew.playbook.schemas import Playbook

SAMPLE_DIR = Path(__file__).parent / "sample"


def sample_playbook_path() -> Path:
    """The bundled sample business's playbook."""
    return SAMPLE_DIR / "playbook.yaml"


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to a 1-based line number."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _format_errors(path: Path, root: yaml.Node | None, error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(root, loc)
        where = f"{path}:{line}" if line else str(path)
        lines.append(f"{where}: {field}: {item['msg']}")
    return lines


def parse_playbook(text: str, path: Path) -> Playbook:
    """Validate playbook YAML text; ``path`` names it in errors and anchors its templates."""
    try:
        root = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PlaybookError(f"{path}: a playbook is a mapping of sections, got {type(data).__name__}")
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        problems = _format_errors(path, root, exc)
        raise PlaybookError(
            f"{path}: {len(problems)} problem(s) in the playbook:\n  " + "\n  ".join(problems),
            details=problems,
        ) from exc
    return playbook.model_copy(update={"base_dir": path.parent})


def load_playbook(path: Path | str | None = None) -> Playbook:
    """Load and validate a playbook file (the bundled sample when ``path`` is None)."""
    resolved = Path(path) if path else sample_playbook_path()
    try:
        text = resolved.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlaybookError(f"cannot read playbook {resolved}: {exc.strerror or exc}") from exc
    playbook = parse_playbook(text, resolved)
    missing = _missing_templates(playbook)
    if missing:
        raise PlaybookError(
            f"{resolved}: templates missing under {playbook.template_dir()}: " + ", ".join(missing),
            details=missing,
        )
    return playbook


def _missing_templates(playbook: Playbook) -> list[str]:
    missing = []
    folder = playbook.template_dir()
    for plan in playbook.message_plans:
        languages = [plan.when.language] if plan.when.language else playbook.languages
        for language in languages:
            for template in plan.templates():
                if not (folder / language / f"{template}.j2").is_file():
                    missing.append(f"{language}/{template}.j2 (plan {plan.name})")
    return missing
