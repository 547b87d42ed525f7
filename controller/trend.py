"""Where a metric stepped up or down across a run history: change-point detection. Pure numpy.

Method: binary segmentation with a CUSUM statistic. For a segment of n values,
every split k gives |mean(right) - mean(left)| * sqrt(k (n-k) / n) / sigma, with
sigma the noise level estimated from successive differences (so other steps in
the segment do not hide this one); the split with the largest statistic is the
candidate. Whether it is real is
decided by a permutation test of that maximum (shuffling the segment destroys
any step, so the shuffled maxima are what noise alone produces). This gives an
honest p-value for small histories (a dozen weekly runs), where asymptotic
tests such as Pettitt's cannot reach significance at all. A significant split
cuts the segment in two and both halves are searched again.

Permutations use a fixed seed, so the same history always gives the same answer.
A step smaller than ``min_relative_shift`` of the series' mean is not reported
even when significant: a 0.3% shift in pps is real but not news.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ChangePoint:
    """The series changes level at ``index``: values[index:] differ from what came before."""

    index: int
    before: float  # mean of the segment left of the change
    after: float  # mean of the segment right of it
    p_value: float

    @property
    def direction(self) -> str:
        return "up" if self.after > self.before else "down"

    @property
    def relative(self) -> float | None:
        if self.before == 0:
            return None
        return (self.after - self.before) / abs(self.before)


def _noise_scale(x: Array) -> Array:
    """Standard deviation of the noise per row, from successive differences.

    Differences cancel the level, so a step elsewhere in the series does not
    inflate the estimate the way a plain standard deviation would; the median
    keeps the step's own difference from counting. Falls back to the mean
    absolute difference when more than half the differences are zero.
    """
    d = np.abs(np.diff(x, axis=-1))
    scale = np.median(d, axis=-1) / (0.6745 * np.sqrt(2.0))
    fallback = d.mean(axis=-1) * np.sqrt(np.pi / 2) / np.sqrt(2.0)
    return np.asarray(np.where(scale > 0, scale, fallback), dtype=np.float64)


def _split_statistics(x: Array, min_size: int) -> Array:
    """Standardised mean shift of every split k in [min_size, n - min_size], per row of ``x``."""
    n = x.shape[-1]
    k = np.arange(min_size, n - min_size + 1, dtype=np.float64)
    csum = np.cumsum(x, axis=-1)
    total = csum[..., -1:]
    left_sum = csum[..., min_size - 1 : n - min_size]
    shift = np.abs((total - left_sum) / (n - k) - left_sum / k) * np.sqrt(k * (n - k) / n)
    sigma = _noise_scale(x)[..., np.newaxis]
    # sigma is 0 only for a constant series, which has no step.
    return np.asarray(shift / np.where(sigma > 0, sigma, np.inf), dtype=np.float64)


def _best_split(
    x: Array, min_size: int, permutations: int, rng: np.random.Generator
) -> tuple[int, float] | None:
    n = x.size
    if n < 2 * min_size:
        return None
    stats = _split_statistics(x, min_size)
    best = int(np.argmax(stats))
    observed = stats[best]
    if observed == 0:
        return None
    shuffled = rng.permuted(np.broadcast_to(x, (permutations, n)), axis=1)
    maxima = _split_statistics(shuffled, min_size).max(axis=1)
    exceed = int(np.count_nonzero(maxima >= observed))
    return best + min_size, (exceed + 1) / (permutations + 1)


def change_points(
    values: Sequence[float],
    *,
    alpha: float = 0.01,
    min_size: int = 2,
    min_relative_shift: float = 0.01,
    permutations: int = 1999,
    seed: int = 0,
) -> list[ChangePoint]:
    """Indices where ``values`` change level, in order; empty for a flat (or too short) series."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}")
    if min_size < 1:
        raise ValueError(f"min_size must be at least 1, got {min_size}")
    x = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite numbers (no NaN or infinity)")
    rng = np.random.default_rng(seed)
    scale = abs(float(x.mean())) if x.size else 0.0
    found: list[int] = []
    pending = [(0, x.size)]
    p_values: dict[int, float] = {}
    while pending:
        start, end = pending.pop()
        split = _best_split(x[start:end], min_size, permutations, rng)
        if split is None:
            continue
        offset, p_value = split
        index = start + offset
        shift = abs(float(x[index:end].mean() - x[start:index].mean()))
        if p_value > alpha or shift <= min_relative_shift * scale:
            continue
        found.append(index)
        p_values[index] = p_value
        pending.extend([(start, index), (index, end)])
    found.sort()
    # Report each change with the means of the segments on either side of it.
    bounds = [0, *found, x.size]
    return [
        ChangePoint(
            index=index,
            before=float(x[bounds[i] : index].mean()),
            after=float(x[index : bounds[i + 2]].mean()),
            p_value=p_values[index],
        )
        for i, index in enumerate(found)
    ]
