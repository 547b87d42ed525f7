"""Change-point detection on synthetic series with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ringlab.controller.trend import change_points


def noisy(rng: np.random.Generator, *levels: tuple[float, int], sd: float = 2.0) -> list[float]:
    return [float(v) for level, n in levels for v in rng.normal(level, sd, n)]


def test_a_known_step_down_is_found_at_its_index() -> None:
    values = noisy(np.random.default_rng(1), (100.0, 20), (90.0, 15))
    (change,) = change_points(values)
    assert change.index == 20
    assert change.direction == "down"
    assert change.before == pytest.approx(100.0, abs=1.5)
    assert change.after == pytest.approx(90.0, abs=1.5)
    assert change.relative == pytest.approx(-0.10, abs=0.02)
    assert change.p_value <= 0.01


def test_a_step_up_is_found_and_marked_up() -> None:
    values = noisy(np.random.default_rng(2), (50_000.0, 12), (60_000.0, 12), sd=800.0)
    (change,) = change_points(values)
    assert change.index == 12
    assert change.direction == "up"


@pytest.mark.parametrize("seed", range(5))
def test_a_flat_noisy_series_has_no_change_point(seed: int) -> None:
    values = noisy(np.random.default_rng(100 + seed), (100.0, 40), sd=5.0)
    assert change_points(values, seed=seed) == []


def test_the_false_alarm_rate_on_flat_noise_is_near_alpha() -> None:
    # 100 flat series of 30 runs: at alpha 0.01 a handful of false alarms at most.
    alarms = sum(
        bool(change_points(noisy(np.random.default_rng(s), (100.0, 30), sd=5.0), seed=s))
        for s in range(100)
    )
    assert alarms <= 5


def test_a_dip_and_recovery_gives_two_change_points() -> None:
    # A single-split statistic with a pooled deviation misses this; the
    # difference-based noise estimate keeps the dip visible.
    values = noisy(np.random.default_rng(3), (100.0, 10), (80.0, 10), (100.0, 10))
    changes = change_points(values)
    assert [c.index for c in changes] == [10, 20]
    assert [c.direction for c in changes] == ["down", "up"]
    # Each change reports the means of the segments on either side of it.
    assert changes[0].after == pytest.approx(changes[1].before)


def test_a_noiseless_step_is_found() -> None:
    assert [c.index for c in change_points([1.0] * 6 + [2.0] * 6)] == [6]


def test_constant_and_short_series_have_no_change_point() -> None:
    assert change_points([5.0] * 10) == []
    assert change_points([1.0, 9.0, 1.0]) == []
    assert change_points([]) == []


def test_a_significant_but_tiny_shift_is_not_reported() -> None:
    values = noisy(np.random.default_rng(4), (100.0, 30), (99.5, 30), sd=0.05)
    assert [c.index for c in change_points(values, min_relative_shift=0.0)] == [30]
    assert change_points(values) == []  # 0.5% is under the default 1% floor


def test_the_answer_is_deterministic() -> None:
    values = noisy(np.random.default_rng(5), (10.0, 15), (12.0, 15))
    assert change_points(values) == change_points(values)


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="finite"):
        change_points([1.0, math.nan, 2.0, 3.0])
    with pytest.raises(ValueError, match="alpha"):
        change_points([1.0, 2.0], alpha=1.5)
    with pytest.raises(ValueError, match="min_size"):
        change_points([1.0, 2.0], min_size=0)
