"""Customer ids to integer codes, fast: short ids hashed as one 64-bit word each.

Most customer ids are short: customer numbers, "C0323714", "00042". Hashing ten million
such strings costs a string comparison per lookup; read as the integer their (at most
eight) UTF-8 bytes spell, they hash like numbers, in two threads (pandas releases the GIL
while hashing integers). The codes are those of :func:`pandas.factorize` (order of first
appearance) and the words decode back to the exact strings, so nothing changes but the
time. Longer ids, ids containing a NUL byte and missing ids take pandas' string route.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

#: Arrays at least this long are factorized in two threads.
PARALLEL_ROWS = 2_000_000


def _chunks(values: Any) -> list[Any]:
    return list(values.chunks) if hasattr(values, "chunks") else [values]


def short_words(values: Any, out: np.ndarray | None = None) -> np.ndarray | None:
    """Each string of a pyarrow string array (or chunked array) as one int64 word.

    The word holds the string's UTF-8 bytes, NUL-padded to eight; written into ``out``
    when given (int64, one per string). None when a string is longer than eight bytes,
    contains a NUL byte (it would read like the padding) or is missing, and for other
    types; ``out`` may then hold anything.
    """
    import pyarrow as pa

    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    if values.null_count:
        return None
    offset_type = np.int64 if pa.types.is_large_string(values.type) else np.int32
    if out is None:
        out = np.empty(len(values), dtype=np.int64)
    as_bytes = out.view(np.uint8).reshape(len(values), 8)
    row = 0
    for chunk in _chunks(values):
        n = len(chunk)
        if n == 0:
            continue
        _, offset_buf, data_buf = chunk.buffers()
        offsets = np.frombuffer(offset_buf, dtype=offset_type)[chunk.offset : chunk.offset + n + 1]
        lengths = np.diff(offsets)
        shortest, longest = int(lengths.min()), int(lengths.max())
        if longest > 8:
            return None
        start = int(offsets[0])
        data = (
            np.frombuffer(data_buf, dtype=np.uint8)[start : int(offsets[-1])]
            if data_buf is not None
            else np.zeros(0, dtype=np.uint8)
        )
        if not data.all():  # a NUL byte
            return None
        block = as_bytes[row : row + n]
        if shortest == longest == 8:  # the bytes are the words already
            block[:] = data.reshape(n, 8)
        else:
            block[:] = 0
            if shortest == longest:
                block[:, :longest] = data.reshape(n, longest)
            else:
                for length in np.unique(lengths):
                    rows = np.flatnonzero(lengths == length)
                    first = offsets[rows] - start
                    for j in range(int(length)):
                        block[rows, j] = data[first + j]
        row += n
    return out


def words_to_strings(words: np.ndarray, type_: Any = None) -> Any:
    """The strings that :func:`short_words` made ``words`` from, as a pyarrow array."""
    import pyarrow as pa

    raw = pa.array(np.ascontiguousarray(words).view("S8"), type=pa.binary())  # NULs stripped
    return raw.cast(type_ or pa.string())


def factorize(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pandas.factorize(words, sort=False)`` of an int64 array; two threads when long.

    The halves are factorized at once and the second half's codes mapped onto the first's
    (its new values numbered after them, in their order): first appearance overall, the
    same codes and uniques as one ``pandas.factorize``.
    """
    n = len(words)
    if n < PARALLEL_ROWS:
        codes, uniques = pd.factorize(words, sort=False)
        return codes, uniques
    half = n // 2
    with ThreadPoolExecutor(2) as pool:
        (first, first_uniques), (second, second_uniques) = pool.map(
            lambda part: pd.factorize(part, sort=False), (words[:half], words[half:])
        )
    at = pd.Index(first_uniques).get_indexer(second_uniques)
    new = at < 0
    at[new] = len(first_uniques) + np.arange(int(new.sum()))
    # int32 codes when they fit (always, below two billion rows): half the memory
    codes = np.empty(n, dtype=np.int32 if n < 2**31 else np.intp)
    codes[:half] = first
    np.take(at.astype(codes.dtype), second, out=codes[half:])
    return codes, np.concatenate([first_uniques, second_uniques[new]])
