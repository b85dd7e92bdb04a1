"""Customer attributes joined to the customer table, every mismatch counted."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from segml._setops import in_index
from segml._validation import require_regular_file
from segml.data.ids import _as_id_strings
from segml.data.parquet import unreadable
from segml.data.quality import DataQualityReport
from segml.data.read import _missing_columns
from segml.errors import DataError, examples


def attribute_header(path: Path) -> list[str]:
    """The column names of a customer attribute file (CSV or Parquet).

    Raises
    ------
    segml.DataError
        If the file cannot be read, saying why.
    """
    parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        if parquet:
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0).columns)
    except (OSError, ValueError, pd.errors.ParserError) as exc:  # ArrowInvalid is a ValueError
        if parquet:
            raise unreadable(path, exc) from None
        raise DataError(f"{str(path)!r} cannot be read as CSV: {exc}") from None


def read_attribute_file(customers: pd.DataFrame | str | os.PathLike[str], key: str) -> pd.DataFrame:
    """A customer attribute file (CSV with ids read as text, or Parquet) as a frame; a frame
    passes through."""
    if isinstance(customers, pd.DataFrame):
        return customers
    path = Path(customers)
    require_regular_file(path, "customer attribute file", DataError)
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow as pa

        try:
            return pd.read_parquet(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise unreadable(path, exc) from None
    return pd.read_csv(path, dtype={key: str})


def join_attributes(
    table: pd.DataFrame,
    customers: pd.DataFrame | str | os.PathLike[str],
    key: str,
    report: DataQualityReport,
) -> pd.DataFrame:
    """``table`` with the attributes of ``customers`` (one row per ``key``, a column or the
    index), every mismatch counted in ``report``."""
    customers = read_attribute_file(customers, key)
    if key not in customers.columns and key in (customers.index.names or []):
        # What groupby(key).agg(...) returns: the key as the index.
        customers = customers.reset_index(level=key)
    if key not in customers.columns:
        _missing_columns(customers, {"customer id": key}, "the customer attributes")
    ids = _as_id_strings(customers[key].reset_index(drop=True))
    if ids.isna().any():
        raise DataError(
            f"{int(ids.isna().sum())} customer attribute rows have no {key!r}; every "
            "attribute row needs a customer id."
        )
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise DataError(
            f"customer attributes must have one row per customer, but {int(dup.sum())} rows "
            f"share an id in {key!r}, e.g. {examples(ids[dup].unique())}. Deduplicate first."
        )
    attrs = customers.drop(columns=[key]).reset_index(drop=True)
    attrs.index = pd.Index(ids.to_numpy(dtype=object), name="customer_id").astype("str")
    clash = [c for c in attrs.columns if c in table.columns]
    if clash:
        raise DataError(
            f"customer attribute columns {examples(clash)} clash with columns segml computes; "
            "rename them before joining."
        )
    in_table = in_index(attrs.index, table.index)
    report.flag(
        "attribute_rows_without_customer_in_table",
        int((~in_table).sum()),
        attrs.index[~in_table],
    )
    has_attrs = in_index(table.index, attrs.index)
    report.flag("customers_without_attributes", int((~has_attrs).sum()), table.index[~has_attrs])
    return table.join(attrs, how="left")
