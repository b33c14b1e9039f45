"""The e2e tests use the session's ``product`` stack (see ``tests/support/product.py``)."""

from tests.support.product import MANAGEMENT_KEY, Product, new_id

__all__ = ["MANAGEMENT_KEY", "Product", "new_id"]
