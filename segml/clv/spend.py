"""The Gamma-Gamma spend model (Fader & Hardie 2013)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

import segml.clv._lifetimes as engine
from segml.clv._base import (
    Compressed,
    JSONPersistence,
    as_float,
    check_weights,
    log_wald_interval,
    require_columns,
    segml_version,
)
from segml.clv.covariates import with_coefficients
from segml.clv.fitting import Estimate, fit_with_fallbacks
from segml.clv.likelihood import (
    gamma_gamma_loglik,
    hessian_log_params,
    standard_errors_from_hessian,
)
from segml.clv.objectives import gamma_gamma_objective, maximise
from segml.clv.spend_covariates import (
    fit_spend_covariates,
    has_spend_covariates,
    restore_spend,
    spend_scale,
    spend_state,
)
from segml.errors import DataError, examples

__all__ = ["GammaGamma"]

_NAMES = ("p", "q", "gamma")


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation (0 when either side is constant or there are < 3 values)."""
    if len(a) < 3:
        return 0.0
    da, db = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((da @ da) * (db @ db)))
    return float(da @ db) / denom if denom > 0 else 0.0


class GammaGamma(JSONPersistence, BaseEstimator):
    """Gamma-Gamma model of the average spend per transaction.

    Each transaction's value is ``Gamma(p, nu)`` with ``nu ~ Gamma(q, gamma)`` across
    customers; a customer's expected average spend shrinks their observed mean of repeat
    transactions towards the population mean, the more so the fewer transactions.

    Only repeat buyers (``frequency > 0``) inform the fit, and the model needs strictly
    positive spend: repeat buyers whose mean repeat spend is zero or negative are excluded
    from the fit and counted in ``n_excluded_`` (with a warning). They still get a
    prediction.

    Parameters
    ----------
    compress : bool, default True
        Fit on unique ``(frequency, monetary_value)`` rows weighted by their counts.
    covariates : list of str, optional
        Customer attributes that scale spend: ``gamma_i = gamma exp(delta' z_i)``, so
        ``exp(delta)`` multiplies the expected spend per transaction (the likelihood is in
        :mod:`segml.clv.spend_covariates`).
    standardize, reference_levels
        How covariates are encoded, as for :class:`segml.BetaGeo`.

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``gamma`` (lifetimes calls ``gamma`` ``v``).
    log_likelihood_ : float
        Sum of the log densities of the observed mean spends.
    standard_errors_ : dict
        Asymptotic standard errors.
    population_mean_spend_ : float
        ``p * gamma / (q - 1)``, the expected spend of a customer with no history (with
        covariates: at zero, or the reference levels).
    coefficients_, design_, vcov_
        With covariates: ``spend.<column>`` coefficients, their encoding, the covariance of
        the log parameters and coefficients.
    n_fitted_ : int
        Repeat buyers the model was fitted on.
    n_excluded_ : dict
        Customers not used in the fit, by reason.
    frequency_spend_correlation_ : float
        Pearson correlation of frequency and mean spend among the fitted customers; the
        model assumes it is near zero (a warning is given above 0.3 in absolute value).

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> gg = segml.GammaGamma().fit(table)
    >>> round(gg.params_["p"], 2), round(gg.population_mean_spend_, 2)
    (6.25, 35.17)
    """

    def __init__(
        self,
        *,
        compress: bool = True,
        covariates: list[str] | None = None,
        standardize: bool = False,
        reference_levels: dict[str, Any] | None = None,
    ) -> None:
        self.compress = compress
        self.covariates = covariates
        self.standardize = standardize
        self.reference_levels = reference_levels

    @staticmethod
    def _arrays(table: pd.DataFrame, who: str) -> tuple[np.ndarray, np.ndarray]:
        require_columns(table, ("frequency", "monetary_value"), who)
        x, m = as_float(table["frequency"]), as_float(table["monetary_value"])
        bad = ~np.isfinite(x) | ~np.isfinite(m) | (x < 0)
        if bad.any():
            raise DataError(
                f"{who}: {int(bad.sum()):,} customers have a missing, infinite or negative "
                f"'frequency' or 'monetary_value', e.g. {examples(table.index[bad])}."
            )
        return x, m

    def fit(self, table: pd.DataFrame, y: Any = None, sample_weight: Any = None) -> GammaGamma:
        """Estimate ``p``, ``q``, ``gamma`` on the repeat buyers with positive spend.

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table with ``frequency`` and ``monetary_value``.
        y : ignored
        sample_weight : array of float, optional
            Number of customers each row stands for (the estimate equals the fit on the
            expanded table).

        Returns
        -------
        self

        Raises
        ------
        segml.DataError
            If no customer has a repeat purchase with positive spend.
        segml.ConvergenceError
            If no estimate with a finite population mean (``q > 1``) is found.
        """
        x, m = self._arrays(table, "GammaGamma.fit")
        weights = check_weights(sample_weight, len(x), "GammaGamma.fit")
        repeat = x > 0
        positive = repeat & (m > 0)
        if weights is not None:
            positive &= weights > 0
        excluded = {
            "no_repeat_purchase": int((~repeat).sum()),
            "non_positive_spend": int((repeat & ~positive).sum()),
        }
        if not positive.any():
            raise DataError(
                "GammaGamma.fit: no customer has a repeat purchase with positive spend "
                f"({excluded['no_repeat_purchase']:,} customers without a repeat purchase, "
                f"{excluded['non_positive_spend']:,} with zero or negative mean spend). The "
                "spend model needs repeat buyers; lengthen the calibration window or use "
                "a frequency model alone."
            )
        if excluded["non_positive_spend"]:
            warnings.warn(
                f"GammaGamma: {excluded['non_positive_spend']:,} repeat buyers with zero or "
                "negative mean spend are excluded from the spend fit (the model needs "
                "positive spend); they still get a prediction.",
                stacklevel=2,
            )
        fx, fm = x[positive], m[positive]
        fw = None if weights is None else weights[positive]
        data = (
            Compressed.of(fx, fm, weights=fw)
            if self.compress
            else Compressed.identity(fx, fm, weights=fw)
        )
        cx, cm, w = data.column(0), data.column(1), data.weights
        estimate = self._estimate(cx, cm, w)
        params, hessian, loglik = estimate.params, estimate.hessian, estimate.log_likelihood
        for stale in ("coefficients_", "design_", "vcov_", "_layout", "_theta"):
            self.__dict__.pop(stale, None)
        if has_spend_covariates(self):  # from the estimate without them
            estimate = fit_spend_covariates(self, table, positive, fx, fm, fw, params)
            params, hessian, loglik = estimate.params, estimate.hessian, estimate.log_likelihood

        def total(log_theta: np.ndarray) -> float:
            p = dict(zip(_NAMES, np.exp(log_theta), strict=True))
            return float(np.sum(w * gamma_gamma_loglik(p, cx, cm)))

        self.params_ = params
        self.log_likelihood_ = (
            total(np.log([params[n] for n in _NAMES])) if loglik is None else loglik
        )
        if hessian is None:
            hessian = hessian_log_params(total, np.log([params[n] for n in _NAMES]))
        if not hasattr(self, "_layout"):
            self.standard_errors_ = standard_errors_from_hessian(hessian, params)
        self._log_hessian = hessian
        self.population_mean_spend_ = params["p"] * params["gamma"] / (params["q"] - 1)
        self.n_fitted_ = int(positive.sum()) if fw is None else round(float(fw.sum()))
        self.n_excluded_ = excluded
        corr = _correlation(fx, fm)
        self.frequency_spend_correlation_ = corr
        if abs(corr) > 0.3:
            warnings.warn(
                f"GammaGamma assumes spend is independent of frequency, but their "
                f"correlation among repeat buyers is {corr:.2f}; expected spend may be biased.",
                stacklevel=2,
            )
        self.fit_info_ = estimate.info
        if hasattr(self, "design_"):
            self.fit_info_["covariates"] = [c.describe() for c in self.design_.covariates]
        return self

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Intervals of the parameters: Wald on the log scale, ``exp(log t +- z se / t)``.

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter: ``estimate``, ``lower``, ``upper``.
        """
        check_is_fitted(self, "params_")
        out = log_wald_interval(self.params_, self.standard_errors_, level)
        if hasattr(self, "coefficients_"):  # coefficients: on their own (linear) scale
            out = with_coefficients(out, self, level)
        return out

    def _estimate(self, x: np.ndarray, m: np.ndarray, w: np.ndarray) -> Estimate:
        """The estimate by segml's maximum likelihood, lifetimes as the fallback."""
        total_w = float(w.sum())
        # The data barely compress, so lifetimes' numerical gradients are slow at scale:
        # segml's analytic gradient first. The start (p = 1, q = 2) puts the population mean
        # at the observed one.
        mean_m = float(np.average(m, weights=w))

        def objective(log_theta: np.ndarray) -> float:
            p = dict(zip(_NAMES, np.exp(log_theta), strict=True))
            with np.errstate(all="ignore"):
                value = -float(np.sum(w * gamma_gamma_loglik(p, x, m))) / total_w
            return value if np.isfinite(value) else 1e300

        def polish(
            start: dict[str, float], attempts: list[str]
        ) -> tuple[float, dict[str, float]] | None:
            res = minimize(objective, np.log([start[n] for n in _NAMES]), method="L-BFGS-B")
            attempts.append(f"segml L-BFGS-B: {'converged' if res.success else res.message}")
            own = dict(zip(_NAMES, map(float, np.exp(res.x)), strict=True))
            if np.all(np.isfinite(res.x)) and own["q"] > 1 and res.fun < 1e299:
                return -res.fun * total_w, own
            return None

        return fit_with_fallbacks(
            names=_NAMES,
            own=lambda: maximise(
                gamma_gamma_objective(x, m, w), np.log([1.0, 2.0, mean_m]), total_w
            ),
            accept=lambda params, mle: bool(mle.converged) and params["q"] > 1,
            lifetimes=lambda start: engine.fit_gamma_gamma(x, m, w, start),
            lifetimes_starts=(None, [1.0, 1.0, 1.0], [0.0, 2.0, 3.0]),
            total_loglik=lambda params: -objective(np.log([params[n] for n in _NAMES])) * total_w,
            valid=lambda params, value: params["q"] > 1 and bool(np.isfinite(value)),
            polish=polish,
            last_resort=[{"p": 1.0, "q": 2.0, "gamma": float(np.mean(m))}],
            failure=lambda attempts: (
                f"Gamma-Gamma did not find an estimate with a finite mean spend (q > 1) on "
                f"{int(total_w):,} repeat buyers after {len(attempts)} attempts: "
                f"{'; '.join(attempts)}. Spend may be too heavy-tailed; check extreme "
                "amounts (refunds, bulk orders) or cap them before fitting."
            ),
        )

    def expected_spend(self, table: pd.DataFrame) -> pd.Series:
        """Expected average spend per future transaction, E(M | x, m_x).

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table with ``frequency`` and ``monetary_value``.

        Returns
        -------
        pandas.Series
            Indexed like ``table``; customers without repeat purchases get the
            population mean.
        """
        check_is_fitted(self, "params_")
        x, m = self._arrays(table, "GammaGamma.expected_spend")
        p, q = self.params_["p"], self.params_["q"]
        g = spend_scale(self, table, "GammaGamma.expected_spend")
        m = np.where(x > 0, m, 0.0)
        value = p * (g + x * m) / (p * x + q - 1)
        return pd.Series(value, index=table.index, name="expected_spend")

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as a JSON-able dictionary."""
        check_is_fitted(self, "params_")
        return {
            "model": "gamma_gamma",
            "params": dict(self.params_),
            "log_likelihood": self.log_likelihood_,
            "standard_errors": dict(self.standard_errors_),
            "population_mean_spend": self.population_mean_spend_,
            "n_fitted": self.n_fitted_,
            "n_excluded": dict(self.n_excluded_),
            "frequency_spend_correlation": self.frequency_spend_correlation_,
            "fit_info": self.fit_info_,
            "compress": self.compress,
            "segml_version": segml_version(),
            **({"covariates": spend_state(self)} if hasattr(self, "_layout") else {}),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> GammaGamma:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        if state.get("model") != "gamma_gamma":
            raise DataError(f"model {state.get('model')!r} is not a Gamma-Gamma spend model.")
        obj = cls(compress=bool(state.get("compress", True)))
        obj.params_ = {n: float(state["params"][n]) for n in _NAMES}
        obj.log_likelihood_ = float(state["log_likelihood"])
        obj.standard_errors_ = {k: float(v) for k, v in state["standard_errors"].items()}
        obj.population_mean_spend_ = float(state["population_mean_spend"])
        obj.n_fitted_ = int(state["n_fitted"])
        obj.n_excluded_ = {k: int(v) for k, v in state["n_excluded"].items()}
        obj.frequency_spend_correlation_ = float(state["frequency_spend_correlation"])
        obj.fit_info_ = dict(state.get("fit_info", {}))
        if "covariates" in state:
            restore_spend(obj, state["covariates"])
        return obj
