"""The routing-rule grammar and its evaluator (``rules.py``): pure, stdlib and pydantic only.
What the rules read about a conversation (``conversations/routing_facts.py``) and the
distribution to agents (``conversations/distribution.py``) live with the engine."""
