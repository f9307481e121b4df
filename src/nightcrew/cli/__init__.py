"""The ``nightcrew`` command: thin commands that call services."""

from __future__ import annotations

import sys

from nightcrew.cli import core, models, ops  # noqa: F401  (registers the commands)
from nightcrew.cli.common import app, err
from nightcrew.errors import NightcrewError

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except NightcrewError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        sys.exit(1)
