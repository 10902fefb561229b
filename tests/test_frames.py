"""What a broadcast encodes once for all its subscribers: JSON, protocol frames, text frames."""

from __future__ import annotations

import datetime
import json

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from django_asgi_ws.broadcast import Message
from django_asgi_ws.client_protocol import group_frame
from django_asgi_ws.frames import shared_json, text_frame


def parsed(frame: bytes) -> Frame:
    """The frame as websockets' client reads one from a server: unmasked."""
    reader = StreamReader()
    reader.feed_data(frame)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        assert not reader.buffer, "bytes left after the frame"
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the parser wanted more bytes than the frame has")


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_frame_holds_the_whole_text_whatever_its_length(length: int) -> None:
    text = "x" * length
    frame = parsed(text_frame(text))
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, text.encode())


def test_the_length_counts_bytes_of_utf8_not_characters() -> None:
    text = "café ☕" * 30  # 240 characters, 330 bytes: the 16-bit length form
    frame = text_frame(text)
    assert frame[1] == 126
    assert parsed(frame).data.decode() == text


def test_the_same_text_object_is_framed_once() -> None:
    text = "".join(["broad", "cast"])  # a str of its own
    assert text_frame(text) is text_frame(text)
    equal_but_another = "".join(["broad", "cast"])
    assert text_frame(equal_but_another) == text_frame(text)


def test_a_group_messages_json_is_encoded_once_for_all_its_subscribers() -> None:
    data = {"text": "hi", "when": datetime.date(2026, 12, 7)}
    first = shared_json(data)
    assert first == '{"text":"hi","when":"2026-12-07"}'
    assert shared_json(data) is first
    assert shared_json({"text": "another"}) == '{"text":"another"}'
    assert shared_json(None) == "null"
    assert shared_json(None) == "null"


def test_the_protocol_frame_of_the_same_data_differs_by_group_and_position() -> None:
    data = {"text": "hi"}
    first = group_frame(Message("a", data, "p1"))
    assert group_frame(Message("a", data, "p1")) is first
    assert json.loads(group_frame(Message("b", data, "p1")))["group"] == "b"
    assert json.loads(group_frame(Message("a", data, "p2")))["position"] == "p2"
    assert json.loads(group_frame(Message("a", {"text": "hi"}, "p1"))) == json.loads(first)
