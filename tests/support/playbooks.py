"""Variants of the sample playbook for tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from nightcrew.playbook import sample_playbook_path


def custom_playbook(
    folder: Path, edit: Callable[[dict[str, Any]], None] | None = None, templates: dict[str, str] | None = None
) -> Path:
    """Copy the sample playbook to ``folder``, apply ``edit`` to its data and overwrite some templates."""
    shutil.copytree(sample_playbook_path().parent, folder, dirs_exist_ok=True)
    path = folder / "playbook.yaml"
    if edit is not None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    for name, text in (templates or {}).items():
        (folder / "templates" / name).write_text(text, encoding="utf-8")
    return path
