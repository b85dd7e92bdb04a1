"""Time-invariant covariates in the purchase-frequency models, by maximum likelihood.

Each customer's parameters are the model's, scaled by the customer's attributes ``z``:

- purchase process (all models): ``alpha_i = alpha exp(-gamma_p' z)``, so ``exp(gamma_p)``
  multiplies the mean purchase rate ``r / alpha``;
- Pareto/NBD dropout: ``beta_i = beta exp(-gamma_d' z)``, so ``exp(gamma_d)`` multiplies
  the mean dropout rate ``s / beta``;
- BG/NBD and MBG/NBD dropout: ``a_i = a exp(gamma_a' z)`` and ``b_i = b exp(gamma_b' z)``
  (separate vectors, PyMC-Marketing's form), or one vector shared by ``a`` and ``b``
  (``covariate_form="shared"``, CLVTools' form);
- a covariate constrained equal across the processes enters ``alpha``, and ``beta`` (or
  ``a`` and ``b`` in the shared form), with one coefficient (CLVTools' ``constr``).

The fit stays on compressed rows: a customer's covariate pattern joins ``(x, t_x, T)`` in
the key, so categorical covariates keep it fast. The log-likelihood is the model's own
(:mod:`segml.clv.likelihood`, evaluated with per-row parameters); its gradient and Hessian
in the coefficients follow by the chain rule from the per-row derivatives in the four
log-parameters (central differences, whose cost does not grow with the number of
covariates). An L2 penalty ``lambda_b ||gamma_b||^2`` per block enters as CLVTools'
objective, ``-LL / n + sum_b lambda_b ||gamma_b||^2``; the penalised objective and the
unpenalised log-likelihood are both reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from segml.clv._base import Compressed
from segml.clv.covariate_gradients import ROW_GRADIENTS
from segml.clv.likelihood import FREQUENCY_LOGLIK, gamma_gamma_loglik
from segml.clv.objectives import maximise
from segml.clv.pnbd_gradients import pnbd_terms
from segml.errors import DataError

__all__ = [
    "Block",
    "Layout",
    "build_layout",
    "coefficient_table",
    "covariate_objective",
    "row_log_params",
]

#: block label -> the parameters it scales and the sign of the exponent, per model and form
_TARGETS: dict[str, dict[str, tuple[tuple[str, int], ...]]] = {
    "pnbd": {
        "purchase": (("alpha", -1),),
        "dropout": (("beta", -1),),
        "constrained": (("alpha", -1), ("beta", -1)),
    },
    "separate": {
        "purchase": (("alpha", -1),),
        "dropout_a": (("a", 1),),
        "dropout_b": (("b", 1),),
    },
    "shared": {
        "purchase": (("alpha", -1),),
        "dropout": (("a", 1), ("b", 1)),
        "constrained": (("alpha", -1), ("a", 1), ("b", 1)),
    },
    # Gamma-Gamma: the scale of the customers' mean-spend distribution, so exp(gamma_s)
    # multiplies the expected spend per transaction p gamma / (q - 1)
    "gg": {"spend": (("gamma", 1),)},
}

#: model -> per-row log-likelihood (the frequency models', and Gamma-Gamma spend as "gg")
LOGLIK = {**FREQUENCY_LOGLIK, "gg": gamma_gamma_loglik}

_STEP = 1e-5  # central differences of each row's log-likelihood in a log-parameter
_EDGE_LOG = 14.0  # |log parameter| beyond this (x 1.2e6) is the edge of the space
_EDGE_COEF = 25.0  # a multiplier beyond exp(25) is a coefficient running to infinity
_EDGE_AB = 1e4  # BG/NBD's a + b beyond this: a dropout probability without heterogeneity


@dataclass(frozen=True)
class Block:
    """One coefficient vector: its label, the parameters it scales, its design columns."""

    label: str
    targets: tuple[tuple[str, int], ...]
    columns: tuple[int, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """Where each estimated quantity sits in the optimiser's vector.

    The vector is the log of the base parameters (those of a customer whose covariates are
    all zero), then each block's coefficients.
    """

    model: str
    base: tuple[str, ...]
    blocks: tuple[Block, ...]

    @property
    def labels(self) -> list[str]:
        """``block.column`` for every coefficient, in order."""
        return [f"{b.label}.{n}" for b in self.blocks for n in b.names]

    @property
    def size(self) -> int:
        return len(self.base) + sum(len(b.columns) for b in self.blocks)

    def jacobian(self, Z: np.ndarray) -> np.ndarray:
        """d log p_j / d theta for each pattern: shape ``(n_patterns, n_base, size)``."""
        J = np.zeros((len(Z), len(self.base), self.size))
        for j in range(len(self.base)):
            J[:, j, j] = 1.0
        start = len(self.base)
        for block in self.blocks:
            width = len(block.columns)
            for name, sign in block.targets:
                j = self.base.index(name)
                J[:, j, start : start + width] += sign * Z[:, list(block.columns)]
            start += width
        return J

    def split(self, theta: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
        """Base parameters (natural scale) and coefficients, by name."""
        k = len(self.base)
        base = dict(zip(self.base, map(float, np.exp(theta[:k])), strict=True))
        return base, dict(zip(self.labels, map(float, theta[k:]), strict=True))


def build_layout(
    model: str,
    base: Sequence[str],
    columns_of: Callable[[Sequence[str]], list[int]],
    design_columns: Sequence[str],
    *,
    purchase: Sequence[str],
    dropout: Sequence[str],
    constrained: Sequence[str],
    form: str,
) -> Layout:
    """The coefficient blocks of a covariate specification (validated)."""
    if form not in ("separate", "shared"):
        raise DataError(f"covariate_form={form!r}: choose 'separate' or 'shared'.")
    targets = _TARGETS["pnbd" if model == "pnbd" else form]
    purchase, dropout, constrained = list(purchase), list(dropout), list(constrained)
    if constrained and "constrained" not in targets:
        raise DataError(
            "constrained_covariates needs one dropout vector to tie to the purchase one: "
            "ParetoNBD, or BetaGeo / ModifiedBetaGeo with covariate_form='shared'."
        )
    loose = [c for c in constrained if c not in purchase or c not in dropout]
    if loose:
        raise DataError(
            f"constrained covariates {loose} must also be in purchase_covariates and "
            "dropout_covariates (a constraint ties the two processes' coefficients)."
        )
    purchase = [c for c in purchase if c not in constrained]
    dropout = [c for c in dropout if c not in constrained]
    wanted: list[tuple[str, list[str]]] = [("purchase", purchase)]
    if "dropout" in targets:
        wanted.append(("dropout", dropout))
    else:
        wanted += [("dropout_a", dropout), ("dropout_b", dropout)]
    wanted.append(("constrained", constrained))
    blocks = []
    for label, names in wanted:
        if names:
            cols = tuple(columns_of(names))
            blocks.append(
                Block(label, targets[label], cols, tuple(design_columns[i] for i in cols))
            )
    return Layout(model, tuple(base), tuple(blocks))


def spend_layout(
    columns_of: Callable[[Sequence[str]], list[int]],
    design_columns: Sequence[str],
    names: Sequence[str],
) -> Layout:
    """Gamma-Gamma with covariates on its scale ``gamma`` (the block ``spend``)."""
    cols = tuple(columns_of(names))
    block = Block("spend", _TARGETS["gg"]["spend"], cols, tuple(design_columns[i] for i in cols))
    return Layout("gg", ("p", "q", "gamma"), (block,))


def row_log_params(layout: Layout, theta: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Each pattern's log-parameters, ``(n_patterns, n_base)``."""
    return np.einsum("gjk,k->gj", layout.jacobian(Z), theta)


def _penalty_vector(layout: Layout, penalty: Mapping[str, float]) -> np.ndarray:
    lam = np.zeros(layout.size)
    start = len(layout.base)
    for block in layout.blocks:
        width = len(block.columns)
        lam[start : start + width] = float(penalty.get(block.label, 0.0))
        start += width
    return lam


@dataclass
class CovariateData:
    """The compressed rows of a covariate fit: the likelihood's columns (``(x, t_x, T)``,
    or ``(x, m)`` for spend), each row's pattern index and weight, the patterns."""

    rows: tuple[np.ndarray, ...]
    pattern: np.ndarray
    w: np.ndarray
    Z: np.ndarray  # one row per pattern
    cell: np.ndarray = field(init=False)  # each row's (x, pattern) cell

    def __post_init__(self) -> None:
        self.cell = Compressed.of(self.rows[0], self.pattern.astype("float64")).inverse

    @cached_property
    def time_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's ``(x, t_x, pattern)`` and ``(x, T, pattern)`` group (Pareto/NBD)."""
        x, t_x, T = self.rows
        key = self.pattern.astype("float64")
        return Compressed.of(x, t_x, key).inverse, Compressed.of(x, T, key).inverse


def _row_terms(
    layout: Layout, theta: np.ndarray, data: CovariateData, hessian: bool
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Total log-likelihood, the per-pattern weighted row gradients in the base
    log-parameters ``(G, n_base)`` and, when asked, the per-pattern Hessians."""
    if layout.model in ROW_GRADIENTS:
        return _analytic_terms(layout, theta, data, hessian)
    if layout.model == "pnbd":
        return _pnbd_terms(layout, theta, data, hessian)
    return numeric_terms(layout, theta, data, hessian)


def numeric_terms(
    layout: Layout, theta: np.ndarray, data: CovariateData, hessian: bool
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """As :func:`_row_terms`, by central differences of the model's row log-likelihood
    (Gamma-Gamma spend's route, and the reference the closed forms are tested against)."""
    loglik = LOGLIK[layout.model]
    logp = row_log_params(layout, theta, data.Z)[data.pattern]
    names = layout.base
    k = len(names)

    def ll(shift: np.ndarray) -> np.ndarray:
        p = {n: np.exp(logp[:, j] + shift[j]) for j, n in enumerate(names)}
        with np.errstate(all="ignore"):
            return loglik(p, *data.rows)

    zero = np.zeros(k)
    f0 = ll(zero)
    G = len(data.Z)

    def by_pattern(values: np.ndarray) -> np.ndarray:
        return np.bincount(data.pattern, weights=data.w * values, minlength=G)

    grad = np.empty((G, k))
    h = _STEP if not hessian else 1e-4
    plus, minus = [], []
    for j in range(k):
        e = np.zeros(k)
        e[j] = h
        plus.append(ll(e))
        minus.append(ll(-e))
        grad[:, j] = by_pattern((plus[j] - minus[j]) / (2 * h))
    total = float(data.w @ f0)
    if not hessian:
        return total, grad, None
    H = np.empty((G, k, k))
    for i in range(k):
        H[:, i, i] = by_pattern((plus[i] - 2 * f0 + minus[i]) / h**2)
        for j in range(i + 1, k):
            e = np.zeros(k)
            e[i], e[j] = h, h
            f = np.zeros(k)
            f[i], f[j] = h, -h
            val = (ll(e) - ll(f) - ll(-f) + ll(-e)) / (4 * h * h)
            H[:, i, j] = H[:, j, i] = by_pattern(val)
    return total, grad, H


def _analytic_terms(
    layout: Layout, theta: np.ndarray, data: CovariateData, hessian: bool
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """As :func:`_row_terms`, from the closed-form row gradients: the Hessian by central
    differences of them (a pattern's gradient depends on its own parameters only)."""
    rows_fn = ROW_GRADIENTS[layout.model]
    logp = row_log_params(layout, theta, data.Z)[data.pattern]
    G, k = len(data.Z), len(layout.base)

    def grads(shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = {n: np.exp(logp[:, j] + shift[j]) for j, n in enumerate(layout.base)}
        x, t_x, T = data.rows
        return rows_fn(p, x, t_x, T, data.cell)

    def by_pattern(g: np.ndarray) -> np.ndarray:
        return np.stack(
            [np.bincount(data.pattern, weights=data.w * g[:, j], minlength=G) for j in range(k)],
            axis=1,
        )

    ll, g = grads(np.zeros(k))
    total = float(data.w @ ll)
    if not hessian:
        return total, by_pattern(g), None
    H = np.empty((G, k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = _STEP
        H[:, :, j] = by_pattern((grads(e)[1] - grads(-e)[1]) / (2 * _STEP))
    return total, by_pattern(g), (H + H.transpose(0, 2, 1)) / 2


def _by_pattern(data: CovariateData, values: np.ndarray) -> np.ndarray:
    """Weighted sums over each pattern's rows of every column of ``values`` (rows first)."""
    flat = values.reshape(len(values), -1)
    G = len(data.Z)
    sums = [
        np.bincount(data.pattern, weights=data.w * flat[:, j], minlength=G)
        for j in range(flat.shape[1])
    ]
    return np.stack(sums, axis=1).reshape((G, *values.shape[1:]))


def _pnbd_terms(
    layout: Layout, theta: np.ndarray, data: CovariateData, hessian: bool
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """As :func:`_row_terms`, from :func:`segml.clv.pnbd_gradients.pnbd_terms` (the
    covariates scale alpha and beta only, so r and s are one number each)."""
    logp = row_log_params(layout, theta, data.Z)[data.pattern]
    r, s = float(np.exp(logp[0, 0])), float(np.exp(logp[0, 2]))
    x, t_x, T = data.rows
    ll, grad, H = pnbd_terms(
        r, np.exp(logp[:, 1]), s, np.exp(logp[:, 3]), (x, t_x, T), data.time_groups, hessian
    )
    return float(data.w @ ll), _by_pattern(data, grad), None if H is None else _by_pattern(data, H)


SecondOrder = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


def covariate_objective(
    layout: Layout, data: CovariateData, penalty: Mapping[str, float]
) -> tuple[Callable[[np.ndarray], tuple[float, np.ndarray]], SecondOrder]:
    """The penalised log-likelihood with its gradient in ``theta``; and a function giving
    the three of it, its gradient and its Hessian (one pass over the rows)."""
    J = layout.jacobian(data.Z)
    lam = _penalty_vector(layout, penalty)
    n = float(data.w.sum())

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad, _ = _row_terms(layout, theta, data, hessian=False)
        g = np.einsum("gj,gjk->k", grad, J)
        return total - n * float(lam @ theta**2), g - 2 * n * lam * theta

    def second_order(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        total, grad, H = _row_terms(layout, theta, data, hessian=True)
        assert H is not None
        g = np.einsum("gj,gjk->k", grad, J)
        out = np.einsum("gji,gjl,glm->im", J, H, J)
        out = (out + out.T) / 2
        value = total - n * float(lam @ theta**2)
        return value, g - 2 * n * lam * theta, out - 2 * n * np.diag(lam)

    return objective, second_order


def _newton(
    second_order: SecondOrder, theta: np.ndarray, n: float, edge: Callable[[np.ndarray], bool]
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray] | None:
    """Damped Newton steps from ``theta`` to the maximum ``(theta, value, grad, H)``; None
    where a Hessian is not negative definite, a step cannot rise, or an iterate is at the
    edge (the slower, guarded search takes over there)."""
    value, grad, H = second_order(theta)
    for _ in range(30):
        if not np.isfinite(value) or edge(theta):
            return None
        try:
            np.linalg.cholesky(-H)
        except np.linalg.LinAlgError:
            return None
        step = np.linalg.solve(H, grad)
        # the rise a Newton step promises: below 1e-10 per customer, the maximum is reached
        if -0.5 * float(grad @ step) < 1e-10 * n:
            return theta, value, grad, H
        for _ in range(12):
            cand = theta - step
            c_value, c_grad, c_H = second_order(cand)
            if np.isfinite(c_value) and c_value >= value - 1e-13 * abs(value):
                break
            step = step / 2
        else:
            return None
        theta, value, grad, H = cand, c_value, c_grad, c_H
    return None


def at_edge(layout: Layout, theta: np.ndarray, Z: np.ndarray | None = None) -> list[str]:
    """What in ``theta`` has run to the edge of the parameter space, in words.

    Besides a parameter or coefficient running to zero or infinity, for BG/NBD and MBG/NBD
    a pattern whose ``a + b`` passes ``1e4`` is on the edge: the Beta distribution of its
    dropout probability has collapsed to a point, the limit the likelihood rises towards
    when the data show no heterogeneity in dropout.
    """
    k = len(layout.base)
    out = []
    if Z is not None and "a" in layout.base:
        logp = row_log_params(layout, theta, Z)
        a = np.exp(logp[:, layout.base.index("a")])
        b = np.exp(logp[:, layout.base.index("b")])
        if np.any(a + b > _EDGE_AB):
            g = int(np.argmax(a + b))
            mean = a[g] / (a[g] + b[g])
            what = (
                "a and b -> infinity"
                if mean > 1e-4
                else "b -> infinity (a dropout probability of zero: no dropout)"
            )
            out.append(
                f"{what} for customers with covariates {Z[g].tolist()} (a = {a[g]:.4g}, "
                f"b = {b[g]:.4g}, mean dropout probability {mean:.3g})"
            )
            return out
    for name, value in zip(layout.base, theta[:k], strict=True):
        if abs(value) > _EDGE_LOG:
            out.append(f"{name} -> {'infinity' if value > 0 else '0'} ({np.exp(value):.3g})")
    for label, value in zip(layout.labels, theta[k:], strict=True):
        if abs(value) > _EDGE_COEF:
            out.append(f"{label} -> {'+' if value > 0 else '-'}infinity ({value:.3g})")
    return out


def maximise_covariates(
    layout: Layout,
    data: CovariateData,
    start: np.ndarray,
    penalty: Mapping[str, float],
) -> tuple[np.ndarray, float, np.ndarray, bool, list[str]]:
    """The penalised maximum: ``(theta, objective, Hessian, converged, edge)``."""
    objective, second_order = covariate_objective(layout, data, penalty)
    n = float(data.w.sum())
    newton = _newton(second_order, start, n, lambda theta: bool(at_edge(layout, theta, data.Z)))
    if newton is not None:
        theta, value, grad, H = newton
        return theta, value, H, bool(np.max(np.abs(grad)) / n < 1e-5), []
    mle = maximise(
        objective,
        start,
        n,
        stop=lambda theta: bool(at_edge(layout, theta)),
        hessian=lambda theta: second_order(theta)[2],
    )
    edge = at_edge(layout, mle.log_theta, data.Z)
    if edge:
        return mle.log_theta, mle.loglik, mle.hessian, False, edge
    # after the Newton steps the estimate moved a little from where H was taken
    H = second_order(mle.log_theta)[2]
    try:
        np.linalg.cholesky(-H)
        definite = True
    except np.linalg.LinAlgError:
        definite = False
    small = bool(np.max(np.abs(mle.gradient)) / n < 1e-5)
    return mle.log_theta, mle.loglik, H, bool(definite and small), []


def loglik_at(layout: Layout, data: CovariateData, theta: np.ndarray) -> float:
    """The unpenalised log-likelihood at ``theta``."""
    return _row_terms(layout, theta, data, hessian=False)[0]


def describe_edge(model: str, edge: list[str]) -> str:
    """The boundary in words, for the error message."""
    text = ", ".join(edge)
    names = {e.split(" ")[0] for e in edge}
    if {"a", "b"} <= names or any(e.startswith("a and b") for e in edge):
        text += (
            ": a and b grow together, so every customer with the same attributes has the same "
            "dropout probability a / (a + b); the likelihood keeps rising towards that limit "
            "and has no interior maximum"
        )
    elif any(n.startswith(("purchase.", "dropout", "constrained.")) for n in names):
        text += (
            ": a coefficient without a finite estimate (an attribute level whose customers "
            "all behave one way, e.g. none of them repeat or drop out)"
        )
    return text


def coefficient_names(layout: Layout) -> list[str]:
    """All estimated quantities in the optimiser's order."""
    return [*layout.base, *layout.labels]


def theta_of(layout: Layout, base: Mapping[str, float], coefs: Mapping[str, float]) -> np.ndarray:
    """The optimiser's vector from parameters and coefficients."""
    return np.concatenate(
        [np.log([base[n] for n in layout.base]), [coefs.get(n, 0.0) for n in layout.labels]]
    )


def varying_params(layout: Layout) -> list[str]:
    """The base parameters that covariates scale, in the base order."""
    return sorted({n for b in layout.blocks for n, _ in b.targets}, key=layout.base.index)


def patterns_of(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a design matrix and each customer's index into them (hashed,
    as the compression of the customer table: a sort of the rows would dominate a fit)."""
    if Z.shape[1] == 0:
        return np.zeros((1, 0)), np.zeros(len(Z), dtype=np.intp)
    groups = Compressed.of(*Z.T)
    return groups.values, groups.inverse


def standard_error_basis(penalty: Mapping[str, float]) -> str:
    """What a covariate fit's standard errors rest on, in words."""
    if not any(penalty.values()):
        return "observed information (inverse Hessian of the log-likelihood)"
    return (
        "inverse Hessian of the PENALISED objective: conditional on the penalty, narrower "
        "than sampling errors; do not use them for tests or coverage claims"
    )


def coefficient_table(est: Any, level: float = 0.95) -> pd.DataFrame:
    """Coefficients with standard errors, Wald intervals and multipliers ``exp(gamma)``.

    The frame's ``attrs["standard_errors"]`` says what the errors rest on: with a penalty,
    the penalised objective's Hessian (the penalty narrows them; they are not for tests).
    """
    z = float(norm.ppf(0.5 + level / 2))
    rows = {}
    for name, value in est.coefficients_.items():
        se = est.standard_errors_[name]
        rows[name] = {
            "estimate": value,
            "std_error": se,
            "lower": value - z * se,
            "upper": value + z * se,
            "multiplier": float(np.exp(value)),
            "multiplier_lower": float(np.exp(value - z * se)),
            "multiplier_upper": float(np.exp(value + z * se)),
            "p_value": float(2 * norm.sf(abs(value / se))),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.attrs["standard_errors"] = est.fit_info_.get("standard_errors", "observed information")
    return out


def with_coefficients(intervals: pd.DataFrame, est: Any, level: float) -> pd.DataFrame:
    """The parameters' intervals followed by the coefficients' (on their linear scale)."""
    coefs = coefficient_table(est, level)
    out = pd.concat([intervals, coefs[list(intervals.columns)]])
    out.attrs["standard_errors"] = coefs.attrs["standard_errors"]
    return out
