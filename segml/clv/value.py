"""Customer lifetime value: a frequency model, a spend model, a margin and discounting.

CLV over a horizon H is ``margin * E[spend] * D(H)`` with ``D(H)`` the expected number of
purchases in ``(T, T + H]`` discounted continuously at the annual rate ``d``:

    D(H) = integral_0^H exp(-delta t) dE[X(t)],    delta = ln(1 + d) * (unit length in years)

A purchase t units ahead is worth ``(1 + d) ** -(t / units_per_year)``: exact for any unit
(a year is 365.2425 days), unlike lifetimes' loop over 30-day (or 4.345-week) months. The
integral is computed by parts with 32-point Gauss-Legendre quadrature of the model's
conditional expectation, on the unique (x, t_x, T) rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from segml._units import UNIT_DAYS, span_words
from segml._units import unit_key as _unit
from segml.clv._base import JSONPersistence, require_columns, segml_version
from segml.clv.conditional import Predictor
from segml.clv.discount import discount_nodes
from segml.clv.frequency import FREQUENCY_MODELS, FrequencyModel
from segml.clv.prospects import prospect_values
from segml.clv.selection import dropout_test, fit_nbd, no_dropout_words, select_frequency
from segml.clv.spend import GammaGamma
from segml.clv.uncertainty import (
    ParameterDraws,
    bootstrap,
    parameter_intervals,
    predictive_intervals,
)
from segml.data.table import table_metadata
from segml.errors import DataError, ModelError, examples

__all__ = ["CLVModel", "discount_rate_per_unit"]

_YEAR_DAYS = 365.2425
_CHOICES = ("bgnbd", "pnbd", "mbgnbd", "nbd", "bgcnbd", "mbgcnbd", "auto")


def discount_rate_per_unit(annual_rate: float, unit: str) -> float:
    """Continuous discount rate per time unit equivalent to an annual rate.

    Parameters
    ----------
    annual_rate : float
        Annual discount rate, e.g. 0.10 for 10 % a year.
    unit : {"D", "W", "M"}
        Time unit.

    Returns
    -------
    float
        ``ln(1 + annual_rate) * unit_days / 365.2425``.

    Examples
    --------
    >>> from segml.clv.value import discount_rate_per_unit
    >>> round(discount_rate_per_unit(0.10, "M") * 12, 6) == round(float(np.log(1.1)), 6)
    True
    """
    if not np.isfinite(annual_rate) or annual_rate < 0:
        raise DataError(f"discount_rate must be a finite annual rate >= 0, got {annual_rate!r}.")
    return float(np.log1p(annual_rate) * UNIT_DAYS[_unit(unit)] / _YEAR_DAYS)


class CLVModel(JSONPersistence, BaseEstimator):
    """Customer lifetime value from a purchase-frequency model and the Gamma-Gamma spend model.

    Parameters
    ----------
    frequency : {"bgnbd", "pnbd", "mbgnbd", "nbd", "bgcnbd", "mbgcnbd", "auto"} or FrequencyModel
        Purchase model, default ``"bgnbd"`` (``"nbd"``: no dropout; ``"bgcnbd"`` and
        ``"mbgcnbd"``: regular buyers, k chosen by likelihood). ``"auto"`` fits the four
        Poisson models, and the two CNBD-k ones when the table has ``litt`` and they find
        regularity (k > 1), and keeps the one with the lowest mean absolute error of
        holdout purchases when the table has a holdout window, else the lowest BIC; an
        estimate at the no-dropout edge is left out with its reason (the NBD is that
        limit). ``selection_`` records the scores, the reason, the likelihood-ratio test of
        dropout against the NBD, the regularity found and, when the chosen model has no
        dropout, ``no_dropout`` in words.
    spend : {"gamma_gamma"} or GammaGamma, default "gamma_gamma"
        Spend model. An estimator (of either kind) is cloned and fitted as configured, e.g.
        ``frequency=segml.ParetoNBD(purchase_covariates=["plan"])`` or
        ``spend=segml.GammaGamma(covariates=["plan"])`` for covariates.
    margin : float, default 1.0
        Gross-margin rate applied to spend, so that CLV is profit rather than revenue.
    unit : {"D", "W", "M"}, optional
        Time unit of the table; read from the table made by :func:`segml.summarize` when
        not given. Needed to discount.
    compress : bool, default True
        Fit on compressed unique rows (identical estimates, much faster).

    Attributes
    ----------
    frequency_model_ : FrequencyModel
        The fitted purchase model.
    spend_model_ : GammaGamma
        The fitted spend model.
    selection_ : dict
        How the frequency model was chosen.
    unit_ : str or None
        Time unit of the table the model was fitted on.

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> clv = segml.CLVModel().fit(table)
    >>> scores = clv.predict(table, horizon=52, discount_rate=0.1)
    >>> list(scores.columns)
    ['expected_purchases', 'p_alive', 'expected_spend', 'clv']
    >>> bool((scores["clv"] >= 0).all())
    True
    """

    def __init__(
        self,
        frequency: str = "bgnbd",
        spend: str = "gamma_gamma",
        *,
        margin: float = 1.0,
        unit: str | None = None,
        compress: bool = True,
    ) -> None:
        self.frequency = frequency
        self.spend = spend
        self.margin = margin
        self.unit = unit
        self.compress = compress

    def _check_params(self) -> None:
        if isinstance(self.frequency, FrequencyModel):
            pass
        elif self.frequency not in _CHOICES:
            raise DataError(
                f"frequency={self.frequency!r} is not a frequency model; choose one of "
                f"{list(_CHOICES)}."
            )
        if not isinstance(self.spend, GammaGamma) and self.spend != "gamma_gamma":
            raise DataError(f"spend={self.spend!r}: the only spend model is 'gamma_gamma'.")
        if not (np.isfinite(self.margin) and 0 < self.margin <= 1):
            raise DataError(f"margin must be a rate in (0, 1], got {self.margin!r}.")

    def fit(self, table: pd.DataFrame, y: Any = None) -> CLVModel:
        """Fit the frequency and spend models on a customer table.

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table from :func:`segml.summarize` (``frequency``, ``recency``,
            ``T``, ``monetary_value``; holdout columns for ``frequency="auto"``).
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        require_columns(table, ("frequency", "recency", "T", "monetary_value"), "CLVModel.fit")
        self.__dict__.pop("draws_", None)  # draws of an earlier fit describe another estimate
        unit = self.unit or table_metadata(table).get("unit")
        self.unit_ = None if unit is None else _unit(unit)
        if isinstance(self.frequency, FrequencyModel):  # an estimator, as configured
            model = clone(self.frequency).fit(table)
            name = model._model
        elif self.frequency != "auto":
            model = FREQUENCY_MODELS[self.frequency](compress=self.compress).fit(table)
            name = self.frequency
        if self.frequency == "auto":
            self.frequency_model_, self.selection_ = select_frequency(table, self.compress)
            name = "auto"
        else:
            self.frequency_model_ = model
            self.selection_ = {
                "criterion": "fixed",
                "chosen": name,
                "reason": f"frequency={self.frequency!r} was requested",
            }
            if hasattr(model, "regularity"):
                self.selection_["reason"] += f"; {model.regularity()}"

            poisson = name in ("bgnbd", "pnbd", "mbgnbd")  # the NBD is their limit
            if poisson and not hasattr(model, "coefficients_"):
                self.selection_["dropout_test"] = dropout_test(
                    {name: model, **fit_nbd(table, self.compress)}
                )
        window = span_words(float(np.max(table["T"].to_numpy("float64"))), self.unit_)
        self.selection_["no_dropout"] = no_dropout_words(self.selection_, window, name)
        spend = self.spend if isinstance(self.spend, GammaGamma) else GammaGamma()
        self.spend_model_ = clone(spend).set_params(compress=self.compress).fit(table)
        return self

    def default_horizon(self) -> float:
        """One year in the model's time unit (52.18 weeks, 365.24 days or 12 months)."""
        check_is_fitted(self, "frequency_model_")
        if self.unit_ is None:
            raise DataError(
                "the table's time unit is unknown; pass horizon=... explicitly or "
                "CLVModel(unit='W')."
            )
        return _YEAR_DAYS / UNIT_DAYS[self.unit_]

    def probability_of_purchases(
        self, table: pd.DataFrame, n: int | Sequence[int], horizon: float | None = None
    ) -> pd.Series | pd.DataFrame:
        """P(exactly ``n`` purchases in the next ``horizon`` units | history), per customer.

        The fitted frequency model's
        :meth:`~segml.clv.frequency.FrequencyModel.probability_of_purchases`; ``horizon``
        defaults to one year.
        """
        check_is_fitted(self, "frequency_model_")
        h = self.default_horizon() if horizon is None else horizon
        return self.frequency_model_.probability_of_purchases(table, n, h)

    def discounted_purchases(
        self, table: pd.DataFrame, horizon: float, discount_rate: float
    ) -> pd.Series:
        """Expected purchases in the next ``horizon`` units, discounted at the annual rate.

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table.
        horizon : float
            Length of the future window in the table's unit; ``numpy.inf`` (with a
            positive rate) gives the discounted expected residual transactions (DERT), the
            purchase side of a lifetime value (:mod:`segml.clv.discount`).
        discount_rate : float
            Annual discount rate (0.1 = 10 %).

        Returns
        -------
        pandas.Series
        """
        check_is_fitted(self, "frequency_model_")
        model = self.frequency_model_
        h = float(horizon)
        if np.isnan(h) or h < 0 or (np.isinf(h) and not discount_rate > 0):
            raise DataError(
                f"horizon must be >= 0, and infinite only with a positive discount rate; got "
                f"horizon={horizon!r}, discount_rate={discount_rate!r}."
            )
        if discount_rate == 0:
            return model.expected_purchases(table, horizon)
        delta = self._delta(discount_rate)
        data = model._compressed(table)  # once: every node is evaluated on the unique rows
        return pd.Series(
            self._discounted_unique(model.predictor(data), h, delta)[data.inverse],
            index=table.index,
            name="discounted_purchases",
        )

    def _delta(self, discount_rate: float) -> float:
        """The annual discount rate as a continuous rate per time unit of the table."""
        if self.unit_ is None:
            raise DataError(
                "discounting needs the table's time unit: build the table with "
                "segml.summarize or pass CLVModel(unit='W' | 'D' | 'M')."
            )
        return discount_rate_per_unit(discount_rate, self.unit_)

    @staticmethod
    def _discounted_unique(predictor: Predictor, h: float, delta: float) -> np.ndarray:
        """Discounted expected purchases over ``(0, h]`` at continuous rate ``delta``."""
        horizons, weights = discount_nodes(h, delta)
        return predictor.expected_sum(horizons.tolist(), weights.tolist())

    def bootstrap(
        self,
        table: pd.DataFrame,
        n_draws: int = 200,
        random_state: int | np.random.Generator | None = 0,
        method: str = "auto",
    ) -> CLVModel:
        """Draw the parameters' uncertainty: refit on ``n_draws`` resamples of the customers.

        Parameters
        ----------
        table : pandas.DataFrame
            The customer table the model was fitted on.
        n_draws : int, default 200
        random_state : int or numpy.random.Generator, optional
        method : {"auto", "refit", "normal"}, default "auto"
            Refits on multinomial weights of the compressed rows (the bootstrap over
            customers), or draws from the MLE's asymptotic normal; ``"auto"`` refits up to
            100,000 customers (see :func:`segml.clv.uncertainty.bootstrap`).

        Returns
        -------
        self
            With ``draws_`` (:class:`segml.clv.uncertainty.ParameterDraws`), used by
            ``predict(..., interval=...)``.
        """
        check_is_fitted(self, "frequency_model_")
        self.draws_ = bootstrap(self, table, n_draws, random_state, method)
        return self

    def predict(
        self,
        table: pd.DataFrame,
        horizon: float | None = None,
        discount_rate: float = 0.0,
        *,
        interval: float | None = None,
        interval_kind: str = "predictive",
        random_state: int | np.random.Generator | None = 0,
    ) -> pd.DataFrame:
        """Score customers: expected purchases, P(alive), expected spend and CLV.

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table with ``frequency``, ``recency``, ``T``, ``monetary_value``.
        horizon : float, optional
            Future window in the table's unit; default one year.
        discount_rate : float, default 0.0
            Annual discount rate.
        interval : float, optional
            A level (e.g. 0.9): add ``<column>_lower`` and ``<column>_upper`` for each of
            the four columns, from the parameter draws of :meth:`bootstrap`.
        interval_kind : {"predictive", "parameter"}, default "predictive"
            ``"predictive"``: what the customer will do, the parameters' uncertainty and the
            purchase and dropout process itself (for ``expected_purchases`` and ``clv``; see
            :func:`segml.clv.uncertainty.predictive_intervals`); ``"parameter"``: the
            uncertainty of the expectations alone, which holds about 1 % of actual counts.
        random_state : int or numpy.random.Generator, optional
            Seed of the predictive draws.

        Returns
        -------
        pandas.DataFrame
            ``expected_purchases`` (undiscounted, over the horizon), ``p_alive``,
            ``expected_spend`` (per transaction) and ``clv`` (discounted, times margin),
            indexed like ``table``; with ``interval``, the bounds, and ``attrs["interval"]``
            (kind, level, draws, failed refits, and the totals' intervals over the table).

        Raises
        ------
        segml.ModelError
            If any prediction is NaN, infinite or negative (it is never passed on silently).
        """
        check_is_fitted(self, "frequency_model_")
        h = self.default_horizon() if horizon is None else float(horizon)
        if not np.isfinite(h) or h < 0:
            raise DataError(f"horizon must be finite and >= 0, got {horizon!r}.")
        discount_rate_per_unit(discount_rate, self.unit_ or "W")  # validates the rate
        model = self.frequency_model_
        data = model._compressed(table)  # validated and compressed once for every column
        predictor = model.predictor(data)
        purchases = predictor.expected(h)
        if discount_rate == 0:
            discounted = purchases
        else:
            discounted = self._discounted_unique(predictor, h, self._delta(discount_rate))
        spend = self.spend_model_.expected_spend(table).to_numpy()
        inv = data.inverse
        out = pd.DataFrame(
            {
                "expected_purchases": purchases[inv],
                "p_alive": predictor.p_alive[inv],
                "expected_spend": spend,
                "clv": self.margin * spend * discounted[inv],
            },
            index=table.index,
        )
        unique_ok = np.isfinite(purchases) & np.isfinite(discounted) & (discounted >= 0)
        unique_ok &= np.isfinite(predictor.p_alive) & (purchases >= 0)
        bad = ~unique_ok[inv] | ~np.isfinite(spend) | (spend < 0)
        if bad.any():
            raise ModelError(
                f"CLVModel.predict produced NaN, infinite or negative values for "
                f"{int(bad.sum()):,} customers, e.g. {examples(table.index[bad])}; their "
                "inputs are outside what the fitted model can score (check extreme "
                "frequency, recency or T values)."
            )
        if interval is None:
            return out
        if not 0 < float(interval) < 1:
            raise DataError(f"interval must be a level in (0, 1), got {interval!r}.")
        if not hasattr(self, "draws_"):
            raise DataError(
                "predict(..., interval=...) needs parameter draws: call "
                "clv.bootstrap(training_table) after fit (200 refits on the compressed rows)."
            )
        if interval_kind not in ("predictive", "parameter"):
            raise DataError(f"interval_kind={interval_kind!r}: choose 'predictive' or 'parameter'.")
        if interval_kind == "parameter":
            bounds, totals = parameter_intervals(
                self, table, self.draws_, h, discount_rate, float(interval)
            )
        else:
            bounds, totals = predictive_intervals(
                self, table, self.draws_, h, discount_rate, float(interval), random_state
            )
        out = out.join(bounds)
        out.attrs["interval"] = {
            "kind": interval_kind,
            "level": float(interval),
            "n_draws": len(self.draws_.frequency),
            "draws": self.draws_.method,
            "failed_refits": self.draws_.failed,
            "totals": {
                "expected_purchases": [
                    float(purchases @ data.weights),
                    *totals["expected_purchases"],
                ],
                "clv": [float(out["clv"].sum()), *totals["clv"]],
            },
        }
        return out

    def predict_new(
        self,
        attributes: pd.DataFrame,
        horizon: float | None = None,
        discount_rate: float = 0.0,
        *,
        interval: float | None = None,
    ) -> pd.DataFrame:
        """Value of prospects: customers not yet acquired, from their attributes alone.

        Parameters
        ----------
        attributes : pandas.DataFrame
            One row per prospect with the models' covariate columns (any frame without
            covariates: every prospect then gets the population's value).
        horizon : float, optional
            Future window after acquisition, in the table's unit; default one year.
        discount_rate : float, default 0.0
            Annual discount rate.
        interval : float, optional
            A level: add ``<column>_lower`` / ``_upper`` from the draws of :meth:`bootstrap`.

        Returns
        -------
        pandas.DataFrame
            ``expected_purchases`` (repeat purchases in the horizon, undiscounted),
            ``expected_spend`` (per transaction) and ``clv`` (the acquisition purchase plus
            the discounted repeat purchases, times spend and margin); formulas in
            :mod:`segml.clv.prospects`.

        Examples
        --------
        >>> import segml
        >>> tx, customers = segml.load_apparel()
        >>> table = segml.summarize(tx, calibration_end="2006-12-31", customers=customers)
        >>> clv = segml.CLVModel(
        ...     frequency=segml.ParetoNBD(purchase_covariates=["Channel"]),
        ...     spend=segml.GammaGamma(covariates=["Channel"]),
        ... ).fit(table)
        >>> new = clv.predict_new(customers.drop_duplicates("Channel"), horizon=52)
        >>> bool(new["clv"].iloc[0] != new["clv"].iloc[1])
        True
        """
        check_is_fitted(self, "frequency_model_")
        h = self.default_horizon() if horizon is None else float(horizon)
        return prospect_values(self, attributes, h, discount_rate, interval)

    def evaluate_holdout(self, table: pd.DataFrame) -> Any:
        """Holdout accuracy of the frequency model; see :func:`segml.evaluate_holdout`."""
        from segml.clv.holdout import evaluate_holdout

        return evaluate_holdout(self.frequency_model_, table)

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as a JSON-able dictionary."""
        check_is_fitted(self, "frequency_model_")
        return {
            "model": "clv",
            "frequency": self.frequency_model_._model
            if isinstance(self.frequency, FrequencyModel)
            else self.frequency,
            "spend": "gamma_gamma",
            "margin": self.margin,
            "unit": self.unit_,
            "compress": self.compress,
            "selection": self.selection_,
            "frequency_model": self.frequency_model_.to_dict(),
            "spend_model": self.spend_model_.to_dict(),
            "segml_version": segml_version(),
            **({"draws": asdict(self.draws_)} if hasattr(self, "draws_") else {}),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> CLVModel:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        if state.get("model") != "clv":
            raise DataError(f"model {state.get('model')!r} is not a segml CLV model.")
        obj = cls(
            frequency=state["frequency"],
            spend=state["spend"],
            margin=float(state["margin"]),
            unit=state.get("unit"),
            compress=bool(state.get("compress", True)),
        )
        obj.unit_ = state.get("unit")
        obj.selection_ = dict(state["selection"])
        obj.frequency_model_ = FrequencyModel.from_dict(state["frequency_model"])
        obj.spend_model_ = GammaGamma.from_dict(state["spend_model"])
        if "draws" in state:  # parameter draws travel with the model: intervals after loading
            obj.draws_ = ParameterDraws(**state["draws"])
        return obj
