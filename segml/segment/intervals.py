"""Bootstrap intervals with labels fixed: the comparison's headline metric, segments' lifts.

Resampling customers with their labels fixed asks how sure the ranking of segmentations is
given these customers, not how a refit would move (that is :func:`stability`). Each resample
is a Poisson bootstrap (every customer weighted by a Poisson(1) count, the same weights for
every segmentation, so differences are paired), and the normalised Gini needs only weighted
per-segment sums: a few ``bincount`` calls per segmentation and resample, no refit, no sort
of the customers after the first.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["GiniDraws", "lift_intervals", "normalised_gini_draws"]


def _gini_of_groups(order_key: np.ndarray, counts: np.ndarray, sums: np.ndarray) -> float:
    """Gini of the gain curve when groups are taken by descending ``order_key`` (groups with
    equal keys taken together), from each group's weighted count and value sum."""
    total_n, total_v = counts.sum(), sums.sum()
    if total_v <= 0 or total_n <= 0:
        return float("nan")
    keys, inverse = np.unique(-order_key, return_inverse=True)
    n = np.bincount(inverse, weights=counts, minlength=len(keys))
    v = np.bincount(inverse, weights=sums, minlength=len(keys))
    x = np.r_[0.0, np.cumsum(n) / total_n]
    y = np.r_[0.0, np.cumsum(v) / total_v]
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) - 1.0)  # 2 * area - 1


class GiniDraws:
    """Normalised-Gini draws of several labellings on the same bootstrap resamples.

    Parameters
    ----------
    labellings : mapping of str to array of int
        Segment labels of every customer, by segmentation (``-1`` a group of its own).
    actual : array of float
        The value measured (holdout revenue out of sample, predicted value in sample).
    predicted : array of float
        The value that ranks the segments (their mean predicted value).
    """

    def __init__(
        self, labellings: Mapping[str, np.ndarray], actual: np.ndarray, predicted: np.ndarray
    ) -> None:
        self.actual = np.asarray(actual, dtype="float64")
        self.predicted = np.asarray(predicted, dtype="float64")
        # The oracle ranks customers by their own value: one group per distinct value.
        self._oracle_key, self._oracle_groups = np.unique(self.actual, return_inverse=True)
        self._codes = {}
        for name, labels in labellings.items():
            uniques, codes = np.unique(np.asarray(labels), return_inverse=True)
            self._codes[name] = (codes, len(uniques))

    def draw(self, weights: np.ndarray) -> dict[str, float]:
        """The normalised Gini of every labelling under customer ``weights``."""
        wv = weights * self.actual
        oracle = _gini_of_groups(
            self._oracle_key,
            np.bincount(self._oracle_groups, weights=weights, minlength=len(self._oracle_key)),
            np.bincount(self._oracle_groups, weights=wv, minlength=len(self._oracle_key)),
        )
        wp = weights * self.predicted
        out = {}
        for name, (codes, k) in self._codes.items():
            n = np.bincount(codes, weights=weights, minlength=k)
            seen = n > 0
            mean_pred = np.bincount(codes, weights=wp, minlength=k)[seen] / n[seen]
            sums = np.bincount(codes, weights=wv, minlength=k)[seen]
            gini = _gini_of_groups(mean_pred, n[seen], sums)
            out[name] = gini / oracle if oracle and np.isfinite(oracle) else float("nan")
        return out


def normalised_gini_draws(
    labellings: Mapping[str, np.ndarray],
    actual: np.ndarray,
    predicted: np.ndarray,
    n_resamples: int = 200,
    random_state: int | np.random.Generator | None = 0,
) -> dict[str, np.ndarray]:
    """``n_resamples`` paired bootstrap draws of each labelling's normalised Gini.

    Returns
    -------
    dict of str to numpy.ndarray
        The draws, resample by resample (the same resample at the same position for every
        labelling: differences of draws are paired).

    Examples
    --------
    >>> import numpy as np
    >>> from segml.segment.intervals import normalised_gini_draws
    >>> rng = np.random.default_rng(0)
    >>> value = rng.gamma(1.0, 10.0, 500)
    >>> good = (value > np.median(value)).astype(int)
    >>> draws = normalised_gini_draws({"good": good}, value, value, n_resamples=50)
    >>> bool(np.percentile(draws["good"], 2.5) > 0.5)
    True
    """
    draws = GiniDraws(labellings, actual, predicted)
    rng = np.random.default_rng(random_state)
    out = {name: np.empty(n_resamples) for name in labellings}
    for b in range(n_resamples):
        weights = rng.poisson(1.0, len(draws.actual)).astype("float64")
        for name, value in draws.draw(weights).items():
            out[name][b] = value
    return out


def lift_intervals(
    labels: np.ndarray,
    values: np.ndarray,
    n_resamples: int = 200,
    level: float = 0.95,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile bootstrap intervals of each segment's lift (its mean over the overall mean).

    Parameters
    ----------
    labels : array of int
        Segment of every customer.
    values : array of float, shape (n,) or (n, m)
        One or several values (e.g. predicted and realised), resampled together.
    n_resamples : int, default 200
        Poisson bootstrap resamples of customers.
    level : float, default 0.95
    random_state : int or numpy.random.Generator, optional

    Returns
    -------
    segments, low, high : numpy.ndarray
        The sorted distinct labels, and the bounds, shape (k, m) (``(k,)`` for 1-d values).

    Examples
    --------
    >>> import numpy as np
    >>> from segml.segment.intervals import lift_intervals
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 500)
    >>> value = rng.gamma(1.0, np.where(labels == 1, 20.0, 10.0))
    >>> segments, low, high = lift_intervals(labels, value)
    >>> bool(low[1] > 1.0 > high[0])
    True
    """
    flat = np.ndim(values) == 1
    matrix = np.asarray(values, dtype="float64").reshape(len(labels), -1)
    segments, codes = np.unique(np.asarray(labels), return_inverse=True)
    k, m = len(segments), matrix.shape[1]
    rng = np.random.default_rng(random_state)
    draws = np.empty((n_resamples, k, m))
    for b in range(n_resamples):
        weights = rng.poisson(1.0, len(codes)).astype("float64")
        counts = np.bincount(codes, weights=weights, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            for j in range(m):
                wv = weights * matrix[:, j]
                means = np.bincount(codes, weights=wv, minlength=k) / counts
                draws[b, :, j] = means / (wv.sum() / counts.sum())
    tail = 50.0 * (1.0 - level)
    low = np.nanpercentile(draws, tail, axis=0)
    high = np.nanpercentile(draws, 100.0 - tail, axis=0)
    return (segments, low[:, 0], high[:, 0]) if flat else (segments, low, high)
