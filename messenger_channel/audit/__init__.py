"""The audit log: who did what, append-only, read by time range, actor and action."""
