"""HR and IdP CSV exports -> a desired-state file (`reconciler import-csv`)."""

from reconciler.importcsv.convert import CsvImportError, ImportResult, import_csv
from reconciler.importcsv.mapfile import ColumnMap, load_map

__all__ = ["ColumnMap", "CsvImportError", "ImportResult", "import_csv", "load_map"]
