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
from scipy.stats import chi2
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from segml._units import UNIT_DAYS, span_words
from segml._units import unit_key as _unit
from segml.clv._base import JSONPersistence, require_columns, segml_version
from segml.clv.conditional import ConditionalPredictor
from segml.clv.discount import discount_nodes
from segml.clv.frequency import FREQUENCY_MODELS, FrequencyModel
from segml.clv.spend import GammaGamma
from segml.clv.uncertainty import (
    ParameterDraws,
    bootstrap,
    parameter_intervals,
    predictive_intervals,
)
from segml.data.table import table_metadata
from segml.errors import BoundaryError, ConvergenceError, DataError, ModelError, examples

__all__ = ["CLVModel", "discount_rate_per_unit"]

_YEAR_DAYS = 365.2425
_CHOICES = ("bgnbd", "pnbd", "mbgnbd", "nbd", "auto")


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
    frequency : {"bgnbd", "pnbd", "mbgnbd", "nbd", "auto"}, default "bgnbd"
        Purchase model (``"nbd"``: no dropout). ``"auto"`` fits all four and keeps the one
        with the lowest mean absolute error of holdout purchases when the table has a
        holdout window, else the lowest BIC; an estimate at the no-dropout edge is left out
        with its reason (the NBD is that limit). ``selection_`` records the scores, the
        reason, the likelihood-ratio test of dropout against the NBD and, when the chosen
        model has no dropout, ``no_dropout`` in words.
    spend : {"gamma_gamma"}, default "gamma_gamma"
        Spend model.
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
        if self.spend != "gamma_gamma":
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
            self.frequency_model_, self.selection_ = self._select(table)
            name = "auto"
        else:
            self.frequency_model_ = model
            self.selection_ = {
                "criterion": "fixed",
                "chosen": name,
                "reason": f"frequency={self.frequency!r} was requested",
            }
            if name != "nbd" and not hasattr(model, "coefficients_"):
                self.selection_["dropout_test"] = _dropout_test(
                    {name: model, **_nbd(table, self.compress)}
                )
        window = span_words(float(np.max(table["T"].to_numpy("float64"))), self.unit_)
        self.selection_["no_dropout"] = _no_dropout_words(self.selection_, window, name)
        self.spend_model_ = GammaGamma(compress=self.compress).fit(table)
        return self

    def _select(self, table: pd.DataFrame) -> tuple[FrequencyModel, dict[str, Any]]:
        fitted: dict[str, FrequencyModel] = {}
        failed: dict[str, str] = {}
        boundary: dict[str, str] = {}
        for name in ("bgnbd", "pnbd", "mbgnbd", "nbd"):
            try:
                fitted[name] = FREQUENCY_MODELS[name](compress=self.compress).fit(table)
            except BoundaryError as exc:
                boundary[name] = str(exc)
            except ConvergenceError as exc:
                failed[name] = str(exc)
        if not fitted:
            raise ConvergenceError(
                "no frequency model converged: "
                + "; ".join(f"{k}: {v}" for k, v in {**boundary, **failed}.items())
            )
        if {"holdout_frequency", "holdout_duration"} <= set(table.columns):
            actual = table["holdout_frequency"].to_numpy("float64")
            scores = {
                name: float(
                    np.mean(np.abs(m.expected_purchases(table, table["holdout_duration"]) - actual))
                )
                for name, m in fitted.items()
            }
            criterion = "holdout_mae"
            what = "mean absolute error of holdout purchases per customer"
        else:
            scores = {name: float(m.bic_) for name, m in fitted.items()}
            criterion = "bic"
            what = "BIC (no holdout window in the table)"
        chosen = min(scores, key=lambda k: scores[k])
        ranked = ", ".join(f"{k} {v:.4f}" for k, v in sorted(scores.items(), key=lambda kv: kv[1]))
        reason = f"lowest {what}: {ranked}"
        test = _dropout_test(fitted)
        if test is not None and test["p_value"] > _DROPOUT_ALPHA:
            # The data do not tell dropout from none: the simpler model, whatever the noise
            # in the scores says.
            chosen = "nbd"
            reason = (
                f"no dropout identified: the best-fitting dropout model ({test['model']}) "
                f"fits no better than the NBD (likelihood-ratio p = {test['p_value']:.2f}); "
                f"{what}: {ranked}"
            )
        if boundary:
            reason += "; at the edge of the parameter space (left out): " + ", ".join(boundary)
        if failed:
            reason += "; not converged (left out): " + ", ".join(failed)
        selection = {
            "criterion": criterion,
            "scores": scores,
            "chosen": chosen,
            "reason": reason,
            "boundary": boundary,
            "not_converged": failed,
            "dropout_test": test,
        }
        return fitted[chosen], selection

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
    def _discounted_unique(predictor: ConditionalPredictor, h: float, delta: float) -> np.ndarray:
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
            "spend": self.spend,
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


_DROPOUT_ALPHA = 0.05


def _nbd(table: pd.DataFrame, compress: bool) -> dict[str, FrequencyModel]:
    """The NBD fitted on ``table`` (empty when it cannot be estimated)."""
    try:
        return {"nbd": FREQUENCY_MODELS["nbd"](compress=compress).fit(table)}
    except ConvergenceError:
        return {}


def _no_dropout_words(selection: dict[str, Any], window: str, requested: str) -> str:
    """What the chosen model assumes about dropout, in a sentence ("" when dropout is
    identified)."""
    test = selection.get("dropout_test")
    if selection["chosen"] == "nbd":
        if requested != "auto":
            return "the NBD model has no dropout: CLV assumes every customer stays for the horizon"
        return (
            f"no dropout identified in {window}: CLV assumes every customer stays for the "
            "horizon; a longer calibration window may show churn"
        )
    if test is not None and test["p_value"] > _DROPOUT_ALPHA:
        return (
            f"no dropout identified in {window}: {selection['chosen']} fits no better than the "
            f"NBD, which has none (likelihood-ratio p = {test['p_value']:.2f}), so its P(alive) "
            "rests on its prior, not on the data; frequency='nbd' or 'auto' says so openly"
        )
    return ""


def _dropout_test(fitted: dict[str, FrequencyModel]) -> dict[str, Any] | None:
    """The likelihood-ratio test of the best-fitting dropout model against the NBD.

    The NBD is the dropout models' limit at the edge of their parameter space, so the
    chi-squared reference with two degrees of freedom is conservative.
    """
    if "nbd" not in fitted:
        return None
    others = {k: m for k, m in fitted.items() if k != "nbd"}
    if not others:
        return None
    best = max(others, key=lambda k: others[k].log_likelihood_)
    lr = max(2.0 * (others[best].log_likelihood_ - fitted["nbd"].log_likelihood_), 0.0)
    return {"model": best, "lr": lr, "df": 2, "p_value": float(chi2.sf(lr, 2))}
