"""Parquet transaction logs read batch by batch, customer ids encoded on the way.

Reading a ten-million-row log with :func:`pandas.read_parquet` holds the whole Arrow table
and the pandas copy at once, and turns the id column into ten million strings that are then
hashed again to find the customers. Here each batch is copied into preallocated arrays and
its Arrow buffers reused for the next, and the id column (strings or integers) is encoded
as it comes: the result holds one small integer per row and each distinct id once, as a
:class:`pandas.Categorical` whose categories are in order of first appearance (the order
:func:`pandas.factorize` gives, which the customer table keeps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.data._fast import encode as _encode
from segml.errors import DataError

#: Rows per batch: large enough for vectorised work, small next to a ten-million-row log.
BATCH_ROWS = 1 << 20
#: Bytes read from the file at a time (pages are read through a buffer of this size).
BUFFER_BYTES = 1 << 20


class _Column:
    """A column filled batch by batch: one preallocated array while the batches share a
    NumPy dtype, pandas pieces concatenated at the end otherwise (e.g. strings, time
    zones, integers in one batch and floats with NaN in another)."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.array: np.ndarray | None = None
        self.filled = 0
        self.pieces: list[pd.Series] = []

    def add(self, column: Any) -> None:
        part = column.to_pandas()
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


def _categorical(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    """``pandas.Categorical.from_codes`` of categories that are unique by construction."""
    dtype = pd.CategoricalDtype(categories)
    out: pd.Categorical = pd.Categorical.from_codes(codes, dtype=dtype, validate=False)
    return out


class _Ids:
    """Customer ids, batch by batch, encoded into one Categorical at the end.

    A batch of short string ids or of integers is kept as one 64-bit word per row
    (:mod:`segml.data._fast.encode`); any other batch (long or missing ids) is dictionary-encoded
    and keeps local codes. When every batch holds words, one factorization of the words
    gives the codes; else the word batches are turned into local dictionaries too and the
    batches' dictionaries are merged (first batch's ids first, then each later batch's new
    ones in its order: first appearance overall either way).
    """

    def __init__(self, rows: int, value_type: Any) -> None:
        import pyarrow as pa

        self.type = value_type
        self.integer = pa.types.is_integer(value_type)
        self.words = np.empty(rows, dtype=np.int64)
        self.filled = 0
        #: (start, stop, dictionary) per batch; no dictionary when the rows hold words
        self.batches: list[tuple[int, int, Any]] = []

    def _as_words(self, column: Any, out: np.ndarray) -> bool:
        """Write ``column`` as words into ``out``; False when it cannot be."""
        import pyarrow as pa

        if not self.integer:
            return _encode.short_words(column, out) is not None
        if column.null_count or pa.types.is_uint64(column.type):  # a uint64 might not fit
            return False
        out[:] = column.to_numpy()
        return True

    def add(self, column: Any) -> None:
        import pyarrow.compute as pc

        start, stop = self.filled, self.filled + len(column)
        dictionary = None
        if not self._as_words(column, self.words[start:stop]):
            encoded = pc.dictionary_encode(column)
            self.words[start:stop] = pc.fill_null(encoded.indices, -1).to_numpy()
            dictionary = encoded.dictionary
        self.batches.append((start, stop, dictionary))
        self.filled = stop

    def _decode(self, words: np.ndarray) -> Any:
        import pyarrow as pa

        if self.integer:
            return pa.array(words, type=pa.int64()).cast(self.type)
        return _encode.words_to_strings(words, self.type)

    def result(self) -> pd.Categorical:
        import pyarrow as pa
        import pyarrow.compute as pc

        words = self.words[: self.filled]
        if all(dictionary is None for _, _, dictionary in self.batches):
            codes, uniques = _encode.factorize(words)
            return _categorical(codes, pd.Index(self._decode(uniques).to_pandas()))
        dictionaries = []
        for start, stop, dictionary in self.batches:
            if dictionary is None:
                local, uniques = pd.factorize(words[start:stop], sort=False)
                words[start:stop] = local
                dictionary = self._decode(uniques)
            dictionaries.append(dictionary)
        merged = pc.dictionary_encode(pa.concat_arrays(dictionaries))
        mapping = merged.indices.to_numpy().astype(np.int64)
        base = 0
        for (start, stop, _), dictionary in zip(self.batches, dictionaries, strict=True):
            local = words[start:stop]
            missing = local < 0
            if len(dictionary):  # else every id in the batch is missing
                np.take(mapping, local + base, out=local, mode="clip")
                local[missing] = -1
            base += len(dictionary)
        return _categorical(words, pd.Index(merged.dictionary.to_pandas()))


def unreadable(path: Path, exc: Exception) -> DataError:
    """The error for a file named ``.parquet`` that pyarrow cannot read, saying what it is."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head.startswith(b"PAR1"):
        text = head.decode("utf-8", errors="replace")
        looks = (
            f"it starts with {text[:30]!r}, which looks like text (a CSV named .parquet? "
            "rename it to .csv)"
            if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head)
            else "it does not start with Parquet's 'PAR1' marker"
        )
        return DataError(f"{str(path)!r} is not a Parquet file: {looks}.")
    return DataError(f"{str(path)!r} is a truncated or damaged Parquet file ({exc}).")


def read_parquet(path: Path, id_column: str, columns: list[str] | None = None) -> pd.DataFrame:
    """The ``columns`` of a Parquet file (all when None), ``id_column`` as a Categorical.

    When a requested column is missing, the file's columns come back without rows so that
    the caller can name what is missing and what is there.

    Raises
    ------
    segml.DataError
        If the file is not Parquet (a CSV named ``.parquet``) or is truncated or damaged.
    """
    import pyarrow as pa

    try:
        return _read_parquet(path, id_column, columns)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise unreadable(path, exc) from None


def _read_parquet(path: Path, id_column: str, columns: list[str] | None) -> pd.DataFrame:
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
    # A local file read a batch at a time: without pre-buffering (meant for object stores)
    # the reader holds one batch's column pages, not the row groups read ahead and kept.
    source = pq.ParquetFile(path, pre_buffer=False, buffer_size=BUFFER_BYTES)
    rows = source.metadata.num_rows
    if rows == 0:
        return source.read(columns=wanted).to_pandas()
    fillers: dict[str, _Column | _Ids] = {
        c: _Ids(rows, id_type) if encode and c == id_column else _Column(rows) for c in wanted
    }
    for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        for col, filler in fillers.items():
            filler.add(batch.column(col))
        del batch
    # The reader keeps Arrow buffers until it is gone; then the allocator can give them
    # back with the batches'.
    source.close()
    del source
    frame = pd.DataFrame(
        {c: filler.result() for c, filler in fillers.items()}, columns=wanted, copy=False
    )
    return frame
