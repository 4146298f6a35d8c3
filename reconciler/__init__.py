"""planview-admin-reconciler: Terraform-style user provisioning for Planview Admin."""

__version__ = "0.1.0"
