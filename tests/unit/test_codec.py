"""The dataclass codec behind the probe report: fields and type hints, both ways."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import pytest

from ringlab.codec import JsonRecord, from_jsonable, to_jsonable


@dataclass(frozen=True)
class Inner(JsonRecord):
    name: str
    size: int = 0


@dataclass(frozen=True)
class Outer(JsonRecord):
    label: str
    kind: Literal["a", "b"] = "a"
    count: int | None = None
    ratio: float = 1.0
    flag: bool = False
    tags: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    inner: Inner | None = None
    inners: list[Inner] = field(default_factory=list)


def test_round_trip_through_json_keeps_every_field() -> None:
    value = Outer(
        label="x",
        kind="b",
        count=3,
        ratio=0.5,
        flag=True,
        tags=["p", "q"],
        counters={"rx": 7},
        inner=Inner("i", 2),
        inners=[Inner("j"), Inner("k", 9)],
    )
    assert Outer.from_dict(json.loads(json.dumps(value.to_dict()))) == value
    assert to_jsonable(value)["inner"] == {"name": "i", "size": 2}


def test_missing_keys_and_nulls_take_defaults_but_optional_nulls_stay_null() -> None:
    read = from_jsonable(Outer, {"label": "x", "flag": None, "count": None, "tags": None})
    assert read == Outer(label="x")
    assert read.count is None


def test_scalars_are_converted_to_the_field_type() -> None:
    read = Outer.from_dict({"label": 5, "count": "12", "counters": {"rx": "3"}})
    assert (read.label, read.count, read.counters) == ("5", 12, {"rx": 3})


def test_a_missing_required_field_raises() -> None:
    with pytest.raises(KeyError, match="label"):
        Outer.from_dict({"count": 1})
    with pytest.raises(TypeError, match="must be an object"):
        Outer.from_dict([1, 2])  # type: ignore[arg-type]
