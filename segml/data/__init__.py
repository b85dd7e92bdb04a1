"""The data layer: transaction logs in, one row per customer out.

``read`` reads logs (CSV, Parquet, DataFrames) and validates them, ``policies`` applies the
row policies (duplicates, returns, zero amounts), ``table`` builds the customer table from
them; ``quality`` is the report of every
row dropped or flagged; ``parquet`` reads large files batch by batch; ``datasets`` holds CDNOW
and the generators; ``_fast`` the optional speed kernels. Nothing here imports scikit-learn,
SciPy or MLflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segml._lazy import lazy_exports

__all__ = ["DataQualityReport", "quality_report", "read_transactions", "summarize"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DataQualityReport": "segml.data.quality",
        "quality_report": "segml.data.quality",
        "read_transactions": "segml.data.read",
        "summarize": "segml.data.table",
    },
)

if TYPE_CHECKING:
    from segml.data.quality import DataQualityReport, quality_report
    from segml.data.read import read_transactions
    from segml.data.table import summarize
