"""Blueprints: thin adapters from triggers and bindings to the core (messenger_channel)."""
