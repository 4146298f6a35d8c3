"""Loading desired-state YAML into plain values that remember where they were written."""

from reconciler.load.document import Document, PathSegment, format_path
from reconciler.load.files import expand_paths, load_files
from reconciler.load.reader import read_document

__all__ = [
    "Document",
    "PathSegment",
    "expand_paths",
    "format_path",
    "load_files",
    "read_document",
]
