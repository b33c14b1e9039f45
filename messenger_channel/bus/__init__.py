"""The queue port: what the app sends to ``inbound``/``outbound``, served by Service Bus or locally."""
