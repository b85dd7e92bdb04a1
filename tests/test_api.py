"""The public API is small, named in segml/__init__.py, and documented."""

from __future__ import annotations

import inspect

import segml


def test_public_names_exist_and_are_documented() -> None:
    for name in segml.__all__:
        obj = getattr(segml, name)
        if name == "__version__":
            assert isinstance(obj, str)
            continue
        doc = inspect.getdoc(obj)
        assert doc and len(doc) > 20, f"segml.{name} has no docstring"


def test_every_public_function_and_class_has_an_example() -> None:
    for name in segml.__all__:
        obj = getattr(segml, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert "Examples" in (obj.__doc__ or ""), f"segml.{name} has no Examples section"


def test_estimators_follow_scikit_learn_conventions() -> None:
    from sklearn.base import clone

    for est in (segml.BetaGeo(), segml.ParetoNBD(), segml.GammaGamma(), segml.CLVModel(margin=0.5)):
        params = est.get_params()
        copy = clone(est)
        assert copy.get_params() == params
        assert not any(k.endswith("_") for k in vars(est)), "fit-only attributes set in __init__"
