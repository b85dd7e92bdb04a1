"""Models for regular buyers: BG/CNBD-k and MBG/CNBD-k by maximum likelihood.

Purchases arrive on every k-th tick of a Poisson clock (Erlang-k times between purchases;
k = 1 is BG/NBD or MBG/NBD). For a fixed k the fit runs on the compressed (x, t_x, T) rows
with analytic gradients (:mod:`segml.clv.cnbd`); k is chosen by likelihood over 1..``max_k``
(stopping once it has fallen twice in a row), which needs each customer's ``litt`` (the sum
of the logs of the times between purchases, a column of :func:`segml.summarize`), or fixed by
the user. Predictions are exact sums over future purchases, per customer: they do not depend
on which other customers are scored with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.utils.validation import check_is_fitted

from segml._units import span_words
from segml.clv._base import Compressed, check_weights, frequency_arrays
from segml.clv.cnbd import (
    CNBDPredictor,
    cnbd_constant,
    cnbd_loglik,
    cnbd_objective,
    expected_new,
    purchase_pmf,
)
from segml.clv.distribution import check_counts
from segml.clv.frequency import FrequencyModel
from segml.clv.likelihood import hessian_log_params, standard_errors_from_hessian
from segml.data.table import table_metadata
from segml.errors import BoundaryError, ConvergenceError, DataError

__all__ = ["BetaGeoCNBD", "ModifiedBetaGeoCNBD"]

_NAMES = ("r", "alpha", "a", "b")


def _litt(table: pd.DataFrame, who: str) -> np.ndarray:
    """The validated ``litt`` column: choosing k needs it."""
    if "litt" not in table.columns:
        raise DataError(
            f"{who}: choosing k needs the column 'litt' (sum of the logs of the times between "
            "purchases), which segml.summarize writes; or fix k, e.g. k=2."
        )
    litt = pd.to_numeric(table["litt"], errors="coerce").to_numpy("float64")
    bad = ~np.isfinite(litt)
    if bad.any():
        raise DataError(
            f"{who}: {int(bad.sum()):,} customers have no finite 'litt' (two purchases at the "
            "same instant, as summarize(merge_same_day=False) can leave them); merge same-day "
            "purchases or fix k."
        )
    return litt


class _CNBD(FrequencyModel):
    """Shared fitting and predictions of the (M)BG/CNBD-k models (not used directly)."""

    _param_names: ClassVar[tuple[str, ...]] = _NAMES
    _d: ClassVar[int] = 0

    def __init__(
        self,
        *,
        k: int | None = None,
        max_k: int = 12,
        compress: bool = True,
        warm_start: bool = False,
    ) -> None:
        super().__init__(compress=compress, warm_start=warm_start)
        self.k = k
        self.max_k = max_k

    def fit(self, table: pd.DataFrame, y: Any = None, sample_weight: Any = None) -> _CNBD:
        """Estimate ``r``, ``alpha``, ``a``, ``b`` (and ``k`` unless fixed) by maximum
        likelihood.

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table with ``frequency``, ``recency``, ``T`` and, to choose k, ``litt``.
        y : ignored
        sample_weight : array of float, optional
            Number of customers each row stands for.

        Returns
        -------
        self
        """
        who = f"{type(self).__name__}.fit"
        if self.k is not None and (not isinstance(self.k, int | np.integer) or self.k < 1):
            raise DataError(f"{who}: k must be a whole number >= 1, got {self.k!r}.")
        if not isinstance(self.max_k, int | np.integer) or self.max_k < 1:
            raise DataError(f"{who}: max_k must be a whole number >= 1, got {self.max_k!r}.")
        x, t_x, T = frequency_arrays(table, who)
        w = check_weights(sample_weight, len(x), who)
        weights = np.ones(len(x)) if w is None else w
        fixed = self.k
        if fixed is None and self.warm_start and hasattr(self, "k_"):
            fixed = self.k_  # a refit near the estimate keeps its k
        litt = _litt(table, who) if fixed is None else None
        if litt is None and "litt" in table.columns:
            litt = pd.to_numeric(table["litt"], errors="coerce").to_numpy("float64")
        data = (Compressed.of if self.compress else Compressed.identity)(x, t_x, T, weights=w)
        rows = (data.column(0), data.column(1), data.column(2), data.weights)
        candidates: Sequence[int] = range(1, int(self.max_k) + 1) if fixed is None else [int(fixed)]
        fits: dict[int, tuple[dict[str, float], float]] = {}
        previous: dict[str, float] | None = None
        for k in candidates:
            params, core = self._fit_k(rows, k, previous, who)
            constant = 0.0 if litt is None else float(np.sum(weights * cnbd_constant(x, litt, k)))
            fits[k] = (params, core + constant)
            previous = params
            lls = [fits[j][1] for j in sorted(fits)]
            if len(lls) >= 3 and lls[-1] < lls[-2] < lls[-3]:
                break  # fallen twice in a row
        best = max(fits, key=lambda k: fits[k][1])
        params, loglik = fits[best]
        self._set_fit(table, rows, best, params, loglik, litt is not None, fits)
        return self

    def _fit_k(
        self,
        rows: tuple[np.ndarray, ...],
        k: int,
        previous: dict[str, float] | None,
        who: str,
    ) -> tuple[dict[str, float], float]:
        """The estimate at a fixed k and its log-likelihood without the litt term."""
        x, t_x, T, w = rows
        objective = cnbd_objective(x, t_x, T, w, k, self._d)
        starts = [[1.0, max(float(T.max()), 1e-9) / 10 / k, 1.0, 1.0]]
        if previous is not None:  # the clock ticks k times per purchase: alpha shrinks
            starts.insert(0, [previous[n] * ((k - 1) / k if n == "alpha" else 1) for n in _NAMES])
        if self.warm_start and hasattr(self, "params_"):
            starts.insert(0, [self.params_[n] for n in _NAMES])
        best = None
        for start in starts:
            res = minimize(
                objective,
                np.log(start),
                jac=True,
                method="L-BFGS-B",
                options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2000},
            )
            # only a reported convergence counts: an iteration cap is no estimate
            if res.success and np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
        if best is None or not np.all(np.isfinite(best.x)):
            raise ConvergenceError(
                f"{who}: the k = {k} fit did not converge on {len(x):,} unique customer rows. "
                f"{self._hint()}"
            )
        params = dict(zip(_NAMES, np.exp(best.x).tolist(), strict=True))
        return params, -float(best.fun) * float(w.sum())

    def _set_fit(
        self,
        table: pd.DataFrame,
        rows: tuple[np.ndarray, ...],
        k: int,
        params: dict[str, float],
        loglik: float,
        with_litt: bool,
        fits: dict[int, tuple[dict[str, float], float]],
    ) -> None:
        x, t_x, T, w = rows

        def total(log_theta: np.ndarray) -> float:
            p = dict(zip(_NAMES, np.exp(log_theta), strict=True))
            return float(np.sum(w * cnbd_loglik(p, x, t_x, T, k, self._d)))

        hessian = hessian_log_params(total, np.log([params[n] for n in _NAMES]))
        ses = standard_errors_from_hessian(hessian, params)
        a, b = params["a"], params["b"]
        if a / (a + b) < 1e-6:
            raise BoundaryError(
                f"{self._label} (k = {k}): no dropout identified: the estimate runs to the edge "
                f"of the parameter space (a = {a:.3g}, b = {b:.3g}, mean dropout chance "
                f"{a / (a + b):.2g} per purchase). Fit frequency='nbd' or 'auto'."
            )
        if not all(np.isfinite(v) for v in ses.values()):
            raise ConvergenceError(
                f"{self._label} (k = {k}): the estimate {params} has a singular information "
                f"matrix, so the data do not identify the model. {self._hint()}"
            )
        self.k_ = k
        self.params_ = params
        self.standard_errors_ = ses
        self._log_hessian = hessian
        self._fit_rows = (x, t_x, T, w)
        self.log_likelihood_ = loglik
        self.k_log_likelihoods_ = {j: fits[j][1] for j in sorted(fits)} if with_litt else {}
        self.n_customers_ = round(float(w.sum()))
        self.n_unique_rows_ = len(w)
        n_par = len(_NAMES) + (1 if self.k is None else 0)
        self.aic_ = 2 * n_par - 2 * loglik
        self.bic_ = n_par * np.log(w.sum()) - 2 * loglik
        self._span = span_words(float(np.max(T)), table_metadata(table).get("unit"))
        self.fit_info_ = {
            "engine": "segml",
            "k": k,
            "k_chosen": self.k is None,
            "log_likelihood_includes_litt": with_litt,
        }

    def _loglik_fn(self) -> Any:
        k, d = self.k_, self._d
        return lambda p, x, t_x, T: cnbd_loglik(p, x, t_x, T, k, d)

    # ------------------------------------------------------------ predictions
    def predictor(self, data: Compressed, idx: np.ndarray | None = None) -> CNBDPredictor:
        """Predictions for the unique rows of ``data`` (or a subset) at any horizon.

        Parameters
        ----------
        data : Compressed
        idx : numpy.ndarray, optional

        Returns
        -------
        CNBDPredictor
        """
        check_is_fitted(self, "params_")
        sel = slice(None) if idx is None else idx
        return CNBDPredictor(
            self.params_,
            data.column(0)[sel],
            data.column(1)[sel],
            data.column(2)[sel],
            self.k_,
            self._d,
        )

    def p_alive(self, table: pd.DataFrame) -> pd.Series:
        """Probability that each customer is still active at the end of calibration.

        Parameters
        ----------
        table : pandas.DataFrame

        Returns
        -------
        pandas.Series
        """
        data, _ = self._prepare(table, "p_alive")
        pred = self.predictor(data).p_alive
        return pd.Series(pred[data.inverse], index=table.index, name="p_alive")

    def probability_of_purchases(
        self, table: pd.DataFrame, n: Any, horizon: float
    ) -> pd.Series | pd.DataFrame:
        """P(exactly ``n`` purchases in ``(T, T + horizon]`` | history), at the estimate.

        Parameters
        ----------
        table : pandas.DataFrame
        n : int or sequence of int
        horizon : float

        Returns
        -------
        pandas.Series or pandas.DataFrame
        """
        data, params = self._prepare(table, "probability_of_purchases")
        counts, h = check_counts(n, horizon)
        x, t_x, T = data.column(0), data.column(1), data.column(2)
        columns = {m: purchase_pmf(params, m, x, t_x, T, h, self.k_, self._d) for m in counts}
        if np.ndim(n) == 0:
            return pd.Series(columns[counts[0]][data.inverse], index=table.index, name=f"p_{n}")
        return pd.DataFrame({m: v[data.inverse] for m, v in columns.items()}, index=table.index)

    def expected_purchases_new(self, t: float | np.ndarray) -> np.ndarray:
        """Expected repeat purchases by time ``t`` of a customer just acquired.

        Parameters
        ----------
        t : float or array of float

        Returns
        -------
        numpy.ndarray
        """
        check_is_fitted(self, "params_")
        return expected_new(self.params_, np.asarray(t, float), self.k_, self._d)

    def regularity(self) -> str:
        """The fitted regularity in words.

        Returns
        -------
        str
        """
        check_is_fitted(self, "params_")
        k = self.k_
        if k == 1:
            return "k = 1: no regularity (purchases as random as a Poisson process)"
        every = {2: "every other tick", 3: "every third tick"}.get(k, f"every {k}th tick")
        return f"k = {k}: purchases come about {every}"

    # ----------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """The fitted state as a JSON-able dictionary."""
        state = super().to_dict()
        state["k"] = int(self.k_)
        state["k_fixed"] = self.k
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        self.k_ = int(state["k"])
        self.k = state.get("k_fixed")


class BetaGeoCNBD(_CNBD):
    """BG/CNBD-k: BG/NBD with Erlang-k times between purchases.

    Parameters
    ----------
    k : int, optional
        Ticks of the Poisson clock per purchase; chosen by likelihood over 1..``max_k``
        when not given (the table then needs ``litt``).
    max_k : int, default 12
    compress : bool, default True
    warm_start : bool, default False

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> model = segml.BetaGeoCNBD().fit(table)
    >>> model.k_, round(model.log_likelihood_, 1)
    (1, -9582.4)
    """

    _model = "bgcnbd"
    _label = "BG/CNBD-k"
    _d = 0


class ModifiedBetaGeoCNBD(_CNBD):
    """MBG/CNBD-k: MBG/NBD (a customer may leave right after the first purchase) with
    Erlang-k times between purchases.

    Parameters
    ----------
    k : int, optional
        Ticks of the Poisson clock per purchase; chosen by likelihood over 1..``max_k``
        when not given (the table then needs ``litt``).
    max_k : int, default 12
    compress : bool, default True
    warm_start : bool, default False

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> model = segml.ModifiedBetaGeoCNBD(k=2).fit(table)
    >>> model.k_, round(model.params_["r"], 3)
    (2, 0.58)
    """

    _model = "mbgcnbd"
    _label = "MBG/CNBD-k"
    _d = 1
