"""How serious a finding is: one scale for host quirks, preflight findings and diagnoses.

The agent rates host quirks (ringlab.probe_model), preflight rates what it found
before traffic (controller.checks.preflight), diagnosis rates what a run's numbers
show (controller.store.results.Diagnosis); all three use this scale so a view
can style and order them alike.
"""

from __future__ import annotations

from typing import Literal

Severity = Literal["info", "warning", "error"]
# Most serious last: sort by SEVERITIES.index(...) reversed to list errors first.
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")
