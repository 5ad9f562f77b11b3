"""Helpers of the OncoNet TCGA bundle: data preparation, batch preparation, metrics and the per-patient report.

The configs load this package through their ``scripts`` item (``bundle_root`` put first on ``sys.path``), so that a
bundle run works from any working directory, not only from inside the bundle folder.
"""

from . import data, engine, metrics, report

__all__ = ["data", "engine", "metrics", "report"]
