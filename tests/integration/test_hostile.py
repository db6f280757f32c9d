"""Hostile input: each class of docs/limits.md gets a precise error, changes nothing,
and leaves a healthy daemon."""
import socket
import time

import msgpack
import pytest

from conftest import Daemon


def healthy(d):
    with d.client() as c:
        assert c.request({"op": "ping"})["ok"]
        return c.request({"op": "stats"})


def counted(d, stream="s"):
    with d.client() as c:
        reply = c.request({"op": "snapshot", "stream": stream})
    return reply["n"] if reply["ok"] else 0


VALID = b"".join(msgpack.packb(r) for r in (
    [1, 0.9],
    {"op": "observe", "stream": "s", "labels": [1, 0, 1], "scores": [0.8, 0.1, 0.6]},
    {"op": "observe", "stream": "s", "label": 0, "score": 0.3, "weight": 2},
    [0, 0.2, 1.5],
))
# Records each request adds to stream "s" (compact records go to "default").
ENDS = []
_u = msgpack.Unpacker()
_u.feed(VALID)
for _ in _u:
    ENDS.append(_u.tell())
GAINS = [0, 3, 2, 0]


def test_truncated_at_every_offset_counts_exactly_the_whole_requests(tmp_path):
    d = Daemon(tmp_path)
    try:
        expected = 0
        for cut in range(len(VALID) + 1):
            s = socket.create_connection(("127.0.0.1", d.port))
            s.sendall(VALID[:cut])
            s.close()  # the client hangs up mid-message
            expected += sum(g for end, g in zip(ENDS, GAINS) if end <= cut)
        deadline = time.monotonic() + 10
        while counted(d) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counted(d) == expected
        healthy(d)
    finally:
        assert d.stop() == 0


def test_garbage_at_every_offset_leaves_a_healthy_daemon(tmp_path):
    d = Daemon(tmp_path)
    try:
        for at in range(len(VALID)):
            data = VALID[:at] + b"\xc1" + VALID[at + 1:]
            with d.client() as c:
                c.send_raw(data)
                c.sock.shutdown(socket.SHUT_WR)
                codes = []
                while (r := c.recv()) is not None:
                    assert r["ok"] or r["error"]["message"], r
                    codes += [] if r["ok"] else [r["error"]["code"]]
            if at in [0] + ENDS[:-1]:  # the 0xc1 stands where a request begins
                assert codes and codes[-1] == "invalid_msgpack", (at, codes)
        # At most every record of every altered copy was counted, never more.
        assert counted(d) <= len(VALID) * sum(GAINS)
        healthy(d)
    finally:
        assert d.stop() == 0


WRONG_TYPES = [
    # (request, code): every field of every op with a value of the wrong type
    ({"op": 7}, "bad_request"),
    ({"op": "use", "stream": 5}, "bad_stream"),
    ({"op": "observe", "stream": ["s"], "label": 1, "score": 0.5}, "bad_stream"),
    ({"op": "observe", "label": [1], "score": 0.5}, "bad_label"),
    ({"op": "observe", "label": 1, "score": {"x": 1}}, "bad_score"),
    ({"op": "observe", "label": 1, "score": 0.5, "weight": "2"}, "bad_weight"),
    ({"op": "observe", "labels": 1, "scores": [0.5]}, "bad_request"),
    ({"op": "observe", "labels": [1], "scores": "0.5"}, "bad_request"),
    ({"op": "observe", "labels": [1], "scores": [0.5], "weights": 1}, "bad_request"),
    ({"op": "observe", "labels": [None], "scores": [0.5]}, "bad_label"),
    ({"op": "observe", "labels": [1], "scores": [b"x"]}, "bad_score"),
    ({"op": "observe", "labels": [1], "scores": [0.5], "weights": [True]}, "bad_weight"),
    ({"op": "snapshot", "stream": "s", "window": 30}, "bad_window"),
    ({"op": "snapshot", "stream": "s", "thresholds": [None]}, "bad_threshold"),
    ({"op": "snapshot", "stream": "s", "curve": "yes"}, "bad_request"),
    ({"op": "reset", "stream": 1.5}, "bad_stream"),
    ({"op": "ping", "id": {"a": 1}}, "bad_request"),
    ({"op": "advance_clock", "seconds": "5"}, "bad_request"),
]

VALUES = [
    ({"op": "observe", "label": 1, "score": float("nan")}, "bad_score"),
    ({"op": "observe", "label": 1, "score": float("inf")}, "bad_score"),
    ({"op": "observe", "label": 1, "score": float("-inf")}, "bad_score"),
    ({"op": "observe", "label": 1, "score": 0.5, "weight": 1e13}, "bad_weight"),
    ({"op": "observe", "label": 1, "score": 0.5, "weight": 5e-324 * 0}, "bad_weight"),
    ({"op": "observe", "label": 2, "score": 0.5}, "bad_label"),
    ({"op": "observe", "label": -1, "score": 0.5}, "bad_label"),
    ({"op": "observe", "label": 0.5, "score": 0.5}, "bad_label"),
    ({"op": "observe", "label": "1", "score": 0.5}, "bad_label"),
    ({"op": "use", "stream": "a\x00b"}, "bad_stream"),
    ({"op": "use", "stream": "a\nb"}, "bad_stream"),
    ({}, "bad_request"),
    ([], "bad_request"),
    ("", "bad_request"),
    (None, "bad_request"),
]


@pytest.mark.parametrize("request_,code", WRONG_TYPES + VALUES)
def test_wrong_types_and_values_get_their_code_and_change_nothing(daemon, request_, code):
    with daemon.client() as c:
        assert c.request({"op": "observe", "stream": "s", "label": 1, "score": 0.5, "id": 0})["ok"]
        before = c.request({"op": "streams"})
        if isinstance(request_, dict) and "id" not in request_:
            request_ = {**request_, "id": 5}
        c.send(request_)
        reply = c.recv()
        assert reply["error"]["code"] == code, reply
        assert c.request({"op": "streams"}) == before
    healthy(daemon)


def test_extreme_but_valid_values_are_accepted(daemon):
    with daemon.client() as c:
        for score in (5e-324, -5e-324, 1e308, -1e308):
            assert c.request({"op": "observe", "stream": "x", "label": 1, "score": score,
                              "id": 1})["ok"]
        assert c.request({"op": "observe", "stream": "x", "label": 0, "score": 0.5,
                          "weight": 1e12, "id": 2})["ok"]
        snap = c.request({"op": "snapshot", "stream": "x"})
        assert snap["n"] == 4 + 1e12 and snap["out_of_range"] == 3


def test_maps_with_duplicate_or_a_thousand_unknown_keys(daemon):
    with daemon.client() as c:
        dup = b"\x83" + msgpack.packb("op") + msgpack.packb("use") + msgpack.packb("stream") + \
            msgpack.packb("a") + msgpack.packb("stream") + msgpack.packb("b")
        c.send_raw(dup)
        reply = c.recv()
        assert reply["error"]["code"] == "bad_request" and "twice" in reply["error"]["message"]
        many = {"op": "ping", **{f"k{i}": i for i in range(1000)}}
        reply = c.request(many)
        assert reply["error"]["code"] == "bad_request" and "takes no field" in reply["error"]["message"]
        deep = b"\x91" * 40 + b"\xc0"
        c.send_raw(deep)
        assert "nested" in c.recv()["error"]["message"]
        assert c.request({"op": "ping"})["ok"]


def test_a_batch_over_max_batch_is_refused(start_daemon):
    d = start_daemon(server={"max_batch": 100})
    with d.client() as c:
        reply = c.request({"op": "observe", "stream": "s", "labels": [1] * 101, "scores": [0.5] * 101})
        assert reply["error"]["code"] == "bad_request" and "max_batch" in reply["error"]["message"]
        assert c.request({"op": "observe", "stream": "s", "labels": [1] * 100,
                          "scores": [0.5] * 100, "id": 1})["accepted"] == 100
    assert d.stop() == 0


def test_a_client_that_never_reads_is_bounded(start_daemon):
    d = start_daemon(server={"max_output_bytes": 65536})
    with d.client() as c:
        c.send({"op": "observe", "stream": "big", "labels": [1, 0] * 500,
                "scores": [i / 1000 for i in range(1000)]})
    hog = socket.create_connection(("127.0.0.1", d.port))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.settimeout(5)
    request = msgpack.packb({"op": "snapshot", "stream": "big", "curve": True})
    errors = msgpack.packb({"op": "nonsense"}) * 50
    closed = False
    for _ in range(2000):  # bounded
        try:
            hog.sendall(request * 20 + errors)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            closed = True
            break
    # What was read is served a turn at a time, so the drop may come after the last send.
    for _ in range(200):  # bounded: 10 s
        stats = healthy(d)
        if stats["slow_clients_dropped"] >= 1:
            break
        time.sleep(0.05)
    assert closed or stats["slow_clients_dropped"] >= 1
    assert stats["slow_clients_dropped"] >= 1 or stats["errors_unsent"] > 0
    hog.close()
    assert d.stop() == 0


def test_two_thousand_connections_over_the_cap(start_daemon):
    d = start_daemon(server={"max_connections": 5})
    held = [d.client() for _ in range(5)]  # the cap is full
    try:
        for c in held:
            assert c.request({"op": "ping"})["ok"]
        refused = 0
        for _ in range(2000):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            s.close()
            refused += b"too_many_connections" in data
        assert refused == 2000
        assert all(c.request({"op": "ping"})["ok"] for c in held)
    finally:
        for c in held:
            c.close()
    for _ in range(100):  # bounded: until evald has seen the five close
        try:
            stats = healthy(d)
            break
        except (AssertionError, TypeError, KeyError, ConnectionError):
            time.sleep(0.05)
    assert stats["errors"]["too_many_connections"] >= 2000
    assert d.stop() == 0


def test_idle_connections_are_closed(start_daemon):
    d = start_daemon(server={"idle_timeout": "1s"})
    with d.client() as idle:
        idle.sock.settimeout(10)
        assert idle.recv() is None  # closed by the daemon within a couple of seconds
    assert healthy(d)["idle_closed"] >= 1
    assert d.stop() == 0
