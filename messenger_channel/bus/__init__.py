"""The queue port: messages to ``inbound``/``outbound``, served by Service Bus or locally."""
