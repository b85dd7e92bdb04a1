"""Time-relative segment features: a clustering that keeps a steady customer's segment as the
calendar moves, where tenure and cumulative counts would carry everyone away."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segml
from segml.errors import DataError
from segml.segment.features import build_features, time_relative_features
from segml.segment.names import segmentation_features
from segml.segment.registry import load_segmenter

_CALENDAR_BOUND = ["frequency", "recency", "T", "monetary_value"]


def _aged(table: pd.DataFrame, factor: float) -> pd.DataFrame:
    """The same customers ``factor`` times as old, buying at the same rate and as long
    quiet as before: what a steady customer looks like at a later scoring."""
    quiet = table["T"] - table["recency"]
    T = table["T"] * factor
    return table.assign(T=T, frequency=table["frequency"] * factor, recency=T - quiet)


def test_time_relative_clusters_keep_steady_customers_in_their_segment(cdnow) -> None:
    plain = segml.ClusterSegmenter("kmeans", features=_CALENDAR_BOUND, k=4).fit(cdnow)
    relative = segml.ClusterSegmenter(
        "kmeans", features=_CALENDAR_BOUND, k=4, time_relative=True
    ).fit(cdnow)
    assert relative.features_ == ["purchase_rate", "since_last", "monetary_value"]
    assert relative.replaced_features_ == {
        "frequency": "purchase_rate",
        "recency": "since_last",
        "T": "since_last",
    }
    assert relative.columns_ == {"frequency", "recency", "T", "monetary_value"}
    later = _aged(cdnow, 2.0)
    kept_relative = np.mean(relative.predict(later) == relative.predict(cdnow))
    kept_plain = np.mean(plain.predict(later) == plain.predict(cdnow))
    assert kept_relative == 1.0
    assert kept_plain < 0.8  # tenure and counts doubled: the plain clusters move people


def test_time_relative_features_survive_a_round_trip(cdnow, tmp_path) -> None:
    seg = segml.ClusterSegmenter("kmeans", k=5, time_relative=True, random_state=0).fit(cdnow)
    assert seg.features_ == ["purchase_rate", "recency_ratio", "since_last", "monetary_value"]
    words = " ".join(seg.segment_names_.values())
    assert "purchase rate" in words or "bought lately" in words or "since last" in words
    assert "long-standing" not in words and "frequent," not in words
    seg.save(tmp_path / "seg")
    back = load_segmenter(tmp_path / "seg")
    assert back.features_ == seg.features_ and back.time_relative
    np.testing.assert_array_equal(back.predict(cdnow), seg.predict(cdnow))
    assert segmentation_features(back) == seg.features_
    assert segmentation_features(segml.RFMSegmenter().fit(cdnow)) == sorted(
        segml.RFMSegmenter().fit(cdnow).columns_
    )


def test_derived_features_keep_missing_values_missing() -> None:
    table = pd.DataFrame(
        {
            "frequency": [2.0, 0.0, np.nan],
            "recency": [8.0, 0.0, 1.0],
            "T": [10.0, 0.0, 4.0],
            "total_revenue": [50.0, 5.0, 7.0],
        }
    )
    out = build_features(table, ["purchase_rate", "revenue_rate", "since_last", "recency_ratio"])
    np.testing.assert_allclose(out["purchase_rate"], [0.2, 0.0, np.nan])
    np.testing.assert_allclose(out["revenue_rate"], [5.0, 0.0, 1.75])
    np.testing.assert_allclose(out["since_last"], [2.0, 0.0, 3.0])
    np.testing.assert_allclose(out["recency_ratio"], [0.8, 0.0, 0.25])
    with pytest.raises(DataError, match="feature 'revenue_rate' needs column 'total_revenue'"):
        build_features(table.drop(columns="total_revenue"), ["revenue_rate"])


def test_replacement_keeps_the_order_of_the_features() -> None:
    feats, replaced = time_relative_features(["industry", "T", "n_transactions", "frequency"])
    assert feats == ["industry", "since_last", "purchase_rate"]
    assert replaced == {"T": "since_last", "n_transactions": "purchase_rate",
                        "frequency": "purchase_rate"}  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.floats(0.5, 100), st.floats(0, 1)),
        min_size=1,
        max_size=30,
    ),
    st.floats(1.0, 10.0),
)
def test_time_relative_features_do_not_move_with_the_calendar(rows, factor) -> None:
    freq, tenure, frac = (np.asarray(v, dtype="float64") for v in zip(*rows, strict=True))
    table = pd.DataFrame({"frequency": freq, "T": tenure, "recency": tenure * frac})
    before = build_features(table, ["purchase_rate", "since_last"])
    after = build_features(_aged(table, factor), ["purchase_rate", "since_last"])
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), rtol=1e-9, atol=1e-9)
