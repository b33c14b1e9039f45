"""The local queue adapter keeps the Service Bus semantics the app relies on."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Collection, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from messenger_channel.bus.local import (
    MAX_DELIVERY_COUNT_EXCEEDED,
    LocalQueue,
    LockLost,
    QueueCounts,
    ReceivedMessage,
    open_local_queue,
)
from messenger_channel.bus.port import QueueMessage, QueueUnavailable
from messenger_channel.bus.queues import QUEUES, QueueSpec
from messenger_channel.clock import Clock

ROOT = Path(__file__).resolve().parents[2]
LOCK = timedelta(seconds=30)
WINDOW = timedelta(hours=1)
SPECS = {
    "inbound": QueueSpec("inbound", max_delivery_count=3, lock_duration=LOCK,
                         duplicate_detection_window=WINDOW),
    "outbound": QueueSpec("outbound", max_delivery_count=3, lock_duration=LOCK,
                          duplicate_detection_window=WINDOW),
}


def message(message_id: str, session_id: str = "page:psid", *, body: bytes | None = None,
            scheduled_at: datetime | None = None) -> QueueMessage:
    return QueueMessage(body=message_id.encode() if body is None else body,
                           session_id=session_id, message_id=message_id, scheduled_at=scheduled_at)


def advance(clock: Clock, delta: timedelta) -> None:
    clock.set_offset(clock.offset_seconds + delta.total_seconds())


def take(queue: LocalQueue, name: str = "inbound",
         exclude_sessions: Collection[str] = ()) -> ReceivedMessage:
    received = queue.receive(name, exclude_sessions=exclude_sessions)
    assert received is not None, "expected a deliverable message"
    return received


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queues.sqlite"


@pytest.fixture
def queue(path: Path, clock: Clock) -> Iterator[LocalQueue]:
    local = LocalQueue(path, clock, SPECS)
    yield local
    local.close()


def test_received_message_carries_what_was_sent(queue: LocalQueue, clock: Clock) -> None:
    clock.set_offset(3600)
    sent_at = clock.now()
    queue.send("outbound", [QueueMessage(
        body=b'{"text": "hi"}', session_id="conv-1", message_id="m-1",
        content_type="text/plain", properties={"kind": "reply"})])
    received = take(queue, "outbound")
    assert received.queue == "outbound"
    assert received.body == b'{"text": "hi"}'
    assert (received.session_id, received.message_id) == ("conv-1", "m-1")
    assert received.content_type == "text/plain"
    assert received.properties == {"kind": "reply"}
    assert received.delivery_count == 1
    assert received.scheduled_at is None
    assert abs(received.enqueued_at - sent_at) < timedelta(seconds=5)  # the clock's, offset too
    assert received.locked_until is not None
    assert sent_at + LOCK <= received.locked_until <= clock.now() + LOCK
    assert received.lock_token
    assert received.dead_letter_reason is None
    assert received.dead_letter_description is None
    assert queue.receive("inbound") is None  # queues are separate


def test_messages_of_one_session_are_delivered_in_send_order(queue: LocalQueue) -> None:
    queue.send("inbound", [message("a1"), message("a2")])
    queue.send("inbound", [message("a3")])
    delivered = []
    while (received := queue.receive("inbound")) is not None:
        delivered.append(received.message_id)
        queue.complete(received)
    assert delivered == ["a1", "a2", "a3"]


def test_a_locked_head_blocks_only_its_own_session(queue: LocalQueue) -> None:
    queue.send("inbound", [message("a1", "A"), message("a2", "A"), message("b1", "B")])
    a1 = take(queue)
    assert a1.message_id == "a1"
    b1 = take(queue)
    assert b1.message_id == "b1"  # not a2: session A is busy with a1
    assert queue.receive("inbound") is None
    queue.complete(a1)
    assert take(queue).message_id == "a2"
    queue.complete(b1)


def test_excluded_sessions_are_skipped(queue: LocalQueue) -> None:
    queue.send("inbound", [message("a1", "A"), message("b1", "B")])
    assert take(queue, exclude_sessions={"A"}).message_id == "b1"
    assert queue.receive("inbound", exclude_sessions=["A"]) is None
    assert take(queue).message_id == "a1"


def test_two_sessions_are_processed_at_the_same_time_by_two_threads(queue: LocalQueue) -> None:
    queue.send("inbound", [message("a1", "A"), message("a2", "A"), message("b1", "B")])
    both_holding = threading.Barrier(2, timeout=5)
    got: list[str] = []

    def worker() -> None:
        received = take(queue)
        got.append(received.session_id)
        both_holding.wait()  # breaks (and fails the test) unless both hold a lock at once
        queue.complete(received)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == ["A", "B"]
    assert take(queue).message_id == "a2"


def test_concurrent_consumers_keep_session_order_and_process_each_message_once(
        queue: LocalQueue) -> None:
    sessions = [f"S{n}" for n in range(5)]
    for index in range(20):
        queue.send("inbound", [message(f"{session}-{index}", session) for session in sessions])
    seen: dict[str, list[int]] = {session: [] for session in sessions}
    record = threading.Lock()

    def worker() -> None:
        while (received := queue.receive("inbound")) is not None:
            with record:  # the message is locked: its session cannot move on meanwhile
                seen[received.session_id].append(int(received.message_id.split("-")[1]))
            queue.complete(received)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {session: list(range(20)) for session in sessions}
    assert queue.counts("inbound") == QueueCounts(active=0, scheduled=0, locked=0, dead_letter=0)


def test_abandoned_message_comes_back_first_with_a_growing_delivery_count(
        queue: LocalQueue) -> None:
    queue.send("inbound", [message("a1"), message("a2")])
    first = take(queue)
    queue.abandon(first, "try again")
    second = take(queue)
    assert (second.message_id, second.delivery_count) == ("a1", 2)
    assert second.lock_token != first.lock_token
    with pytest.raises(LockLost):
        queue.complete(first)  # the old token no longer settles it
    queue.complete(second)
    assert take(queue).message_id == "a2"


def test_abandoned_at_the_max_delivery_count_goes_to_the_dead_letter_queue(
        queue: LocalQueue) -> None:
    queue.send("inbound", [message("a1"), message("a2")])
    for attempt in range(1, 4):
        received = take(queue)
        assert (received.message_id, received.delivery_count) == ("a1", attempt)
        queue.abandon(received, f"ValueError: attempt {attempt}")
    assert queue.counts("inbound") == QueueCounts(active=1, scheduled=0, locked=0, dead_letter=1)
    [dead] = queue.dead_letters("inbound")
    assert dead.message_id == "a1"
    assert dead.delivery_count == 3
    assert dead.dead_letter_reason == MAX_DELIVERY_COUNT_EXCEEDED
    assert dead.dead_letter_description == "ValueError: attempt 3"
    assert dead.lock_token is None
    assert dead.locked_until is None
    assert take(queue).message_id == "a2"  # the session moves on


def test_dead_letter_keeps_reason_and_description_and_frees_the_session(
        queue: LocalQueue) -> None:
    queue.send("inbound", [message("a1"), message("a2")])
    queue.dead_letter(take(queue), "InvalidPayload", "missing field 'entry'")
    [dead] = queue.dead_letters("inbound")
    assert (dead.message_id, dead.dead_letter_reason, dead.dead_letter_description) == (
        "a1", "InvalidPayload", "missing field 'entry'")
    assert take(queue).message_id == "a2"


def test_an_expired_lock_makes_the_message_deliverable_again(
        queue: LocalQueue, clock: Clock) -> None:
    queue.send("inbound", [message("a1")])
    first = take(queue)
    advance(clock, LOCK - timedelta(seconds=1))
    assert queue.receive("inbound") is None  # still locked
    advance(clock, timedelta(seconds=2))
    again = take(queue)
    assert (again.message_id, again.delivery_count) == ("a1", 2)
    for settle in (queue.complete, queue.abandon,
                   lambda m: queue.dead_letter(m, "r", "d")):
        with pytest.raises(LockLost, match="a1"):
            settle(first)
    queue.complete(again)
    assert queue.counts("inbound") == QueueCounts(0, 0, 0, 0)


def test_settling_after_the_lock_expired_raises_lock_lost(
        queue: LocalQueue, clock: Clock) -> None:
    queue.send("inbound", [message("a1")])
    received = take(queue)
    advance(clock, LOCK + timedelta(seconds=1))
    with pytest.raises(LockLost):
        queue.complete(received)
    assert queue.counts("inbound").active == 1  # not completed


def test_a_lock_that_expires_on_the_last_delivery_dead_letters_on_the_next_receive(
        queue: LocalQueue, clock: Clock) -> None:
    queue.send("inbound", [message("a1"), message("a2")])
    for _ in range(3):
        take(queue)
        advance(clock, LOCK + timedelta(seconds=1))
    assert take(queue).message_id == "a2"  # a1 went to the dead-letter queue instead
    [dead] = queue.dead_letters("inbound")
    assert dead.message_id == "a1"
    assert dead.dead_letter_reason == MAX_DELIVERY_COUNT_EXCEEDED
    assert dead.delivery_count == 3


def test_duplicate_message_id_is_dropped_within_the_window_and_accepted_after(
        queue: LocalQueue, clock: Clock) -> None:
    queue.send("inbound", [message("m1", body=b"first")])
    queue.complete(take(queue))
    advance(clock, WINDOW - timedelta(minutes=1))
    queue.send("inbound", [message("m1", body=b"again")])
    assert queue.receive("inbound") is None  # dropped, though the first was completed
    queue.send("outbound", [message("m1")])
    assert take(queue, "outbound").message_id == "m1"  # another queue, another window
    advance(clock, timedelta(minutes=2))  # the window counts from the first send
    queue.send("inbound", [message("m1", body=b"later")])
    assert take(queue).body == b"later"


def test_duplicates_within_one_send_are_dropped(queue: LocalQueue) -> None:
    queue.send("inbound", [message("m1"), message("m1"), message("m2")])
    assert queue.counts("inbound").active == 2


def test_scheduled_message_is_delivered_at_its_time_by_the_clock(
        queue: LocalQueue, clock: Clock) -> None:
    at = clock.now() + timedelta(hours=2)
    queue.send("outbound", [message("later", scheduled_at=at)])
    assert queue.receive("outbound") is None
    assert queue.counts("outbound") == QueueCounts(active=0, scheduled=1, locked=0, dead_letter=0)
    advance(clock, timedelta(hours=2) - timedelta(seconds=1))
    assert queue.receive("outbound") is None
    advance(clock, timedelta(seconds=2))
    received = take(queue, "outbound")
    assert received.message_id == "later"
    assert received.scheduled_at == at


def test_a_scheduled_message_does_not_hold_back_its_session(
        queue: LocalQueue, clock: Clock) -> None:
    queue.send("outbound", [message("reminder", scheduled_at=clock.now() + timedelta(hours=1)),
                            message("reply")])
    received = take(queue, "outbound")
    assert received.message_id == "reply"
    queue.complete(received)
    assert queue.receive("outbound") is None


def test_a_message_due_earlier_waits_while_its_session_is_locked(
        queue: LocalQueue, clock: Clock) -> None:
    queue.send("outbound", [message("a1")])
    held = take(queue, "outbound")
    # Scheduled in the past: it sorts before a1, but a1 is being processed.
    queue.send("outbound", [message("a0", scheduled_at=clock.now() - timedelta(hours=1))])
    assert queue.receive("outbound") is None
    queue.complete(held)
    assert take(queue, "outbound").message_id == "a0"


def test_restart_keeps_unsettled_messages_and_releases_the_old_locks_at_once(
        path: Path, clock: Clock) -> None:
    first = LocalQueue(path, clock, SPECS)
    first.send("inbound", [message("a1"), message("a2"), message("a3")])
    first.complete(take(first))
    held = take(first)
    first.close()

    restarted = LocalQueue(path, clock, SPECS)
    try:
        again = take(restarted)  # no waiting for the old lock to expire
        assert (again.message_id, again.delivery_count) == ("a2", 2)
        with pytest.raises(QueueUnavailable):
            first.complete(held)
        with pytest.raises(LockLost):
            restarted.complete(held)
        restarted.complete(again)
        assert take(restarted).message_id == "a3"
        restarted.send("inbound", [message("a1")])  # the duplicate window survives too
        assert restarted.counts("inbound") == QueueCounts(0, 0, 1, 0)
    finally:
        restarted.close()


def _run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_locks_of_a_crashed_process_are_released_when_the_file_is_opened(
        path: Path, clock: Clock) -> None:
    queue = LocalQueue(path, clock)
    queue.send("inbound", [message("a1")])
    queue.close()
    # A host that locks the message, then dies without closing anything.
    output = _run_python(f"""
        import os
        from pathlib import Path
        from messenger_channel.bus.local import LocalQueue
        from messenger_channel.clock import Clock
        print(LocalQueue(Path({str(path)!r}), Clock()).receive("inbound").message_id, flush=True)
        os._exit(0)
    """)
    assert output.strip() == "a1"
    restarted = LocalQueue(path, clock)
    try:
        assert take(restarted).delivery_count == 2
    finally:
        restarted.close()


def test_a_live_neighbour_keeps_its_locks_until_they_expire(
        queue: LocalQueue, path: Path, clock: Clock) -> None:
    queue.send("inbound", [message("a1")])
    held = take(queue)
    neighbour = LocalQueue(path, clock, SPECS)  # e.g. a test or a tool opening the same file
    try:
        assert neighbour.receive("inbound") is None
        queue.complete(held)  # still valid
        queue.send("inbound", [message("a2")])
        stale = take(queue)
        advance(clock, LOCK + timedelta(seconds=1))
        assert take(neighbour).message_id == "a2"  # the lock expired normally
        with pytest.raises(LockLost):
            queue.complete(stale)
    finally:
        neighbour.close()


def test_closing_releases_the_locks_for_a_neighbour_at_once(
        queue: LocalQueue, path: Path, clock: Clock) -> None:
    neighbour = LocalQueue(path, clock, SPECS)
    try:
        queue.send("inbound", [message("a1")])
        take(queue)
        assert neighbour.receive("inbound") is None
        queue.close()
        assert take(neighbour).delivery_count == 2
    finally:
        neighbour.close()


def test_processes_sending_at_the_same_time_lose_nothing(path: Path, clock: Clock) -> None:
    LocalQueue(path, clock).close()  # create the schema before the race
    script = f"""
        import sys
        from pathlib import Path
        from messenger_channel.bus.local import LocalQueue
        from messenger_channel.bus.port import QueueMessage
        from messenger_channel.clock import Clock
        queue = LocalQueue(Path({str(path)!r}), Clock())
        name = sys.argv[1]
        for index in range(100):
            queue.send("inbound", [QueueMessage(body=b"x", session_id=name,
                                                   message_id=f"{{name}}-{{index}}")])
        queue.close()
    """
    children = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), name], cwd=ROOT)
                for name in ("P", "Q")]
    assert [child.wait(timeout=60) for child in children] == [0, 0]
    queue = LocalQueue(path, clock)
    try:
        order: dict[str, list[str]] = {"P": [], "Q": []}
        while (received := queue.receive("inbound")) is not None:
            order[received.session_id].append(received.message_id)
            queue.complete(received)
        assert order == {name: [f"{name}-{index}" for index in range(100)] for name in order}
    finally:
        queue.close()


def test_a_send_of_several_messages_is_all_or_nothing(queue: LocalQueue) -> None:
    unserialisable = QueueMessage(body=b"x", session_id="A", message_id="m2",
                                     properties={"bad": object()})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        queue.send("inbound", [message("m1", "A"), unserialisable])
    assert queue.counts("inbound") == QueueCounts(0, 0, 0, 0)
    queue.send("inbound", [message("m1", "A")])  # its id was not recorded either
    assert take(queue).message_id == "m1"


def test_redrive_resends_dead_letters_at_the_tail_of_their_sessions(
        queue: LocalQueue) -> None:
    queue.send("inbound", [message("a1", "A"), message("b1", "B")])
    queue.dead_letter(take(queue), "Boom", "first")
    queue.dead_letter(take(queue), "Boom", "second")
    queue.send("inbound", [message("a2", "A")])
    assert queue.redrive("inbound") == 2
    assert queue.counts("inbound") == QueueCounts(active=3, scheduled=0, locked=0, dead_letter=0)
    delivered = []
    while (received := queue.receive("inbound")) is not None:
        delivered.append((received.message_id, received.delivery_count,
                          received.dead_letter_reason))
        queue.complete(received)
    # Not dropped as duplicates, delivery count restarted, a2 was already waiting in A.
    assert delivered == [("a2", 1, None), ("a1", 1, None), ("b1", 1, None)]
    assert queue.redrive("inbound") == 0


def test_counts_and_dead_letters_per_queue(queue: LocalQueue, clock: Clock) -> None:
    queue.send("inbound", [message("a1", "A"), message("a2", "A"), message("b1", "B"),
                           message("c1", "C", scheduled_at=clock.now() + timedelta(minutes=5))])
    take(queue)
    queue.dead_letter(take(queue), "r", "d")
    assert queue.counts("inbound") == QueueCounts(active=1, scheduled=1, locked=1, dead_letter=1)
    assert queue.counts("outbound") == QueueCounts(0, 0, 0, 0)
    assert [m.message_id for m in queue.dead_letters("inbound", limit=5)] == ["b1"]
    assert queue.dead_letters("outbound") == []


def test_unknown_queue_names_are_refused(queue: LocalQueue) -> None:
    with pytest.raises(ValueError, match="unknown queue 'nope'"):
        queue.send("nope", [message("m1")])
    with pytest.raises(ValueError, match="unknown queue"):
        queue.receive("nope")
    with pytest.raises(ValueError, match="unknown queue"):
        queue.counts("nope")


def test_a_closed_queue_is_unavailable(queue: LocalQueue) -> None:
    queue.check()
    queue.close()
    queue.close()  # idempotent
    with pytest.raises(QueueUnavailable, match="closed"):
        queue.send("inbound", [message("m1")])
    with pytest.raises(QueueUnavailable):
        queue.check()


def test_a_file_that_is_not_a_queue_is_unavailable(tmp_path: Path, clock: Clock) -> None:
    broken = tmp_path / "queues.sqlite"
    broken.write_bytes(b"this is not a database" * 100)
    with pytest.raises(QueueUnavailable, match="not a database"):
        LocalQueue(broken, clock)


def test_default_specs_are_the_apps_queues(path: Path, clock: Clock) -> None:
    queue = LocalQueue(path, clock)
    try:
        for name in QUEUES:
            queue.send(name, [message("m1")])
            assert take(queue, name).locked_until is not None
    finally:
        queue.close()


def test_open_local_queue_shares_one_instance_per_file(
        tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shared = open_local_queue(Path("data/queues.sqlite"), clock)
    try:
        assert open_local_queue(tmp_path / "data" / "queues.sqlite", clock) is shared
        assert open_local_queue(Path("data/other.sqlite"), clock) is not shared
        with pytest.raises(ValueError, match="another clock"):
            open_local_queue(Path("data/queues.sqlite"), Clock())
        shared.send("inbound", [message("m1")])
    finally:
        shared.close()
        open_local_queue(Path("data/other.sqlite"), clock).close()
    reopened = open_local_queue(Path("data/queues.sqlite"), clock)
    try:
        assert reopened is not shared
        assert reopened.counts("inbound").active == 1
    finally:
        reopened.close()


def test_a_send_or_a_released_session_signals_the_consumers_of_this_process(
        queue: LocalQueue, path: Path, clock: Clock) -> None:
    other = LocalQueue(path, clock, SPECS)  # e.g. the webhook's instance beside the runner's
    try:
        arrival = queue.arrival("inbound")
        assert other.arrival("inbound") is arrival
        assert queue.arrival("outbound") is not arrival
        arrival.clear()
        other.send("inbound", [message("m-1"), message("m-2")])
        assert arrival.is_set()
        arrival.clear()
        first = take(queue)
        assert not arrival.is_set()  # receiving signals nothing
        queue.complete(first)  # the session's next message is deliverable now
        assert arrival.is_set()
        arrival.clear()
        queue.abandon(take(queue))
        assert arrival.is_set()
    finally:
        other.close()
