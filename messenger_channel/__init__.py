"""The domain core of the Messenger channel. Never imports ``azure.functions``."""
