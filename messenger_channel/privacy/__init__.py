"""Privacy: erasure of one customer, export, retention, Meta's data deletion callback."""
