"""Discovered segments: clustering recovers planted structure; bad input is answered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import segml


def blobs(n_per: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 3.0], [0.0, 6.0, -3.0]])
    X = np.vstack([rng.normal(c, 1.0, size=(n_per, 3)) for c in centers])
    sizes = rng.choice(["s", "m"], size=len(X))
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["size"] = sizes  # an uninformative categorical
    return frame, np.repeat([0, 1, 2], n_per)


@pytest.mark.parametrize("method", ["kmeans", "gmm", "hdbscan"])
def test_planted_clusters_are_recovered(method) -> None:
    frame, truth = blobs(800, seed=1)
    seg = segml.ClusterSegmenter(method, features=["a", "b", "c"], k=range(2, 7), sample_size=1200)
    labels = seg.fit_predict(frame)
    assert seg.k_ == 3
    assert adjusted_rand_score(truth, labels) > 0.9
    assert seg.kind == "discovered"
    if method != "hdbscan":
        assert len(seg.k_scores_) == 5 and "k=3" in seg.selection_
        # the labels found while fitting are the ones predict gives (kept, not recomputed)
        np.testing.assert_array_equal(labels, seg.predict(frame))


def test_hdbscan_assigns_new_customers_consistently() -> None:
    frame, _ = blobs(800, seed=2)
    seg = segml.ClusterSegmenter("hdbscan", features=["a", "b", "c"], sample_size=1000).fit(frame)
    assert "nearest fitted customer" in seg.selection_
    # the labels found while fitting are the ones predict gives (kept, not recomputed)
    np.testing.assert_array_equal(seg.predict(frame), seg.labels_)
    new, new_truth = blobs(300, seed=3)
    assigned = seg.predict(new)
    kept = assigned >= 0
    assert kept.mean() > 0.9
    assert adjusted_rand_score(new_truth[kept], assigned[kept]) > 0.9
    assert 0 <= seg.noise_share_ < 0.1
    # The fast assignment agrees with hdbscan's own approximate_predict on new points.
    import hdbscan

    reference = seg._relabel(hdbscan.approximate_predict(seg.model_, seg._transform(new))[0])
    assert (reference == assigned).mean() > 0.95


def test_deterministic_for_a_random_state() -> None:
    frame, _ = blobs(300, seed=4)
    a = segml.ClusterSegmenter("gmm", features=["a", "b", "c"], k=range(2, 5), random_state=7).fit(
        frame
    )
    b = segml.ClusterSegmenter("gmm", features=["a", "b", "c"], k=range(2, 5), random_state=7).fit(
        frame
    )
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.segment_names_ == b.segment_names_


def test_behavioural_clusters_on_cdnow_have_names(cdnow) -> None:
    seg = segml.ClusterSegmenter("kmeans", k=range(2, 5)).fit(cdnow)
    assert not seg.targetable
    assert seg.columns_ == {"frequency", "recency", "T", "monetary_value"}
    assert all(seg.segment_names_[k] for k in range(seg.k_))
    assert "frequency" in seg.log_features_


def test_categorical_features_are_one_hot_encoded(b2b) -> None:
    seg = segml.ClusterSegmenter(
        "kmeans", features=["annual_revenue", "industry", "employees"], k=3
    ).fit(b2b)
    assert seg.targetable
    width = seg.pipeline_.transform(
        b2b[["annual_revenue", "industry", "employees"]].astype({"industry": object})
    ).shape[1]
    assert width == 2 + b2b["industry"].nunique()


def test_bad_input(cdnow) -> None:
    small = cdnow.iloc[:5]
    with (
        pytest.raises(
            segml.DataError, match=r"k=8 is not smaller than the number of customers \(5\)"
        ),
        pytest.warns(UserWarning, match="constant features"),
    ):
        segml.ClusterSegmenter("kmeans").fit(small)
    with pytest.raises(segml.DataError, match="feature 'revenue' is not a column"):
        segml.ClusterSegmenter(features=["revenue"]).fit(cdnow)
    with pytest.raises(segml.DataError, match="method='dbscan' is not one of"):
        segml.ClusterSegmenter("dbscan").fit(cdnow)
    with pytest.raises(segml.DataError, match="k must be at least 2"):
        segml.ClusterSegmenter(k=1).fit(cdnow)
    frame = cdnow.assign(empty=np.nan)
    with pytest.raises(segml.DataError, match="feature 'empty' is missing for every customer"):
        segml.ClusterSegmenter(features=["frequency", "empty"], k=2).fit(frame)


def test_missing_feature_values_are_imputed_with_a_count(cdnow) -> None:
    frame = cdnow.copy()
    frame.loc[frame.index[:10], "monetary_value"] = np.nan
    with pytest.warns(UserWarning, match=r"imputed .*'monetary_value': 10"):
        seg = segml.ClusterSegmenter(k=2).fit(frame)
    assert seg.imputed_ == {"monetary_value": 10}
    assert len(seg.predict(frame)) == len(frame)


def test_constant_features_dropped_with_a_warning(cdnow) -> None:
    frame = cdnow.assign(const=1.0)
    with pytest.warns(UserWarning, match=r"constant features \['const'\]"):
        seg = segml.ClusterSegmenter(features=["frequency", "monetary_value", "const"], k=2).fit(
            frame
        )
    assert seg.dropped_features_ == ["const"]
    with (
        pytest.raises(segml.DataError, match="every clustering feature is constant"),
        pytest.warns(UserWarning),
    ):
        segml.ClusterSegmenter(features=["const"], k=2).fit(frame)
