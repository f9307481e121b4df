"""The business's rules as data: YAML in, validated pydantic out."""

from nightcrew.playbook.loader import load_playbook, sample_playbook_path
from nightcrew.playbook.schemas import Playbook

__all__ = ["Playbook", "load_playbook", "sample_playbook_path"]
