"""planview-admin-reconciler: Terraform-style user provisioning for Planview Admin."""

from importlib.metadata import PackageNotFoundError, version

try:
    # Single-sourced from the git tag at build time (setuptools-scm), read back from the
    # installed package's metadata.
    __version__ = version("planview-admin-reconciler")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
