"""The `ringlab` console script: `ringlab agent ...` runs the agent, everything else the controller.

The two sides are imported lazily so an agent host never loads controller code.
"""

from __future__ import annotations

import os
import signal
import sys

_HANDLER_OWNER = 0  # the pid that installed _terminate_like_ctrl_c


def _terminate_like_ctrl_c(signum: int, frame: object) -> None:
    if os.getpid() != _HANDLER_OWNER:
        # A forked helper (pyroute2 forks one per namespace it enters) inherited this
        # handler; raising KeyboardInterrupt there would run a copy of the controller's
        # cleanup in the child (it removed a lab's namespaces while the lab was made).
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    # SIGTERM (timeout(1), CI, systemd) gets the same orderly stop as Ctrl-C: traffic
    # stopped and collected, the run stored as aborted, a temporary lab removed.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # Started in the background by a shell (SIGINT ignored): no Ctrl-C to route it
        # through, so interrupt directly rather than not at all.
        raise KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)


# What only the controller imports (the `controller` extra); the agent needs none of it.
CONTROLLER_MODULES = (
    "asyncssh",
    "yaml",
    "pydantic",
    "rich",
    "jinja2",
    "matplotlib",
    "cryptography",
)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["agent"]:
        from ringlab.agent.cli import main as agent_main

        return agent_main(args[1:])
    if args == ["--version"]:
        from ringlab import __version__

        print(f"ringlab {__version__}")
        return 0
    try:
        from ringlab.controller.cli import main as controller_main
    except ModuleNotFoundError as exc:
        if exc.name not in CONTROLLER_MODULES:
            raise
        # An agent-only install (a lab host deployed by `ringlab deploy`, or `pip install
        # ringlab` without the extra): say what is missing instead of a traceback.
        print(
            f"ringlab: this install has the agent only (no module {exc.name!r}); "
            "`ringlab agent serve` works, the other commands need the controller: "
            "pip install 'ringlab[controller]' (or scripts/install from a checkout)",
            file=sys.stderr,
        )
        return 2
    return controller_main(args)


def console_main() -> int:
    """The `ringlab` command (console script and `python -m ringlab`).

    Process-wide signal handling lives here, not in `main`, which tests and other
    programs call in-process: their own processes (and anything they fork) must keep
    their handlers.
    """
    global _HANDLER_OWNER
    if sys.argv[1:2] != ["agent"]:  # the agent handles SIGTERM itself
        _HANDLER_OWNER = os.getpid()
        signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    return main()
