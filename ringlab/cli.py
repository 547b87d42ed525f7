"""The `ringlab` console script: `ringlab agent ...` runs the agent, everything else the controller.

The two sides are imported lazily so an agent host never loads controller code.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["agent"]:
        from ringlab.agent.cli import main as agent_main

        return agent_main(args[1:])
    from ringlab.controller.cli import main as controller_main

    return controller_main(args)
