"""Whatever the interleaving of sends, receives, settlements, lock expiries and restarts, each
session's messages are delivered in send order and each message is completed exactly once."""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from messenger_channel.bus.local import LocalQueue, LockLost, ReceivedMessage
from messenger_channel.bus.port import QueueMessage
from messenger_channel.bus.queues import QueueSpec
from messenger_channel.clock import Clock

LOCK = timedelta(seconds=30)
# High enough that abandons never dead-letter here: dead-lettering has its own tests.
SPECS = {"inbound": QueueSpec("inbound", max_delivery_count=1000, lock_duration=LOCK,
                              duplicate_detection_window=timedelta(days=1))}
SESSIONS = st.sampled_from(["A", "B", "C"])
# Every commit is fsync'ed; on tmpfs that is free, which keeps hundreds of runs fast.
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="local-queue-", dir=SCRATCH))
        self.clock = Clock()
        self.queue = LocalQueue(self.directory / "queues.sqlite", self.clock, SPECS)
        self.sent = 0
        self.pending: dict[str, deque[str]] = {}  # per session, not yet completed, send order
        self.completed: set[str] = set()
        self.held: dict[str, ReceivedMessage] = {}  # by session: the lock we believe valid
        self.stale: list[ReceivedMessage] = []  # locks that expired or died with a restart

    @rule(session=SESSIONS, count=st.integers(1, 3))
    def send(self, session: str, count: int) -> None:
        ids = [f"m{self.sent + offset}" for offset in range(count)]
        self.sent += count
        self.queue.send("inbound", [QueueMessage(body=i.encode(), session_id=session,
                                                    message_id=i) for i in ids])
        self.pending.setdefault(session, deque()).extend(ids)

    @precondition(lambda self: self.sent > 0)
    @rule(data=st.data())
    def resend_a_sent_id(self, data: st.DataObject) -> None:
        number = data.draw(st.integers(0, self.sent - 1))
        self.queue.send("inbound", [QueueMessage(body=b"dup", session_id="A",
                                                    message_id=f"m{number}")])

    @rule()
    def receive(self) -> None:
        received = self.queue.receive("inbound")
        if received is None:
            assert all(not ids or session in self.held for session, ids in self.pending.items())
            return
        assert received.message_id not in self.completed
        assert received.session_id not in self.held
        assert received.message_id == self.pending[received.session_id][0]
        self.held[received.session_id] = received

    @precondition(lambda self: self.held)
    @rule(data=st.data(), complete=st.booleans())
    def settle(self, data: st.DataObject, complete: bool) -> None:
        session = data.draw(st.sampled_from(sorted(self.held)))
        received = self.held.pop(session)
        if complete:
            self.queue.complete(received)
            self.pending[session].popleft()
            self.completed.add(received.message_id)
        else:
            self.queue.abandon(received, "try again")

    @precondition(lambda self: self.held)
    @rule()
    def locks_expire(self) -> None:
        self.expire_locks()
        self.stale.extend(self.held.values())
        self.held.clear()

    @rule()
    def restart(self) -> None:
        self.queue.close()
        self.queue = LocalQueue(self.directory / "queues.sqlite", self.clock, SPECS)
        self.stale.extend(self.held.values())
        self.held.clear()

    @precondition(lambda self: self.stale)
    @rule()
    def settle_with_a_stale_lock(self) -> None:
        received = self.stale.pop()
        try:
            self.queue.complete(received)
        except LockLost:
            return
        raise AssertionError(f"completed {received.message_id} with a stale lock")

    @invariant()
    def counts_match(self) -> None:
        counts = self.queue.counts("inbound")
        assert counts.locked == len(self.held)
        assert counts.active + counts.locked == sum(len(ids) for ids in self.pending.values())
        assert counts.scheduled == counts.dead_letter == 0

    def expire_locks(self) -> None:
        self.clock.set_offset(self.clock.offset_seconds + LOCK.total_seconds() + 1)

    def teardown(self) -> None:
        try:
            self.expire_locks()
            while (received := self.queue.receive("inbound")) is not None:
                assert received.message_id == self.pending[received.session_id].popleft()
                self.queue.complete(received)
                self.completed.add(received.message_id)
            assert self.completed == {f"m{number}" for number in range(self.sent)}
        finally:
            self.queue.close()
            shutil.rmtree(self.directory, ignore_errors=True)


QueueMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30,
                                          deadline=None)
test_local_queue_state_machine = QueueMachine.TestCase
