"""Errors that describe bad user input (files, flags, scenarios) rather than bugs.

Hierarchy (kept in this one place on purpose):

- ``RinglabInputError``: the user gave ringlab something it cannot use. ``.message``
  is complete, human-readable text that says what is wrong and how to fix it; a CLI
  prints it and exits non-zero, never a traceback.
  - ``ringlab.controller.scenario.ScenarioError``: a scenario file failed to load.

This module imports nothing so that agent and controller code can both use it.
"""

from __future__ import annotations


class RinglabInputError(Exception):
    """Bad input from the user; ``message`` is what to show them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
