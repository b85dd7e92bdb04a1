"""The optional speed kernels of the data layer, each equal to a plain reference.

1. :func:`~segml.data._fast.order.customer_day_order`: the (customer, day) order of a log's
   rows (equals ``np.lexsort((days, codes))``), without a sort when the log is already
   grouped by customer, one stable sort of a combined integer key otherwise.
2. :mod:`~segml.data._fast.encode`: short string ids (at most eight bytes) factorized as one
   64-bit word each (equals ``pandas.factorize``, order of first appearance).
3. :func:`~segml.data._fast.duplicates.duplicate_marks`: duplicate marks compared only within
   (customer, day) groups of two or more rows (equals ``DataFrame.duplicated``).

``SEGML_FAST=0`` in the environment runs the plain references everywhere; the property tests
run both routes and compare them."""

from __future__ import annotations

import os

__all__ = ["enabled"]


def enabled() -> bool:
    """Whether the speed kernels run (``SEGML_FAST=0`` turns them off).

    Returns
    -------
    bool
    """
    return os.environ.get("SEGML_FAST", "1") != "0"
