"""Webhook ingress: what Facebook posts, checked, archived and handed to the inbound queue."""
