"""Sans-I/O Connection over ws_parser_*."""

from __future__ import annotations

import os

import pytest

import libws
from libws import Close, Frame, Message, Ping, Pong


def pair(**kw):
    return libws.Connection(libws.CLIENT, **kw), libws.Connection(libws.SERVER, **kw)


def pump(a: libws.Connection, b: libws.Connection) -> list:
    b.receive_data(a.data_to_send())
    return list(b.events())


def test_messages_both_ways():
    c, s = pair()
    c.send("héllo")
    c.send(b"\x00\x01\x02")
    c.send(bytearray(b"ba"))
    c.send(memoryview(b"mv"))
    assert pump(c, s) == [Message("héllo"), Message(b"\x00\x01\x02"), Message(b"ba"), Message(b"mv")]
    assert Message("x").is_text and not Message(b"x").is_text
    s.send("reply")
    assert pump(s, c) == [Message("reply")]
    assert c.data_to_send() == b""


def test_client_frames_are_masked_server_frames_are_not():
    c, s = pair()
    c.send(b"abc")
    h = libws.parse_header(c.data_to_send())
    assert h.masked
    s.send(b"abc")
    out = s.data_to_send()
    assert out == b"\x82\x03abc"


def test_byte_by_byte_and_next_event():
    c, s = pair()
    payload = os.urandom(70000)
    c.send(payload)
    c.send("t")
    wire = c.data_to_send()
    got = []
    step = 997
    for i in range(0, len(wire), step):
        s.receive_data(wire[i : i + step])
        while True:
            ev = s.next_event()
            if ev is None:
                break
            got.append(ev)
    assert got == [Message(payload), Message("t")]
    assert s.next_event() is None


def test_fragments_joined_and_raw_frames():
    c = libws.Connection(libws.CLIENT)
    c.send_fragments(["a", "é", "c"])
    c.send_fragments([b"1", b"2"])
    c.ping(b"mid")
    wire = c.data_to_send()
    s = libws.Connection(libws.SERVER)
    s.receive_data(wire)
    assert list(s.events()) == [Message("aéc"), Message(b"12"), Ping(b"mid")]
    raw = libws.Connection(libws.SERVER, messages=False)
    raw.receive_data(wire)
    evs = list(raw.events())
    assert evs[0] == Frame(libws.OP_TEXT, False, b"a")
    assert evs[1] == Frame(libws.OP_CONTINUATION, False, "é".encode())
    assert evs[2] == Frame(libws.OP_CONTINUATION, True, b"c")
    assert evs[3:5] == [Frame(libws.OP_BINARY, False, b"1"), Frame(libws.OP_CONTINUATION, True, b"2")]
    assert evs[5] == Ping(b"mid")
    with pytest.raises(ValueError):
        c.send_fragments([])


def test_control_frames_between_fragments():
    c, s = pair()
    c.send_frame(libws.OP_TEXT, "he", fin=False)
    c.ping("p1")
    c.send_frame(libws.OP_CONTINUATION, "llo", fin=True)
    assert pump(c, s) == [Ping(b"p1"), Message("hello")]


def test_ping_auto_pong():
    c, s = pair()
    c.ping(b"abc")
    assert pump(c, s) == [Ping(b"abc")]
    assert pump(s, c) == [Pong(b"abc")]
    s.pong(b"unsolicited")
    assert pump(s, c) == [Pong(b"unsolicited")]


def test_auto_pong_off():
    c = libws.Connection(libws.CLIENT)
    s = libws.Connection(libws.SERVER, auto_pong=False)
    c.ping(b"x")
    assert pump(c, s) == [Ping(b"x")]
    assert s.data_to_send() == b""


def test_close_handshake():
    c, s = pair()
    assert c.close_code is None and c.close_reason == ""
    c.close(4000, "bye now")
    assert pump(c, s) == [Close(4000, "bye now")]
    assert (s.close_code, s.close_reason) == (4000, "bye now")
    # the automatic reply echoes the code
    assert pump(s, c) == [Close(4000, "")]
    assert c.close_code == 4000
    # nothing after Close; sending is refused
    assert list(s.events()) == []
    with pytest.raises(libws.ConnectionClosed) as e:
        s.send("late")
    assert e.value.status == libws.ECLOSED
    with pytest.raises(libws.ConnectionClosed):
        c.close()


def test_close_without_status_and_auto_close_off():
    c = libws.Connection(libws.CLIENT)
    s = libws.Connection(libws.SERVER, auto_close=False)
    c.close(0)
    assert pump(c, s) == [Close(1005, "")]
    assert s.data_to_send() == b""  # no automatic reply
    s.close(1000, "ok")
    assert pump(s, c) == [Close(1000, "ok")]


@pytest.mark.parametrize("code", [1005, 1006, 1015, 999, 2999, 5000])
def test_close_invalid_codes(code):
    c = libws.Connection(libws.CLIENT)
    with pytest.raises(libws.WebSocketError) as e:
        c.close(code)
    assert e.value.code == libws.EINVAL


def test_close_reason_rules():
    c = libws.Connection(libws.CLIENT)
    with pytest.raises(libws.WebSocketError):
        c.close(0, "reason without code")
    c.close(1000, "é" * 100)  # 200 bytes: cut to 123 at a character boundary
    s = libws.Connection(libws.SERVER)
    (ev,) = pump(c, s)
    assert ev.code == 1000 and ev.reason == "é" * 61


def test_invalid_opcode_and_control_size():
    c = libws.Connection(libws.CLIENT)
    with pytest.raises(libws.WebSocketError) as e:
        c.send_frame(libws.OP_CLOSE, b"")
    assert e.value.code == libws.EINVAL
    with pytest.raises(libws.WebSocketError):
        c.ping(b"x" * 126)
    with pytest.raises(libws.WebSocketError):
        c.send_frame(3, b"")


def test_protocol_error_unmasked_frame_to_server():
    s = libws.Connection(libws.SERVER)
    s.receive_data(libws.encode_frame(libws.OP_TEXT, b"ok", mask=True) + libws.encode_frame(libws.OP_TEXT, b"x"))
    it = s.events()
    assert next(it) == Message("ok")  # frames before the violation come first
    with pytest.raises(libws.ProtocolError) as e:
        next(it)
    assert e.value.code == libws.EPROTO and e.value.close_code == 1002
    out = s.data_to_send()
    h = libws.parse_header(out)
    assert h.opcode == libws.OP_CLOSE and out[h.size : h.size + 2] == (1002).to_bytes(2, "big")
    with pytest.raises(libws.ProtocolError):  # the error sticks
        list(s.events())


def test_protocol_error_invalid_utf8():
    s = libws.Connection(libws.SERVER)
    s.receive_data(libws.encode_frame(libws.OP_TEXT, b"\xff\xfe", mask=True))
    with pytest.raises(libws.ProtocolError) as e:
        list(s.events())
    assert e.value.code == libws.EUTF8 and e.value.close_code == 1007
    assert b"\x03\xef" in s.data_to_send()  # 1007


def test_protocol_error_too_big():
    c = libws.Connection(libws.CLIENT)
    s = libws.Connection(libws.SERVER, max_size=1000)
    c.send(b"x" * 1001)
    s.receive_data(c.data_to_send())
    with pytest.raises(libws.ProtocolError) as e:
        list(s.events())
    assert e.value.code == libws.ETOOBIG and e.value.close_code == 1009
    # fragments add up
    s2 = libws.Connection(libws.SERVER, max_size=1000)
    c = libws.Connection(libws.CLIENT)
    c.send_fragments([b"x" * 600, b"y" * 600])
    s2.receive_data(c.data_to_send())
    with pytest.raises(libws.ProtocolError):
        list(s2.events())
    # a frame limit
    s3 = libws.Connection(libws.SERVER, max_frame_size=10)
    c3 = libws.Connection(libws.CLIENT)
    c3.send_fragments([b"x" * 8, b"y" * 8])
    c3.send(b"z" * 11)
    s3.receive_data(c3.data_to_send())
    it = s3.events()
    assert next(it) == Message(b"x" * 8 + b"y" * 8)
    with pytest.raises(libws.ProtocolError):
        next(it)


def test_unlimited_size():
    c = libws.Connection(libws.CLIENT)
    s = libws.Connection(libws.SERVER, max_size=None)
    big = os.urandom(1 << 20)
    c.send(big)
    assert pump(c, s) == [Message(big)]
    with pytest.raises(ValueError):
        libws.Connection(libws.SERVER, max_size=0)


def test_bad_role_and_freed_handle():
    with pytest.raises(libws.WebSocketError) as e:
        libws.Connection(7)
    assert e.value.code == libws.EINVAL
    c = libws.Connection(libws.CLIENT)
    c.free()
    c.free()  # idempotent
    for call in (lambda: c.send("x"), lambda: c.receive_data(b"x"), lambda: list(c.events()),
                 lambda: c.data_to_send(), lambda: c.close(), lambda: c.close_code):
        with pytest.raises(libws.BadHandle) as e:
            call()
        assert e.value.code == libws.EBADHANDLE
    assert "freed" in repr(c)
    with libws.Connection(libws.SERVER) as s:
        assert "server" in repr(s)
    with pytest.raises(libws.BadHandle):
        s.send("x")


def test_receive_empty_and_types():
    s = libws.Connection(libws.SERVER)
    s.receive_data(b"")
    s.receive_data(bytearray(libws.encode_frame(libws.OP_BINARY, b"a", mask=True)))
    s.receive_data(memoryview(libws.encode_frame(libws.OP_BINARY, b"b", mask=True)))
    assert list(s.events()) == [Message(b"a"), Message(b"b")]


def test_many_messages_in_one_batch():
    c, s = pair()
    for i in range(500):
        c.send(str(i))
    assert [e.data for e in pump(c, s)] == [str(i) for i in range(500)]
