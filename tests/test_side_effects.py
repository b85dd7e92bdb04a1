"""lifetimes changes warning filters and a pandas option; segml must not let that escape."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys, warnings
    import pandas as pd
    warnings.simplefilter("default")
    def state():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            option = pd.get_option("mode.chained_assignment")
        return list(warnings.filters), option, pd.get_option("display.max_rows")
    import segml
    # segml loads SciPy and scikit-learn on first use; the filters SciPy installs when it is
    # imported are its own, not a leak: import them before taking the state.
    import scipy.special, scipy.stats, sklearn
    before = state()
    assert "lifetimes" not in sys.modules, "importing segml must not import lifetimes"
    table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    clv = segml.CLVModel(frequency="auto").fit(table)
    clv.predict(table, horizon=10, discount_rate=0.1)
    segml.ParetoNBD().fit(table).p_alive(table)
    # segml computes fits and conditional predictions itself; this one still uses lifetimes.
    segml.BetaGeo().fit(table).expected_purchases_new(10.0)
    assert "lifetimes" in sys.modules
    after = state()
    assert before == after, (before, after)
    print("contained")
    """
)


def test_segml_leaves_the_callers_global_state_alone() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "contained"


def test_global_numpy_random_state_untouched() -> None:
    import numpy as np

    import segml

    table = segml.simulate_customers(500, random_state=1)
    # The legacy global state is exactly what must stay untouched here.
    np.random.seed(123)  # noqa: NPY002
    expected = np.random.random(3)  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    segml.ParetoNBD().fit(table)
    assert np.array_equal(np.random.random(3), expected)  # noqa: NPY002
