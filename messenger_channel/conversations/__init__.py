"""Contacts, conversations and their messages: what the router writes and agents read."""
