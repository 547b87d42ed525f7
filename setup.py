"""Package discovery for the mapped layout (the rest of the metadata is in pyproject.toml).

The tree shows the architecture (agent/, controller/, proto/) while the installed
package is one namespace: ringlab.agent, ringlab.controller, ringlab.v1. setuptools'
own discovery cannot map directories to other names, so every directory with an
__init__.py under a mapped root becomes a package here: a new subpackage is in the
wheel without anyone listing it (a hand-made list once left out ringlab.controller.commands).
"""

from pathlib import Path

from setuptools import setup

ROOTS = {
    "ringlab": "ringlab",
    "ringlab.agent": "agent",
    "ringlab.controller": "controller",
    "ringlab.v1": "proto/ringlab/v1",
}


def discover() -> list[str]:
    here = Path(__file__).parent
    packages = []
    for name, directory in ROOTS.items():
        root = here / directory
        for init in sorted(root.rglob("__init__.py")):
            relative = init.parent.relative_to(root).parts
            packages.append(".".join((name, *relative)))
    return packages


setup(packages=discover(), package_dir=ROOTS)
