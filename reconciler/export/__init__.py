"""Live tenant -> desired-state YAML (`reconciler export`)."""

from reconciler.export.aliases import product_aliases, slugify
from reconciler.export.writer import ExportResult, export_desired, write_atomic

__all__ = ["ExportResult", "export_desired", "product_aliases", "slugify", "write_atomic"]
