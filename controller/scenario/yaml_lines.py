"""Load YAML safely and remember where every key and value came from.

``parse_yaml(text)`` returns the plain data plus a map from a path (``("flows", "0",
"rate")``, every part as text) to the line of that key and of its value, so a later
validation error can point at the exact line. Duplicate keys, which YAML would let
pass silently with the last one winning, are rejected. Any problem is a ``YamlProblem``
with a line, a column and plain words, never a library exception.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ringlab.errors import Problem, ScenarioError

# Spots are recorded this deep; deeper nodes report their nearest recorded ancestor.
_MAX_DEPTH = 12
# Deeper documents are refused outright: a scenario needs four or five levels.
_MAX_NESTING = 64

# Pieces of the parser's wording (libyaml's or PyYAML's), with what a user should do.
_HINTS: tuple[tuple[str, str], ...] = (
    (
        "mapping values are not allowed",
        "a ':' appeared where a value was expected; quote the value, or check the"
        " indentation of this line",
    ),
    ("tab character", "a tab is used for indentation; YAML needs spaces"),
    ("character '\\t'", "a tab is used for indentation; YAML needs spaces"),
    (
        "cannot start any token",
        "this character cannot start a value; a tab used for indentation (YAML needs spaces)"
        " or an unquoted @ or ` does this",
    ),
    ("could not find expected ':'", "a key is missing its ':' (or a quote was never closed)"),
    ("did not find expected key", "check the indentation of this line against the one above"),
    ("unexpected end of stream", "the file ends inside a quoted string or a bracket"),
    (
        "expected a single document",
        "the file holds several YAML documents (separated by ---); keep one scenario per file",
    ),
)


def _hint(text: str | None) -> str | None:
    if not text:
        return None
    return next((hint for piece, hint in _HINTS if piece in text), None)


@dataclass(frozen=True)
class Spot:
    """Where a key and its value start, 1-based lines."""

    key_line: int | None
    value_line: int


class YamlProblem(Exception):
    """The text is not usable YAML; ``line``/``column`` are 1-based."""

    def __init__(self, line: int, column: int | None, text: str) -> None:
        super().__init__(text)
        self.line = line
        self.column = column
        self.text = text


@dataclass
class YamlDocument:
    data: object
    spots: dict[tuple[str, ...], Spot] = field(default_factory=dict)

    def line_for(self, path: Sequence[object], *, key: bool = False) -> int:
        """Line of ``path`` (its key when ``key``), else of the nearest ancestor that has one."""
        parts = tuple(str(p) for p in path)
        for end in range(len(parts), -1, -1):
            spot = self.spots.get(parts[:end])
            if spot is not None:
                if key and end == len(parts) and spot.key_line is not None:
                    return spot.key_line
                return spot.value_line
        return 1


class _Plain(yaml.MarkedYAMLError):
    """Problems whose text is already complete and is not a syntax error."""


class _DuplicateKey(_Plain):
    pass


# libyaml's parser is ~20x faster than the pure-Python one; both give the same nodes.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that rejects a key repeated within one mapping."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, object]:
        first_line: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # merged keys are meant to be overridden
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first_line.get(key)
            except TypeError:
                continue  # unhashable: the base class reports it with a mark
            if earlier is not None:
                raise _DuplicateKey(
                    problem=(
                        f"duplicate key {key!r} (first given on line {earlier}); YAML would"
                        " silently keep only the last one, so remove one of them"
                    ),
                    problem_mark=key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
        mapping: dict[Hashable, object] = super().construct_mapping(node, deep=deep)
        return mapping

    def construct_object(self, node: Node, deep: bool = False) -> object:
        # PyYAML's scalar constructors raise bare ValueError (a date like 2024-13-45,
        # `!!int abc`); give those the node's position like every other YAML error.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as error:
            raise _BadValue(
                problem=f"{node.value!r:.60} cannot be read as {node.tag.rsplit(':', 1)[-1]}"
                f" ({error}); quote it if it is meant as text",
                problem_mark=node.start_mark,
            ) from None


class _BadValue(_Plain):
    pass


def _problem_text(error: yaml.MarkedYAMLError) -> str:
    problem = error.problem or error.context or "the text is not valid YAML"
    if isinstance(error, _Plain):
        return problem + "."
    if isinstance(error, yaml.constructor.ConstructorError) and "tag" in problem:
        return (
            f"{problem}. Scenarios hold plain values only (text, numbers, lists, mappings);"
            " remove the tag."
        )
    if error.context and "single document" in error.context:
        return f"YAML syntax error: {_hint(error.context)}."
    hint = _hint(problem)
    text = f"YAML syntax error: {problem}"
    if hint:
        text += f" ({hint})"
    if error.context and error.context_mark is not None and error.problem:
        text += f"; {error.context} that starts on line {error.context_mark.line + 1}"
    return text + "."


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document; raises YamlProblem with a line and column on any failure."""
    loader: _StrictLoader | None = None
    try:
        _check_nesting(text)
        loader = _StrictLoader(text)
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, None)
        raise YamlProblem(line, column, _problem_text(error)) from None
    except yaml.reader.ReaderError as error:
        raise YamlProblem(
            *_reader_position(error, text),
            f"the text holds the control character U+{error.character:04X}, which YAML does"
            " not allow. Remove it (is this really a text file?).",
        ) from None
    except yaml.YAMLError as error:
        raise YamlProblem(1, None, f"the text is not valid YAML ({error}).") from None
    except RecursionError:
        raise YamlProblem(1, None, "the YAML is nested too deeply to be a scenario.") from None
    finally:
        if loader is not None:
            loader.dispose()
    document = YamlDocument(data)
    if node is not None:
        _record(node, document.spots)
    return document


def parse_input_yaml(
    text: str, source: str, error: type[ScenarioError] = ScenarioError
) -> YamlDocument:
    """parse_yaml for an input file (scenario, suite, inventory): a YAML problem becomes
    ``error`` naming ``source``, the line and the column."""
    try:
        return parse_yaml(text)
    except YamlProblem as problem:
        raise error(source, [Problem((), problem.text, problem.line, problem.column)]) from None


def _too_deep(line: int, column: int | None) -> YamlProblem:
    return YamlProblem(
        line,
        column,
        f"the YAML is nested more than {_MAX_NESTING} levels deep here;"
        " a scenario needs only a few levels. Check the brackets and indentation.",
    )


_NODE_STARTS = frozenset(":-[{,?")


def _check_flow_nesting(text: str) -> None:
    """Reject ``[[[[...`` past our limit from the raw text, before any YAML parser runs.

    Parsers have limits of their own that differ by version (PyYAML 6.0.4 stops at
    1000 flow levels with its own words, libyaml's composer overflowed the C stack);
    ours must answer first, the same way whatever the parser. Counts brackets where a
    node can start, outside quotes and comments.
    """
    depth = 0
    line, column = 1, 0
    previous = "\n"  # the last character that is not a space or tab
    raw_previous = "\n"
    quote = ""
    comment = False
    plain = False  # inside a block-context plain scalar, where brackets are text
    for char in text:
        column += 1
        if char == "\n":
            line, column, comment, plain = line + 1, 0, False, False
            previous = raw_previous = "\n"
            continue
        if comment:
            continue
        if quote:
            if char == quote:
                quote = ""
            previous = raw_previous = char
            continue
        node_starts_here = not plain and (previous == "\n" or previous in _NODE_STARTS)
        if (plain and char == ":") or (char in " \t" and previous == ":"):
            plain = False
        if char in "'\"" and node_starts_here:
            quote = char
        elif char == "#" and raw_previous in " \t\n":
            comment = True
            continue
        elif char in "[{" and node_starts_here:
            depth += 1
            if depth > _MAX_NESTING:
                raise _too_deep(line, column)
        elif char in "]}" and depth:
            depth -= 1
        elif depth == 0 and node_starts_here and char not in " \t-?:,":
            plain = True
        raw_previous = char
        if char not in " \t":
            previous = char


def _check_nesting(text: str) -> None:
    """Reject deep nesting before the parser's own limits or libyaml's recursive composer
    (which has no depth limit and overflows the C stack on ``[[[[...`` 100k deep):
    flow brackets from the raw text, then block nesting from the event stream."""
    _check_flow_nesting(text)
    depth = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > _MAX_NESTING:
                mark = event.start_mark
                raise _too_deep(mark.line + 1 if mark else 1, mark.column + 1 if mark else None)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _reader_position(error: yaml.YAMLError, text: str) -> tuple[int, int | None]:
    position = getattr(error, "position", None)
    if isinstance(position, int):
        before = text[:position]
        return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1
    return 1, None


def _record(root: Node, spots: dict[tuple[str, ...], Spot]) -> None:
    """Fill ``spots`` for every key and item under ``root``, iteratively."""
    seen: set[int] = set()
    stack: list[tuple[Node, tuple[str, ...], int | None]] = [(root, (), None)]
    while stack:
        node, path, key_line = stack.pop()
        spots.setdefault(path, Spot(key_line, node.start_mark.line + 1))
        # Aliases share nodes: visit each once so `&a [*a, *a]` chains stay linear.
        if id(node) in seen or len(path) >= _MAX_DEPTH:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    continue
                line = key_node.start_mark.line + 1
                text = str(key_node.value)
                if key_node.tag == "tag:yaml.org,2002:bool":
                    # `no:` reaches validation as False; let either spelling find the line.
                    as_bool = str(yaml.SafeLoader.bool_values.get(text.lower(), text))
                    spots.setdefault((*path, as_bool), Spot(line, value_node.start_mark.line + 1))
                stack.append((value_node, (*path, text), line))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                stack.append((item, (*path, str(index)), None))
