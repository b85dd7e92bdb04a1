"""Customer ids to integer codes, fast: short ids hashed as one 64-bit word each.

Most customer ids are short: customer numbers, "C0323714", "00042". Hashing ten million
such strings costs a string comparison per lookup; read as the integer their (at most
eight) UTF-8 bytes spell, they hash like numbers. The codes are those of
:func:`pandas.factorize` (order of first appearance) and the words decode back to the exact
strings, so nothing changes but the time. Longer ids, ids containing a NUL byte and
missing ids take pandas' string route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from segml._setops import distinct


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
    """The strings that :func:`short_words` made ``words`` from, as a pyarrow array of
    ``type_`` (string or large_string; string when None).

    Built from its buffers: a string's bytes are its word's bytes before the NUL padding
    (a string holds no NUL byte), so the non-NUL bytes in order are the strings' data.
    """
    import pyarrow as pa

    type_ = type_ or pa.string()
    as_bytes = np.ascontiguousarray(words).view(np.uint8).reshape(len(words), 8)
    present = as_bytes != 0
    offset_type = np.int64 if pa.types.is_large_string(type_) else np.int32
    offsets = np.zeros(len(words) + 1, dtype=offset_type)
    np.cumsum(np.count_nonzero(present, axis=1), out=offsets[1:])
    data = as_bytes[present]
    return pa.Array.from_buffers(
        type_, len(words), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


#: Rows hashed per call: the labels of one slice are the only 64-bit array per row (the
#: codes are written as 32-bit). Each call also copies the uniques found so far, so the
#: slices are not made much smaller (2**16 rows: ten million ids hashed 2.4 times slower).
_SLICE_ROWS = 1 << 18


#: ``words_at(start, stop)``: the int64 words of rows start..stop, or None when they have none
WordsAt = Callable[[int, int], "np.ndarray | None"]


def _grouped_codes(words_at: WordsAt, n: int, out: np.ndarray) -> np.ndarray | None:
    """Codes of rows grouped by word (each word's rows one run, as in a log exported by
    customer) into ``out``: a new code where the word changes, no hash table over the rows.
    Returns the uniques (each run's word), or None when the rows are not grouped: more
    runs than half the rows so far (checked after every slice, so a log in time order is
    given up after one), or a word that comes back after another (checked at the end, on the
    sorted words of the runs), or rows without words.
    """
    firsts: list[np.ndarray] = []
    runs = 0
    previous = None
    for begin in range(0, n, _SLICE_ROWS):
        end = min(begin + _SLICE_ROWS, n)
        words = words_at(begin, end)
        if words is None:
            return None
        change = np.empty(len(words), dtype=bool)
        change[0] = previous is None or words[0] != previous
        np.not_equal(words[1:], words[:-1], out=change[1:])
        part = out[begin:end]
        np.cumsum(change, dtype=part.dtype, out=part)
        part += runs - 1
        firsts.append(words[change])
        runs += len(firsts[-1])
        if runs > end // 2:
            return None
        previous = words[-1]
        del words, change  # before the next slice's are made
    uniques = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
    return uniques if len(distinct(uniques)) == len(uniques) else None


def _factorize(n: int, words_at: WordsAt) -> tuple[np.ndarray, np.ndarray] | None:
    """``pandas.factorize`` of the words of ``n`` rows: by runs when the rows are grouped
    (:func:`_grouped_codes`), else hashed; None when some rows have no words."""
    # 32-bit codes when they fit (below two billion rows, always): half the memory
    codes = np.empty(n, dtype=np.int32 if n < 2**31 else np.intp)
    grouped = _grouped_codes(words_at, n, codes)
    if grouped is not None:
        return codes, grouped
    del codes  # not held through the hashing, which makes codes of its own
    words = words_at(0, n)
    if words is None:
        return None
    # Arrow's hash table numbers values in order of first appearance, as pandas.factorize
    # does, and is faster on long logs whose ids come in no order.
    import pyarrow as pa
    import pyarrow.compute as pc

    # The system allocator gives the hash table's memory back when it is freed; Arrow's
    # default pool keeps it for reuse, and nothing after this allocates through Arrow.
    encoded = pc.dictionary_encode(pa.array(words), memory_pool=pa.system_memory_pool())
    return np.array(encoded.indices), encoded.dictionary.to_numpy()


def factorize(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pandas.factorize(words, sort=False)`` of an int64 array; the codes are 32-bit when
    they fit, and a log grouped by id is numbered by its runs without a hash table."""
    found = _factorize(len(words), lambda start, stop: words[start:stop])
    assert found is not None  # every row is a word
    return found


def factorize_short_strings(values: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`factorize` of the :func:`short_words` of a pyarrow string (chunked) array,
    made a slice at a time (no word for every row at once); None when the ids are not all
    short.

    Returns the codes and the unique words (decode them with :func:`words_to_strings`).
    """
    import pyarrow as pa

    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    if values.null_count:
        return None
    return _factorize(
        len(values), lambda start, stop: short_words(values.slice(start, stop - start))
    )
