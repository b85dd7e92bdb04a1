"""The segment layer: rules, hypotheses, every segmenter, profiles and the comparison.

``rules`` is the safe rule language; ``hypotheses`` tests business hypotheses; ``base`` is the
:class:`Segmenter` contract; ``baselines`` (RFM, value tiers), ``rule_segmenter``, ``cluster``
(k-means, mixtures, HDBSCAN) and ``tree`` (value tree) are the segmenters, all in one
``registry``; ``profile`` describes segments and ``evaluate`` compares segmentations by value
separation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segml._lazy import lazy_exports

__all__ = ["Segmenter", "load_segmenter"]

__getattr__, __dir__ = lazy_exports(
    __name__, {"Segmenter": "segml.segment.base", "load_segmenter": "segml.segment.registry"}
)

if TYPE_CHECKING:
    from segml.segment.base import Segmenter
    from segml.segment.registry import load_segmenter
