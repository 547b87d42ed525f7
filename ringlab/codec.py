"""Frozen dataclasses to JSON-ready dicts and back, from their fields and type hints.

One codec instead of a hand-written to_dict/from_dict per class (the probe report's 27
interface fields were once written three times). Reading is strict about shape and
lenient about scalars in the way JSON needs: values are converted to the field's type
(`int("3")`, `str(...)`), a missing key or a null for a field that is not optional
takes the field's default, and a missing key without a default raises KeyError.

Supported field types: str, int, float, bool, Literal[...] of str, X | None, list[X],
dict[str, X], and nested dataclasses. Imports nothing outside the standard library, so
the agent and the controller can both use it.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_SCALARS: dict[Any, Any] = {str: str, int: int, float: float, bool: bool}


def to_jsonable(value: Any) -> Any:
    """A dataclass (or list/dict of them) as plain dicts, lists and scalars."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional(kind: Any) -> Any | None:
    """X for `X | None`, else None."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(kind)) == 2:
            return args[0]
    return None


def _decode(kind: Any, value: Any) -> Any:
    inner = _optional(kind)
    if inner is not None:
        return None if value is None else _decode(inner, value)
    origin = typing.get_origin(kind)
    if origin is list:
        (item,) = typing.get_args(kind)
        return [_decode(item, v) for v in value]
    if origin is dict:
        key, item = typing.get_args(kind)
        return {_decode(key, k): _decode(item, v) for k, v in value.items()}
    if origin is typing.Literal:
        return str(value)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return from_jsonable(kind, value)
    if kind in _SCALARS:
        return _SCALARS[kind](value)
    raise TypeError(f"no decoder for field type {kind!r}")


def from_jsonable(cls: type[T], data: Mapping[str, Any]) -> T:
    """An instance of dataclass `cls` from what `to_jsonable` made of one."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{cls.__name__} must be an object, got {type(data).__name__}")
    hints = _hints(typing.cast(type, cls))
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        raw = data.get(f.name)
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        if raw is None and _optional(hints[f.name]) is None:
            if has_default:
                continue  # absent, or null where null is not a value: the field's default
            raise KeyError(f.name)
        if f.name not in data and has_default:
            continue
        values[f.name] = _decode(hints[f.name], raw)
    return cls(**values)


class JsonRecord:
    """Mixin for frozen dataclasses: `to_dict()` and `from_dict()` through the codec."""

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = to_jsonable(self)
        return result

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        return from_jsonable(cls, data)
