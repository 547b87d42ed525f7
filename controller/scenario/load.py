"""Loading a scenario file: YAML with line numbers, the schema, then the rules; every
problem becomes one line of ``ScenarioError`` (file, line, field, what, the fix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ringlab.controller.scenario.messages import describe
from ringlab.controller.scenario.model import Scenario
from ringlab.controller.scenario.yaml_lines import YamlDocument, parse_input_yaml
from ringlab.errors import Problem, ScenarioError

EXAMPLE_HINT = "see scenarios/unidirectional.yaml for a complete example"


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; every failure is a ScenarioError."""
    return load_scenario_text(_read_text(path), str(path))


def load_scenario_text(text: str, source_name: str) -> Scenario:
    """Validate scenario YAML ``text``; ``source_name`` names it in error messages."""
    document = parse_input_yaml(text, source_name)
    _check_document(document, source_name)
    try:
        return Scenario.model_validate(document.data)
    except ValidationError as error:
        found = [describe(detail, Scenario) for detail in error.errors()]
    except ScenarioError as error:
        found = list(error.problems)
    located = [
        Problem(p.loc, p.text, document.line_for(p.loc, key=p.at_key), None, p.at_key)
        for p in found
    ]
    located.sort(key=lambda p: p.line or 0)
    raise ScenarioError(source_name, located) from None


def _check_document(document: YamlDocument, source: str) -> None:
    if document.data is None:
        raise ScenarioError(
            source,
            [
                Problem(
                    (),
                    "the file is empty (or holds only comments). A scenario needs version,"
                    f" name, mode, duration, hosts and flows; {EXAMPLE_HINT}.",
                    line=1,
                )
            ],
        )
    if not isinstance(document.data, dict):
        kind = "a list" if isinstance(document.data, list) else f"the value {document.data!r:.40}"
        raise ScenarioError(
            source,
            [
                Problem(
                    (),
                    f"the top level is {kind}, but a scenario is a mapping of keys like"
                    f" `version: 1` and `name: a-to-b`, one per line; {EXAMPLE_HINT}.",
                    line=document.line_for(()),
                )
            ],
        )


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        reason = "no such file. Check the path (scenarios live in scenarios/*.yaml)."
    except IsADirectoryError:
        reason = "this is a directory. Give the path of one scenario .yaml file."
    except PermissionError:
        reason = "permission denied. Make the file readable, or run as a user who can read it."
    except OSError as error:
        reason = f"cannot be read ({error.strerror or error}). Check the path and the disk."
    else:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise ScenarioError(
                str(path),
                [
                    Problem(
                        (),
                        f"byte 0x{raw[error.start]:02x} is not UTF-8 text. Save the file as"
                        " UTF-8 (is it a binary file, or in another encoding?).",
                        line=line,
                    )
                ],
            ) from None
    raise ScenarioError(str(path), [Problem((), reason)])
