"""The management key of the in-process API fixtures (``api``, ``services``): tests send it
where they act as an operator. The e2e stack has its own (``tests.support.product``)."""

MANAGEMENT_KEY = "test-management-key-0123456789abcdef"
