"""Messenger simulator: a local fake of Facebook's Graph API and of its webhook behaviour.

The product only knows the Graph base URL (``FACEBOOK_GRAPH_URL``), so pointing it here lets it
run end to end without Facebook. See ``simulator/README.md`` for the control API.
"""
