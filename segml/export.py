"""``segml.export``, kept for scripts: the exported model lives in :mod:`segml.tracking.export`."""

from segml.tracking.export import SegmlModel, export_model, load_model, register_model, save_model

__all__ = ["SegmlModel", "export_model", "load_model", "register_model", "save_model"]
