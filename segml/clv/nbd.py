"""The NBD purchase model: gamma-Poisson purchasing and no dropout, the limit of the others.

The model for data in which no dropout is identified (:mod:`segml.clv.boundary`); its
log-likelihood is on the footing of BG/NBD's, MBG/NBD's and Pareto/NBD's, so
``CLVModel(frequency="auto")`` compares it with them.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma
from sklearn.utils.validation import check_is_fitted

from segml.clv.fitting import Estimate
from segml.clv.frequency import FrequencyModel
from segml.clv.likelihood import nbd_loglik
from segml.errors import BoundaryError, ConvergenceError

__all__ = ["NBD"]


class NBD(FrequencyModel):
    """NBD purchase model: gamma-Poisson purchasing and no dropout (Ehrenberg 1959).

    Customers buy as a Poisson process with rate ``lambda ~ Gamma(r, alpha)`` and never
    leave: P(alive) is 1 and the expected purchases grow linearly with the horizon. It is the
    limit of BG/NBD and MBG/NBD as ``a -> 0`` and of Pareto/NBD as ``s -> 0``, the model for
    data in which no dropout is identified, and its log-likelihood is on their footing (the
    density of the purchase times), so AIC and BIC compare with theirs.

    Parameters
    ----------
    compress : bool, default True
        Fit on unique ``(frequency, recency, T)`` rows weighted by their counts.
    warm_start : bool, default False
        Ignored: the NBD's likelihood has one maximum, found from the moments at once.
    purchase_covariates, dropout_covariates, constrained_covariates, covariate_form
        Covariates are fitted in :class:`BetaGeo`, :class:`ModifiedBetaGeo` and
        :class:`ParetoNBD`; the NBD refuses them.
    penalty, standardize, reference_levels
        Likewise.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``.
    log_likelihood_, standard_errors_, aic_, bic_, n_customers_, n_unique_rows_, fit_info_
        As for :class:`BetaGeo`.

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> nbd = segml.NBD().fit(table)
    >>> round(nbd.params_["r"], 3), round(nbd.log_likelihood_, 1)
    (0.385, -9763.7)
    """

    _model = "nbd"
    _label = "NBD"
    _param_names = ("r", "alpha")

    def _estimate(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> Estimate:
        """Maximum likelihood with the analytic gradient (the likelihood is smooth and has
        one maximum whenever purchase counts vary more than a Poisson's)."""
        total_w = float(w.sum())
        if not np.any(x > 0):
            raise ConvergenceError(
                f"NBD cannot be estimated on {round(total_w):,} customers: nobody made a repeat "
                "purchase. Try a longer calibration window."
            )

        def negative(theta: np.ndarray) -> tuple[float, np.ndarray]:
            r, alpha = np.exp(theta)
            ll = nbd_loglik({"r": r, "alpha": alpha}, x, t_x, T)
            d_r = digamma(r + x) - digamma(r) + np.log(alpha) - np.log(alpha + T)
            d_alpha = r / alpha - (r + x) / (alpha + T)
            grad = np.array([r * (w @ d_r), alpha * (w @ d_alpha)])
            return -float(w @ ll) / total_w, -grad / total_w

        rate = float(w @ x) / float(w @ np.maximum(T, 1e-9))
        res = minimize(
            negative,
            np.log([1.0, 1.0 / rate]),
            jac=True,
            method="L-BFGS-B",
            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000},
        )
        params = dict(zip(self._param_names, map(float, np.exp(res.x)), strict=True))
        # With ftol this tight the line search can stop "abnormally" at the maximum itself:
        # a vanishing gradient is convergence whatever the status says.
        converged = res.success or float(np.max(np.abs(res.jac))) < 1e-7
        attempt = f"segml L-BFGS-B: {'converged' if converged else res.message}"
        if not converged or params["r"] > 1e4:
            raise BoundaryError(
                f"NBD did not converge on {round(total_w):,} customers ({attempt}; r = "
                f"{params['r']:.4g}, alpha = {params['alpha']:.4g}): purchase counts vary no "
                "more than a Poisson's, so the data show no heterogeneity in purchase rates. "
                + self._hint()
            )
        return Estimate(params, -res.fun * total_w, None, "segml", (attempt,))

    def expected_purchases_new(self, t: float | np.ndarray) -> np.ndarray:
        """Expected repeat purchases by time ``t`` of a customer just acquired, ``r t / alpha``."""
        check_is_fitted(self, "params_")
        return self.params_["r"] * np.asarray(t, float) / self.params_["alpha"]
