"""Feature pipelines and the discovered segmenters: k-means, Gaussian mixture, HDBSCAN.

The feature pipeline is a scikit-learn ``ColumnTransformer``: heavy-tailed non-negative
numbers (skewness above 1 on the fitted table: counts, money) get ``log1p``; every number
is median-imputed and standardised; categories are imputed as ``"missing"`` and one-hot
encoded; the derived features of :mod:`segml.segment.features` (``recency_ratio``,
``purchase_rate``, ``since_last``, ``revenue_rate``) can be asked for, and
``time_relative=True`` replaces calendar-bound features by them.
Missing values are imputed and counted (``imputed_``, with a warning); a feature that is
entirely missing is an error; a constant feature carries no information and is dropped with
a warning (``dropped_features_``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from scipy.stats import skew
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from segml.errors import DataError
from segml.segment.base import Segmenter
from segml.segment.features import DERIVED_FEATURES, build_features, time_relative_features
from segml.segment.profile import _is_categorical, describe_segments

__all__ = ["DEFAULT_FEATURES", "ClusterSegmenter", "build_features"]  # build_features re-exported

#: Behavioural features used when none are given.
DEFAULT_FEATURES = ("frequency", "recency_ratio", "T", "monetary_value")
_METHODS = ("kmeans", "gmm", "hdbscan")
#: k-means centroids are fitted on at most this many customers (then everyone is assigned)
_CENTROID_SAMPLE = 200_000
_MODEL_FILE = "model.joblib"


def _numeric(series: pd.Series) -> bool:
    return not _is_categorical(series) and pd.api.types.is_numeric_dtype(series.dtype)


class ClusterSegmenter(Segmenter):
    """Segments discovered by clustering customer features.

    Parameters
    ----------
    method : {"kmeans", "gmm", "hdbscan"}, default "kmeans"
        k-means (k chosen by silhouette on a sample), Gaussian mixture (k chosen by BIC
        on a sample) or HDBSCAN from the ``hdbscan`` package (number of clusters found by
        the algorithm; noise labelled ``-1``).
    features : sequence of str, optional
        Columns to cluster on (``recency_ratio`` is derived); default
        ``DEFAULT_FEATURES`` (behavioural: frequency, recency/T, T, monetary value).
    time_relative : bool, default False
        Replace each calendar-bound feature (``T``, ``frequency``, ``n_transactions``,
        ``recency``, ``total_revenue``: they grow for every customer as time passes) by its
        time-relative counterpart (purchases or revenue per unit of tenure, time since the
        last purchase; :data:`segml.segment.features.TIME_RELATIVE`), so that customers who
        keep buying as before keep their segment at later scorings. With the default
        features the clustering is on purchase rate, recency / T, time since the last
        purchase and spend.
    k : int or sequence of int, default range(2, 9)
        Number of clusters, or candidates to choose from (ignored by HDBSCAN).
    random_state : int, default 0
        Seed for sampling and the clustering algorithms: results are deterministic.
    sample_size : int, default 20_000
        Customers used to choose k and k-means' starting centroids (the best of 10
        starts, then refined on up to 200,000 customers); HDBSCAN is fitted on a sample
        of this size. Every other customer (and every customer scored later) joins the
        cluster of the nearest fitted customer, or noise when farther from it than that
        customer's core distance (see :func:`_nearest_fitted`).
    min_cluster_size : int, optional
        HDBSCAN's smallest cluster; default 2 % of the fitted customers (at least 15).

    Attributes
    ----------
    k_ : int
        Number of clusters (excluding noise).
    k_scores_ : dict
        Silhouette (k-means) or BIC (mixture) of each candidate k.
    selection_ : str
        How k was chosen.
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted feature pipeline.
    model_ : object
        The fitted clustering model.
    features_ : list of str
        The features clustered on (after ``time_relative``'s replacements).
    replaced_features_ : dict
        Calendar-bound feature -> the time-relative one that replaced it.
    log_features_, dropped_features_ : list of str
        Features that got ``log1p``; features dropped as constant.
    imputed_ : dict
        Missing values imputed, per feature.
    noise_share_ : float
        Share of customers labelled ``-1`` (HDBSCAN).
    segment_names_ : dict
        Descriptive names ("frequent, recent, high spend").

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> seg = segml.ClusterSegmenter("kmeans", k=range(2, 5), random_state=0).fit(table)
    >>> seg.k_ in (2, 3, 4), seg.targetable
    (True, False)
    """

    kind = "discovered"
    registry_name = "cluster"

    def __init__(
        self,
        method: str = "kmeans",
        features: Sequence[str] | None = None,
        k: int | Sequence[int] = range(2, 9),
        random_state: int = 0,
        sample_size: int = 20_000,
        min_cluster_size: int | None = None,
        time_relative: bool = False,
    ) -> None:
        self.method = method
        self.features = features
        self.k = k
        self.random_state = random_state
        self.sample_size = sample_size
        self.min_cluster_size = min_cluster_size
        self.time_relative = time_relative

    # ------------------------------------------------------------------ pipeline
    def _requested(self) -> list[str]:
        return list(self.features) if self.features is not None else list(DEFAULT_FEATURES)

    def _feature_names(self) -> list[str]:
        feats = self._requested()
        if not feats:
            raise DataError("ClusterSegmenter needs at least one feature.")
        if len(set(feats)) != len(feats):
            raise DataError(f"features must be unique, got {feats}.")
        return time_relative_features(feats)[0] if self.time_relative else feats

    @property
    def features_(self) -> list[str]:
        """The features clustered on (after ``time_relative``'s replacements)."""
        return self._feature_names()

    @property
    def replaced_features_(self) -> dict[str, str]:
        """Calendar-bound feature -> the time-relative one that replaced it."""
        return time_relative_features(self._requested())[1] if self.time_relative else {}

    def _feature_kind(self, col: str, series: pd.Series) -> str:
        """'log', 'num' or 'cat' for a usable feature, 'constant' for one dropped; counts
        missing values in ``imputed_`` and constant features in ``dropped_features_``."""
        missing = int(series.isna().sum())
        if missing == len(series):
            raise DataError(
                f"feature {col!r} is missing for every customer; remove it from features."
            )
        if series.nunique(dropna=True) <= 1:
            self.dropped_features_.append(col)
            return "constant"
        if missing:
            self.imputed_[col] = missing
        if not _numeric(series):
            return "cat"
        values = series.to_numpy("float64", na_value=np.nan)
        finite = values[np.isfinite(values)]
        if len(finite) < len(values) - missing:
            raise DataError(f"feature {col!r} has infinite values; cap or remove them.")
        return "log" if finite.min() >= 0 and skew(finite) > 1.0 else "num"

    def _build_pipeline(self, frame: pd.DataFrame) -> Pipeline:
        numeric_log: list[str] = []
        numeric_plain: list[str] = []
        categorical: list[str] = []
        self.imputed_: dict[str, int] = {}
        self.dropped_features_: list[str] = []
        for col in frame.columns:
            kind = self._feature_kind(col, frame[col])
            {"log": numeric_log, "num": numeric_plain, "cat": categorical}.get(kind, []).append(col)
        if self.dropped_features_:
            warnings.warn(
                f"ClusterSegmenter: constant features {self.dropped_features_} carry no "
                "information and were dropped.",
                stacklevel=4,
            )
        if self.imputed_:
            warnings.warn(
                f"ClusterSegmenter: missing feature values imputed (median for numbers, "
                f"'missing' for categories): {self.imputed_}.",
                stacklevel=4,
            )
        if not (numeric_log or numeric_plain or categorical):
            raise DataError("every clustering feature is constant; nothing to cluster on.")
        self.log_features_ = numeric_log
        parts = []
        if numeric_log:
            parts.append(
                (
                    "log",
                    make_pipeline(
                        _MedianImputer(),
                        FunctionTransformer(np.log1p, feature_names_out="one-to-one"),
                        StandardScaler(),
                    ),
                    numeric_log,
                )
            )
        if numeric_plain:
            parts.append(
                (
                    "num",
                    make_pipeline(_MedianImputer(), StandardScaler()),
                    numeric_plain,
                )
            )
        if categorical:
            parts.append(
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="missing"),
                        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                    ),
                    categorical,
                )
            )
        return Pipeline([("columns", ColumnTransformer(parts))])

    def _transform(self, table: pd.DataFrame) -> np.ndarray:
        frame = build_features(table, self._feature_names())
        for col in self._categorical_cols:
            frame[col] = frame[col].astype(object)
        return np.asarray(self.pipeline_.transform(frame), dtype="float64")

    # ------------------------------------------------------------------- fitting
    def _candidates(self, n: int) -> list[int]:
        ks = [int(self.k)] if isinstance(self.k, (int, np.integer)) else [int(v) for v in self.k]
        if not ks:
            raise DataError("k must be an integer or a non-empty range of integers.")
        if min(ks) < 2:
            raise DataError(f"k must be at least 2, got {min(ks)}.")
        if max(ks) >= n:
            raise DataError(
                f"k={max(ks)} is not smaller than the number of customers ({n:,}); use a "
                "smaller k or more customers."
            )
        return ks

    def _fit(self, table: pd.DataFrame) -> np.ndarray | None:
        if self.method not in _METHODS:
            raise DataError(f"method={self.method!r} is not one of {list(_METHODS)}.")
        frame = build_features(table, self._feature_names())
        self._categorical_cols = [c for c in frame.columns if not _numeric(frame[c])]
        for col in self._categorical_cols:
            frame[col] = frame[col].astype(object)
        self.pipeline_ = self._build_pipeline(frame)
        X = np.asarray(self.pipeline_.fit_transform(frame), dtype="float64")
        n = len(X)
        rng = np.random.default_rng(self.random_state)
        sample = np.sort(rng.choice(n, size=min(n, self.sample_size), replace=False))
        if self.method == "kmeans":
            ks = self._candidates(len(sample))
            scores: dict[int, float] = {}
            for k in ks if len(ks) > 1 else ():
                km = KMeans(n_clusters=k, n_init=4, random_state=self.random_state).fit(X[sample])
                if len(set(km.labels_)) < 2:
                    scores[k] = float("-inf")
                    continue
                scores[k] = float(
                    silhouette_score(
                        X[sample],
                        km.labels_,
                        sample_size=min(len(sample), 5000),
                        random_state=self.random_state,
                    )
                )
            self.k_scores_ = scores
            best = max(ks, key=lambda k: (scores[k], -k)) if len(ks) > 1 else ks[0]
            self.selection_ = (
                f"k={best} by the highest silhouette on {len(sample):,} customers"
                if len(ks) > 1
                else f"k={best} as given"
            )
            # The best of 10 k-means++ starts on the sample, refined by Lloyd's iterations on
            # up to _CENTROID_SAMPLE customers (at that size the centroids equal the full-data
            # ones to within sampling noise), then everyone is assigned. Ten starts on all
            # those customers end at the same inertia (within 0.03 % on 1M synthetic
            # customers, k = 3-8) in about twice the time; one start can end 4-12 % higher.
            model: Any = KMeans(n_clusters=best, n_init=10, random_state=self.random_state).fit(
                X[sample]
            )
            fit_rows = (
                np.arange(n)
                if n <= _CENTROID_SAMPLE
                else np.sort(rng.choice(n, size=_CENTROID_SAMPLE, replace=False))
            )
            if len(fit_rows) > len(sample):
                model = KMeans(
                    n_clusters=best,
                    init=model.cluster_centers_,
                    n_init=1,
                    random_state=self.random_state,
                ).fit(X[fit_rows])
                self.selection_ += (
                    f"; centroids: best of 10 starts on {len(sample):,} customers, refined on "
                    f"{len(fit_rows):,}"
                )
            raw = model.predict(X)
        elif self.method == "gmm":
            ks = self._candidates(len(sample))
            fitted = {
                k: GaussianMixture(n_components=k, random_state=self.random_state, n_init=2).fit(
                    X[sample]
                )
                for k in ks
            }
            self.k_scores_ = {k: float(m.bic(X[sample])) for k, m in fitted.items()}
            best = min(ks, key=lambda k: (self.k_scores_[k], k))
            self.selection_ = f"k={best} by the lowest BIC on {len(sample):,} customers"
            model = fitted[best]
            raw = model.predict(X)
        else:
            import hdbscan

            mcs = self.min_cluster_size or max(15, int(0.02 * len(sample)))
            if mcs >= len(sample):
                raise DataError(
                    f"min_cluster_size={mcs} is not smaller than the {len(sample):,} customers "
                    "HDBSCAN is fitted on."
                )
            model = hdbscan.HDBSCAN(min_cluster_size=mcs, prediction_data=True).fit(X[sample])
            # Every customer as predict labels them: fitted ones get their own label back
            # (or a duplicate's), the others their nearest fitted customer's.
            raw = _nearest_fitted(model, X)
            rest = n - len(sample)
            self.k_scores_ = {}
            self.selection_ = (
                f"HDBSCAN (min_cluster_size={mcs}) fitted on {len(sample):,} customers"
                + (
                    f", {rest:,} more assigned to their nearest fitted customer's cluster"
                    if rest
                    else ""
                )
            )
        self.model_ = model
        # Relabel by size, largest first; noise stays -1.
        ids, counts = np.unique(raw[raw >= 0], return_counts=True)
        order = ids[np.lexsort((ids, -counts))]
        self.label_map_ = {int(old): new for new, old in enumerate(order)}
        labels = self._relabel(raw)
        self.k_ = len(order)
        self.noise_share_ = float((labels == -1).mean())
        used: set[str] = set()
        for f in self._feature_names():
            derived = f in DERIVED_FEATURES and f not in table.columns
            used |= set(DERIVED_FEATURES[f]) if derived else {f}
        self.columns_ = frozenset(used)
        # (categorical features as objects: named as they were as categories or strings)
        self.segment_names_ = describe_segments(frame, labels, list(frame.columns))
        for label in range(self.k_):
            self.segment_names_.setdefault(label, f"cluster {label}")
        if self.method == "hdbscan":
            self.segment_names_.setdefault(-1, "noise / unassigned")
        return labels  # what predict gives these customers: no second transform

    def _relabel(self, raw: np.ndarray) -> np.ndarray:
        lut = np.full(max(self.label_map_, default=-1) + 2, -1, dtype=np.int64)
        for old, new in self.label_map_.items():
            lut[old] = new
        out = np.where(raw >= 0, lut[np.clip(raw, 0, len(lut) - 1)], -1)
        return out.astype(np.int64)

    def _predict(self, table: pd.DataFrame) -> np.ndarray:
        X = self._transform(table)
        if self.method == "hdbscan":
            raw = _nearest_fitted(self.model_, X)
        else:
            raw = self.model_.predict(X)
        return self._relabel(np.asarray(raw))

    # --------------------------------------------------------------- persistence
    def _state(self, directory: Path) -> dict[str, Any]:
        joblib.dump({"pipeline": self.pipeline_, "model": self.model_}, directory / _MODEL_FILE)
        return {
            "k": self.k_,
            "k_scores": {str(k): v for k, v in self.k_scores_.items()},
            "selection": self.selection_,
            "label_map": {str(k): v for k, v in self.label_map_.items()},
            "categorical": self._categorical_cols,
            "log_features": self.log_features_,
            "dropped_features": self.dropped_features_,
            "imputed": self.imputed_,
            "noise_share": self.noise_share_,
            "model_file": _MODEL_FILE,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], directory: Path) -> ClusterSegmenter:
        obj = cls(**state["params"])
        s = state["state"]
        path = directory / s["model_file"]
        if not path.exists():
            raise DataError(f"segmenter directory {str(directory)!r} lacks {s['model_file']}.")
        parts = joblib.load(path)
        obj.pipeline_, obj.model_ = parts["pipeline"], parts["model"]
        obj.k_ = int(s["k"])
        obj.k_scores_ = {int(k): float(v) for k, v in s["k_scores"].items()}
        obj.selection_ = s["selection"]
        obj.label_map_ = {int(k): int(v) for k, v in s["label_map"].items()}
        obj._categorical_cols = list(s["categorical"])
        obj.log_features_ = list(s["log_features"])
        obj.dropped_features_ = list(s["dropped_features"])
        obj.imputed_ = dict(s["imputed"])
        obj.noise_share_ = float(s["noise_share"])
        return obj


class _MedianImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Missing values to the column medians (``SimpleImputer(strategy="median")`` computes
    medians with masked arrays: about a second per million rows; this is ``nanmedian``)."""

    def fit(self, X: Any, y: Any = None) -> _MedianImputer:
        values = np.asarray(X, dtype="float64")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: median NaN
            medians = np.nanmedian(values, axis=0)
        self.statistics_ = np.where(np.isfinite(medians), medians, 0.0)
        self.n_features_in_ = values.shape[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = np.array(X, dtype="float64")
        missing = np.isnan(values)
        if missing.any():
            values[missing] = np.broadcast_to(self.statistics_, values.shape)[missing]
        return values


def _nearest_fitted(model: Any, X: np.ndarray) -> np.ndarray:
    """HDBSCAN labels for new points: the nearest fitted point's label, within its core.

    A new point joins the cluster of its nearest fitted point ``q`` when it lies within
    ``q``'s core distance (the radius holding ``min_samples`` fitted points around ``q``),
    so it is at least as close to the cluster as ``q``'s own neighbours; otherwise it is
    noise (-1). Fitted points get their own label back. ``hdbscan.approximate_predict``
    walks the condensed tree per point after a ``2 * min_samples``-neighbour query, which
    with the default ``min_samples`` (the minimum cluster size, hundreds at scale) takes
    minutes per million customers; this is one vectorised nearest-neighbour query on the
    tree HDBSCAN already built.
    """
    data = model.prediction_data_
    distance, index = data.tree.query(np.asarray(X, dtype="float64"), k=1)
    distance, index = distance[:, 0], index[:, 0]
    labels = np.asarray(model.labels_, dtype=np.int64)[index]
    return np.where(distance <= data.core_distances[index], labels, -1)
