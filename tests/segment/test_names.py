"""Segment names checked on the customers a later scoring gives them; calendar-bound
features flagged when they leave the training range."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import segml
from segml.segment.names import calendar_flags, claims, name_baseline, name_checks
from segml.segment.profile import describe_segments


def _kmeans(cdnow: pd.DataFrame) -> segml.ClusterSegmenter:
    return segml.ClusterSegmenter("kmeans", k=5, random_state=0).fit(cdnow)


def test_names_hold_on_their_own_population(cdnow) -> None:
    seg = _kmeans(cdnow)
    names = {str(k): v for k, v in seg.segment_names_.items()}
    assert any(claims(n) for n in names.values())  # the names make claims to check
    frame = cdnow.assign(segment=seg.predict(cdnow))
    assert name_checks(name_baseline(cdnow), frame, names) == []


def test_nine_months_on_recent_segments_are_no_longer_recent(cdnow_tx, cdnow) -> None:
    """CDNOW: clusters fitted at 1997-09-30 and scored at 1998-06-30 (the same customers,
    39 weeks older). Every customer lands in two of the five segments; a third of the one
    named "recent" have gone longer without a purchase than anyone in training, and tenure
    T is past its training maximum for every customer."""
    seg = _kmeans(cdnow)
    names = {str(k): v for k, v in seg.segment_names_.items()}
    later = segml.summarize(cdnow_tx, calibration_end="1998-06-30", unit="W")
    frame = later.assign(segment=seg.predict(later))
    found = name_checks(name_baseline(cdnow), frame, names)
    recent = [c for c in found if c["word"] == "recent" and c["feature"] == "since_last"]
    assert len(recent) == 1, found
    (hit,) = recent
    lapsed = later["T"] - later["recency"] > cdnow["T"].sub(cdnow["recency"]).max()
    truth = lapsed[frame["segment"] == hit["segment"]].mean()
    assert hit["segment_value"] == truth and 0.25 < truth < 0.45
    assert hit["message"].startswith(f"segment {hit['name']!r} is named 'recent', but 3")
    ranges = {"T": [float(cdnow["T"].min()), float(cdnow["T"].max())]}
    (flag,) = calendar_flags(ranges, frame, list(seg.columns_))
    assert flag["feature"] == "T" and flag["share_beyond"] == 1.0


def test_time_relative_features_are_not_flagged() -> None:
    frame = pd.DataFrame({"recency_ratio": [0.5, 2.0], "T": [1.0, 99.0]})
    assert calendar_flags({"recency_ratio": [0, 1], "T": [0, 100]}, frame, ["recency_ratio"]) == []


@settings(max_examples=40, deadline=None)
@given(
    st.integers(20, 200).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(st.floats(0, 100), min_size=n, max_size=n),
            st.lists(st.floats(0.1, 50), min_size=n, max_size=n),
        )
    )
)
def test_a_name_never_contradicts_the_population_it_was_given_on(data) -> None:
    labels, frequency, spend = (np.asarray(v) for v in data)
    frame = pd.DataFrame({"frequency": frequency, "monetary_value": spend})
    names = {str(k): v for k, v in describe_segments(frame, labels).items()}
    assert name_checks(name_baseline(frame), frame.assign(segment=labels), names) == []


CONSTANT = pd.DataFrame({"frequency": np.zeros(333), "monetary_value": np.full(333, 0.1)})


def test_a_constant_feature_names_nothing() -> None:
    assert describe_segments(CONSTANT, np.zeros(333, dtype=int)) == {0: "average"}


def test_rounding_error_contradicts_no_name() -> None:
    # 0.1 summed 333 times in two orders differs in the last digits
    frame = CONSTANT
    labels = np.zeros(333, dtype=int)
    baseline = name_baseline(frame)
    baseline["features"]["monetary_value"]["mean"] += 1e-16  # another summation order
    assert name_checks(baseline, frame.assign(segment=labels), {"0": "high spend"}) == []
    baseline["features"]["monetary_value"]["mean"] = 0.2  # a real gap is still found
    assert name_checks(baseline, frame.assign(segment=labels), {"0": "high spend"})
