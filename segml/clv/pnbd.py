"""The Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987)."""

from __future__ import annotations

import numpy as np

from segml.clv.frequency import FrequencyModel
from segml.errors import BoundaryError

__all__ = ["ParetoNBD"]


class ParetoNBD(FrequencyModel):
    """Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).

    Customers buy as a Poisson process with rate ``lambda ~ Gamma(r, alpha)`` and have an
    exponential lifetime with rate ``mu ~ Gamma(s, beta)``.

    Parameters
    ----------
    compress, warm_start, purchase_covariates, dropout_covariates, constrained_covariates
        As for :class:`BetaGeo`.
    covariate_form, penalty, standardize, reference_levels
        As for :class:`BetaGeo`.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta``.
    log_likelihood_, standard_errors_, aic_, bic_, n_customers_, n_unique_rows_, fit_info_
        As for :class:`BetaGeo`; the standard errors come from segml's numerical
        Hessian (lifetimes gives none for this model).

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> round(segml.ParetoNBD().fit(table).log_likelihood_, 1)
    -9595.0
    """

    _model = "pnbd"
    _label = "Pareto/NBD"
    _param_names = ("r", "alpha", "s", "beta")

    def _own_start(
        self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> dict[str, float]:
        mean_t = float(np.average(np.maximum(T, 1e-9), weights=w))
        return dict(zip(self._param_names, (1.0, mean_t, 1.0, mean_t), strict=True))

    def _check_boundary(
        self,
        est: dict[str, float],
        data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        ses: dict[str, float] | None = None,
    ) -> None:
        n_rows, n_customers = len(data[3]), float(data[3].sum())
        # as s and beta grow together the dropout rates become identical (CV 1 / sqrt(s)):
        # a limit the likelihood approaches but never attains
        if ses is None and est["s"] >= 20:
            raise BoundaryError(
                f"Pareto/NBD did not converge on {n_rows:,} unique customer rows "
                f"({round(n_customers):,} customers): the likelihood keeps rising as s and "
                f"beta grow together (s = {est['s']:.4g}, beta = {est['beta']:.4g}, mean "
                f"dropout rate s / beta = {est['s'] / est['beta']:.4g} per time unit), i.e. "
                "the data show no heterogeneity in dropout rates and the estimate is at the "
                "edge of the parameter space. Use BetaGeo (or ModifiedBetaGeo), whose dropout "
                "process fits such data."
            )
        super()._check_boundary(est, data, ses)

    def _lifetimes_starts(self, T: np.ndarray) -> list[list[float] | None]:
        # lifetimes' Pareto/NBD fitter: raw (not log) parameters, time scaled to max(T) = 10
        return [[1.0, 1.0, 1.0, 1.0], [0.5, 2.0, 0.5, 2.0], [2.0, 0.5, 2.0, 5.0]]
