"""The value tree: recovers planted thresholds and exports itself as rules."""

from __future__ import annotations

import numpy as np
import pytest

import segml
from segml.segment.base import BEHAVIOURAL_COLUMNS
from segml.segment.rules import Rule


def test_recovers_the_revenue_threshold(b2b) -> None:
    tree = segml.ValueTreeSegmenter(
        features=["annual_revenue", "industry", "region", "channel"], max_leaves=4
    ).fit(b2b)
    enc = tree.encoding_[tree.tree_.tree_.feature[0]]
    assert enc["column"] == "annual_revenue"
    revenue_rules = [t for _, t in tree.rules_ if "annual_revenue" in t]
    thresholds = {
        float(tok.replace("_", "")) for t in revenue_rules for tok in t.split() if tok[0].isdigit()
    }
    assert any(abs(th - 10_000_000) / 10_000_000 < 0.10 for th in thresholds), thresholds
    assert "region" not in " ".join(t for _, t in tree.rules_)
    assert tree.targetable
    assert tree.kind == "discovered"


@pytest.fixture(scope="module")
def tree6(b2b) -> segml.ValueTreeSegmenter:
    return segml.ValueTreeSegmenter(max_leaves=6).fit(b2b)


def test_leaves_are_ranked_by_value(tree6, b2b) -> None:
    clv = b2b["clv"].to_numpy()
    means = [clv[tree6.labels_ == k].mean() for k in range(len(tree6.rules_))]
    assert means == sorted(means, reverse=True)
    for name, _ in tree6.rules_:
        assert name[0] in "ABCDEF"


def test_exported_rules_give_the_leaves(tree6, b2b) -> None:
    exported = tree6.to_rule_segmenter().fit(b2b)
    np.testing.assert_array_equal(exported.labels_, tree6.labels_)
    assert (tree6.labels_ >= 0).all(), "leaves partition the customers"
    for _, text in tree6.rules_:
        Rule(text)  # every rule parses


def test_default_features_are_observable(b2b) -> None:
    tree = segml.ValueTreeSegmenter(max_leaves=4).fit(b2b)
    assert tree.targetable
    assert not (tree.columns_ & BEHAVIOURAL_COLUMNS)


def test_missing_numbers_follow_the_median_side(b2b) -> None:
    table = b2b.copy()
    table.loc[table.index[:50], "annual_revenue"] = np.nan
    tree = segml.ValueTreeSegmenter(features=["annual_revenue"], max_leaves=2).fit(table)
    assert any("annual_revenue is null" in t for _, t in tree.rules_)
    assert (tree.labels_ >= 0).all()


def test_bad_input(b2b) -> None:
    with pytest.raises(segml.DataError, match=r"features \['turnover'\] are not columns"):
        segml.ValueTreeSegmenter(features=["turnover"]).fit(b2b)
    with pytest.raises(segml.DataError, match="max_leaves must be an integer >= 2"):
        segml.ValueTreeSegmenter(max_leaves=1).fit(b2b)
    with pytest.raises(segml.DataError, match="found no observable attribute"):
        segml.ValueTreeSegmenter().fit(b2b[["frequency", "recency", "T", "clv"]])
    with pytest.raises(segml.NotFittedError):
        segml.ValueTreeSegmenter().to_rule_segmenter()
