"""What every segmenter shares: the estimator contract, targetability and persistence.

Every segmenter has ``fit`` / ``predict`` / ``fit_predict`` returning integer labels
(``-1`` means unassigned: HDBSCAN noise, or no rule matched), ``segment_names_`` (label ->
name), ``targetability`` (``"prospect"``: it uses only attributes known before any purchase;
``"acquisition"``: also first-order facts; ``"behavioural"``: purchase history; see
:func:`segml._columns.targetability`) with ``targetable`` true for the first two, and
persists to a directory (JSON for rules and parameters, joblib for scikit-learn and
hdbscan parts) that :func:`segml.segment.registry.load_segmenter` reads back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from segml._columns import BEHAVIOURAL_COLUMNS, targetability
from segml._version import segml_version
from segml.errors import DataError

__all__ = ["BEHAVIOURAL_COLUMNS", "STATE_FILE", "Segmenter", "is_targetable"]


STATE_FILE = "segmenter.json"


def is_targetable(columns: Iterable[str]) -> bool:
    """True when none of ``columns`` describes purchase behaviour or value (a prospect or an
    acquisition segmentation)."""
    return not (set(columns) & BEHAVIOURAL_COLUMNS)


class Segmenter(BaseEstimator):
    """Base class of segml's segmenters: the shared contract, not used directly.

    Subclasses implement ``_fit`` and ``_predict``; the base class provides ``fit``,
    ``predict``, ``fit_predict``, ``segment_name``, ``targetable`` and ``save``.

    Examples
    --------
    >>> import pandas as pd, segml
    >>> seg = segml.RuleSegmenter([("adult", "age >= 18")])
    >>> isinstance(seg, segml.Segmenter)
    True
    >>> seg.fit_predict(pd.DataFrame({"age": [12, 40]})).tolist()
    [-1, 0]
    """

    kind: ClassVar[str] = "hypothesis"  # or "discovered"
    registry_name: ClassVar[str] = ""

    # subclasses implement _fit(table) and _predict(table); _fit may return the labels of
    # the table when they are what _predict(table) gives (saves predicting them again)
    def _fit(self, table: pd.DataFrame) -> np.ndarray | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, table: pd.DataFrame) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, table: pd.DataFrame, y: Any = None) -> Segmenter:
        """Learn the segmentation from a customer table.

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table (from :func:`segml.summarize`, with attributes and CLV as needed).
        y : ignored

        Returns
        -------
        self
        """
        _check_table(table, type(self).__name__)
        labels = self._fit(table)
        self.labels_ = self._predict(table) if labels is None else labels
        self.n_customers_ = len(table)
        self.segment_sizes_ = {
            int(k): int(v)
            for k, v in zip(*np.unique(self.labels_, return_counts=True), strict=True)
        }
        return self

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        """Segment label of each customer (``-1``: unassigned).

        Parameters
        ----------
        table : pandas.DataFrame
            Customer table with the columns the segmenter uses.

        Returns
        -------
        numpy.ndarray of int
        """
        check_is_fitted(self, "segment_names_")
        _check_table(table, type(self).__name__)
        return self._predict(table)

    def fit_predict(self, table: pd.DataFrame, y: Any = None) -> np.ndarray:
        """Fit, then return the labels of ``table``."""
        return self.fit(table).labels_

    def segment_name(self, labels: np.ndarray) -> np.ndarray:
        """Names of the given labels (``-1`` maps to the unassigned name)."""
        check_is_fitted(self, "segment_names_")
        names = self.segment_names_
        return np.array([names.get(int(v), str(v)) for v in labels], dtype=object)

    @property
    def targetable(self) -> bool:
        """Whether the segmentation applies without purchase history (prospect or acquisition)."""
        check_is_fitted(self, "segment_names_")
        return is_targetable(self.columns_)

    @property
    def targetability(self) -> str:
        """``"prospect"``, ``"acquisition"`` or ``"behavioural"``: who the segmentation serves."""
        check_is_fitted(self, "segment_names_")
        return targetability(self.columns_)

    # ------------------------------------------------------------------ persistence
    def _state(self, directory: Path) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _from_state(cls, state: dict[str, Any], directory: Path) -> Segmenter:  # pragma: no cover
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write the fitted segmenter to directory ``path`` (created if missing).

        Rules and parameters go to ``segmenter.json``; scikit-learn and hdbscan parts, if
        any, to joblib files beside it. Read it back with :func:`segml.load_segmenter`.
        """
        check_is_fitted(self, "segment_names_")
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "method": self.registry_name,
            "params": self.get_params(deep=False),
            "segment_names": {str(k): v for k, v in self.segment_names_.items()},
            "columns": sorted(self.columns_),
            "segml_version": segml_version(),
            "state": self._state(directory),
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=2, default=_jsonable))
        return directory

    def _restore_common(self, state: dict[str, Any]) -> None:
        self.segment_names_ = {int(k): v for k, v in state["segment_names"].items()}
        self.columns_ = frozenset(state["columns"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray,)):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if type(value).__name__ == "Rule":
        return value.text
    if isinstance(value, range):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in segmenter.json")


def _check_table(table: Any, who: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise DataError(
            f"{who} expects a customer table (pandas DataFrame), got {type(table).__name__}."
        )
    if len(table) == 0:
        raise DataError(f"{who}: the customer table has no rows.")


def rank_letters(n: int) -> list[str]:
    """'A', 'B', ... 'Z', 'AA', ... for ranking segments by value."""
    out = []
    for i in range(n):
        s = ""
        i += 1
        while i:
            i, r = divmod(i - 1, 26)
            s = chr(65 + r) + s
        out.append(s)
    return out
