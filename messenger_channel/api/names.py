"""The names the agent API shows beside ids: pages, queues and agents.

The console shows names, never raw ids; a list of fifty conversations must not cost fifty
reads for them. Each kind is read whole (one small partition: an operator has tens to
hundreds of queues and agents and pages) at most once per ``TTL_SECONDS`` per process, so a
rename shows within that time; an id not found is read again at once (a queue just made),
at most once per ``MISS_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.storage.tables import TableStore
from messenger_channel.workforce.agents import list_agents
from messenger_channel.workforce.queue_management import Queues

TTL_SECONDS = 30.0
MISS_SECONDS = 1.0

_lock = threading.Lock()
_cache: dict[tuple[int, str], tuple[float, dict[str, str]]] = {}


def _name(tables: TableStore, kind: str, wanted: str | None,
          read: Callable[[TableStore], dict[str, str]]) -> str | None:
    if wanted is None:
        return None
    key = (id(tables), kind)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        age = now - cached[0]
        if age < TTL_SECONDS and (wanted in cached[1] or age < MISS_SECONDS):
            return cached[1].get(wanted)
    names = read(tables)
    with _lock:
        _cache[key] = (now, names)
    return names.get(wanted)


class Names:
    def __init__(self, tables: TableStore) -> None:
        self.tables = tables

    def page(self, page_id: str | None) -> str | None:
        return _name(self.tables, "pages", page_id, lambda t: {
            page.page_id: page.name for page in ChannelTables(t).all_pages()})

    def queue(self, queue_id: str | None) -> str | None:
        return _name(self.tables, "queues", queue_id, lambda t: {
            queue.id: queue.name for queue in Queues(t).all()})

    def agent(self, agent_id: str | None) -> str | None:
        return _name(self.tables, "agents", agent_id, lambda t: {
            agent.id: agent.name for agent in list_agents(t)})
