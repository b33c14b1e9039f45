"""The ``audit_export`` timer against Azurite: each UTC day's entries, the next night, as
``audit-export/YYYY/MM/DD.jsonl`` (one entry per line, oldest first), today's never; a rerun,
or a run that lost its cursor, writes nothing again and changes no day already written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from messenger_channel.audit.log import Actor, AuditLog
from messenger_channel.privacy.audit_export import (
    CONTAINER,
    AuditExportCursor,
    run_audit_export,
)
from messenger_channel.services import Services

OPERATOR = Actor(kind="management", id="management_key")


def _at(services: Services, moment: datetime) -> None:
    services.clock.set_offset((moment - datetime.now(UTC)).total_seconds())


def _lines(services: Services, name: str) -> list[dict[str, object]]:
    text = services.blobs.download(CONTAINER, name).decode()
    return [json.loads(line) for line in text.splitlines() if line]


def test_a_day_is_copied_once_the_next_night_and_never_again(services: Services) -> None:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    audit = AuditLog(services.tables, services.clock)
    _at(services, yesterday.replace(hour=0, minute=0, second=1))
    first = audit.record(OPERATOR, "account.create", "account:acc_1", {"fields": ["name"]})
    _at(services, yesterday.replace(hour=23, minute=59, second=58))
    last = audit.record(OPERATOR, "page.update", "page:1", {"fields": ["name"]})
    _at(services, today.replace(hour=0, minute=0, second=2))
    audit.record(OPERATOR, "queue.create", "queue:q_1")  # today: not yet

    _at(services, today.replace(hour=0, minute=40))
    name = f"{yesterday:%Y/%m/%d}.jsonl"
    assert run_audit_export(services) == 8  # the first run looks back a week
    lines = _lines(services, name)
    assert [line["id"] for line in lines] == [first.id, last.id]  # oldest first
    assert lines[0] == json.loads(first.model_dump_json())
    assert {"id", "at", "actor", "action", "target", "details"} == set(lines[1])
    written = services.blobs.properties(CONTAINER, name)
    assert written.metadata["entries"] == "2"
    assert not _exists(services, f"{today:%Y/%m/%d}.jsonl")

    # Again the same night: nothing to do, the day's copy untouched.
    assert run_audit_export(services) == 0
    assert services.blobs.properties(CONTAINER, name).etag == written.etag

    # A late entry stamped yesterday does not rewrite the copy already made.
    _at(services, yesterday.replace(hour=23, minute=59, second=59))
    audit.record(OPERATOR, "agent.create", "agent:ag_1")
    _at(services, today.replace(hour=1))
    assert run_audit_export(services) == 0
    assert services.blobs.properties(CONTAINER, name).etag == written.etag

    # The next night: today is copied, yesterday still untouched.
    _at(services, today + timedelta(days=1))
    assert run_audit_export(services) == 1
    assert [line["action"] for line in _lines(services, f"{today:%Y/%m/%d}.jsonl")] == [
        "queue.create"]
    assert services.blobs.properties(CONTAINER, name).etag == written.etag

    # The cursor lost: the days already copied are found and kept as they are.
    services.tables.table("AuditExports", AuditExportCursor).delete("cursor", "audit-export")
    assert run_audit_export(services) == 0
    assert services.blobs.properties(CONTAINER, name).etag == written.etag


def _exists(services: Services, name: str) -> bool:
    return any(info.name == name for info in services.blobs.list(CONTAINER, name))
