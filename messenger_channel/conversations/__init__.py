"""The conversation engine: contacts, conversations, their messages and indexes.

Triggers call one function each: ``inbound.process_inbound`` (the router),
``sender.process_outbound`` (the sender), ``timers.run_auto_close`` and
``timers.run_distribute``; the agent API calls the rest. Decisions with no I/O live in
modules of their own (``survey_step``, ``offer_choice``, ``send_decisions``, ``auto_close``,
``window``); storage of conversations goes through ``store`` (which keeps ``indexes``)."""
