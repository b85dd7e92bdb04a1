"""Returning freed memory to the operating system between the stages of long operations."""

from __future__ import annotations


def release_arrow_memory() -> None:
    """Give back the pages Arrow's allocator keeps after its buffers are freed.

    Arrow's default pool (mimalloc or jemalloc) holds on to freed pages for reuse; pandas'
    string columns and pyarrow's compute functions allocate there. Between the stages of a
    long operation they would otherwise stay resident under the peak of the next stage.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
