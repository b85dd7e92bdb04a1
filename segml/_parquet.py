"""Parquet transaction logs read batch by batch, customer ids dictionary-encoded on the way.

Reading a ten-million-row log with :func:`pandas.read_parquet` holds the whole Arrow table
and the pandas copy at once, and turns the id column into ten million strings that are then
hashed again to find the customers. Here each batch is copied into preallocated arrays and
its Arrow buffers reused for the next, and the id column (strings or integers) is read
dictionary-encoded: the result holds one small integer per row and each distinct id once,
as a :class:`pandas.Categorical` whose categories are in order of first appearance (the
order :func:`pandas.factorize` gives, which the customer table keeps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Rows per batch: large enough for vectorised work, small next to a ten-million-row log.
BATCH_ROWS = 1 << 20


class _Column:
    """A column filled batch by batch: one preallocated array while the batches share a
    NumPy dtype, pandas pieces concatenated at the end otherwise (e.g. strings, time
    zones, integers in one batch and floats with NaN in another)."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.array: np.ndarray | None = None
        self.filled = 0
        self.pieces: list[pd.Series] = []

    def add(self, part: pd.Series) -> None:
        if self.array is None and not self.pieces and isinstance(part.dtype, np.dtype):
            self.array = np.empty(self.rows, dtype=part.dtype)
        if self.array is not None:
            if part.dtype == self.array.dtype:
                self.array[self.filled : self.filled + len(part)] = part.to_numpy()
                self.filled += len(part)
                return
            self.pieces.append(pd.Series(self.array[: self.filled]))
            self.array = None
        self.pieces.append(part)

    def result(self) -> Any:
        if self.array is not None:
            return self.array[: self.filled]
        return pd.concat(self.pieces, ignore_index=True)


class _Ids:
    """Dictionary-encoded ids, batch by batch: local codes per batch, then one global
    encoding of the batches' dictionaries (first batch's ids first, then each later
    batch's new ones in its order: first appearance overall)."""

    def __init__(self, rows: int) -> None:
        self.codes = np.empty(rows, dtype=np.int32)
        self.filled = 0
        self.dictionaries: list[Any] = []
        self.offsets: list[int] = []

    def add(self, column: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        indices = column.indices
        if indices.null_count:
            indices = pc.fill_null(indices, -1)
        self.codes[self.filled : self.filled + len(column)] = indices.to_numpy()
        self.offsets.append(self.filled)
        self.dictionaries.append(column.dictionary)
        self.filled += len(column)

    def result(self) -> pd.Categorical:
        import pyarrow as pa
        import pyarrow.compute as pc

        merged = pc.dictionary_encode(pa.concat_arrays(self.dictionaries))
        mapping = merged.indices.to_numpy().astype(np.int32)
        base = 0
        bounds = [*self.offsets[1:], self.filled]
        for start, stop, dictionary in zip(self.offsets, bounds, self.dictionaries, strict=True):
            local = self.codes[start:stop]
            missing = local < 0
            if len(dictionary):  # else every id in the batch is missing
                np.take(mapping, local + base, out=local, mode="clip")
                local[missing] = -1
            base += len(dictionary)
        categories = pd.Index(merged.dictionary.to_pandas())
        return pd.Categorical.from_codes(
            self.codes[: self.filled], categories=categories, validate=False
        )


def read_parquet(path: Path, id_column: str, columns: list[str] | None = None) -> pd.DataFrame:
    """The ``columns`` of a Parquet file (all when None), ``id_column`` as a Categorical.

    When a requested column is missing, the file's columns come back without rows so that
    the caller can name what is missing and what is there.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    names = [n for n in schema.names if not n.startswith("__index_level_")]
    wanted = names if columns is None else list(dict.fromkeys(columns))
    if any(c not in names for c in wanted):
        return pd.DataFrame(columns=names)
    id_type = schema.field(id_column).type if id_column in wanted else None
    encode = id_type is not None and (
        pa.types.is_string(id_type)
        or pa.types.is_large_string(id_type)
        or pa.types.is_integer(id_type)
    )
    source = pq.ParquetFile(path, read_dictionary=[id_column] if encode else None)
    rows = source.metadata.num_rows
    if rows == 0:
        return source.read(columns=wanted).to_pandas()
    ids = _Ids(rows) if encode else None
    columns_ = {c: _Column(rows) for c in wanted if not (encode and c == id_column)}
    for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=wanted, use_threads=False):
        for col, filler in columns_.items():
            filler.add(batch.column(col).to_pandas())
        if ids is not None:
            ids.add(batch.column(id_column))
        del batch
    data = {c: ids.result() if ids is not None and c == id_column else None for c in wanted}
    for col, filler in columns_.items():
        data[col] = filler.result()
    return pd.DataFrame(data, columns=wanted, copy=False)
