"""Invariants that hold for any customer history (hypothesis property tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segml


@st.composite
def histories(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 20))
    rows = []
    for _ in range(n):
        T = draw(st.floats(0.0, 200.0, allow_nan=False))
        x = draw(st.integers(0, 60))
        t_x = 0.0 if x == 0 else draw(st.floats(0.0, T, allow_nan=False))
        m = draw(st.floats(0.01, 5000.0, allow_nan=False)) if x > 0 else 0.0
        rows.append((x, t_x, T, m))
    return pd.DataFrame(rows, columns=["frequency", "recency", "T", "monetary_value"])


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(table=histories())
def test_p_alive_is_a_probability(bgnbd, pnbd, table) -> None:
    """The value as computed, before the clip to [0, 1]: only rounding may pass the bounds."""
    from segml.clv.conditional import p_alive_unclipped

    x, t_x, T = (table[c].to_numpy("float64") for c in ("frequency", "recency", "T"))
    for name, model in (("bgnbd", bgnbd), ("pnbd", pnbd)):
        p = p_alive_unclipped(name, model.params_, x, t_x, T)
        assert np.all(np.isfinite(p))
        assert np.all((p >= -1e-12) & (p <= 1 + 1e-9)), p


@SETTINGS
@given(table=histories(), h1=st.floats(0.0, 300.0), h2=st.floats(0.0, 300.0))
def test_expected_purchases_non_decreasing_in_horizon(bgnbd, pnbd, table, h1, h2) -> None:
    lo, hi = sorted((h1, h2))
    for model in (bgnbd, pnbd):
        a = model.expected_purchases(table, lo).to_numpy()
        b = model.expected_purchases(table, hi).to_numpy()
        assert np.all(a >= 0)
        assert np.all(b >= a - 1e-9 * np.maximum(1, a))


@SETTINGS
@given(table=histories(), d1=st.floats(0.0, 2.0), d2=st.floats(0.0, 2.0), h=st.floats(0.5, 260.0))
def test_clv_is_non_increasing_in_the_discount_rate(clv, table, d1, d2, h) -> None:
    lo, hi = sorted((d1, d2))
    a = clv.predict(table, horizon=h, discount_rate=lo)["clv"].to_numpy()
    b = clv.predict(table, horizon=h, discount_rate=hi)["clv"].to_numpy()
    assert np.all(b <= a * (1 + 1e-9) + 1e-12)


@SETTINGS
@given(table=histories(), d=st.floats(0.0, 2.0), h=st.floats(0.5, 260.0))
def test_clv_is_non_negative(clv, table, d, h) -> None:
    assert np.all(clv.predict(table, horizon=h, discount_rate=d)["clv"].to_numpy() >= 0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300))
def test_simulated_tables_are_valid_customer_tables(seed, n) -> None:
    table = segml.simulate_customers(n, random_state=seed)
    assert (table["recency"] <= table["T"]).all()
    assert ((table["frequency"] == 0) <= (table["recency"] == 0)).all()
    assert (table["holdout_frequency"] >= 0).all()
    assert ((table["frequency"] > 0) == (table["monetary_value"] > 0)).all()


@SETTINGS
@given(
    columns=st.integers(1, 3).flatmap(
        lambda k: st.lists(
            st.tuples(*[st.sampled_from([0.0, 0.5, 1.0, 2.0, 1e9, float("nan")])] * k),
            min_size=1,
            max_size=50,
        )
    ),
    spread=st.booleans(),
)
def test_compression_is_lossless(columns, spread) -> None:
    from segml.clv._base import Compressed

    arrays = [np.array(c, dtype="float64") for c in zip(*columns, strict=True)]
    if spread:
        # 300 more distinct rows: with three columns the combined codes span 300**3 > 1e6,
        # which takes the hash path instead of the counting pass.
        arrays = [np.concatenate([a, np.arange(300) * 1e-3 + i]) for i, a in enumerate(arrays)]
    data = Compressed.of(*arrays)
    for i, a in enumerate(arrays):
        np.testing.assert_array_equal(data.values[data.inverse, i], a)
    assert data.weights.sum() == len(arrays[0])
    unique_rows = {tuple(np.nan_to_num(row, nan=-7.0)) for row in zip(*arrays, strict=True)}
    assert len(data.weights) == len(unique_rows)


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "007"]),
            st.integers(-800, 800),  # days around 1970 (negative day numbers too)
            st.sampled_from([0, 3_600, 86_399]),  # seconds into the day
            st.sampled_from([0.0, -0.0, 1.5, 2.0]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_fast_duplicate_marks_equal_pandas(rows) -> None:
    from segml.data._fast.duplicates import duplicate_marks

    frame = pd.DataFrame(
        {
            "customer_id": pd.Series([r[0] for r in rows], dtype="str"),
            "date": pd.to_datetime([r[1] * 86_400 + r[2] for r in rows], unit="s"),
            "amount": [r[3] for r in rows],
        }
    )
    codes = pd.factorize(frame["customer_id"])[0]
    marks, order = duplicate_marks(frame, codes)
    np.testing.assert_array_equal(marks, frame.duplicated().to_numpy())
    assert order is not None
    days = frame["date"].to_numpy("datetime64[ns]").view("i8") // 86_400_000_000_000
    np.testing.assert_array_equal(np.arange(len(frame))[order], np.lexsort((days, codes)))


#: A small transaction log: customer, day of 2024 (calibration ends on day 30, holdout on
#: day 45), second of the day, amount (returns included).
LOG_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", " 7 "]),
        st.integers(0, 60),
        st.sampled_from([0, 3_600, 86_399]),
        st.sampled_from([0.0, 1.5, 2.0, 10.0, -1.5]),
    ),
    min_size=1,
    max_size=40,
)


def _log(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta([r[1] * 86_400 + r[2] for r in rows], unit="s"),
            "amount": [r[3] for r in rows],
        }
    )


@SETTINGS
@given(
    rows=LOG_ROWS,
    holdout=st.booleans(),
)
def test_summarize_on_a_raw_frame_equals_summarize_after_reading(rows, holdout) -> None:
    from hypothesis import assume

    raw = _log(rows)
    kw = {"calibration_end": "2024-01-31", "holdout_end": "2024-02-15" if holdout else None}
    try:
        read = segml.read_transactions(raw, amount="amount")
        assume(pd.Timestamp(read["date"].min()) <= pd.Timestamp("2024-01-31"))
        expected = segml.summarize(read, **kw)
    except segml.DataError:
        with pytest.raises(segml.DataError):
            segml.summarize(raw, **kw)
        return
    got = segml.summarize(raw, **kw)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs


@SETTINGS
@given(
    rows=LOG_ROWS,
    holdout=st.booleans(),
    seed=st.integers(0, 2**16),
    slice_rows=st.sampled_from([1, 2, 3, 1 << 16]),
)
def test_summarize_a_sorted_log_equals_the_same_log_shuffled(
    rows, holdout, seed, slice_rows, monkeypatch
) -> None:
    """A log in time order is sorted by a stable sort on the customer alone; a log grouped
    by customer in time order is not sorted at all (its rows are used in place, a slice at
    a time); any other by one combined key. The table must be the one of the same rows in
    any order, from a raw frame or after read_transactions."""
    from segml.data._fast import order

    raw = _log(rows)
    in_order = raw.sort_values("date", kind="stable", ignore_index=True)
    grouped = raw.sort_values(["customer_id", "date"], kind="stable", ignore_index=True)
    shuffled = raw.sample(frac=1, random_state=seed, ignore_index=True)
    kw = {"calibration_end": "2024-01-31", "holdout_end": "2024-02-15" if holdout else None}
    want, want_error = outcome(lambda: segml.summarize(shuffled, **kw))
    with monkeypatch.context() as patch:  # undone before hypothesis' next example
        patch.setattr(order, "SLICE_ROWS", slice_rows)
        for log in (in_order, grouped, shuffled):
            untouched = log.copy(deep=True)
            for source in (log, lambda log=log: segml.read_transactions(log, amount="amount")):
                got, got_error = outcome(
                    lambda source=source: segml.summarize(
                        source() if callable(source) else source, **kw
                    )
                )
                assert (got_error is None) == (want_error is None)
                if want is not None:
                    pd.testing.assert_frame_equal(got.sort_index(), want.sort_index())
            # rows used in place are only read (their times are floored in a copy)
            pd.testing.assert_frame_equal(log, untouched)


@SETTINGS
@given(
    rows=LOG_ROWS,
    slice_rows=st.integers(1, 5),
    holdout=st.booleans(),
    merge_same_day=st.booleans(),
)
def test_summarize_in_slices_equals_one_slice(
    rows, slice_rows, holdout, merge_same_day, monkeypatch
) -> None:
    """The sorted rows become customers a slice at a time; cutting them into slices of a
    few rows (always between customers) must not change the table or the report."""
    from segml.data._fast import order

    tx = _log(rows).assign(n_items=[1 + r[1] % 3 for r in rows])
    kw = {
        "calibration_end": "2024-01-31",
        "holdout_end": "2024-02-15" if holdout else None,
        "merge_same_day": merge_same_day,
    }
    want, want_error = outcome(lambda: segml.summarize(tx, **kw))
    with monkeypatch.context() as patch:  # undone before hypothesis' next example
        patch.setattr(order, "SLICE_ROWS", slice_rows)
        got, got_error = outcome(lambda: segml.summarize(tx, **kw))
    assert got_error == want_error
    if want is not None:
        pd.testing.assert_frame_equal(got, want)
        assert got.attrs == want.attrs


@SETTINGS
@given(
    codes=st.lists(st.integers(0, 5), min_size=0, max_size=60),
    steps=st.lists(st.integers(0, 2), min_size=60, max_size=60),
    within_day=st.lists(st.integers(0, 86_400 * 10**9 - 1), min_size=60, max_size=60),
    first_day=st.integers(-800, 800),
    slice_rows=st.integers(1, 7),
)
def test_time_ordered_sort_equals_lexsort(
    codes, steps, within_day, first_day, slice_rows, monkeypatch
) -> None:
    """Rows in order by day (times may go back within a day, before 1970 too), checked a
    slice at a time: the stable sort by customer alone gives the (customer, day) order."""
    from segml.data._fast import order

    monkeypatch.setattr(order, "SLICE_ROWS", slice_rows)
    day = 86_400 * 10**9
    codes = np.array(codes, dtype=np.int32)
    days = first_day + np.cumsum(steps)[: len(codes)]
    times = days * day + np.array(within_day[: len(codes)], dtype=np.int64)
    assert order._in_time_order(times)
    np.testing.assert_array_equal(order._code_order(codes), np.lexsort((days, codes)))
    assert order._in_time_order(times[::-1]) == (len(set(days)) <= 1)
    layout = order._key_layout(codes, times)
    assert (layout is None) == (len(codes) == 0)
    if layout is not None:
        key = order._customer_day_key(codes, times, layout)
        np.testing.assert_array_equal(np.argsort(key, kind="stable"), np.lexsort((days, codes)))


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 3), st.integers(-3, 3), st.integers(0, 86_400 * 10**9 - 1)),
        min_size=1,
        max_size=40,
    ),
    grouped=st.booleans(),
    slice_rows=st.integers(1, 7),
)
def test_customer_day_order_checked_in_slices(rows, grouped, slice_rows, monkeypatch) -> None:
    """The (customer, day) order of a log is checked a slice at a time, without a key for
    every row; so are the neighbours with the same customer and day. Both equal the
    lexsort's."""
    from segml.data._fast import enabled, order

    monkeypatch.setattr(order, "SLICE_ROWS", slice_rows)
    if grouped:  # by customer and day; times may still go back within a day
        rows = sorted(rows, key=lambda r: r[:2])
    codes = np.array([r[0] for r in rows], dtype=np.int32)
    times = np.array([r[1] * 86_400 * 10**9 + r[2] for r in rows], dtype=np.int64)
    days = times // (86_400 * 10**9)
    want = np.lexsort((days, codes))
    got = order.customer_day_order(codes, times)
    assert isinstance(got, slice) or not (grouped and enabled())  # used in place
    np.testing.assert_array_equal(np.arange(len(rows))[got], want)
    np.testing.assert_array_equal(
        order.same_day_neighbours(got, codes, times),
        (np.diff(days[want]) == 0) & (np.diff(codes[want]) == 0),
    )


@SETTINGS
@given(
    codes=st.lists(st.integers(0, 4), min_size=1, max_size=40),
    n_categories=st.integers(1, 6),
    slice_rows=st.integers(1, 5),
)
def test_appearance_order_check_equals_pandas_unique(
    codes, n_categories, slice_rows, monkeypatch
) -> None:
    from segml.data import ids as read
    from segml.data._fast import order

    codes = np.array(codes, dtype=np.int8)
    seen = pd.unique(codes)
    expected = len(seen) == n_categories and bool((seen == np.arange(len(seen))).all())
    with monkeypatch.context() as patch:
        patch.setattr(order, "SLICE_ROWS", slice_rows)
        assert read._in_appearance_order(codes, n_categories) == expected


@SETTINGS
@given(
    keys=st.lists(st.integers(0, 2**40), min_size=2, max_size=300),
    length=st.sampled_from([10, 100_000, 150_001]),
    small=st.booleans(),
)
def test_stable_argsort_equals_numpy(keys, length, small) -> None:
    from segml.data._fast.order import _stable_argsort

    # Long unsorted keys below 2**31 are packed with their row numbers and sorted; larger,
    # short or nearly sorted ones take numpy's own stable sort.
    key = np.resize(np.array(keys, dtype=np.int64), length)
    if small:
        key = (key % 2**31).astype(np.int32)
    np.testing.assert_array_equal(_stable_argsort(key), np.argsort(key, kind="stable"))


IDS = st.sampled_from(["a", "b", "", "00042", "C0323714", "ü", "a\x00", "customer-0000001"])


@SETTINGS
@given(
    ids=st.lists(IDS, min_size=1, max_size=60),
    chunks=st.integers(1, 4),
    slice_rows=st.integers(1, 9),
)
def test_string_factorize_equals_pandas(ids, chunks, slice_rows, monkeypatch) -> None:
    """The fast route (short ids as words, numbered by runs or hashed) and pandas' route
    (longer ids), over one or several Arrow chunks."""
    import pyarrow as pa

    import segml.data._fast.encode as encode
    from segml.data import ids as read

    parts = np.array_split(np.array(ids, dtype=object), chunks)
    values = pd.Series(
        pd.arrays.ArrowStringArray(
            pa.chunked_array([pa.array(p, pa.large_string()) for p in parts])
        ),
        dtype="str",
    )
    grouped = values.sort_values(kind="stable", ignore_index=True)  # numbered by runs
    with monkeypatch.context() as patch:  # undone before hypothesis' next example
        patch.setattr(encode, "_SLICE_ROWS", slice_rows)
        codes, uniques = read._factorize_strings(values)
        grouped_codes = read._factorize_strings(grouped)[0]
    ref_codes, ref_uniques = pd.factorize(values, sort=False)
    np.testing.assert_array_equal(grouped_codes, pd.factorize(grouped, sort=False)[0])
    np.testing.assert_array_equal(codes, ref_codes)
    pd.testing.assert_index_equal(uniques, ref_uniques)


@SETTINGS
@given(
    words=st.lists(st.integers(-3, 3), min_size=0, max_size=60),
    repeats=st.lists(st.integers(1, 5), min_size=60, max_size=60),
    slice_rows=st.integers(1, 9),
)
def test_word_factorize_equals_pandas(words, repeats, slice_rows, monkeypatch):
    """Numbered by runs where the words are grouped (each word's rows one run), else
    hashed: the codes and uniques of one pandas.factorize."""
    import segml.data._fast.encode as encode

    # runs of each word: grouped when no word comes back after another
    values = np.repeat(np.array(words, dtype=np.int64), repeats[: len(words)])
    with monkeypatch.context() as patch:  # undone before hypothesis' next example
        patch.setattr(encode, "_SLICE_ROWS", slice_rows)
        codes, uniques = encode.factorize(values)
    ref_codes, ref_uniques = pd.factorize(values, sort=False)
    np.testing.assert_array_equal(codes, ref_codes)
    np.testing.assert_array_equal(uniques, ref_uniques)
    assert codes.dtype == np.int32


def test_grouped_words_are_numbered_by_runs_and_recurring_ones_are_not(monkeypatch) -> None:
    """A log grouped by customer is numbered without hashing its rows; one where an id
    comes back after another id is left to the hashing (the codes would be wrong)."""
    import segml.data._fast.encode as encode

    monkeypatch.setattr(encode, "_SLICE_ROWS", 64)
    words = np.repeat(np.random.default_rng(0).permutation(1000), 3)
    codes = np.empty(len(words), dtype=np.int32)
    uniques = encode._grouped_codes(lambda a, b: words[a:b], len(words), codes)
    assert uniques is not None
    want_codes, want_uniques = pd.factorize(words, sort=False)
    np.testing.assert_array_equal(codes, want_codes)
    np.testing.assert_array_equal(uniques, want_uniques)
    back = np.r_[words, words[:1]]  # the first id again, at the end
    assert encode._grouped_codes(lambda a, b: back[a:b], len(back), np.empty_like(back)) is None
    in_time_order = np.tile(np.arange(1000), 3)  # the hashing's case: given up on slice one
    seen: list[int] = []
    assert (
        encode._grouped_codes(
            lambda a, b: seen.append(b) or in_time_order[a:b],
            len(in_time_order),
            np.empty_like(in_time_order),
        )
        is None
    )
    assert seen == [64]


@SETTINGS
@given(
    keep=st.lists(st.booleans(), min_size=0, max_size=40),
    seed=st.integers(0, 2**16),
    slice_rows=st.integers(1, 9),
)
def test_kept_rows_of_an_order_in_place(keep, seed, slice_rows, monkeypatch) -> None:
    from segml.data._fast import order as kernels

    monkeypatch.setattr(kernels, "SLICE_ROWS", slice_rows)
    mask = np.array(keep, dtype=bool)
    order = np.random.default_rng(seed).permutation(len(mask)).astype(np.int32)
    want = order[mask[order]]
    np.testing.assert_array_equal(kernels._kept(order, mask), want)


@SETTINGS
@given(
    ids=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
)
def test_codes_of_kept_rows_equal_factorizing_the_kept_rows(ids, seed) -> None:
    from segml.data.ids import codes_of_rows

    values = pd.Series(ids, dtype="str")
    keep = np.random.default_rng(seed).random(len(ids)) < 0.6
    codes, uniques = pd.factorize(values, sort=False)
    got_codes, got_uniques = codes_of_rows(codes, uniques, keep)
    want_codes, want_uniques = pd.factorize(values[keep], sort=False)
    np.testing.assert_array_equal(got_codes, want_codes)
    assert list(got_uniques) == list(want_uniques)


@SETTINGS
@given(rows=LOG_ROWS, seed=st.integers(0, 2**16))
def test_kept_rows_equal_loc_with_the_changed_amounts(rows, seed) -> None:
    """Every column kind (Arrow strings and integers, datetimes, floats, categories, objects,
    periods, nullable integers and Python strings) keeps its dtype and values; the changed
    amounts land on their rows."""
    from segml.data.policies import kept_rows

    frame = _log(rows).assign(
        customer_id=lambda f: f["customer_id"].astype("str"),
        units=pd.array(range(len(rows)), dtype="int64[pyarrow]"),
        channel=pd.Categorical(["web", "shop"] * (len(rows) // 2) + ["web"] * (len(rows) % 2)),
        mixed=pd.Series([1 if i % 3 else "x" for i in range(len(rows))], dtype=object),
        month=pd.period_range("2024-01", periods=len(rows), freq="M"),
        seats=pd.array([None if i % 4 == 0 else i for i in range(len(rows))], dtype="Int64"),
        note=pd.array([None if i % 2 else "n" for i in range(len(rows))], dtype="string[python]"),
    )
    rng = np.random.default_rng(seed)
    keep = rng.random(len(rows)) < 0.7
    changed = np.flatnonzero(keep & (rng.random(len(rows)) < 0.5))
    new_amounts = rng.random(len(changed))
    want = frame.loc[keep].reset_index(drop=True)
    want.loc[np.searchsorted(np.flatnonzero(keep), changed), "amount"] = new_amounts
    got = kept_rows(frame, keep, (changed, new_amounts))
    pd.testing.assert_frame_equal(got, want)
    assert frame["amount"].tolist() == [r[3] for r in rows]  # the input is not written to


@SETTINGS
@given(
    rows=LOG_ROWS,
    returns=st.sampled_from(["net", "drop"]),
    zeros=st.sampled_from(["keep", "drop"]),
    dups=st.sampled_from(["keep", "drop"]),
)
def test_summarize_after_policies_removed_rows_equals_the_plain_route(
    rows, returns, zeros, dups, monkeypatch
) -> None:
    """read_transactions hands summarize the codes of the rows its policies left; the
    table equals the one of the plain route, which factorizes those rows again."""
    policies = {"returns": returns, "zero_amounts": zeros, "duplicates": dups}
    kw = {"calibration_end": "2024-01-31", "holdout_end": "2024-02-15"}

    def table() -> pd.DataFrame:
        return segml.summarize(
            segml.read_transactions(_log(rows), amount="amount", **policies), **kw
        )

    with monkeypatch.context() as patch:
        patch.setenv("SEGML_FAST", "0")
        want, want_error = outcome(table)
    got, got_error = outcome(table)
    assert got_error == want_error
    if want is not None:
        pd.testing.assert_frame_equal(got, want)
        assert got.attrs == want.attrs


@SETTINGS
@given(ids=st.lists(IDS, min_size=1, max_size=60), large=st.booleans())
def test_short_id_words_decode_to_the_same_strings(ids, large) -> None:
    import pyarrow as pa

    from segml.data._fast import encode as _encode

    type_ = pa.large_string() if large else pa.string()
    words = _encode.short_words(pa.array(ids, type=type_))
    if any(len(i.encode()) > 8 or "\x00" in i for i in ids):
        assert words is None
    else:
        assert words is not None
        strings = _encode.words_to_strings(words, type_)
        strings.validate(full=True)
        assert strings.type == type_
        assert strings.to_pylist() == ids


def _names_one_segment_at_a_time(frame: pd.DataFrame, labels: np.ndarray) -> dict[int, str]:
    """describe_segments' rule applied to each segment on its own (its earlier code)."""
    from segml.segment.profile import NAME_WORDS, _is_categorical

    names: dict[int, str] = {}
    used: dict[str, int] = {}
    for label in sorted({int(v) for v in labels}):
        if label == -1:
            names[-1] = "noise / unassigned"
            continue
        inside = labels == label
        scored: list[tuple[float, str]] = []
        for col in frame.columns:
            series = frame[col]
            if _is_categorical(series):
                overall = series.astype(object).value_counts(normalize=True, dropna=True)
                seg = series[inside].astype(object).value_counts(normalize=True, dropna=True)
                if len(seg):
                    level, share = seg.index[0], float(seg.iloc[0])
                    base = float(overall.get(level, 0.0))
                    if share >= 0.5 and base > 0 and share >= 1.5 * base:
                        scored.append((share / base, f"{col} {level}"))
                continue
            values = series.to_numpy("float64", na_value=np.nan)
            if (~np.isnan(values)).sum() < 2 or np.isnan(values[inside]).all():
                continue
            sd = np.nanstd(values)
            if not np.isfinite(sd) or sd == 0:
                continue
            z = (np.nanmean(values[inside]) - np.nanmean(values)) / sd
            if abs(z) >= 0.3:
                high, low = NAME_WORDS.get(col, (f"high {col}", f"low {col}"))
                scored.append((abs(z), high if z > 0 else low))
        scored.sort(key=lambda t: -t[0])
        name = ", ".join(word for _, word in scored[:3]) or "average"
        used[name] = used.get(name, 0) + 1
        names[label] = name if used[name] == 1 else f"{name} #{used[name]}"
    return names


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            st.integers(-1, 4),
            st.one_of(st.none(), st.integers(0, 20)),
            st.floats(0, 1000, allow_nan=False),
            st.sampled_from(["web", "store", None]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_segment_names_from_one_pass_equal_each_segment_on_its_own(rows) -> None:
    """Segment means of every feature in one pass (bincount) name the segments as the
    per-segment computation does, with missing values, noise and categorical features."""
    from segml.segment.profile import describe_segments

    labels = np.array([r[0] for r in rows])
    frame = pd.DataFrame(
        {
            "frequency": pd.array([r[1] for r in rows], dtype="Int64"),
            "monetary_value": [r[2] for r in rows],
            "channel": pd.array([r[3] for r in rows], dtype="str"),
        }
    )
    assert describe_segments(frame, labels) == _names_one_segment_at_a_time(frame, labels)


@SETTINGS
@given(
    values=st.lists(
        st.one_of(st.floats(-3, 3, width=16), st.just(float("nan")), st.just(-0.0)),
        max_size=40,
    ),
    as_int=st.booleans(),
)
def test_distinct_by_sorting_equals_numpy_unique(values, as_int) -> None:
    """numpy's hash route is slow for many distinct values; the sorting one gives the same
    values, one NaN (or NaT) last."""
    from segml._setops import distinct

    array = np.array(values, dtype="float64")
    if as_int:
        array = np.nan_to_num(array, nan=7.0).astype(np.int64)
    np.testing.assert_array_equal(distinct(array), np.unique(array))
    dates = np.where(np.isnan(array), np.nan, array).astype("float64")
    stamps = np.array(
        [np.datetime64("NaT") if np.isnan(v) else np.datetime64(int(v), "D") for v in dates],
        dtype="datetime64[D]",
    )
    np.testing.assert_array_equal(distinct(stamps), np.unique(stamps))


@SETTINGS
@given(
    values=st.lists(st.sampled_from(["a", "b", "c", "007", "7"]), max_size=20),
    index=st.lists(st.sampled_from(["a", "c", "7", "x"]), max_size=20),
)
def test_in_index_equals_isin(values, index) -> None:
    """Looked up in a unique index's hash table (or with isin when it repeats ids): the
    membership of every value, as pandas' isin."""
    from segml._setops import in_index

    left, right = pd.Index(values, dtype="str"), pd.Index(index, dtype="str")
    np.testing.assert_array_equal(in_index(left, right), left.isin(right))
    unique_right = right.unique()
    np.testing.assert_array_equal(in_index(left, unique_right), left.isin(unique_right))


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.sampled_from([0.0, -0.0, 1.5, np.nan]),
            st.sampled_from([0, 1, None]),
            st.booleans(),
        ),
        min_size=0,
        max_size=30,
    )
)
def test_duplicate_rows_marked_as_pandas_marks_them(rows) -> None:
    """The duplicate check's sort-based marks equal DataFrame.duplicated(), with missing
    values, NaT, 0.0 against -0.0 and booleans."""
    from segml.data._fast import duplicates

    frame = pd.DataFrame(rows, columns=["code", "amount", "day", "flag"]).astype(
        {"code": "int32", "amount": "float64", "flag": "bool"}
    )
    frame["day"] = pd.to_datetime(frame["day"], unit="D")
    columns = [frame[c].to_numpy() for c in frame.columns]
    assert all(duplicates._plain(c.dtype) for c in columns)
    if len(frame):
        np.testing.assert_array_equal(
            duplicates._duplicated(columns), frame.duplicated().to_numpy()
        )


@SETTINGS
@given(
    rows=LOG_ROWS,
    holdout=st.booleans(),
    merge_same_day=st.booleans(),
    seed=st.integers(0, 2**16),
    route=st.sampled_from(["raw", "read"]),
)
def test_the_fast_kernels_equal_the_plain_references(
    rows, holdout, merge_same_day, seed, route, monkeypatch
) -> None:
    """SEGML_FAST=0 runs the plain references (pandas.factorize, DataFrame.duplicated,
    np.lexsort): the tables and reports are the same, for the log in time order, grouped by
    customer and shuffled, given raw or read first."""
    raw = _log(rows).assign(n_items=[1 + r[1] % 3 for r in rows])
    kw = {
        "calibration_end": "2024-01-31",
        "holdout_end": "2024-02-15" if holdout else None,
        "merge_same_day": merge_same_day,
    }
    logs = (
        raw.sort_values("date", kind="stable", ignore_index=True),
        raw.sort_values(["customer_id", "date"], kind="stable", ignore_index=True),
        raw.sample(frac=1, random_state=seed, ignore_index=True),
    )

    def table(log: pd.DataFrame):
        source = log if route == "raw" else segml.read_transactions(log, amount="amount")
        out = segml.summarize(source, **kw)
        return out, segml.quality_report(out).to_dict()

    for log in logs:
        with monkeypatch.context() as patch:
            patch.setenv("SEGML_FAST", "0")
            want, want_error = outcome(lambda log=log: table(log))
        got, got_error = outcome(lambda log=log: table(log))
        assert got_error == want_error
        if want is not None:
            pd.testing.assert_frame_equal(got[0], want[0])
            assert got[1] == want[1]


EDGY_IDS = st.sampled_from(
    ["a", "", " a", "a ", "\ta", "b\n", "\x1cx", "x\x1f", "ü", "\xa0a", "aü", "00042", "C0323714"]
)


@SETTINGS
@given(ids=st.lists(EDGY_IDS, min_size=1, max_size=30))
def test_ids_are_cleaned_alike_on_both_routes(ids, monkeypatch) -> None:
    """Ids with blanks at an end (ASCII or Unicode, as str.strip sees them) are stripped;
    empty ones are missing ids; the fast and the plain route agree."""
    raw = pd.DataFrame(
        {"customer_id": pd.Series(ids, dtype="str"), "date": ["2024-01-02"] * len(ids)}
    )
    want = [i.strip() for i in ids if i.strip()]
    for fast in ("1", "0"):
        with monkeypatch.context() as patch:
            patch.setenv("SEGML_FAST", fast)
            got = outcome(lambda: segml.read_transactions(raw)["customer_id"].tolist())
        assert got == ((want, None) if want else (None, got[1]))
