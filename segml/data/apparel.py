"""The apparel data set: a transaction log with two customer covariates (files in the package)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segml.data.read import read_transactions

__all__ = ["load_apparel"]

_FOLDER = Path(__file__).with_name("apparel")


def load_apparel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The apparel log and its customers' attributes (source and licence in its README).

    Simulated data of the R package CLVTools (also shipped with PyMC-Marketing): 600
    customers who all made their first purchase on 2005-01-02, with ``Gender`` (0 male,
    1 female) and ``Channel`` (0 online, 1 offline). The published covariate fits use
    weeks and the estimation period to 2006-12-31.

    Returns
    -------
    transactions : pandas.DataFrame
        ``customer_id`` (str), ``date``, ``amount``: 3,187 transactions, with a data-quality
        report attached, as from :func:`segml.read_transactions`.
    customers : pandas.DataFrame
        Indexed by ``customer_id`` (str): ``Gender`` and ``Channel`` (0/1 integers), ready
        for ``summarize(..., customers=customers)``.

    Examples
    --------
    >>> import segml
    >>> tx, customers = segml.load_apparel()
    >>> len(tx), len(customers), list(customers.columns)
    (3187, 600, ['Gender', 'Channel'])
    """
    raw = pd.read_csv(_FOLDER / "apparelTrans.csv", dtype={"Id": str, "Date": str})
    tx = read_transactions(raw, customer="Id", time="Date", amount="Price", time_format="%Y-%m-%d")
    cov = pd.read_csv(_FOLDER / "apparelStaticCov.csv", dtype={"Id": str})
    cov = cov.set_index("Id").astype("int64")
    cov.index.name = "customer_id"
    return tx, cov
