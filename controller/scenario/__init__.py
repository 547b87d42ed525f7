"""Scenario files: the schema (pydantic, strict) and ``load_scenario``.

A scenario says which hosts send which flows to whom, in which mode, for how long and
what counts as a pass. Values keep their parsed form: durations are integer
nanoseconds, rates are ``units.Rate``, percentages are fractions.

Checks that involve several fields (a flow's host must be in ``hosts``, a unidirectional
scenario has one direction, ...) live in ``rule_problems`` and run after the per-field
checks, so a file with type errors is reported in full before the rules are applied.

Every problem the user can cause surfaces as ``ScenarioError`` (one line per problem:
file, line, field, what is wrong, how to fix it).
"""

from __future__ import annotations

from ringlab.controller.scenario.load import load_scenario, load_scenario_text
from ringlab.controller.scenario.model import (
    Expect,
    Flow,
    Host,
    Scenario,
    StrictModel,
    TimeSlice,
    flow_names,
)
from ringlab.controller.scenario.rules import rule_problems
from ringlab.errors import Problem, ScenarioError

__all__ = [
    "Expect",
    "Flow",
    "Host",
    "Problem",
    "Scenario",
    "ScenarioError",
    "StrictModel",
    "TimeSlice",
    "flow_names",
    "load_scenario",
    "load_scenario_text",
    "rule_problems",
]
