"""The public API is small, named in segml/__init__.py, and documented."""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

import segml


def _sections(doc: str) -> set[str]:
    return set(re.findall(r"^(\w[\w ]*)\n-{3,}$", doc, flags=re.M))


def _documented(doc: str, param: str) -> bool:
    """Whether a numpydoc section names ``param`` (alone or in a ``a, b : type`` line)."""
    name = re.escape(param)
    return bool(re.search(rf"^\**(\w+, )*{name}(, \w+)*( :.*)?$", doc, flags=re.M))


def _parameters(obj: object) -> list[str]:
    if inspect.isclass(obj) and issubclass(obj, Exception):
        return []
    target = obj.__init__ if inspect.isclass(obj) else obj  # type: ignore[misc]
    signature = inspect.signature(target)
    return [p for p in signature.parameters if p not in ("self", "args", "kwargs")]


def test_public_names_exist() -> None:
    for name in segml.__all__:
        assert getattr(segml, name) is not None


@pytest.mark.parametrize("name", [n for n in segml.__all__ if n != "__version__"])
def test_public_names_have_numpydoc_sections(name: str) -> None:
    """A summary line; every parameter in Parameters (Attributes for dataclasses); a Returns
    section for functions that return something."""
    obj = getattr(segml, name)
    doc = inspect.getdoc(obj) or ""
    assert doc and doc.splitlines()[0].strip(), f"segml.{name} has no summary line"
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return
    params = _parameters(obj)
    allowed = {"Parameters", "Attributes"} if dataclasses.is_dataclass(obj) else {"Parameters"}
    if params:
        assert allowed & _sections(doc), f"segml.{name} has no {' or '.join(allowed)} section"
        missing = [p for p in params if not _documented(doc, p)]
        assert not missing, f"segml.{name} does not document {missing}"
    if inspect.isfunction(obj) and inspect.signature(obj).return_annotation not in ("None",):
        assert "Returns" in _sections(doc), f"segml.{name} has no Returns section"


def test_the_docstring_check_rejects_a_one_liner() -> None:
    def f(x: int) -> int:
        """Does things with x, in one line that is long enough."""
        return x

    doc = inspect.getdoc(f) or ""
    assert "Parameters" not in _sections(doc) and not _documented(doc, "x")


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


def _fresh_python(code: str) -> str:
    import subprocess
    import sys
    import textwrap

    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_reading_and_summarizing_load_neither_scikit_learn_nor_scipy() -> None:
    out = _fresh_python(
        """
        import sys
        import segml
        heavy = ("sklearn", "scipy", "mlflow", "lifetimes")
        assert not [m for m in heavy if m in sys.modules], "import segml"
        table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
        print([m for m in heavy if m in sys.modules], len(table))
        """
    )
    assert out == "[] 2357"


def test_public_names_survive_lazy_loading(tmp_path) -> None:
    """segml.segment.profile stays the function when its module loads; a saved segmenter loads in
    a process that has imported nothing but segml."""
    _fresh_python(
        f"""
        import segml
        table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
        seg = segml.ClusterSegmenter("kmeans", k=3, random_state=0).fit(table)
        seg.save({str(tmp_path / "seg")!r})
        import segml.segment.profile
        from segml.segment.profile import describe_segments
        assert callable(segml.profile) and not isinstance(segml.profile, type(segml))
        assert segml.profile(seg.labels_, table, "total_revenue")["customers"].sum() == len(table)
        """
    )
    out = _fresh_python(
        f"""
        import segml
        seg = segml.load_segmenter({str(tmp_path / "seg")!r})
        print(type(seg).__name__, len(seg.segment_names_))
        """
    )
    assert out == "ClusterSegmenter 3"


def test_a_missing_dependency_is_named_not_hidden_as_a_missing_attribute() -> None:
    out = _fresh_python(
        """
        import sys
        sys.modules["mlflow"] = None  # as if MLflow were not installed
        import segml
        try:
            segml.export
        except ModuleNotFoundError as exc:
            print(exc.name)
        """
    )
    assert out == "mlflow"
