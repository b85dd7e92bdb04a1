"""Standard hypothesis-driven baselines: RFM scoring and CLV value tiers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.clv._base import require_columns
from segml.errors import DataError
from segml.segment.base import Segmenter
from segml.segment.hypotheses import _value_series

__all__ = ["RFMSegmenter", "ValueTierSegmenter"]

#: The classic recency x frequency grid (scores 1-5) and the segment each cell belongs to.
RFM_SEGMENTS: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("champions", (5,), (4, 5)),
    ("loyal customers", (3, 4), (4, 5)),
    ("potential loyalists", (4, 5), (2, 3)),
    ("new customers", (5,), (1,)),
    ("promising", (4,), (1,)),
    ("need attention", (3,), (3,)),
    ("about to sleep", (3,), (1, 2)),
    ("at risk", (1, 2), (3, 4)),
    ("cannot lose them", (1, 2), (5,)),
    ("hibernating", (1, 2), (1, 2)),
)
_QUANTILES = (0.2, 0.4, 0.6, 0.8)


class RFMSegmenter(Segmenter):
    """RFM quantile scoring with the classic named segments.

    Recency (time since the last purchase, ``T - recency``), frequency and monetary value
    are scored 1-5 by the quintiles of the fitted table (edges are kept, so new customers
    are scored on the same scale); the recency and frequency scores place each customer in
    one of ten named segments (champions, loyal customers, potential loyalists, new
    customers, promising, need attention, about to sleep, at risk, cannot lose them,
    hibernating). Uses purchase behaviour, so it is not targetable.

    Attributes
    ----------
    edges_ : dict
        Quintile edges of ``days_since_last`` (in the table's unit), ``frequency`` and
        ``monetary_value``.

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> rfm = segml.RFMSegmenter().fit(table)
    >>> rfm.segment_names_[0]
    'champions'
    >>> rfm.scores(table).columns.tolist()
    ['R', 'F', 'M', 'segment']
    """

    kind = "hypothesis"
    registry_name = "rfm"
    _COLUMNS = ("frequency", "recency", "T", "monetary_value")

    def __init__(self) -> None:
        pass

    def _raw(self, table: pd.DataFrame) -> dict[str, np.ndarray]:
        require_columns(table, self._COLUMNS, "RFMSegmenter")
        out = {
            "days_since_last": (table["T"] - table["recency"]).to_numpy("float64"),
            "frequency": table["frequency"].to_numpy("float64"),
            "monetary_value": table["monetary_value"].to_numpy("float64"),
        }
        for name, arr in out.items():
            if not np.isfinite(arr).all():
                raise DataError(
                    f"RFMSegmenter: {int((~np.isfinite(arr)).sum())} customers have a "
                    f"missing {name}."
                )
        return out

    def _fit(self, table: pd.DataFrame) -> None:
        raw = self._raw(table)
        self.edges_ = {k: np.quantile(v, _QUANTILES).tolist() for k, v in raw.items()}
        self.segment_names_ = {i: name for i, (name, _, _) in enumerate(RFM_SEGMENTS)}
        self.columns_ = frozenset(self._COLUMNS)

    def scores(self, table: pd.DataFrame) -> pd.DataFrame:
        """R, F, M scores (1-5, 5 best) and the segment name of each customer."""
        raw = self._raw(table)
        r = 5 - np.searchsorted(self.edges_["days_since_last"], raw["days_since_last"], side="left")
        f = 1 + np.searchsorted(self.edges_["frequency"], raw["frequency"], side="left")
        m = 1 + np.searchsorted(self.edges_["monetary_value"], raw["monetary_value"], side="left")
        labels = self._label(r, f)
        return pd.DataFrame(
            {"R": r, "F": f, "M": m, "segment": [self.segment_names_[int(v)] for v in labels]},
            index=table.index,
        )

    @staticmethod
    def _label(r: np.ndarray, f: np.ndarray) -> np.ndarray:
        grid = np.full((6, 6), -1, dtype=np.int64)
        for i, (_, rs, fs) in enumerate(RFM_SEGMENTS):
            for rv in rs:
                for fv in fs:
                    grid[rv, fv] = i
        return grid[np.clip(r, 1, 5), np.clip(f, 1, 5)]

    def _predict(self, table: pd.DataFrame) -> np.ndarray:
        s = self.scores(table)
        return self._label(s["R"].to_numpy(), s["F"].to_numpy())

    def _state(self, directory: Path) -> dict[str, Any]:
        return {"edges": self.edges_}

    @classmethod
    def _from_state(cls, state: dict[str, Any], directory: Path) -> RFMSegmenter:
        obj = cls()
        obj.edges_ = state["state"]["edges"]
        return obj


class ValueTierSegmenter(Segmenter):
    """Value tiers: the top 5 % of customers by value, the next 15 %, and so on.

    Parameters
    ----------
    tiers : sequence of float, default (0.05, 0.15, 0.30, 0.50)
        Shares of the tiers from the most valuable down; they must sum to 1.
    value : str, default "clv"
        Value column; tier thresholds are learned from the fitted table.

    Attributes
    ----------
    thresholds_ : list of float
        Lower value bound of each tier but the last.

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> tiers = segml.ValueTierSegmenter(value="total_revenue").fit(table)
    >>> list(tiers.segment_names_.values())
    ['top 5%', 'next 15%', 'next 30%', 'bottom 50%']
    """

    kind = "hypothesis"
    registry_name = "value_tiers"

    def __init__(
        self, tiers: Sequence[float] = (0.05, 0.15, 0.30, 0.50), value: str = "clv"
    ) -> None:
        self.tiers = tiers
        self.value = value

    def _fit(self, table: pd.DataFrame) -> None:
        tiers = np.asarray(self.tiers, dtype="float64")
        if len(tiers) < 2 or np.any(tiers <= 0) or not np.isclose(tiers.sum(), 1.0):
            raise DataError(
                f"tiers must be at least two positive shares summing to 1, got {list(self.tiers)}."
            )
        values = _value_series(table, self.value).to_numpy()
        cum = np.cumsum(tiers)[:-1]
        self.thresholds_ = [float(np.quantile(values, 1 - c)) for c in cum]
        names = []
        for i, share in enumerate(tiers):
            pct = f"{share * 100:g}%"
            names.append(
                f"top {pct}"
                if i == 0
                else (f"bottom {pct}" if i == len(tiers) - 1 else f"next {pct}")
            )
        self.segment_names_ = dict(enumerate(names))
        self.columns_ = frozenset({self.value})

    def _predict(self, table: pd.DataFrame) -> np.ndarray:
        values = _value_series(table, self.value).to_numpy()
        # thresholds descend; label = number of thresholds the value does not reach
        return (
            (values[:, None] < np.asarray(self.thresholds_)[None, :]).sum(axis=1).astype(np.int64)
        )

    def _state(self, directory: Path) -> dict[str, Any]:
        return {"thresholds": self.thresholds_}

    @classmethod
    def _from_state(cls, state: dict[str, Any], directory: Path) -> ValueTierSegmenter:
        params = state["params"]
        obj = cls(tiers=tuple(params["tiers"]), value=params["value"])
        obj.thresholds_ = state["state"]["thresholds"]
        return obj
