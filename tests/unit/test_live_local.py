"""The devhost's live adapter: its tokens mirror Web PubSub's, it verifies them on the host's
(shiftable) clock, and hands hints only to the connections they are for."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest

from messenger_channel.clock import Clock
from messenger_channel.live.local import (
    KEY_FILE,
    Connection,
    LocalLive,
    LocalLivePublisher,
    open_local_live,
)
from messenger_channel.live.port import Audience, Hint

KEY = b"k" * 32
AT = datetime(2026, 3, 1, 9, 30, 5, tzinfo=UTC)


def token_of(url: str) -> str:
    return unquote(parse_qs(urlsplit(url).query)["access_token"][0])


def test_client_url_and_token_are_shaped_like_web_pubsubs() -> None:
    clock = Clock()
    publisher = LocalLivePublisher(LocalLive(KEY, clock), "http://127.0.0.1:7071", "console")
    access = publisher.client_access("agent:ag_1", ["supervisors"], 30)

    url = urlsplit(access.url)
    assert (url.scheme, url.netloc, url.path) == ("ws", "127.0.0.1:7071", "/client/hubs/console")
    claims = jwt.decode(token_of(access.url), KEY, algorithms=["HS256"],
                        audience="http://127.0.0.1:7071/client/hubs/console")
    assert claims["sub"] == "agent:ag_1"
    assert claims["webpubsub.group"] == ["supervisors"]
    assert claims["exp"] == int(access.expires_at.timestamp())
    assert timedelta(minutes=29) < access.expires_at - clock.now() <= timedelta(minutes=30)


def test_https_base_gives_wss_and_no_group_claim_without_groups() -> None:
    publisher = LocalLivePublisher(LocalLive(KEY, Clock()), "https://abc.tunnel.example/",
                                   "console")
    access = publisher.client_access("agent:ag_2", [], 5)
    assert access.url.startswith("wss://abc.tunnel.example/client/hubs/console?access_token=")
    claims = jwt.decode(token_of(access.url), options={"verify_signature": False})
    assert "webpubsub.group" not in claims
    assert claims["aud"] == "https://abc.tunnel.example/client/hubs/console"


def test_verify_accepts_its_own_and_refuses_the_rest() -> None:
    clock = Clock()
    live = LocalLive(KEY, clock)
    token = token_of(LocalLivePublisher(live, "http://h:1", "console").client_access(
        "agent:a", ["supervisors"], 10).url)

    claims = live.verify(token, "console")
    assert claims is not None
    assert (claims.user_id, claims.groups) == ("agent:a", frozenset({"supervisors"}))
    assert live.verify(token, "other") is None  # another hub's path
    assert LocalLive(b"z" * 32, clock).verify(token, "console") is None  # another key
    assert live.verify(token[:-2] + "xx", "console") is None
    assert live.verify("not-a-jwt", "console") is None
    forged = jwt.encode({"aud": "http://h:1/client/hubs/console", "sub": "agent:a",
                         "exp": int(clock.now().timestamp()) + 60}, "", algorithm="none")
    assert live.verify(forged, "console") is None  # unsigned: only HS256 is ours
    clock.set_offset(11 * 60)  # the devhost's shifted clock decides expiry
    assert live.verify(token, "console") is None


def test_hints_reach_only_their_users_and_groups_of_the_hub() -> None:
    live = LocalLive(KEY, Clock())
    got: dict[str, list[str]] = {name: [] for name in ("ann", "bob", "sue", "elsewhere")}

    def connection(name: str, user: str, groups: frozenset[str] = frozenset(),
                   hub: str = "console") -> Connection:
        def send(text: str) -> bool:
            got[name].append(text)
            return True
        return Connection(hub, user, groups, send)

    ann, sue = connection("ann", "agent:ann"), connection("sue", "agent:sue",
                                                          frozenset({"supervisors"}))
    for each in (ann, sue, connection("bob", "agent:bob"),
                 connection("elsewhere", "agent:ann", hub="other")):
        live.connect(each)
    publisher = LocalLivePublisher(live, "http://h:1", "console")
    publisher.publish(Hint("conversation.offered", AT, "cv_1"), Audience.of(["agent:ann"]))
    publisher.publish(Hint("queue.updated", AT), Audience.of(groups=["supervisors"]))
    publisher.publish(Hint("message.created", AT, "cv_1"),
                      Audience.of(["agent:ann", "agent:sue"], ["supervisors"]))

    assert [json.loads(t) for t in got["ann"]] == [
        {"type": "conversation.offered", "conversation_id": "cv_1", "at": "2026-03-01T09:30:05Z"},
        {"type": "message.created", "conversation_id": "cv_1", "at": "2026-03-01T09:30:05Z"}]
    # Reached as a user and through a group, a connection still gets a hint once.
    assert [json.loads(t)["type"] for t in got["sue"]] == ["queue.updated", "message.created"]
    assert got["bob"] == got["elsewhere"] == []
    live.disconnect(ann)
    publisher.publish(Hint("conversation.updated", AT, "cv_1"), Audience.of(["agent:ann"]))
    assert len(got["ann"]) == 2


def test_the_key_is_made_once_private_and_shared_in_the_process(tmp_path: Path) -> None:
    clock = Clock()
    live = open_local_live(tmp_path, clock)
    assert open_local_live(tmp_path, clock) is live
    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = live.issue("http://h/client/hubs/console", "agent:a", [],
                       clock.now() + timedelta(minutes=1))
    # A restarted host (a new process: a new LocalLive on the same file) accepts it.
    assert LocalLive(key_file.read_bytes(), clock).verify(token, "console") is not None
    with pytest.raises(ValueError, match="another clock"):
        open_local_live(tmp_path, Clock())


def test_a_short_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_bytes(b"short")
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        open_local_live(tmp_path, Clock())
