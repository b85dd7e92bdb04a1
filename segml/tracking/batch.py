"""Batch scoring of a transaction file with an exported segml model (``segml score``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segml._columns import arrow_schema
from segml._units import UNIT_DAYS, unit_key
from segml.data.attributes import read_attribute_file
from segml.data.ids import id_strings
from segml.data.read import _read_source, read_transactions
from segml.data.table import summarize, timestamp
from segml.errors import DataError, OutputError
from segml.experiment.drift_report import drift_paths, drift_summary, name_report, write_drift
from segml.experiment.expected_drift import aged_cohort_report, cohort_ids
from segml.experiment.scoring import NUMERIC_OUTPUTS, OUTPUT_COLUMNS, batch_percentile
from segml.segment.names import segmentation_features

__all__ = ["score_file"]

_SCHEMA = arrow_schema(OUTPUT_COLUMNS)


class _Writer:
    """Streams chunks to a temporary file beside the output; renamed into place at the end."""

    def __init__(self, output: Path) -> None:
        suffix = output.suffix.lower()
        if suffix not in (".parquet", ".pq", ".csv"):
            raise DataError(f"--output must end in .parquet or .csv, got {output.name!r}.")
        self.output = output
        self.parquet = suffix != ".csv"
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
        os.close(fd)
        self.tmp = Path(name)
        self._pq: pq.ParquetWriter | None = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet:
            table = pa.Table.from_pandas(frame, schema=_SCHEMA, preserve_index=False)
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.tmp, _SCHEMA)
            self._pq.write_table(table)
        else:
            frame.to_csv(
                self.tmp, mode="w" if self._first else "a", header=self._first, index=False
            )
        self._first = False

    def commit(self, clv: np.ndarray) -> None:
        """Fill ``batch_percentile`` against every CLV written (a second pass over the
        temporary file, chunk by chunk), then rename the result into place."""
        if self._pq is not None:
            self._pq.close()
        elif self.parquet:  # no rows at all: still a valid, empty file
            pq.write_table(_SCHEMA.empty_table(), self.tmp)
        batch = np.sort(clv[~np.isnan(clv)])
        final = self.tmp.with_name(self.tmp.name + ".ranked")
        try:
            if self.parquet:
                with pq.ParquetWriter(final, _SCHEMA) as out:
                    for chunk in pq.ParquetFile(self.tmp).iter_batches():
                        frame = chunk.to_pandas()
                        frame["batch_percentile"] = batch_percentile(
                            frame["clv"].to_numpy("float64"), batch
                        )
                        out.write_table(
                            pa.Table.from_pandas(frame, schema=_SCHEMA, preserve_index=False)
                        )
            else:
                first = True
                for frame in pd.read_csv(self.tmp, chunksize=100_000, dtype={"customer_id": str}):
                    frame["batch_percentile"] = batch_percentile(
                        frame["clv"].to_numpy("float64"), batch
                    )
                    frame.to_csv(final, mode="w" if first else "a", header=first, index=False)
                    first = False
                if first:  # no rows: the header alone
                    pd.DataFrame(columns=list(OUTPUT_COLUMNS)).to_csv(final, index=False)
            os.replace(final, self.output)
        finally:
            final.unlink(missing_ok=True)
            self.tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        if self._pq is not None:
            with contextlib.suppress(Exception):  # already failing; the file goes anyway
                self._pq.close()
        self.tmp.unlink(missing_ok=True)


def score_file(
    model: Any,
    transactions: str | Path,
    output: str | Path,
    *,
    customers: str | Path | None = None,
    as_of: str | None = None,
    customer: str = "customer_id",
    time: str = "date",
    amount: str = "amount",
    time_format: str | None = None,
    customer_key: str = "customer_id",
    chunk_size: int = 100_000,
    params: dict[str, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
    baseline: str | Path | None = None,
) -> dict[str, Any]:
    """Score every customer of a transaction file and write one row per customer atomically.

    Parameters
    ----------
    model : SegmlModel
        From :func:`segml.export.load_model`.
    transactions : path
        CSV or Parquet transaction log.
    output : path
        ``.parquet`` or ``.csv``; written to a temporary file and renamed into place, so an
        interrupted run leaves no output file.
    customers : path, optional
        Customer attributes (joined on ``customer_key``).
    as_of : date-like, optional
        Summarise the history up to this date; default the last transaction date.
    customer, time, amount, time_format, customer_key : str
        Column mapping, as in :func:`segml.read_transactions`.
    chunk_size : int
        Customers scored per chunk.
    params : dict, optional
        ``horizon`` and ``discount_rate`` overriding the model's defaults.
    progress : callable, optional
        Called with (customers done, customers total) after each chunk.
    baseline : path, optional
        A previous scoring output to measure drift and migration against; by default the
        population the model was trained on (stored in the model). The report is written
        beside the scores (``<output>-drift.json``, ``-drift.html``) after they are.

    Returns
    -------
    dict
        ``customers``, ``scored``, ``not_scored`` (reason -> count), ``segments``
        (name -> count), ``as_of``, ``out_of_range`` (customers scored outside the ranges
        the model was trained on), ``out_of_range_by_column`` (column -> count), ``quality``
        (the data-quality report as a dict), ``drift`` (see
        :func:`segml.experiment.drift_report.drift_summary`; None when the model stores no
        baseline and none is given), ``drift_files``. ``batch_percentile`` ranks each CLV in the
        whole file.
    """
    if chunk_size < 1:
        raise DataError(f"chunk_size must be a positive number of customers, got {chunk_size}.")
    for name, path in (("transactions", transactions), ("customers", customers)):
        if path is not None and Path(output).resolve() == Path(path).resolve():
            raise OutputError(
                f"--output {output} is the {name} file: scoring would overwrite its input. "
                "Choose another output file."
            )
    previous = _previous_scoring(baseline) if baseline is not None else None
    stored = model.meta.get("baseline")
    watched = [c for c in (stored or {}).get("columns", {}) if c not in NUMERIC_OUTPUTS]
    raw = _read_source(Path(transactions), [customer, time])
    if customer not in raw.columns:
        raise DataError(f"the transaction file has no customer column {customer!r}.")
    input_ids = np.asarray(pd.unique(id_strings(raw[customer].reset_index(drop=True)).dropna()))
    tx = read_transactions(
        raw, customer=customer, time=time, amount=amount, time_format=time_format
    )
    end = (
        timestamp(as_of, "as_of")
        if as_of is not None
        else pd.Timestamp(tx["date"].max()).normalize()
    )
    unit = model.meta.get("unit") or "W"
    table = summarize(
        tx, calibration_end=end, unit=unit, customers=customers, customer_key=customer_key
    )
    quality = table.attrs.get("segml_quality", {})
    frame = table.reset_index()
    missing_ids = np.setdiff1d(input_ids, frame["customer_id"].to_numpy(dtype=object).astype(str))
    seen = set(tx["customer_id"].unique())
    writer = _Writer(Path(output))
    reasons: Counter[str] = Counter()
    prospects: Counter[str] = Counter()
    segments: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    clv: list[np.ndarray] = []
    kept: list[pd.DataFrame] = []
    n_outside = 0
    total = len(frame) + len(missing_ids)
    done = 0
    try:
        for start in range(0, len(frame), chunk_size):
            chunk = frame.iloc[start : start + chunk_size]
            scored = model.predict(None, chunk, params)
            writer.write(scored)
            kept.append(_watched(scored, chunk, watched))
            clv.append(scored["clv"].to_numpy("float64"))
            flagged = [f for f in scored["out_of_range"] if f]
            n_outside += len(flagged)
            outside.update(col for f in flagged for col in f.split(", "))
            reasons.update(r for r in scored["reason"] if r and r != "prospect")
            segments.update(n for n in scored["segment_name"] if isinstance(n, str))
            done += len(chunk)
            if progress:
                progress(done, total)
        # attribute rows without any transaction: prospects
        scored = _prospects(model, customers, customer_key, input_ids, params)
        if scored is not None:
            writer.write(scored)
            clv.append(scored["clv"].to_numpy("float64"))
            prospects.update(scored["reason"])
            segments.update(n for n in scored["segment_name"] if isinstance(n, str))
            total += len(scored)
        if len(missing_ids):
            rest = _unscorable(missing_ids, seen)
            writer.write(rest)
            reasons.update(rest["reason"])
            done += len(missing_ids)
            if progress:
                progress(done, total)
        writer.commit(np.concatenate(clv) if clv else np.empty(0))
    except BaseException:
        writer.abort()
        raise
    current = pd.concat(kept) if kept else None
    report = _drift(current, model, previous, baseline)
    if report is not None and previous is None and current is not None:
        report["expected"] = _expected(model, tx, end, unit, customers, customer_key, current)
    files = _write_drift(report, output) if report is not None else []
    return {
        "customers": total,
        "scored": total - sum(reasons.values()) - sum(prospects.values()),
        "not_scored": dict(reasons),
        "prospects": dict(prospects),
        "segments": dict(sorted(segments.items(), key=lambda kv: -kv[1])),
        "as_of": end.date().isoformat(),
        "out_of_range": n_outside,
        "out_of_range_by_column": dict(outside.most_common()),
        "quality": quality,
        "drift": report,
        "drift_files": files,
    }


def _expected(
    model: Any,
    tx: pd.DataFrame,
    end: pd.Timestamp,
    unit: str,
    customers: str | Path | None,
    customer_key: str,
    current: pd.DataFrame,
) -> dict[str, Any] | None:
    """The segment shares the model expects now for the customers it was calibrated on
    (see :mod:`segml.experiment.expected_drift`); None without a later as-of date."""
    cal = model.meta.get("calibration_end")
    if cal is None or end <= pd.Timestamp(cal) or tx["date"].min() > pd.Timestamp(cal):
        return None
    cohort = summarize(
        tx, calibration_end=cal, unit=unit, customers=customers, customer_key=customer_key
    ).reset_index()
    cohort["customer_id"] = cohort["customer_id"].astype(str)
    chosen = cohort.set_index("customer_id").loc[cohort_ids(cohort["customer_id"])]
    elapsed = (end - pd.Timestamp(cal)) / pd.Timedelta(days=UNIT_DAYS[unit_key(unit)])
    observed = current.assign(customer_id=current["customer_id"].astype(str))
    return aged_cohort_report(
        model,
        chosen.reset_index(),
        observed.set_index("customer_id")["segment"],
        float(elapsed),
        len(cohort),
    )


def _previous_scoring(path: str | Path) -> pd.DataFrame:
    """A previous ``segml score`` output (CSV or Parquet), ids as strings."""
    source = Path(path)
    if source.suffix.lower() in (".parquet", ".pq"):
        frame = _read_source(source, ["customer_id"])
    else:
        frame = _read_source(source, ["customer_id"], keep_default_na=False, na_values=[""])
    missing = [c for c in ("customer_id", "segment") if c not in frame.columns]
    if missing:
        raise DataError(
            f"--baseline {source.name} is not a segml scoring: it lacks {missing} "
            f"(columns: {list(frame.columns)[:12]})."
        )
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


def _watched(scored: pd.DataFrame, chunk: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """What drift is measured on: the scores and the features the baseline watches."""
    out = scored[["customer_id", "segment", "clv", "p_alive", "expected_purchases"]].copy()
    for col in features:
        if col in chunk.columns:
            out[col] = chunk[col].to_numpy()
    return out


def _write_drift(report: dict[str, Any], output: str | Path) -> list[str]:
    json_path, html_path = drift_paths(output)
    write_drift(report, json_path, html_path)
    return [str(json_path), str(html_path)]


def _drift(
    current: pd.DataFrame | None,
    model: Any,
    previous: pd.DataFrame | None,
    baseline: str | Path | None,
) -> dict[str, Any] | None:
    """The drift summary of the customers scored (None without a baseline), with the checks
    of segment names and calendar-bound features."""
    stored = model.meta.get("baseline")
    if current is None or (stored is None and previous is None):
        return None
    against = (
        f"the previous scoring {Path(baseline).name}"
        if previous is not None and baseline is not None
        else "the training population"
    )
    reference: dict[str, Any] | pd.DataFrame = previous if previous is not None else stored or {}
    summary = drift_summary(reference, current, against, previous)
    return summary | name_report(model.meta, current, segmentation_features(model.segmenter))


def _unscorable(missing_ids: np.ndarray, seen: set) -> pd.DataFrame:
    """Output rows of customers of the log that have no customer-table row, with why."""
    why = np.array(
        [
            "first purchase after as_of" if i in seen else "no valid transaction"
            for i in missing_ids
        ],
        dtype=object,
    )
    rest = pd.DataFrame({c: [None] * len(missing_ids) for c in OUTPUT_COLUMNS})
    rest["customer_id"] = missing_ids
    rest["segment"] = -1
    rest["reason"] = why
    rest["out_of_range"] = ""
    for col in NUMERIC_OUTPUTS:
        rest[col] = np.nan
    return rest[list(OUTPUT_COLUMNS)]


def _prospects(
    model: Any, customers: Any, key: str, transacting: np.ndarray, params: Any
) -> pd.DataFrame | None:
    """The scores of the attribute rows of customers with no transaction (prospects: scored
    without history), or None when there are none."""
    if customers is None:
        return None
    frame = read_attribute_file(customers, key)
    if key not in frame.columns:
        return None
    ids = id_strings(frame[key].reset_index(drop=True))
    keep = ~ids.isin(set(transacting)).to_numpy() & ids.notna().to_numpy()
    if not keep.any():
        return None
    rows = frame.loc[keep].reset_index(drop=True).drop(columns=[key])
    rows.insert(0, "customer_id", ids[keep].to_numpy())
    for col in ("frequency", "recency", "T", "monetary_value"):
        rows[col] = np.nan
    return model.predict(None, rows, params)
