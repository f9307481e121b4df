"""Pure policy checks over a draft message: no I/O, only verdicts with reasons."""
