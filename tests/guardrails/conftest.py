"""Fixtures for the guardrail tests: the sample playbook's policy and a fixed instant inside its hours."""

from __future__ import annotations

import pytest

from nightcrew.guardrails.policy import PolicySet
from nightcrew.playbook import Playbook, load_playbook


@pytest.fixture(scope="session")
def playbook() -> Playbook:
    """The bundled sample business (Aurora Kids Academy)."""
    return load_playbook()


@pytest.fixture(scope="session")
def policy(playbook: Playbook) -> PolicySet:
    """The sample playbook's guardrail inputs."""
    return PolicySet.from_playbook(playbook)
