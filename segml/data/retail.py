"""A synthetic online-retail log shaped like the real ones (:func:`make_retail`).

Real online-retail extracts (the UCI "Online Retail II" log is the best known) are invoice
lines, not orders: several lines per invoice (quantity x unit price), a fifth of the lines
without a customer id (guest checkouts), cancellations as negative lines on their own
invoice booked days or weeks after the order (some partial, some of orders placed before
the extract starts), lines repeated verbatim, postage and manual-adjustment lines, zero
prices, a few wholesale buyers far above the rest, one country per customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segml.errors import DataError

__all__ = ["RETAIL_EFFECTS", "make_retail"]

#: Planted effects of :func:`make_retail` (multipliers on the individual traits).
RETAIL_EFFECTS = {
    "country == 'Germany'": "purchase rate x2.0",
    "country == 'Netherlands'": "spend per order x2.0",
    "country in ['France', 'Spain', 'EIRE']": "no effect",
}

_COUNTRIES = ["United Kingdom", "Germany", "France", "EIRE", "Netherlands", "Spain"]
_COUNTRY_SHARES = [0.78, 0.06, 0.06, 0.04, 0.03, 0.03]
_WEEK_NS = 7 * 86_400 * 10**9


def _customers(n: int, rng: np.random.Generator) -> pd.DataFrame:
    country = rng.choice(_COUNTRIES, size=n, p=_COUNTRY_SHARES)
    wholesale = rng.random(n) < 0.003
    lam = rng.gamma(0.8, 1.0 / 6.0, size=n) * np.where(country == "Germany", 2.0, 1.0)
    dropout = rng.beta(0.6, 3.0, size=n)
    spend = np.where(country == "Netherlands", 2.0, 1.0) * np.where(wholesale, 100.0, 1.0)
    return pd.DataFrame(
        {
            "id": 12346 + np.arange(n),
            "country": country,
            "lam": lam,
            "death_after": rng.geometric(np.clip(dropout, 1e-12, 1.0)),
            "nu": rng.gamma(6.0, 1.0 / 200.0, size=n) / spend,
            "birth": rng.uniform(0.0, 52.0, size=n),
        }
    )


def _invoices(people: pd.DataFrame, weeks: float, rng: np.random.Generator) -> pd.DataFrame:
    """One row per order: customer, week, total (BG/NBD + Gamma-Gamma per customer)."""
    birth = people["birth"].to_numpy()
    span = weeks - birth
    n_arrivals = rng.poisson(people["lam"].to_numpy() * span)
    # Arrivals are uniform over the span; the customer makes the first death_after of
    # them (in time order) and then leaves.
    owner = np.repeat(np.arange(len(people)), n_arrivals)
    when = birth[owner] + rng.uniform(0.0, 1.0, len(owner)) * span[owner]
    order = np.lexsort((when, owner))
    owner, when = owner[order], when[order]
    rank = np.arange(len(owner)) - np.r_[0, np.cumsum(n_arrivals)[:-1]][owner]
    alive = rank < people["death_after"].to_numpy()[owner]
    owner = np.r_[np.arange(len(people)), owner[alive]]  # the first order is the acquisition
    when = np.r_[birth, when[alive]]
    total = rng.gamma(4.0, 1.0 / people["nu"].to_numpy()[owner])
    return pd.DataFrame({"owner": owner, "week": when, "total": total})


def _lines(orders: pd.DataFrame, rng: np.random.Generator, n_products: int) -> pd.DataFrame:
    """Invoice lines of each order: products at catalogue prices, quantities to the total."""
    n_lines = 1 + rng.poisson(5.0, len(orders))
    order = np.repeat(np.arange(len(orders)), n_lines)
    share = rng.gamma(1.0, 1.0, len(order))
    share /= np.bincount(order, weights=share)[order]
    prices = np.round(np.exp(rng.normal(1.0, 0.8, n_products)), 2) + 0.05
    product = rng.integers(0, n_products, len(order))
    price = prices[product]
    quantity = np.maximum(1, np.round(orders["total"].to_numpy()[order] * share / price))
    return pd.DataFrame(
        {"order": order, "StockCode": product, "Quantity": quantity.astype("int64"), "Price": price}
    )


def make_retail(
    n_customers: int = 2000,
    *,
    random_state: int | np.random.Generator | None = None,
    start: str = "2009-12-01",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic online-retail log of invoice lines, shaped like real extracts.

    Customers are acquired over the first 52 weeks after ``start`` and the log covers 104
    weeks (calibration to ``start`` + 52 weeks, holdout to + 104 weeks: ``"2010-11-30"``
    and ``"2011-11-29"`` for the default start). Orders follow BG/NBD (r 0.8, alpha 6
    per week, a 0.6, b 3) and order totals Gamma-Gamma (p 4, q 6, gamma 200), with the
    planted effects of ``RETAIL_EFFECTS`` (Germany buys 2x as often, the Netherlands
    spends 2x per order, France, Spain and EIRE as the United Kingdom) and 0.3 % wholesale
    customers spending 100x. On top of that, what real logs have:

    * each order is an invoice of several lines, ``Quantity`` x ``Price``;
    * about a fifth of the invoices have no ``Customer ID`` (guest checkouts), and the ids
      are floats, as a CSV export of a column with gaps makes them (``12346.0``);
    * 4 % of the orders are cancelled, in full or in part, by a ``C`` invoice with negative
      quantities 0-60 days later; a few cancellations in the first weeks are of orders
      placed before the log starts;
    * 1 % of the lines are repeated verbatim; 3 % of the invoices carry a ``POST`` line
      (postage), a few a manual ``M`` line or a zero price; two bad-debt adjustments
      (``A`` invoices, no customer).

    Parameters
    ----------
    n_customers : int, default 2000
        Number of identified customers.
    random_state : int or numpy.random.Generator, optional
        Seed or generator.
    start : date-like, default "2009-12-01"
        First day of the log.

    Returns
    -------
    lines : pandas.DataFrame
        ``Invoice``, ``StockCode``, ``Quantity``, ``InvoiceDate``, ``Price``,
        ``Customer ID`` (float, missing for guests), ``Country``; read it with
        ``segml.read_transactions(lines, customer="Customer ID", time="InvoiceDate",
        quantity="Quantity", unit_price="Price")``.
    customers : pandas.DataFrame
        ``customer_id`` (the ids as segml reads them) and ``country``.

    Examples
    --------
    >>> import segml
    >>> lines, customers = segml.make_retail(300, random_state=0)
    >>> bool((lines["Quantity"] < 0).any()), bool(lines["Customer ID"].isna().any())
    (True, True)
    """
    if n_customers < 1:
        raise DataError(f"n_customers must be at least 1, got {n_customers}.")
    rng = np.random.default_rng(random_state)
    weeks = 104.0
    people = _customers(n_customers, rng)
    orders = _invoices(people, weeks, rng)
    n_guests = int(len(orders) * 0.25)
    guests = pd.DataFrame(
        {
            "owner": -1,
            "week": rng.uniform(0.0, weeks, n_guests),
            "total": rng.gamma(2.0, 60.0, n_guests),
        }
    )
    orders = pd.concat([orders, guests], ignore_index=True)
    orders = orders.sort_values("week", kind="stable").reset_index(drop=True)
    orders["Invoice"] = (489434 + np.arange(len(orders))).astype(str)
    lines = _lines(orders, rng, n_products=400)
    lines["StockCode"] = lines["StockCode"].map(lambda i: f"{21000 + i}")
    lines = _with_extras(lines, orders, rng)
    lines = _with_cancellations(lines, orders, people["birth"].to_numpy(), weeks, rng)
    repeated = lines[lines["Quantity"] > 0].sample(frac=0.01, random_state=rng)
    lines = pd.concat([lines, repeated], ignore_index=True)

    start_ns = pd.Timestamp(start).value
    # Business hours; the same time for every line of an invoice.
    invoice, n_invoices = pd.factorize(lines["Invoice"])[0], lines["Invoice"].nunique()
    minutes = rng.integers(8 * 60, 18 * 60, n_invoices)[invoice]
    week = lines["week"].to_numpy()
    day_ns = (np.floor(week * 7) * 86_400 * 10**9).astype("int64")
    time_ns = start_ns + day_ns + minutes * 60 * 10**9
    # A cancellation on its order's day comes after the order.
    invoices = lines["Invoice"].to_numpy().astype(str)
    placed = pd.Series(time_ns, index=invoices).groupby(level=0).min()
    cancel = np.char.startswith(invoices, "C")
    of = placed.reindex(np.char.lstrip(invoices[cancel], "C")).to_numpy()
    later = np.nan_to_num(of, nan=-1).astype("int64") + 10 * 60 * 10**9
    time_ns[cancel] = np.maximum(time_ns[cancel], later)
    owner = lines["owner"].to_numpy()
    ids = np.where(owner >= 0, people["id"].to_numpy()[np.maximum(owner, 0)], np.nan)
    country = np.where(
        owner >= 0, people["country"].to_numpy()[np.maximum(owner, 0)], "United Kingdom"
    )
    out = pd.DataFrame(
        {
            "Invoice": lines["Invoice"].to_numpy(),
            "StockCode": lines["StockCode"].to_numpy(),
            "Quantity": lines["Quantity"].to_numpy(),
            "InvoiceDate": pd.to_datetime(time_ns).floor("min"),
            "Price": lines["Price"].to_numpy(),
            "Customer ID": ids.astype("float64"),
            "Country": country,
        }
    )
    out = out.sort_values("InvoiceDate", kind="stable").reset_index(drop=True)
    customers = pd.DataFrame(
        {"customer_id": people["id"].astype(str).to_numpy(), "country": people["country"]}
    )
    return out, customers


def _with_extras(
    lines: pd.DataFrame, orders: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Postage, manual and zero-price lines; two bad-debt adjustments without a customer."""
    lines = lines.assign(
        Invoice=orders["Invoice"].to_numpy()[lines["order"]],
        owner=orders["owner"].to_numpy()[lines["order"]],
        week=orders["week"].to_numpy()[lines["order"]],
    )
    posted = orders.sample(frac=0.03, random_state=rng)
    manual = orders.sample(frac=0.005, random_state=rng)
    extra = [
        pd.DataFrame(
            {
                "order": posted.index,
                "StockCode": "POST",
                "Quantity": 1,
                "Price": 18.0,
                "Invoice": posted["Invoice"],
                "owner": posted["owner"],
                "week": posted["week"],
            }
        ),
        pd.DataFrame(
            {
                "order": manual.index,
                "StockCode": "M",
                "Quantity": 1,
                "Price": np.round(rng.uniform(0.5, 40.0, len(manual)), 2),
                "Invoice": manual["Invoice"],
                "owner": manual["owner"],
                "week": manual["week"],
            }
        ),
        pd.DataFrame(
            {
                "order": -1,
                "StockCode": "B",
                "Quantity": 1,
                "Price": [-11062.06, -11062.06],
                "Invoice": ["A563186", "A563187"],
                "owner": -1,
                "week": [60.0, 60.0],
            }
        ),
    ]
    zero = rng.random(len(lines)) < 0.002
    lines.loc[zero, "Price"] = 0.0
    return pd.concat([lines, *extra], ignore_index=True)


def _with_cancellations(
    lines: pd.DataFrame,
    orders: pd.DataFrame,
    births: np.ndarray,
    weeks: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``C`` invoices cancelling 4 % of the orders (in full or a few lines) 0-60 days
    later, and a few in the first weeks cancelling orders from before the log."""
    customer_orders = orders.index[orders["owner"].to_numpy() >= 0]
    cancelled = rng.choice(customer_orders, size=int(0.04 * len(customer_orders)), replace=False)
    delay = rng.integers(0, 61, len(cancelled)) / 7.0
    cancel_week = orders["week"].to_numpy()[cancelled] + delay
    keep = cancel_week < weeks
    cancelled, cancel_week = cancelled[keep], cancel_week[keep]
    week_of = pd.Series(cancel_week, index=cancelled)
    full = pd.Series(rng.random(len(cancelled)) < 0.5, index=cancelled)
    candidates = lines[lines["order"].isin(cancelled) & (lines["StockCode"] != "POST")]
    rank = pd.Series(rng.random(len(candidates)), index=candidates.index)
    rank = rank.groupby(candidates["order"]).rank()
    chosen = candidates[full[candidates["order"]].to_numpy() | (rank <= 2).to_numpy()]
    back = chosen.assign(
        Invoice="C" + chosen["Invoice"],
        Quantity=-chosen["Quantity"],
        week=week_of[chosen["order"]].to_numpy(),
    )
    # Customers whose first order in the log comes later: their orders were before it.
    later = np.flatnonzero(births > 4.0)
    early = rng.choice(later, size=min(len(later), max(1, len(cancelled) // 20)), replace=False)
    before_log = pd.DataFrame(
        {
            "order": -1,
            "StockCode": "21001",
            "Quantity": -rng.integers(1, 12, len(early)),
            "Price": 2.95,
            "Invoice": [f"C48{i:04d}" for i in range(len(early))],
            "owner": early,
            "week": rng.uniform(0.0, 4.0, len(early)),
        }
    )
    return pd.concat([lines, back, before_log], ignore_index=True)
