"""The range of every value of an experiment file, checked when the file is loaded.

Types are checked by :mod:`segml.experiment.config`; this module says which values of the
right type make sense, so that ``k = [0]``, ``min_share = 2`` or ``n_bootstrap = 10**9`` is a
:class:`segml.ConfigError` naming the file, the section and the key before any data is read,
not a failure (or an endless run) after the data are loaded and fitted. The same key means
the same thing in every section, so one table serves them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from segml.data.times import time_setting_problem
from segml.errors import ConfigError

__all__ = ["check_range"]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int_in(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _share(v: Any) -> bool:
    return _number(v) and 0 < v < 1


def _ks(v: Any) -> bool:
    one = _int_in(2, 1000)
    return one(v) or (isinstance(v, list) and len(v) > 0 and all(one(k) for k in v))


def _tiers(v: Any) -> bool:
    return (
        isinstance(v, list)
        and len(v) >= 2
        and all(_share(t) for t in v)
        and math.isclose(sum(v), 1.0, abs_tol=1e-9)
    )


#: key -> (check, what a valid value is)
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "k": (_ks, "an integer from 2 to 1,000, or a non-empty list of them"),
    "sample_size": (_int_in(10, 10**9), "an integer from 10 to 1e9"),
    "min_cluster_size": (_int_in(2, 10**9), "an integer of at least 2"),
    "max_leaves": (_int_in(2, 1000), "an integer from 2 to 1,000"),
    "max_hypotheses": (_int_in(1, 1000), "an integer from 1 to 1,000"),
    "tiers": (_tiers, "at least two shares in (0, 1) summing to 1"),
    "min_share": (_share, "a share in (0, 1)"),
    "random_state": (_int_in(0, 2**32 - 1), "an integer from 0 to 2**32 - 1"),
    "n_customers": (_int_in(1, 10**8), "an integer from 1 to 1e8"),
    "horizon": (lambda v: _number(v) and v > 0, "a positive finite number of time units"),
    "discount_rate": (lambda v: _number(v) and 0 <= v < 1, "an annual rate in [0, 1)"),
    "margin": (lambda v: _number(v) and 0 < v <= 1, "a rate in (0, 1]"),
    "intervals": (_int_in(0, 10_000), "an integer from 0 (none) to 10,000"),
    "max_k": (_int_in(2, 1000), "an integer from 2 to 1,000"),
    "n_bootstrap": (_int_in(0, 10_000), "an integer from 0 (none) to 10,000"),
    "min_stability": (lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "min_lift": (lambda v: _number(v) and v > 0, "a positive finite number"),
    "n_intervals": (_int_in(0, 100_000), "an integer from 0 (none) to 100,000"),
    "alpha": (_share, "a level in (0, 1)"),
}


#: key -> the values it may take (string settings)
CHOICES: dict[str, tuple[str, ...]] = {
    "spend": ("gamma_gamma",),
    "returns": ("net", "drop"),
    "zero_amounts": ("keep", "drop"),
    "duplicates": ("keep", "drop"),
}


def check_range(section: str, key: str, value: Any, where: str) -> None:
    """Raise :class:`segml.ConfigError` if ``value`` (of the right type) is out of range.

    Examples
    --------
    >>> from segml.experiment.ranges import check_range
    >>> check_range("evaluation", "min_share", 0.05, "e.toml")
    >>> check_range("evaluation", "min_share", 2, "e.toml")
    Traceback (most recent call last):
    ...
    segml.errors.ConfigError: e.toml: [evaluation] min_share must be a share in (0, 1), got 2.
    """
    rule = RANGES.get(key)
    if rule is not None and not rule[0](value):
        raise ConfigError(f"{where}: [{section}] {key} must be {rule[1]}, got {value!r}.")
    if key in ("time_format", "timezone") and (problem := time_setting_problem(key, value)):
        raise ConfigError(f"{where}: [{section}] {key}: {problem}.")
    if key in CHOICES and value not in CHOICES[key]:
        options = ", ".join(repr(c) for c in CHOICES[key])
        raise ConfigError(f"{where}: [{section}] {key} must be one of {options}, got {value!r}.")
