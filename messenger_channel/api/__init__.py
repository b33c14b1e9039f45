"""The management and agent HTTP APIs (FastAPI), hosted by the Functions app through ASGI."""
