"""Customer attributes as a covariate design matrix, every encoding choice recorded.

A categorical attribute (text, category) becomes one indicator column per level except a
named reference level (by default its most frequent level, ties broken alphabetically), so
a coefficient reads "this level against the reference". A boolean attribute is one 0/1
indicator (False is the reference). A numeric attribute enters as it is, or standardised
to mean 0 and standard deviation 1 with ``standardize=True`` (the centre and scale are kept,
so new customers are encoded the same way). Missing or infinite values and levels not seen
in fitting are errors, never silently encoded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segml.errors import DataError, examples

__all__ = ["Covariate", "CovariateDesign"]


@dataclass(frozen=True)
class Covariate:
    """How one attribute is encoded.

    Attributes
    ----------
    name : str
        The attribute's column.
    kind : {"categorical", "boolean", "numeric"}
    levels : tuple of str
        Categorical: the levels with a column, in order (the reference has none).
    reference : str or None
        Categorical: the reference level; boolean: ``"False"``.
    center, scale : float
        Numeric: the column is ``(value - center) / scale`` (0 and 1 when passed as is).
    """

    name: str
    kind: str
    levels: tuple[str, ...] = ()
    reference: str | None = None
    center: float = 0.0
    scale: float = 1.0

    @property
    def columns(self) -> tuple[str, ...]:
        """The design columns: ``name`` or ``name[level]`` per level."""
        if self.kind == "categorical":
            return tuple(f"{self.name}[{level}]" for level in self.levels)
        return (self.name,)

    def describe(self) -> str:
        """The encoding in words."""
        if self.kind == "categorical":
            return f"{self.name}: one-hot, reference level {self.reference!r}"
        if self.kind == "boolean":
            return f"{self.name}: 0/1 indicator, reference False"
        if self.scale == 1.0 and self.center == 0.0:
            return f"{self.name}: numeric, as it is"
        return f"{self.name}: numeric, standardised (mean {self.center:.6g}, sd {self.scale:.6g})"


def _kind(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    return "categorical"


def _check_present(table: pd.DataFrame, names: Sequence[str], who: str) -> None:
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise DataError(
            f"{who}: covariate columns {missing} are not in the table (it has "
            f"{list(table.columns)}); join the customer attributes first, e.g. "
            "segml.summarize(..., customers=attributes)."
        )
    for name in names:
        col = table[name]
        bad = col.isna().to_numpy()
        if _kind(col) == "numeric":
            bad = bad | ~np.isfinite(col.to_numpy("float64", na_value=np.nan))
        if bad.any():
            raise DataError(
                f"{who}: covariate {name!r} is missing or not finite for {int(bad.sum()):,} "
                f"customers, e.g. {examples(table.index[bad])}; fill or drop them first "
                "(a covariate model needs every customer's attributes)."
            )


@dataclass(frozen=True)
class CovariateDesign:
    """The encoding of a set of attributes, fitted on one table and applied to any other.

    Attributes
    ----------
    covariates : tuple of Covariate
    """

    covariates: tuple[Covariate, ...]

    @classmethod
    def fit(
        cls,
        table: pd.DataFrame,
        names: Sequence[str],
        *,
        standardize: bool = False,
        reference: Mapping[str, Any] | None = None,
        who: str = "covariates",
    ) -> CovariateDesign:
        """Choose each attribute's encoding from ``table``.

        Parameters
        ----------
        table : pandas.DataFrame
            Holds a column per name.
        names : sequence of str
            The attributes, in order.
        standardize : bool, default False
            Standardise numeric attributes (not booleans or indicators of categories).
        reference : mapping, optional
            Reference level per categorical attribute (default: its most frequent level).
        who : str
            Named in error messages.

        Returns
        -------
        CovariateDesign

        Examples
        --------
        >>> import pandas as pd
        >>> from segml.clv.design import CovariateDesign
        >>> t = pd.DataFrame({"plan": ["pro", "free", "free"], "age": [30.0, 40.0, 50.0]})
        >>> d = CovariateDesign.fit(t, ["plan", "age"])
        >>> d.columns, d.transform(t).tolist()
        (('plan[pro]', 'age'), [[1.0, 30.0], [0.0, 40.0], [0.0, 50.0]])
        """
        names = list(dict.fromkeys(names))
        _check_present(table, names, who)
        reference = dict(reference or {})
        out = []
        for name in names:
            col = table[name]
            kind = _kind(col)
            if kind == "boolean":
                out.append(Covariate(name, kind, reference="False"))
            elif kind == "numeric":
                v = col.to_numpy("float64")
                sd = float(np.std(v))
                if standardize and sd > 0:
                    out.append(Covariate(name, kind, center=float(np.mean(v)), scale=sd))
                else:
                    out.append(Covariate(name, kind))
            else:
                counts = col.astype(str).value_counts()
                levels = sorted(counts.index, key=lambda lv: (-counts[lv], lv))
                ref = str(reference.get(name, levels[0]))
                if ref not in levels:
                    raise DataError(
                        f"{who}: reference level {ref!r} of {name!r} is not among its levels "
                        f"{sorted(levels)}."
                    )
                out.append(
                    Covariate(name, kind, tuple(sorted(lv for lv in levels if lv != ref)), ref)
                )
        unknown = sorted(set(reference) - set(names))
        if unknown:
            raise DataError(f"{who}: reference levels given for {unknown}, not covariates.")
        return cls(tuple(out))

    @property
    def names(self) -> tuple[str, ...]:
        """The attributes."""
        return tuple(c.name for c in self.covariates)

    @property
    def columns(self) -> tuple[str, ...]:
        """The design columns, in the matrix's order."""
        return tuple(col for c in self.covariates for col in c.columns)

    def columns_of(self, names: Sequence[str]) -> list[int]:
        """Indices of the design columns of the attributes ``names``."""
        index, start = {}, 0
        for c in self.covariates:
            index[c.name] = list(range(start, start + len(c.columns)))
            start += len(c.columns)
        return [i for n in names for i in index[n]]

    def transform(self, table: pd.DataFrame, who: str = "covariates") -> np.ndarray:
        """The design matrix of ``table`` (one row per customer, float64).

        Raises
        ------
        segml.DataError
            When a column is missing, a value is missing or not finite, or a categorical
            level was not seen in fitting.
        """
        _check_present(table, self.names, who)
        blocks = []
        for c in self.covariates:
            col = table[c.name]
            if c.kind == "categorical":
                text = col.astype(str).to_numpy()
                seen = np.isin(text, [*c.levels, str(c.reference)])
                if not seen.all():
                    new = sorted(set(text[~seen]))
                    raise DataError(
                        f"{who}: {c.name!r} has levels {new[:5]} not seen in fitting (seen: "
                        f"{sorted([*c.levels, str(c.reference)])}) for {int((~seen).sum()):,} "
                        f"customers, e.g. {examples(table.index[~seen])}."
                    )
                indicators = [(text == lv).astype(float) for lv in c.levels]
                empty = np.zeros((len(text), 0))
                blocks.append(np.stack(indicators, axis=1) if indicators else empty)
            else:
                v = col.to_numpy("float64")
                blocks.append(((v - c.center) / c.scale)[:, None])
        if not blocks:
            return np.zeros((len(table), 0))
        return np.concatenate(blocks, axis=1)

    def row_problems(self, table: pd.DataFrame) -> np.ndarray:
        """Per row, why :meth:`transform` cannot encode it ("" where it can): a missing
        column or value, a level not seen in fitting, a value that is not a finite number."""
        out = np.full(len(table), "", dtype=object)
        for c in self.covariates:
            free = out == ""
            if c.name not in table.columns:
                out[free] = f"missing attribute {c.name}"
                continue
            col = table[c.name]
            gap = col.isna().to_numpy()
            out[gap & free] = f"missing attribute {c.name}"
            if c.kind == "categorical":
                text = col.astype(str).to_numpy()
                unseen = ~np.isin(text, [*c.levels, str(c.reference)]) & ~gap & free
                out[unseen] = [
                    f"attribute {c.name} = {v!r} not seen in fitting" for v in text[unseen]
                ]
            else:
                v = pd.to_numeric(col, errors="coerce").to_numpy("float64", na_value=np.nan)
                out[~np.isfinite(v) & ~gap & free] = f"attribute {c.name} is not a finite number"
        return out

    def to_dict(self) -> list[dict[str, Any]]:
        """JSON-able encoding."""
        return [
            {
                "name": c.name,
                "kind": c.kind,
                "levels": list(c.levels),
                "reference": c.reference,
                "center": c.center,
                "scale": c.scale,
            }
            for c in self.covariates
        ]

    @classmethod
    def from_dict(cls, state: Sequence[Mapping[str, Any]]) -> CovariateDesign:
        """Rebuild from :meth:`to_dict`."""
        return cls(
            tuple(
                Covariate(
                    str(s["name"]),
                    str(s["kind"]),
                    tuple(map(str, s.get("levels", ()))),
                    s.get("reference"),
                    float(s.get("center", 0.0)),
                    float(s.get("scale", 1.0)),
                )
                for s in state
            )
        )
