"""The bad-input catalogue (docs/bad-input.md): one test per entry."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

import segml
from segml.tracking.export import load_model, save_model


def frame(**cols) -> pd.DataFrame:
    return pd.DataFrame(cols)


def test_missing_columns() -> None:
    with pytest.raises(segml.DataError, match=r"time column 'date' \(did you mean 'dates'\?\)"):
        segml.read_transactions(frame(customer_id=["a"], dates=["2024-01-01"]))


def test_columns_of_the_wrong_type() -> None:
    tx = segml.read_transactions(
        frame(customer_id=[1, 2], date=["2024-01-01"] * 2, amount=["x", "3"]), amount="amount"
    )
    assert tx["customer_id"].tolist() == ["2"]
    assert segml.quality_report(tx).dropped == {"invalid_amount": 1}
    table = frame(frequency=["two"], recency=[1.0], T=[2.0])
    with pytest.raises(segml.DataError, match="missing or non-numeric 'frequency'"):
        segml.BetaGeo().fit(table)


def test_unparsable_dates() -> None:
    tx = segml.read_transactions(frame(customer_id=["a", "b"], date=["2024-01-01", "32/13/2024"]))
    assert segml.quality_report(tx).dropped == {"unparsable_time": 1}
    with pytest.raises(segml.DataError, match="no timestamp"):
        segml.read_transactions(frame(customer_id=["a"], date=["32/13/2024"]))


def _mixed_zones() -> pd.DataFrame:
    return segml.read_transactions(
        frame(
            customer_id=["a", "b", "c"],
            date=["2024-01-01T10:00:00+02:00", "2024-01-01T10:00:00-05:00", "2024-01-01 10:00"],
        )
    )


def test_times_in_several_zones_become_utc() -> None:
    assert _mixed_zones()["date"].tolist() == [
        pd.Timestamp("2024-01-01 08:00"),
        pd.Timestamp("2024-01-01 15:00"),
        pd.Timestamp("2024-01-01 10:00"),
    ]


def test_naive_times_among_aware_ones_are_noted_as_utc() -> None:
    notes = segml.quality_report(_mixed_zones()).notes
    assert any("naive ones taken as UTC" in n for n in notes)


def test_missing_customer_ids() -> None:
    tx = segml.read_transactions(frame(customer_id=["a", None, "  "], date=["2024-01-01"] * 3))
    assert segml.quality_report(tx).dropped == {"missing_customer_id": 2}


def test_exact_duplicates() -> None:
    raw = frame(customer_id=["a", "a"], date=["2024-01-01"] * 2, amount=[5.0, 5.0])
    assert segml.quality_report(segml.read_transactions(raw, amount="amount")).flagged == {
        "exact_duplicate_rows_kept": 1
    }
    dropped = segml.read_transactions(raw, amount="amount", duplicates="drop")
    assert len(dropped) == 1 and segml.quality_report(dropped).dropped == {"exact_duplicate": 1}


def test_a_same_day_return_is_netted_against_the_purchase() -> None:
    raw = frame(customer_id=["a", "a"], date=["2024-01-01"] * 2, amount=[10.0, -4.0])
    tx = segml.read_transactions(raw, amount="amount")
    assert tx["amount"].tolist() == [6.0]
    report = segml.quality_report(tx)
    assert report.dropped == {"return_netted": 1}
    assert report.amounts == {"return_netted": 0.0}


def test_a_return_without_a_purchase_is_dropped_as_unmatched() -> None:
    raw = frame(customer_id=["a", "b"], date=["2024-01-01", "2024-01-02"], amount=[10.0, -3.0])
    report = segml.quality_report(segml.read_transactions(raw, amount="amount"))
    assert report.dropped == {"unmatched_return": 1}
    assert report.amounts == {"unmatched_return": -3.0}


def test_zero_amounts(cdnow) -> None:
    raw = frame(customer_id=["a", "a"], date=["2024-01-01", "2024-01-02"], amount=[0.0, 5.0])
    assert segml.quality_report(segml.read_transactions(raw, amount="amount")).flagged == {
        "zero_amount_rows_kept": 1
    }
    table = cdnow.copy()
    table.loc[table.index[table["frequency"] > 0][:2], "monetary_value"] = 0.0
    with pytest.warns(UserWarning, match="2 repeat buyers with zero or negative mean spend"):
        assert segml.GammaGamma().fit(table).n_excluded_["non_positive_spend"] == 2


def test_transactions_after_the_end_or_in_the_future() -> None:
    raw = frame(
        customer_id=["a", "a", "a", "a"],
        date=["2024-01-01", "2024-03-01", "2199-01-01", "2999-01-01"],
    )
    tx = segml.read_transactions(raw)
    report = segml.quality_report(tx)
    assert report.flagged == {"future_dated_rows_kept": 1}
    assert report.dropped == {"unparsable_time": 1}  # beyond the representable range (2262)
    table = segml.summarize(tx, calibration_end="2024-02-01")
    assert segml.quality_report(table).dropped == {"unparsable_time": 1, "after_window": 2}


def test_an_empty_file(tmp_path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(segml.DataError, match="is empty"):
        segml.read_transactions(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("customer_id,date\n")
    with pytest.raises(segml.DataError, match="has no rows"):
        segml.read_transactions(tmp_path / "header.csv")


def test_a_single_customer() -> None:
    table = segml.summarize(
        frame(
            customer_id=["a"] * 3,
            date=["2024-01-01", "2024-02-01", "2024-03-01"],
            amount=[1.0, 2.0, 3.0],
        ),
        calibration_end="2024-04-01",
    )
    assert len(table) == 1
    with pytest.raises(
        segml.FitError, match=r"did not converge on 1 unique customer rows \(1 customers\)"
    ):
        segml.CLVModel().fit(table)


def test_all_customers_buying_once() -> None:
    ids = [f"c{i}" for i in range(40)]
    table = segml.summarize(
        frame(
            customer_id=ids,
            date=[f"2024-01-{1 + i % 28:02d}" for i in range(40)],
            amount=[5.0] * 40,
        ),
        calibration_end="2024-03-01",
    )
    with pytest.raises(segml.ConvergenceError, match="do not identify the model"):
        segml.BetaGeo().fit(table)
    with pytest.raises(segml.DataError, match="no customer has a repeat purchase"):
        segml.GammaGamma().fit(table)


def test_everyone_buying_every_day() -> None:
    days = pd.date_range("2024-01-01", periods=30).strftime("%Y-%m-%d")
    raw = frame(
        customer_id=np.repeat([f"c{i}" for i in range(20)], 30), date=np.tile(days, 20), amount=10.0
    )
    table = segml.summarize(raw, calibration_end="2024-01-30", unit="D")
    assert (table["recency"] == table["T"]).all()
    # nobody is seen to leave: the dropout estimate runs to the edge, and the NBD that fits
    # that limit finds no heterogeneity in purchase rates either
    with pytest.raises(segml.BoundaryError, match="no dropout identified in 29 days"):
        segml.BetaGeo().fit(table)
    with pytest.raises(segml.BoundaryError, match="no heterogeneity in purchase rates"):
        segml.NBD().fit(table)


def test_no_heterogeneity_in_dropout_rates() -> None:
    from segml.data.datasets import _simulate_pnbd

    # Every customer has the same dropout rate: s and beta run to infinity together (at
    # 5,000 customers sampling noise still gives an interior maximum; at 20,000 it does not).
    table = _simulate_pnbd(
        20_000, {"r": 0.55, "alpha": 10.6, "s": 1e6, "beta": 1e8}, random_state=1
    )
    with pytest.raises(segml.BoundaryError, match="no heterogeneity in dropout rates"):
        segml.ParetoNBD().fit(table)
    table["monetary_value"] = np.where(table["frequency"] > 0, 10.0 + np.arange(20_000) % 7, 0.0)
    clv = segml.CLVModel(frequency="auto").fit(table)
    assert clv.selection_["chosen"] in ("bgnbd", "mbgnbd")
    assert set(clv.selection_["boundary"]) == {"pnbd"}
    assert "edge of the parameter space (left out): pnbd" in clv.selection_["reason"]


def test_constant_or_all_nan_clustering_features(cdnow) -> None:
    with pytest.warns(UserWarning, match="constant features"):
        segml.ClusterSegmenter(features=["frequency", "k"], k=2).fit(cdnow.assign(k=1.0))
    with pytest.raises(segml.DataError, match="missing for every customer"):
        segml.ClusterSegmenter(features=["frequency", "z"], k=2).fit(cdnow.assign(z=np.nan))


def test_extreme_amounts() -> None:
    raw = frame(
        customer_id=["a", "a", "b"],
        date=["2024-01-01", "2024-01-05", "2024-01-02"],
        amount=[1e308, 5.0, -1e300],
    )
    tx = segml.read_transactions(raw, amount="amount")
    assert segml.quality_report(tx).dropped == {"extreme_amount": 2}
    assert np.isfinite(segml.summarize(tx, calibration_end="2024-02-01")["total_revenue"]).all()


def test_a_csv_that_is_not_utf8(tmp_path) -> None:
    (tmp_path / "latin.csv").write_bytes("customer_id,date\nJosé,2024-01-01\n".encode("latin-1"))
    with pytest.raises(segml.DataError, match=r"not valid utf-8 text .*encoding='latin-1'"):
        segml.read_transactions(tmp_path / "latin.csv")
    assert segml.read_transactions(tmp_path / "latin.csv", encoding="latin-1")[
        "customer_id"
    ].tolist() == ["José"]


def test_a_csv_with_thousands_separators(tmp_path) -> None:
    (tmp_path / "t.csv").write_text(
        'customer_id,date,amount\na,2024-01-01,"1,234.50"\nb,2024-01-01,7\n'
    )
    tx = segml.read_transactions(tmp_path / "t.csv", amount="amount")
    report = segml.quality_report(tx)
    assert report.dropped == {"invalid_amount": 1}
    assert any("thousands=','" in n for n in report.notes)
    fixed = segml.read_transactions(tmp_path / "t.csv", amount="amount", thousands=",")
    assert fixed["amount"].tolist() == [1234.5, 7.0]


def _refused_edit(tmp_path, old: str, new: str, pattern: str) -> None:
    """experiments/cdnow.toml with ``old`` replaced by ``new`` is a ConfigError matching."""
    text = (REPO / "experiments" / "cdnow.toml").read_text()
    assert old in text
    (tmp_path / "e.toml").write_text(text.replace(old, new, 1))
    with pytest.raises(segml.ConfigError, match=pattern):
        segml.load_config(tmp_path / "e.toml")


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        ("[clv]", "[clv]\ndiscount = 0.1", r"unknown key 'discount' in \[clv\]"),
        ("max_leaves = 6", 'max_leaves = "six"', r"max_leaves must be int, got str"),
        (
            'dataset = "cdnow"',
            'transactions = "nowhere.csv"',
            r"transactions file 'nowhere.csv' not found",
        ),
        ('rule = "first_amount >= 30"', 'rule = "revenue >= 30"', r"names column 'revenue'"),
    ],
)
def test_experiment_files(tmp_path, old, new, pattern) -> None:
    _refused_edit(tmp_path, old, new, pattern)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    config = segml.load_config(REPO / "experiments" / "cdnow.toml")
    from dataclasses import replace

    result = segml.run_experiment(
        replace(config, evaluation=replace(config.evaluation, n_bootstrap=0))
    )
    return save_model(result, tmp_path_factory.mktemp("m") / "model")


@pytest.mark.parametrize(
    "damage",
    [
        "remove clv.json",
        "corrupt clv.json",
        "remove segmenter file",
        "add file",
        "alter meta.json",
        "remove checksums.json",
    ],
)
def test_a_model_directory_with_a_missing_or_corrupt_artifact(exported, tmp_path, damage) -> None:
    copy = tmp_path / "model"
    shutil.copytree(exported, copy)
    clv = next(copy.rglob("clv.json"))
    seg_file = next(copy.rglob("segmenter.json"))
    if damage == "remove clv.json":
        clv.unlink()
    elif damage == "corrupt clv.json":
        clv.write_text(clv.read_text().replace("0.", "9.", 1))
    elif damage == "remove segmenter file":
        seg_file.unlink()
    elif damage == "alter meta.json":  # the horizon, say: every score would change
        meta = next(copy.rglob("meta.json"))
        meta.write_text(meta.read_text().replace('"horizon": ', '"horizon": 1', 1))
    elif damage == "remove checksums.json":
        next(copy.rglob("checksums.json")).unlink()
    else:
        (seg_file.parent / "extra.txt").write_text("x")
    with pytest.raises(segml.ModelError, match=r"missing|altered|unexpected|no checksum table"):
        load_model(str(copy))


def test_scoring_input_missing_columns_or_ids_that_changed_type(exported) -> None:
    model = load_model(str(exported))
    with pytest.raises(segml.DataError, match=r"lacks required columns \['T'\]"):
        model.predict(
            None, frame(customer_id=["1"], frequency=[1], recency=[1.0], monetary_value=[3.0])
        )
    numeric_ids = frame(
        customer_id=[42, 7],
        frequency=[1, 0],
        recency=[2.0, 0.0],
        T=[5.0, 5.0],
        monetary_value=[3.0, 0.0],
    )
    with pytest.warns(UserWarning, match="lost their leading zeros"):
        out = model.predict(None, numeric_ids)
    assert out["customer_id"].tolist() == ["42", "7"]


def test_never_nan_negative_or_out_of_range_outputs(clv, cdnow) -> None:
    bad = cdnow.iloc[:2].copy()
    bad["monetary_value"] = [-10.0, 5.0]
    bad["frequency"] = [3, 1]
    bad["recency"] = [5.0, 2.0]
    with pytest.raises(segml.ModelError, match="NaN, infinite or negative"):
        clv.predict(bad, horizon=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        good = clv.predict(cdnow, horizon=10)
    assert good["p_alive"].between(0, 1).all() and (good["clv"] >= 0).all()
    json.dumps(clv.to_dict())


def test_a_fifo_or_a_device_is_not_read(tmp_path) -> None:
    """A named pipe would block forever and /dev/zero never ends: refused at once."""
    import os

    fifo = tmp_path / "customers.csv"
    os.mkfifo(fifo)
    zero = tmp_path / "tx.csv"
    zero.symlink_to("/dev/zero")
    with pytest.raises(segml.DataError, match="FIFO"):
        segml.read_transactions(fifo)
    with pytest.raises(segml.DataError, match="character device"):
        segml.read_transactions(zero)
    table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    with pytest.raises(segml.DataError, match="FIFO"):
        segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30", customers=fifo)
    assert len(table)
    with pytest.raises(segml.ConfigError, match="FIFO"):
        segml.load_config(fifo)


def test_float_ids_that_are_integers_name_one_customer() -> None:
    """An object column mixing 1 and 1.0 (a spreadsheet export), or a float id column (any
    id column with a missing value): 2.0 is customer '2', not a second customer."""
    mixed = pd.DataFrame(
        {
            "customer_id": pd.Series([1, 1.0, "a", 2.0, None], dtype=object),
            "date": ["2024-01-01", "2024-01-05", "2024-01-02", "2024-01-03", "2024-01-04"],
        }
    )
    table = segml.summarize(segml.read_transactions(mixed), calibration_end="2024-02-01")
    assert list(table.index) == ["1", "a", "2"]
    assert table.loc["1", "frequency"] == 1
    floats = mixed.assign(customer_id=[1.0, 1.0, 3.0, 2.0, np.nan])
    assert list(segml.read_transactions(floats)["customer_id"]) == ["1", "1", "3", "2"]


def test_a_return_booked_weeks_after_its_order() -> None:
    raw = frame(
        customer_id=["a", "a", "a"],
        date=["2024-01-01", "2024-02-01", "2024-03-10"],
        amount=[40.0, 25.0, -25.0],
    )
    table = segml.summarize(
        segml.read_transactions(raw, amount="amount"), calibration_end="2024-06-30"
    )
    assert table.loc["a", "frequency"] == 0 and table.loc["a", "total_revenue"] == 40.0
    assert segml.quality_report(table).dropped == {"return_netted": 1, "returned_in_full": 1}


def test_a_calibration_end_far_from_the_data() -> None:
    raw = frame(customer_id=["a", "a"], date=["2024-01-01", "2024-02-01"], amount=[5.0, 6.0])
    with pytest.raises(segml.DataError, match="31 days before the first transaction"):
        segml.summarize(raw, calibration_end="2023-12-01")
    with pytest.warns(UserWarning, match="399 days after the last transaction"):
        segml.summarize(raw, calibration_end="2025-03-06")


def test_customer_attributes_keyed_by_their_index() -> None:
    raw = frame(customer_id=["a", "b"], date=["2024-01-01", "2024-01-02"], amount=[5.0, 6.0])
    attrs = pd.DataFrame({"customer_id": ["a", "b"], "tier": ["gold", "silver"]})
    table = segml.summarize(
        raw, calibration_end="2024-03-01", customers=attrs.set_index("customer_id")
    )
    assert table["tier"].to_dict() == {"a": "gold", "b": "silver"}


def test_a_time_format_that_does_not_match_iso_dates(tmp_path) -> None:
    raw = frame(customer_id=["a"], date=["2024-01-05"], amount=[5.0])
    with pytest.raises(segml.DataError, match="look like ISO 8601 dates: leave out time_format="):
        segml.read_transactions(raw, amount="amount", time_format="%d/%m/%Y")
    from segml.data.read import speaking_toml

    with (
        speaking_toml(),
        pytest.raises(segml.DataError, match=r'\[data\] time_format = "%d/%m/%Y"'),
    ):
        segml.read_transactions(raw, amount="amount", time_format="%d/%m/%Y")
    with speaking_toml(), pytest.raises(segml.DataError, match=r"\[data\] section \(customer = "):
        segml.read_transactions(raw, customer="client", amount="amount")


def _float_dates() -> pd.DataFrame:
    return frame(
        customer_id=["a", "a", "b", "b"],
        date=[20240105.0, np.nan, 20240301.0, 20240302.0],
        amount=[1.0, 2.0, 3.0, 4.0],
    )


@pytest.mark.parametrize("route", ["frame", "parquet"])
def test_dates_stored_as_yyyymmdd_floats_with_a_blank(tmp_path, route) -> None:
    raw = _float_dates()
    source: object = raw
    if route == "parquet":
        source = tmp_path / "log.parquet"
        raw.to_parquet(source)
    tx = segml.read_transactions(source, amount="amount", time_format="%Y%m%d")
    assert tx["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-05", "2024-03-01", "2024-03-02"]
    assert segml.quality_report(tx).dropped == {"unparsable_time": 1}


def _epochs(scale: int) -> pd.DataFrame:
    dates = [1704412800 * scale, 1709251200 * scale]  # 2024-01-05 and 2024-03-01, UTC
    return frame(customer_id=["a", "b"], date=dates, amount=[1.0, 2.0])


@pytest.mark.parametrize(("fmt", "scale"), [("epoch_s", 1), ("epoch_ms", 1000)])
def test_epoch_timestamps_with_their_time_format(fmt, scale) -> None:
    raw = _epochs(scale)
    for column in (raw["date"], raw["date"].astype(str)):  # numbers, or digits read from CSV
        tx = segml.read_transactions(raw.assign(date=column), amount="amount", time_format=fmt)
        assert tx["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-05", "2024-03-01"]
        assert any("epoch timestamps" in note for note in segml.quality_report(tx).notes)


@pytest.mark.parametrize(
    ("scale", "given", "hint"),
    [
        (1, None, "look like epoch seconds: set time_format='epoch_s'"),
        (1, "%Y%m%d", "look like epoch seconds: set time_format='epoch_s'"),
        (1000, "epoch_s", "look like epoch milliseconds: set time_format='epoch_ms'"),
    ],
)
def test_epoch_timestamps_without_the_right_time_format(scale, given, hint) -> None:
    raw = _epochs(scale)
    with pytest.raises(segml.DataError, match=hint):
        segml.read_transactions(raw, amount="amount", time_format=given)


def test_a_time_format_that_fits_nothing_is_not_suggested_again() -> None:
    raw = frame(customer_id=["a"], date=["05.01.2024"], amount=[1.0])
    with pytest.raises(segml.DataError, match="check that time_format='%Y%m%d' matches") as err:
        segml.read_transactions(raw, amount="amount", time_format="%Y%m%d")
    assert "set time_format='%Y%m%d'" not in str(err.value)


CSV_TEXT = "customer_id,date,amount\nJosé,2024-01-05,1.5\nb,2024-02-01,2\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_a_csv_with_a_byte_order_mark(tmp_path, encoding) -> None:
    path = tmp_path / "log.csv"
    path.write_text(CSV_TEXT, encoding=encoding)
    tx = segml.read_transactions(path, amount="amount")
    assert sorted(tx["customer_id"]) == ["José", "b"]


def test_a_utf16_csv_without_a_byte_order_mark(tmp_path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(CSV_TEXT.encode("utf-16-le"))
    with pytest.raises(segml.DataError, match=r"looks like UTF-16 .*encoding='utf-16-le'"):
        segml.read_transactions(path, amount="amount")
    tx = segml.read_transactions(path, amount="amount", encoding="utf-16-le")
    assert sorted(tx["customer_id"]) == ["José", "b"]


EXPERIMENT_TEXT = (
    '[experiment]\nname = "cafe"\ndescription = "Qui achète ? Café."\n[data]\n'
    'dataset = "cdnow"\ncalibration_end = "1997-09-30"\nholdout_end = "1998-06-30"\n'
    '[[segmenters]]\nname = "tiers"\nmethod = "value_tiers"\n'
)


def test_an_experiment_file_with_a_byte_order_mark(tmp_path) -> None:
    path = tmp_path / "bom.toml"
    path.write_text(EXPERIMENT_TEXT, encoding="utf-8-sig")
    assert segml.load_config(path).data.calibration_end == "1997-09-30"


def test_an_experiment_file_not_in_utf8(tmp_path) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes(EXPERIMENT_TEXT.encode("latin-1"))
    with pytest.raises(segml.ConfigError, match=r"not UTF-8 text .*save it as UTF-8"):
        segml.load_config(path)


def test_customer_ids_that_pandas_reads_as_missing(tmp_path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "customer_id,date,amount\nNA,2024-01-05,1\nNULL,2024-01-06,2\n,2024-01-07,3\n"
        "b,2024-02-01,2\n"
    )
    report = segml.quality_report(segml.read_transactions(path, amount="amount"))
    assert report.dropped == {"missing_customer_id": 3}
    (note,) = [n for n in report.notes if "customer ids written as" in n]
    assert "'NA', 'NULL'" in note and "keep_default_na=False, na_values=['']" in note
    kept = segml.read_transactions(path, amount="amount", keep_default_na=False, na_values=[""])
    assert sorted(kept["customer_id"]) == ["NA", "NULL", "b"]
    assert segml.quality_report(kept).dropped == {"missing_customer_id": 1}


@pytest.mark.parametrize("route", ["frame", "csv"])
def test_decimal_commas_read_with_a_thousands_separator(tmp_path, route) -> None:
    raw = frame(
        customer_id=["a", "b", "c"], date=["2024-01-05"] * 3, amount=["1,5", "1,234.50", "12"]
    )
    source: object = raw
    if route == "csv":
        source = tmp_path / "log.csv"
        raw.to_csv(source, index=False)
    tx = segml.read_transactions(source, amount="amount", thousands=",")
    assert sorted(tx["amount"]) == [12.0, 1234.5]  # "1,5" is not fifteen
    report = segml.quality_report(tx)
    assert report.dropped == {"invalid_amount": 1}
    assert any("without groups of three digits" in n and "decimal=','" in n for n in report.notes)


def test_decimal_commas_read_as_decimals(tmp_path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("customer_id;date;amount\na;2024-01-05;1,5\nb;2024-01-06;1234,50\n")
    tx = segml.read_transactions(path, amount="amount", sep=";", decimal=",")
    assert sorted(tx["amount"]) == [1.5, 1234.5]


def test_an_amount_column_of_booleans() -> None:
    raw = frame(customer_id=["a", "b"], date=["2024-01-05"] * 2, amount=[True, False])
    with pytest.raises(segml.DataError, match="holds true/false values, not amounts"):
        segml.read_transactions(raw, amount="amount")


@pytest.mark.parametrize(
    ("mapping", "roles"),
    [
        ({"customer": "date"}, "as customer and as time"),
        ({"quantity": "amount"}, "as amount and as quantity"),
    ],
)
def test_one_column_mapped_twice(mapping, roles) -> None:
    raw = frame(customer_id=["a"], date=["2024-01-05"], amount=[1.0])
    with pytest.raises(segml.DataError, match=f"mapped twice, {roles}"):
        segml.read_transactions(raw, **{"amount": "amount", **mapping})


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        (
            "k = [2, 3, 4, 5, 6, 7, 8]",
            "k = [2.5]",
            r"\[segmenters\[0\]\] k must be an integer from 2",
        ),
        ("k = [2, 3, 4, 5, 6, 7, 8]", "k = [0, 1]", r"k must be an integer from 2 to 1,000"),
        ("k = [2, 3, 4, 5, 6, 7, 8]", "k = []", r"or a non-empty list of them, got \[\]"),
        ("k = [2, 3, 4, 5, 6, 7, 8]", 'k = ["a"]', r"got \['a'\]"),
        ("random_state = 0", "random_state = -1", r"random_state must be an integer from 0"),
        ("max_leaves = 6", "max_leaves = 1", r"max_leaves must be an integer from 2"),
        ('method = "hdbscan"', 'method = "hdbscan"\nmin_cluster_size = 0', r"min_cluster_size"),
        ('method = "value_tiers"', 'method = "value_tiers"\ntiers = [0.5, 0.6]', r"summing to 1"),
        (
            "min_share = 0.03",
            "min_share = 2",
            r"\[evaluation\] min_share must be a share in \(0, 1\)",
        ),
        ("min_share = 0.03", "min_share = -1", r"min_share must be a share"),
        ("max_k = 10", "max_k = 0", r"max_k must be an integer from 2"),
        ("n_bootstrap = 20", "n_bootstrap = -1", r"n_bootstrap must be an integer from 0"),
        ("n_bootstrap = 20", "n_bootstrap = 1000000000", r"to 10,000, got 1000000000"),
        ("alpha = 0.05", "alpha = 1.5", r"alpha must be a level in \(0, 1\)"),
        ("horizon = 39 ", "horizon = -39 ", r"\[clv\] horizon must be a positive finite"),
        ("horizon = 39 ", "horizon = nan ", r"horizon must be a positive finite number"),
        ("discount_rate = 0.10", "discount_rate = inf", r"discount_rate must be an annual rate"),
        ('spend = "gamma_gamma"', 'spend = "gamma_gamma"\nmargin = 1.5', r"margin must be a rate"),
    ],
)
def test_experiment_values_out_of_range(tmp_path, old, new, pattern) -> None:
    _refused_edit(tmp_path, old, new, pattern)


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        (
            'spend = "gamma_gamma"',
            'spend = "lognormal"',
            r"\[clv\] spend must be one of 'gamma_gamma'",
        ),
        (
            'dataset = "cdnow"',
            'dataset = "cdnow"\nreturns = "keep"',
            r"returns must be one of 'net'",
        ),
        (
            'dataset = "cdnow"',
            'dataset = "cdnow"\nduplicates = "merge"',
            r"duplicates must be one of",
        ),
        (
            'holdout_end = "1998-06-30"',
            'holdout_end = "1997-06-30"',
            r"holdout_end must come after calibration_end",
        ),
    ],
)
def test_experiment_settings_that_are_not_among_their_choices(tmp_path, old, new, pattern) -> None:
    _refused_edit(tmp_path, old, new, pattern)
