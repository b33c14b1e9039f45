"""A small local Azure Functions host: runs function_app.py without Core Tools or Azure.

It serves HTTP triggers, drives Service Bus triggers from the local queue, runs timers on
their NCRONTAB schedules and offers the host's admin routes (see API.md, "Local host only").
"""
