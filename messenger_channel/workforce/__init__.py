"""Queues, agents and workstreams: who takes conversations, and the settings they follow.

Modules, bottom first: ``resource`` (what the three share: ``Record``, ``Resource``, claims of
unique values); ``queues`` (the stored queue and its lookups); ``agents``; ``workstreams``;
``queue_management`` (the ``Queues`` resource, above agents and workstreams because a queue
they use may not be deleted). None of them knows HTTP: they refuse with
``messenger_channel.errors``, and ``api/manage_workforce.py`` shows what they store.
"""
