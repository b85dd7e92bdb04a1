"""The exported model values prospects (attributes, no history) instead of refusing them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from segml.cli import main
from segml.tracking.export import load_model


def _prospect_rows(customers: pd.DataFrame) -> pd.DataFrame:
    rows = customers.head(6).copy()
    for col in ("frequency", "recency", "T", "monetary_value"):
        rows[col] = np.nan
    return rows


def test_a_prospect_is_worth_a_new_customers_value(b2b_tree_model) -> None:
    path, _, customers = b2b_tree_model
    model = load_model(str(path))
    rows = _prospect_rows(customers)
    out = model.predict(None, rows)
    assert (out["reason"] == "prospect").all()
    clv = model.clv
    # b2b.toml's CLV has no covariates: every prospect is worth an average new customer
    expected = clv.predict_new(rows.head(1), model.meta["horizon"], model.meta["discount_rate"])
    np.testing.assert_allclose(out["clv"], expected["clv"].iloc[0], rtol=1e-12)
    assert out["p_alive"].isna().all()  # not yet a customer


def test_a_prospect_is_placed_in_a_segment_of_its_firmographics(b2b_tree_model) -> None:
    path, _, customers = b2b_tree_model
    model = load_model(str(path))
    rows = _prospect_rows(customers)
    out = model.predict(None, rows)
    # the value tree uses firmographics only: prospects are placed in its segments
    assert (out["segment"] >= 0).all() and out["segment_name"].notna().all()
    placed = model.segmenter.predict(rows.assign(clv=out["clv"].to_numpy()))
    assert out["segment"].tolist() == list(placed)


def test_a_prospect_without_a_needed_attribute_says_so(b2b_tree_model) -> None:
    path, _, customers = b2b_tree_model
    model = load_model(str(path))
    rows = _prospect_rows(customers)
    rows.loc[0, "annual_revenue"] = np.nan
    out = model.predict(None, rows)
    assert out.loc[0, "reason"] != "prospect" and out.loc[0, "segment"] == -1
    assert (out.loc[1:, "reason"] == "prospect").all()


def test_segml_score_values_the_customers_file_rows_without_transactions(
    b2b_tree_model, tmp_path
) -> None:
    path, tx, customers = b2b_tree_model
    tx.to_csv(tmp_path / "tx.csv", index=False)
    extra = customers.head(4).assign(customer_id=[f"P{i}" for i in range(4)])
    pd.concat([customers, extra]).to_csv(tmp_path / "crm.csv", index=False)
    out = tmp_path / "s.csv"
    run = CliRunner().invoke(
        main,
        ["score", "--model", str(path), "--transactions", str(tmp_path / "tx.csv"),
         "--customers", str(tmp_path / "crm.csv"), "--output", str(out)],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    scores = pd.read_csv(out, dtype={"customer_id": str, "reason": str}, keep_default_na=False)
    prospects = scores[scores["customer_id"].str.startswith("P")]
    assert len(prospects) == 4 and (prospects["reason"] == "prospect").all()
    assert "prospects (attributes, no purchase yet) valued: 4" in run.output
