"""Purchase-frequency models: BG/NBD, Pareto/NBD, MBG/NBD and their no-dropout limit, the NBD.

Scikit-learn style estimators on a customer table (``frequency``, ``recency``, ``T``), fitted
on its unique ``(x, t_x, T)`` rows weighted by their counts. BG/NBD and MBG/NBD use segml's
maximum likelihood with analytic gradients (:mod:`segml.clv.objectives`), Pareto/NBD
numerical ones; lifetimes' fitters are the fallback (several starts, polished on the same
likelihood) before :class:`segml.ConvergenceError`; an estimate running to the no-dropout
limit raises :class:`segml.BoundaryError` at once (:mod:`segml.clv.boundary`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

import segml.clv._lifetimes as engine
from segml._setops import distinct
from segml._units import span_words
from segml.clv._base import (
    Compressed,
    JSONPersistence,
    check_weights,
    frequency_arrays,
    log_wald_interval,
    segml_version,
)
from segml.clv.boundary import no_dropout, running_to_no_dropout
from segml.clv.conditional import ConditionalPredictor, Predictor
from segml.clv.conditional import p_alive as conditional_p_alive
from segml.clv.covariate_fit import (
    covariate_rows,
    covariate_state,
    fit_covariates,
    has_covariates,
    restore_covariates,
    row_params,
)
from segml.clv.covariates import with_coefficients
from segml.clv.distribution import check_counts, purchase_pmf
from segml.clv.fitting import Estimate, fit_with_fallbacks, polish
from segml.clv.likelihood import (
    FREQUENCY_LOGLIK,
    hessian_log_params,
    standard_errors_from_hessian,
)
from segml.clv.objectives import GRADIENT_OBJECTIVES, maximise
from segml.clv.profile import profile_frame
from segml.data.table import table_metadata
from segml.errors import BoundaryError, ConvergenceError, DataError

__all__ = ["FREQUENCY_MODELS", "BetaGeo", "FrequencyModel", "ModifiedBetaGeo"]

_HINT = (
    "Try a longer calibration window, check that the table has enough repeat buyers "
    "(frequency > 0) and a sensible time unit, or use another model ({others})."
)


class FrequencyModel(JSONPersistence, BaseEstimator):
    """Base class of the purchase-frequency models (not used directly)."""

    _model: ClassVar[str] = ""
    _label: ClassVar[str] = ""
    _param_names: ClassVar[tuple[str, ...]] = ()
    _registry: ClassVar[dict[str, type[FrequencyModel]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls._model:  # a base shared by several models has no name
            FrequencyModel._registry[cls._model] = cls

    def __init__(
        self,
        *,
        compress: bool = True,
        warm_start: bool = False,
        purchase_covariates: Sequence[str] | None = None,
        dropout_covariates: Sequence[str] | None = None,
        constrained_covariates: Sequence[str] | None = None,
        covariate_form: str = "separate",
        penalty: dict[str, float] | None = None,
        standardize: bool = False,
        reference_levels: dict[str, Any] | None = None,
    ) -> None:
        self.compress = compress
        self.warm_start = warm_start
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates
        self.constrained_covariates = constrained_covariates
        self.covariate_form = covariate_form
        self.penalty = penalty
        self.standardize = standardize
        self.reference_levels = reference_levels

    # ---------------------------------------------------------------- fitting
    def fit(self, table: pd.DataFrame, y: Any = None, sample_weight: Any = None) -> FrequencyModel:
        """Estimate the parameters by maximum likelihood.

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table with ``frequency``, ``recency`` and ``T``.
        y : ignored
            Present for scikit-learn compatibility.
        sample_weight : array of float, optional
            Number of customers each row stands for, e.g. the ``count`` of
            :func:`segml.spark.compressed_statistics`; the estimate equals the fit on the
            expanded table.

        Returns
        -------
        self
        """
        who = f"{type(self).__name__}.fit"
        previous: dict[str, float] | None = None
        if self.warm_start and hasattr(self, "params_"):
            previous = {**self.__dict__["params_"], **self.__dict__.get("coefficients_", {})}
        for stale in ("coefficients_", "design_", "_layout", "_theta", "penalized_objective_"):
            self.__dict__.pop(stale, None)
        if has_covariates(self):
            fit_covariates(self, table, sample_weight, previous)
            return self
        x, t_x, T = frequency_arrays(table, who)
        w_in = check_weights(sample_weight, len(x), who)
        data = (
            Compressed.of(x, t_x, T, weights=w_in)
            if self.compress
            else Compressed.identity(x, t_x, T, weights=w_in)
        )
        cx, ct, cT, w = data.column(0), data.column(1), data.column(2), data.weights
        unit = table_metadata(table).get("unit")
        self._span = span_words(float(np.max(T)), unit)
        estimate = self._estimate(cx, ct, cT, w)
        params, hessian, loglik_at = estimate.params, estimate.hessian, estimate.log_likelihood
        loglik = self._loglik_fn()

        def total(log_theta: np.ndarray) -> float:
            p = dict(zip(self._param_names, np.exp(log_theta), strict=True))
            return float(np.sum(w * loglik(p, cx, ct, cT)))

        if hessian is None:
            hessian = hessian_log_params(total, np.log([params[n] for n in self._param_names]))
        ses = standard_errors_from_hessian(hessian, params)
        self._log_hessian = hessian
        self._check_boundary(params, (cx, ct, cT, w), ses)
        if not all(np.isfinite(v) for v in ses.values()):
            raise ConvergenceError(
                f"{self._label} did not converge on {len(w):,} unique customer rows "
                f"({int(w.sum()):,} customers) to a proper maximum: the estimate {params} has a "
                "singular information matrix, so the data do not identify the model. "
                f"{self._hint()}"
            )
        self.params_ = params
        self._fit_rows = (cx, ct, cT, w)  # for profile-likelihood intervals
        self.log_likelihood_ = (
            total(np.log([params[n] for n in self._param_names]))
            if loglik_at is None
            else loglik_at
        )
        self.standard_errors_ = ses
        self.n_customers_ = round(float(w.sum()))
        self.n_unique_rows_ = len(w)
        k = len(self._param_names)
        self.aic_ = 2 * k - 2 * self.log_likelihood_
        self.bic_ = k * np.log(w.sum()) - 2 * self.log_likelihood_
        self.fit_info_ = estimate.info
        return self

    def _loglik_fn(self) -> Any:
        return FREQUENCY_LOGLIK[self._model]

    def _lifetimes_starts(self, T: np.ndarray) -> list[list[float] | None]:
        return [None, [0.0, 0.0, 0.0, 0.0], [-1.0, 1.0, -1.0, 0.5]]

    def _own_start(
        self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> dict[str, float]:
        # lifetimes' BG/NBD start (ones on time scaled to max(T) = 10).
        return dict(
            zip(self._param_names, (1.0, max(float(T.max()), 1e-9) / 10, 1.0, 1.0), strict=True)
        )

    def _estimate(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> Estimate:
        """The estimate by segml's maximum likelihood, lifetimes as the fallback."""
        loglik = self._loglik_fn()
        names = self._param_names
        factory = GRADIENT_OBJECTIVES.get(self._model)

        # warm start (the bootstrap's refits): from the previous estimate, the gradient
        # optimiser only, so a resample that does not converge fails fast and is counted
        warm = dict(self.params_) if self.warm_start and hasattr(self, "params_") else None

        def own() -> Any:
            assert factory is not None
            guess = warm or self._own_start(x, t_x, T, w)
            stop = running_to_no_dropout(self._model, names, float(T.max()))
            return maximise(factory(x, t_x, T, w), np.log([guess[n] for n in names]), w.sum(), stop)

        def valid(params: dict[str, float], value: float) -> bool:
            return bool(np.isfinite(value)) and all(
                np.isfinite(v) and v > 0 for v in params.values()
            )

        return fit_with_fallbacks(
            names=names,
            own=own if factory is not None else None,
            accept=lambda _params, mle: bool(mle.converged),
            on_rejected=lambda est: self._check_boundary(est, (x, t_x, T, w)),
            lifetimes=lambda start: engine.fit_frequency(self._model, x, t_x, T, w, start),
            lifetimes_starts=[] if warm else self._lifetimes_starts(T),
            total_loglik=lambda params: float(np.sum(w * loglik(params, x, t_x, T))),
            valid=valid,
            polish=lambda start, attempts: (
                None if warm else polish(loglik, names, (x, t_x, T), w, start, attempts)
            ),
            last_resort=[warm] if warm else [dict.fromkeys(names, v) for v in (0.5, 1.0, 2.0)],
            failure=lambda attempts: (
                f"{self._label} did not converge on {len(x):,} unique customer rows "
                f"({int(w.sum()):,} customers) after {len(attempts)} attempts: "
                f"{'; '.join(attempts)}. {self._hint()}"
            ),
        )

    def _hint(self) -> str:
        others = [
            f"{cls.__name__} ({name!r})"
            for name, cls in FREQUENCY_MODELS.items()
            if cls is not type(self)
        ]
        return _HINT.format(others=", ".join(others))

    def _check_boundary(
        self,
        est: dict[str, float],
        data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        ses: dict[str, float] | None = None,
    ) -> None:
        """Raise :class:`BoundaryError` when the estimate runs to the edge of the parameter
        space (no fallback optimiser can do better there; they only take minutes to find the
        same)."""
        reason = no_dropout(self._model, est, data, ses)
        if reason is None:
            return
        n_rows, n_customers = len(data[3]), round(float(data[3].sum()))
        raise BoundaryError(
            f"{self._label}: no dropout identified in {getattr(self, '_span', 'the window')} "
            f"({n_customers:,} customers, {n_rows:,} unique rows): the estimate runs to the edge "
            f"of the parameter space, {reason}. That is the limit in which nobody leaves: fit "
            "frequency='nbd' (the NBD model, that limit) or frequency='auto' (which compares "
            "it with the others); a longer calibration window may show churn."
        )

    def conf_int(self, level: float = 0.95, method: str = "wald") -> pd.DataFrame:
        """Intervals of the parameters.

        Parameters
        ----------
        level : float, default 0.95
        method : {"wald", "profile"}, default "wald"
            ``"wald"``: on the log scale, ``exp(log t +- z se / t)``, instant.
            ``"profile"``: profile likelihood (:mod:`segml.clv.profile`), a second or two;
            better where the estimate's distribution is skewed. Coverage of both, measured
            by ``experiments/interval_coverage.py``, is in the README.

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter: ``estimate``, ``lower``, ``upper``.
        """
        check_is_fitted(self, "params_")
        if method == "wald":
            out = log_wald_interval(self.params_, self.standard_errors_, level)
            if hasattr(self, "coefficients_"):  # coefficients: on their own (linear) scale
                out = with_coefficients(out, self, level)
            return out
        if method != "profile" or hasattr(self, "coefficients_"):
            raise DataError(f"method={method!r}: choose 'wald' or 'profile' (no covariates).")
        if not 0 < level < 1:
            raise DataError(f"level must be in (0, 1), got {level!r}.")
        if not hasattr(self, "_fit_rows"):
            raise DataError(
                "profile intervals need the data the model was fitted on, which a model "
                "loaded from JSON does not carry: refit it, or use method='wald'."
            )
        return profile_frame(
            self._loglik_fn(), self.params_, self.standard_errors_, self._fit_rows, level
        )

    # ------------------------------------------------------------ predictions
    def _prepare(self, table: pd.DataFrame, who: str) -> tuple[Compressed, dict[str, Any]]:
        check_is_fitted(self, "params_")
        if hasattr(self, "_layout"):
            return covariate_rows(self, table, f"{type(self).__name__}.{who}")
        x, t_x, T = frequency_arrays(table, f"{type(self).__name__}.{who}")
        return Compressed.of(x, t_x, T), self.params_

    def expected_purchases(
        self, table: pd.DataFrame, horizon: float | np.ndarray | pd.Series
    ) -> pd.Series:
        """Expected number of purchases in the next ``horizon`` time units.

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table with ``frequency``, ``recency`` and ``T``.
        horizon : float or array of float
            Length of the future window, in the table's time unit (one value, or one per
            customer).

        Returns
        -------
        pandas.Series
            Indexed like ``table``.
        """
        data, _ = self._prepare(table, "expected_purchases")
        h = np.broadcast_to(np.asarray(horizon, dtype="float64"), (len(table),))
        if np.any(~np.isfinite(h) | (h < 0)):
            raise DataError(f"horizon must be finite and >= 0, got {horizon!r}.")
        out = np.empty(len(table))
        for value in distinct(h):
            rows = h == value
            if rows.all():
                out = self._expected_unique(data, float(value))[data.inverse]
                break
            idx = distinct(data.inverse[rows])
            pred = np.zeros(len(data.weights))
            pred[idx] = self._expected_unique(data, float(value), idx)
            out[rows] = pred[data.inverse[rows]]
        return pd.Series(out, index=table.index, name="expected_purchases")

    def _expected_unique(
        self, data: Compressed, horizon: float, idx: np.ndarray | None = None
    ) -> np.ndarray:
        """Conditional expected purchases on the unique rows of ``data`` (or a subset)."""
        return self.predictor(data, idx).expected(horizon)

    def predictor(self, data: Compressed, idx: np.ndarray | None = None) -> Predictor:
        """Predictions for the unique rows of ``data`` (or a subset) at any horizon.

        Parameters
        ----------
        data : Compressed
            The unique (x, t_x, T) rows of a customer table.
        idx : numpy.ndarray, optional
            A subset of those rows.

        Returns
        -------
        Predictor
        """
        sel = slice(None) if idx is None else idx
        params: dict[str, Any] = dict(self.params_)
        if hasattr(self, "_layout"):  # the covariates follow (x, t_x, T) in the rows
            params = row_params(self, data.values[sel, 3:])
        return ConditionalPredictor(
            self._model,
            params,
            data.column(0)[sel],
            data.column(1)[sel],
            data.column(2)[sel],
        )

    def _compressed(self, table: pd.DataFrame) -> Compressed:
        """Validated unique ``(frequency, recency, T)`` rows of ``table`` (internal helper)."""
        data, _ = self._prepare(table, "predict")
        return data

    def p_alive(self, table: pd.DataFrame) -> pd.Series:
        """Probability that each customer is still active at the end of calibration.

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table with ``frequency``, ``recency`` and ``T``.

        Returns
        -------
        pandas.Series
            Values in [0, 1], indexed like ``table``.
        """
        data, params = self._prepare(table, "p_alive")
        pred = conditional_p_alive(
            self._model, params, data.column(0), data.column(1), data.column(2)
        )
        return pd.Series(pred[data.inverse], index=table.index, name="p_alive")

    def probability_of_purchases(
        self, table: pd.DataFrame, n: int | Sequence[int], horizon: float
    ) -> pd.Series | pd.DataFrame:
        """Predictive distribution of each customer's purchases in the next ``horizon``.

        P(exactly ``n`` purchases in ``(T, T + horizon]`` | the customer's history), at the
        fitted parameters (for parameter uncertainty as well, use
        ``CLVModel.predict(..., interval=...)``). Over all ``n`` the probabilities sum to 1
        and their mean is :meth:`expected_purchases`. Formulas in
        :mod:`segml.clv.distribution`.

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table with ``frequency``, ``recency`` and ``T``.
        n : int or sequence of int
            Purchase count(s), each ``>= 0``.
        horizon : float
            Length of the future window, in the table's time unit.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            For one ``n`` a Series, else one column per ``n``; indexed like ``table``.

        Examples
        --------
        >>> import segml
        >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
        >>> model = segml.BetaGeo().fit(table)
        >>> pmf = model.probability_of_purchases(table.head(2), [0, 1, 2], horizon=39)
        >>> pmf.round(3).values.tolist()
        [[0.445, 0.239, 0.144], [0.883, 0.068, 0.028]]
        """
        data, params = self._prepare(table, "probability_of_purchases")
        counts, h = check_counts(n, horizon)
        x, t_x, T = data.column(0), data.column(1), data.column(2)
        columns = {k: purchase_pmf(self._model, params, k, x, t_x, T, h) for k in counts}
        if np.ndim(n) == 0:
            return pd.Series(columns[counts[0]][data.inverse], index=table.index, name=f"p_{n}")
        return pd.DataFrame({k: v[data.inverse] for k, v in columns.items()}, index=table.index)

    def expected_purchases_new(self, t: float | np.ndarray) -> np.ndarray:
        """Expected repeat purchases by time ``t`` of a customer just acquired, E[X(t)].

        Parameters
        ----------
        t : float or array of float
            Time(s) since acquisition, in the table's unit.

        Returns
        -------
        numpy.ndarray
        """
        check_is_fitted(self, "params_")
        return engine.expected_purchases_new(self._model, self.params_, np.asarray(t, float))

    def log_likelihood(self, table: pd.DataFrame) -> float:
        """Total log-likelihood of ``table`` under the fitted parameters (papers' units)."""
        data, params = self._prepare(table, "log_likelihood")
        values = self._loglik_fn()(params, data.column(0), data.column(1), data.column(2))
        return float(np.sum(data.weights * values))

    # ----------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """The fitted state as a JSON-able dictionary (parameters and metadata only)."""
        check_is_fitted(self, "params_")
        return {
            "model": self._model,
            "params": dict(self.params_),
            "log_likelihood": self.log_likelihood_,
            "standard_errors": dict(self.standard_errors_),
            "n_customers": self.n_customers_,
            "n_unique_rows": self.n_unique_rows_,
            "aic": self.aic_,
            "bic": self.bic_,
            "fit_info": self.fit_info_,
            "compress": self.compress,
            "segml_version": segml_version(),
            **({"covariates": covariate_state(self)} if hasattr(self, "_layout") else {}),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FrequencyModel:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        model_cls = FREQUENCY_MODELS.get(str(state.get("model")))
        if model_cls is None or (cls is not FrequencyModel and model_cls is not cls):
            raise DataError(
                f"model {state.get('model')!r} is not a frequency model segml knows "
                f"({sorted(FREQUENCY_MODELS)})."
            )
        obj = model_cls(compress=bool(state.get("compress", True)))
        params = {n: float(state["params"][n]) for n in model_cls._param_names}
        obj.params_ = params
        obj.log_likelihood_ = float(state["log_likelihood"])
        obj.standard_errors_ = {k: float(v) for k, v in state["standard_errors"].items()}
        obj.n_customers_ = int(state["n_customers"])
        obj.n_unique_rows_ = int(state["n_unique_rows"])
        obj.aic_ = float(state["aic"])
        obj.bic_ = float(state["bic"])
        obj.fit_info_ = dict(state.get("fit_info", {}))
        if "covariates" in state:
            restore_covariates(obj, state["covariates"])
        obj._restore(state)
        return obj

    def _restore(self, state: dict[str, Any]) -> None:
        """Restore what a subclass adds to :meth:`to_dict` (nothing here)."""


class BetaGeo(FrequencyModel):
    """BG/NBD purchase model (Fader, Hardie & Lee 2005).

    Customers buy as a Poisson process with rate ``lambda ~ Gamma(r, alpha)`` and drop out
    after each repeat purchase with probability ``p ~ Beta(a, b)``.

    Parameters
    ----------
    compress : bool, default True
        Fit on unique ``(frequency, recency, T)`` rows weighted by their counts.
    warm_start : bool, default False
        Start a refit from the previous estimate, with segml's own optimisers only.
    purchase_covariates, dropout_covariates : list of str, optional
        Columns of the table (customer attributes, time-invariant) that scale the purchase
        process (``alpha exp(-gamma' z)``) and the dropout process (:mod:`segml.clv.covariates`).
    constrained_covariates : list of str, optional
        Covariates of both lists whose coefficient is one across the processes (needs
        ``covariate_form="shared"`` here; Pareto/NBD always).
    covariate_form : {"separate", "shared"}, default "separate"
        ``a`` and ``b`` with separate coefficient vectors, or one shared (CLVTools' form).
    penalty : dict, optional
        L2 penalty per coefficient block (``{"purchase": 0.1, "dropout_a": 0.2}``).
    standardize : bool, default False
        Standardise numeric covariates (else they enter as they are).
    reference_levels : dict, optional
        Reference level per categorical covariate (default: its most frequent level).

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b`` (with covariates: of a customer whose covariates are
        all zero, or at their reference levels).
    coefficients_, design_, vcov_, penalized_objective_
        With covariates: the coefficients by ``block.column``, their encoding, the covariance
        of ``log`` parameters and coefficients, and with a penalty the penalised
        log-likelihood per customer ``LL / n - sum lambda ||gamma||^2``
        (``log_likelihood_`` stays unpenalised).
    log_likelihood_ : float
        Maximised log-likelihood in the papers' units.
    standard_errors_ : dict
        Asymptotic standard errors from the numerical Hessian.
    aic_, bic_ : float
        Information criteria.
    n_customers_, n_unique_rows_ : int
        Customers fitted, and the unique rows they compress to.
    fit_info_ : dict
        Which engine produced the estimate and every attempt made.

    Examples
    --------
    >>> import segml
    >>> tx = segml.load_cdnow()
    >>> table = segml.summarize(tx, calibration_end="1997-09-30")
    >>> model = segml.BetaGeo().fit(table)
    >>> round(model.params_["r"], 3), round(model.log_likelihood_, 1)
    (0.243, -9582.4)
    """

    _model = "bgnbd"
    _label = "BG/NBD"
    _param_names = ("r", "alpha", "a", "b")


class ModifiedBetaGeo(FrequencyModel):
    """MBG/NBD purchase model (Batislam, Denizel & Filiztekin 2007).

    As BG/NBD, but a customer may also drop out right after the first purchase, so
    customers with no repeat purchase are not assumed alive.

    Parameters
    ----------
    compress, warm_start, purchase_covariates, dropout_covariates, constrained_covariates
        As for :class:`BetaGeo`.
    covariate_form, penalty, standardize, reference_levels
        As for :class:`BetaGeo`.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_, standard_errors_, aic_, bic_, n_customers_, n_unique_rows_, fit_info_
        As for :class:`BetaGeo`.

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> round(segml.ModifiedBetaGeo().fit(table).log_likelihood_, 1)
    -9582.1
    """

    _model = "mbgnbd"
    _label = "MBG/NBD"
    _param_names = ("r", "alpha", "a", "b")


#: Every frequency model by its name (each subclass registers itself: see also
#: :mod:`segml.clv.pnbd`, :mod:`segml.clv.nbd`, :mod:`segml.clv.regular`).
FREQUENCY_MODELS: dict[str, type[FrequencyModel]] = FrequencyModel._registry
