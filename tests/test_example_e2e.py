"""The example project, served by runasgi on both servers: the demos a newcomer tries first.

The chat is driven here over real websockets, as its page (chat/static/chat/room.js)
speaks to it; test_example_browser_e2e.py drives the page itself in Chromium.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.cookiejar import Cookie
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.example_site import (
    DEMO_PASSWORD,
    Chat,
    RequestFailed,
    Visitor,
    copy_example,
    example_env,
)
from tests.live import LiveServer, runasgi

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example(tmp_path_factory.mktemp("example"))


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def example(request: pytest.FixtureRequest, project: Path) -> Iterator[LiveServer]:
    with runasgi(project, "127.0.0.1:0", "--server", request.param, env=example_env()) as live:
        yield live


def test_the_example_has_no_missing_migration(project: Path) -> None:
    check = [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"]
    result = subprocess.run(check, cwd=project, env=example_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def get(live: LiveServer, path: str) -> str:
    return Visitor(live).get(path)


def test_the_index_links_to_every_demo(example: LiveServer) -> None:
    page = get(example, "/")
    for demo in ("/ping/", "/echo/", "/counter/", "/rooms/"):
        assert f'href="{demo}"' in page


@pytest.mark.parametrize(("page", "socket"), [("/ping/", "/ws/ping/"), ("/echo/", "/ws/echo/")])
def test_each_page_opens_its_websocket_by_its_absolute_url(
    example: LiveServer, page: str, socket: str
) -> None:
    assert f'new WebSocket("{example.url}{socket}")' in get(example, page)


def test_ping_is_answered_with_pong(example: LiveServer) -> None:
    with connect(f"ws://{example.host}:{example.port}/ws/ping/") as ws:
        ws.send("ping")
        assert ws.recv(timeout=5) == "pong!"


def test_echo_sends_every_message_back(example: LiveServer) -> None:
    with connect(f"ws://{example.host}:{example.port}/ws/echo/") as ws:
        for text in ["hello", "world ✓"]:
            ws.send(text)
            assert ws.recv(timeout=5) == text


def test_the_json_counter_adds_up(example: LiveServer) -> None:
    with connect(f"ws://{example.host}:{example.port}/ws/counter/") as ws:
        ws.send(json.dumps({"increment": 3}))
        assert json.loads(ws.recv(timeout=5)) == {"count": 3}
        ws.send(json.dumps({"increment": 4}))
        assert json.loads(ws.recv(timeout=5)) == {"count": 7}


# The chat ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sessions() -> dict[str, Cookie]:
    """Each user's session cookie after their first login, for their next visits."""
    return {}


@pytest.fixture
def visitor(example: LiveServer, sessions: dict[str, Cookie]) -> Callable[[str], Visitor]:
    """A visitor logged in as the given user (the first time through the login form)."""

    def logged_in(username: str) -> Visitor:
        person = Visitor(example)
        if username in sessions:
            person.cookies.set_cookie(sessions[username])
        else:
            person.log_in(username)
            sessions[username] = person.cookie("sessionid")
        return person

    return logged_in


@contextmanager
def enter(person: Visitor, slug: str, since: str | None = None) -> Iterator[Chat]:
    """In a room, its two groups joined (from the room's position *since*, if given)."""
    query = f"?since=chat.room.{slug}:{since}" if since else ""
    with person.connect(f"/ws/rooms/{slug}/{query}") as ws:
        chat = Chat(ws)
        welcome = chat.next("welcome")
        assert set(welcome["groups"]) == {f"chat.room.{slug}", f"chat.typing.{slug}"}
        if since is None:
            assert welcome["recovered"] is None
        yield chat


def history(person: Visitor, slug: str, after: int | None = None) -> list:
    with enter(person, slug) as chat:
        return chat.history(after)


def texts(messages: list) -> list[str]:
    return [message["text"] for message in messages]


def test_the_home_page_gives_the_demo_accounts(example: LiveServer) -> None:
    page = get(example, "/")
    assert "<code>alice</code>" in page
    assert "<code>bob</code>" in page
    assert f"<code>{DEMO_PASSWORD}</code>" in page


def test_the_rooms_and_a_room_need_a_login(example: LiveServer) -> None:
    anonymous = Visitor(example)
    assert anonymous.landing("/rooms/") == "/accounts/login/?next=/rooms/"
    assert anonymous.landing("/rooms/lobby/") == "/accounts/login/?next=/rooms/lobby/"


def test_two_users_chat_in_a_room(visitor: Callable[[str], Visitor]) -> None:
    alice, bob = visitor("alice"), visitor("bob")
    slug = alice.create_room(f"Tea {uuid.uuid4().hex[:6]}")
    assert bob.get("/rooms/").count(f'href="/rooms/{slug}/"') == 1
    with enter(alice, slug) as alice_chat, enter(bob, slug) as bob_chat:
        assert alice_chat.history() == bob_chat.history() == []
        posted = alice_chat.post("Hi Bob!")
        seen_by_bob, seen_by_alice = bob_chat.message(), alice_chat.message()
        assert seen_by_bob == seen_by_alice == {**posted, "position": seen_by_bob["position"]}
        assert (seen_by_bob["type"], seen_by_bob["author"]) == ("message", "alice")
        assert seen_by_bob["text"] == "Hi Bob!"
        bob_chat.post("Hello Alice.")
        assert (alice_chat.message()["author"], bob_chat.message()["author"]) == ("bob", "bob")


def test_a_newcomer_gets_the_last_50_messages_oldest_first(
    visitor: Callable[[str], Visitor],
) -> None:
    alice = visitor("alice")
    slug = alice.create_room(f"Busy {uuid.uuid4().hex[:6]}")
    ids = []
    with enter(alice, slug) as chat:
        for number in range(55):
            ids.append(chat.post(f"message {number}")["id"])
    messages = history(visitor("bob"), slug)
    assert texts(messages) == [f"message {number}" for number in range(5, 55)]
    assert [message["id"] for message in messages] == ids[5:]


def test_a_reconnecting_page_gets_only_what_came_after_its_last_message(
    visitor: Callable[[str], Visitor],
) -> None:
    alice, bob = visitor("alice"), visitor("bob")
    slug = alice.create_room(f"Gap {uuid.uuid4().hex[:6]}")
    with enter(alice, slug) as chat:
        last_seen = chat.post("before the gap")["id"]
        chat.post("during the gap")
    assert texts(history(bob, slug, after=last_seen)) == ["during the gap"]


def test_a_page_back_with_its_last_position_gets_what_it_missed_from_the_group(
    visitor: Callable[[str], Visitor],
) -> None:
    alice, bob = visitor("alice"), visitor("bob")
    slug = alice.create_room(f"Resume {uuid.uuid4().hex[:6]}")
    with enter(bob, slug) as bob_chat:
        bob_chat.post("seen")
        seen = bob_chat.message()
    with enter(alice, slug) as alice_chat:
        for number in range(20):
            alice_chat.post(f"missed {number}")
    with enter(bob, slug, since=seen["position"]) as bob_chat:
        assert bob_chat.joined[f"chat.room.{slug}"]["recovered"] is True
        missed = [bob_chat.message() for _ in range(20)]
        assert texts(missed) == [f"missed {number}" for number in range(20)]
        assert [message["position"] for message in missed] == sorted(
            message["position"] for message in missed
        )


def test_a_position_the_room_cannot_continue_from_asks_the_page_to_resync_by_ids(
    visitor: Callable[[str], Visitor],
) -> None:
    alice = visitor("alice")
    slug = alice.create_room(f"Lost {uuid.uuid4().hex[:6]}")
    with enter(alice, slug) as chat:
        stored = chat.post("stored")
    unknown = "0123456789ab-0000000000000001"  # another incarnation: a restarted server's
    with enter(alice, slug, since=unknown) as chat:
        assert chat.joined[f"chat.room.{slug}"]["recovered"] is False
        assert texts(chat.history(after=stored["id"] - 1)) == ["stored"]


def test_who_is_online_is_given_on_arrival_and_whenever_it_changes(
    visitor: Callable[[str], Visitor],
) -> None:
    alice, bob = visitor("alice"), visitor("bob")
    slug = alice.create_room(f"Online {uuid.uuid4().hex[:6]}")
    with enter(alice, slug) as alice_chat:
        alice_chat.wait_online(["alice"])
        with enter(bob, slug) as bob_chat:
            assert bob_chat.online() == ["alice"]  # on arrival, before its own join
            bob_chat.wait_online(["alice", "bob"])
            alice_chat.wait_online(["alice", "bob"])
        alice_chat.wait_online(["alice"])


def test_typing_reaches_the_others_but_not_the_typist(visitor: Callable[[str], Visitor]) -> None:
    alice, bob = visitor("alice"), visitor("bob")
    with enter(alice, "lobby") as alice_chat, enter(bob, "lobby") as bob_chat:
        bob_chat.send_typing()
        assert alice_chat.typing() == {"type": "typing", "user": "bob"}
        bob_chat.post("done typing")
        assert bob_chat.message()["text"] == "done typing"
        assert alice_chat.message()["text"] == "done typing"
        # His own typing notice never came to Bob.
        groups = [frame.get("group", "") for frame in bob_chat.frames]
        assert not [group for group in groups if group.startswith("chat.typing.")]


def test_a_message_sent_again_with_its_client_id_is_stored_once(
    visitor: Callable[[str], Visitor],
) -> None:
    """What the page does after a reconnect with a message it saw no confirmation of."""
    alice, bob = visitor("alice"), visitor("bob")
    slug = alice.create_room(f"Retry {uuid.uuid4().hex[:6]}")
    client_id = str(uuid.uuid4())
    with enter(alice, slug) as alice_chat, enter(bob, slug) as bob_chat:
        first = alice_chat.post("only once", client_id)
        seen = bob_chat.message()
        assert {name: value for name, value in seen.items() if name != "position"} == first
        # Confirmed again by the reply, and not sent to the room a second time.
        assert alice_chat.post("only once", client_id) == first
        alice_chat.post("next")
        assert bob_chat.message()["text"] == "next"
    assert texts(history(bob, slug)) == ["only once", "next"]


def test_a_bad_post_is_answered_with_an_error(visitor: Callable[[str], Visitor]) -> None:
    with enter(visitor("alice"), "lobby") as chat:
        with pytest.raises(RequestFailed, match=r"A message is 1 to 1000 characters\."):
            chat.post("   ")
        with pytest.raises(RequestFailed, match=r"client_id must be a UUID\."):
            chat.post("hi", "not a uuid")
        with pytest.raises(RequestFailed, match=r"Unknown request 'dance'\."):
            chat.request({"type": "dance"})


def closing(person: Visitor, path: str) -> tuple[int, str]:
    """The close code and reason the server ends the websocket at *path* with, at once."""
    with person.connect(path) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_an_anonymous_visitor_is_closed_with_4401(example: LiveServer) -> None:
    assert closing(Visitor(example), "/ws/rooms/lobby/") == (4401, "Log in to chat.")


def test_the_session_cookie_of_a_user_who_logged_out_no_longer_opens_the_chat(
    example: LiveServer,
) -> None:
    alice = Visitor(example)
    alice.log_in("alice")  # a session of its own, not the one the other tests share
    history(alice, "lobby")  # the chat opens, until...
    session = alice.cookie("sessionid")
    alice.log_out()
    alice.cookies.set_cookie(session)  # as if copied before logging out
    assert closing(alice, "/ws/rooms/lobby/") == (4401, "Log in to chat.")


def test_an_unknown_room_is_closed_with_4404(visitor: Callable[[str], Visitor]) -> None:
    alice = visitor("alice")
    assert closing(alice, "/ws/rooms/no-such-room/") == (4404, "No such room.")


def test_a_page_of_another_site_cannot_open_the_chat(visitor: Callable[[str], Visitor]) -> None:
    """The origin check is on: a page elsewhere cannot use the visitor's session."""
    alice = visitor("alice")
    with (
        alice.connect("/ws/rooms/lobby/", "http://evil.example") as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=5)  # not even the room's groups
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "")


def test_a_new_user_signs_up_and_chats(example: LiveServer) -> None:
    carol = Visitor(example)
    username = f"carol{uuid.uuid4().hex[:6]}"
    password = "a long enough password 7"
    landed = carol.submit(
        "/accounts/signup/",
        {"username": username, "password1": password, "password2": password},
    )
    assert landed == "/rooms/"
    with enter(carol, "lobby") as chat:
        chat.post("hello, I am new")
        assert chat.message()["author"] == username


def test_a_signup_with_mismatched_passwords_is_shown_the_form_again(example: LiveServer) -> None:
    fields = {"username": "dave", "password1": "one password 123", "password2": "another 456"}
    assert Visitor(example).submit("/accounts/signup/", fields) == "/accounts/signup/"
    login = {"username": "dave", "password": "one password 123"}
    assert Visitor(example).submit("/accounts/login/", login) == "/accounts/login/"


def test_with_redis_the_servers_of_several_processes_share_the_rooms(project: Path) -> None:
    """REDIS_URL switches broadcast to Redis: a message crosses from uvicorn to daphne."""
    env = example_env(REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    with (
        runasgi(project, "127.0.0.1:0", "--server", "uvicorn", "--noreload", env=env) as first,
        runasgi(project, "127.0.0.1:0", "--server", "daphne", "--noreload", env=env) as second,
    ):
        alice, bob = Visitor(first), Visitor(second)
        alice.log_in("alice")
        bob.log_in("bob")
        slug = alice.create_room(f"Across {uuid.uuid4().hex[:6]}")
        with enter(alice, slug) as alice_chat, enter(bob, slug) as bob_chat:
            alice_chat.post("from uvicorn")
            assert bob_chat.message()["text"] == alice_chat.message()["text"] == "from uvicorn"
            bob_chat.send_typing()
            assert alice_chat.typing() == {"type": "typing", "user": "bob"}
