"""planview-admin-reconciler: Terraform-style user provisioning for Planview Admin."""

try:
    # Single-sourced from the git tag: setuptools-scm writes _version.py at build and
    # install time. Reading the installed metadata instead (importlib.metadata) would
    # cost every command about 0.1 s of start-up.
    from reconciler._version import __version__
except ImportError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
