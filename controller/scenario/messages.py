"""Turn one pydantic error into a ``Problem`` a person can act on.

Field parsers already write their own text (error type ``ringlab``); what remains are
structural errors: unknown keys, missing keys and a mapping/list where something else
was expected. The schema models are passed in, so this module does not depend on them.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from ringlab.controller.scenario.fields import closest, show
from ringlab.errors import Loc, Problem

# What to write for a missing key, by key name.
_EXAMPLES: dict[str, str] = {
    "version": "version: 1",
    "name": "name: a-to-b",
    "hosts": "hosts: {a: {}, b: {}}",
    "flows": "flows: [{from: a, to: b, frame_size: 64, rate: max}]",
    "from": "from: a",
    "to": "to: b",
    "frame_size": "frame_size: 64",
    "rate": "rate: max (or 100kpps, 1Gbps)",
    "slice": "slice: 2s",
}

# Example shapes of the things a mapping or list stands for, by the key that holds them.
_SHAPES: dict[str, str] = {
    "flows": "flows: [{from: a, to: b, frame_size: 64, rate: max}]",
    "hosts": "hosts: {a: {}, b: {interface: eth1}}",
    "expect": "expect: {max_loss: 0.1%, min_rx_pps: 100k}",
    "time_slice": "time_slice: {slice: 2s, gap: 100ms, rounds: 2}",
    "compare": "compare: [bidirectional, time-sliced]",
}


def describe(detail: ErrorDetails, root: type[BaseModel]) -> Problem:
    """The Problem for one entry of ``ValidationError.errors()`` against model ``root``."""
    loc: Loc = tuple(detail["loc"])
    kind = detail["type"]
    value = detail.get("input")
    if loc and loc[-1] == "[key]":
        # A dict key failed (hosts: {A: ...}); point at the key itself.
        # pydantic turns a non-text key such as False into 0 in loc; the input keeps it.
        return Problem((*loc[:-2], str(value)), detail["msg"], at_key=True)
    if kind == "ringlab":
        return Problem(loc, detail["msg"])
    if kind == "extra_forbidden":
        return _unknown_key(loc, root)
    if kind == "missing":
        name = str(loc[-1]) if loc else "?"
        example = _EXAMPLES.get(name, f"{name}: ...")
        return Problem(loc, f"{name} is missing. Add it, like {example}.", at_key=True)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return Problem(loc, f"expected a mapping of keys here, got {_kind(value)}.{_shape(loc)}")
    if kind in ("list_type", "tuple_type", "iterable_type"):
        return Problem(loc, f"expected a list here, got {_kind(value)}.{_shape(loc)}")
    return Problem(loc, f"{show(value)} is not accepted here: {detail['msg']}.")


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"the value {show(value)}"


def _shape(loc: Loc) -> str:
    names = [part for part in loc if isinstance(part, str)]
    key = names[-1] if names else ""
    if len(loc) == 2 and loc[0] == "flows":
        return " Each flow is a mapping, like - {from: a, to: b, frame_size: 64, rate: max}."
    if len(loc) == 2 and loc[0] == "hosts":
        return " Each host is a mapping of options, like b: {interface: eth1}, or {} for none."
    if key in _SHAPES and loc[-1] == key:
        return f" Write it like {_SHAPES[key]}."
    return ""


def _unknown_key(loc: Loc, root: type[BaseModel]) -> Problem:
    key = str(loc[-1]) if loc else "?"
    model = _model_at(root, loc[:-1])
    if model is None:
        return Problem(loc, f"unknown key {key!r}. Remove it.", at_key=True)
    allowed = [info.alias or name for name, info in model.model_fields.items()]
    hint = closest(key, allowed)
    return Problem(
        loc,
        f"unknown key {key!r}.{hint} Allowed keys here: {', '.join(allowed)}.",
        at_key=True,
    )


def _model_at(root: type[BaseModel], path: Loc) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path`` (following lists and dicts)."""
    current: Any = root
    parts = list(path)
    while parts:
        part = parts.pop(0)
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next(
            (info for name, info in current.model_fields.items() if (info.alias or name) == part),
            None,
        )
        if field is None:
            return None
        current = _unwrap(field.annotation)
        while get_origin(current) in (list, dict):
            if not parts:
                return None
            parts.pop(0)  # the index or key
            current = _unwrap(get_args(current)[-1])
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the type that holds the value."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
