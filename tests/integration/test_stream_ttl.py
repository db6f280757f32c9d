"""stream_ttl: streams that go quiet are removed, after their last sink line, for good."""
import json

from conftest import MANUAL, Daemon, advance




def test_a_quiet_stream_goes_after_its_last_sink_line_and_stays_gone(tmp_path):
    sink = tmp_path / "sink.jsonl"
    extra = (f"[sink]\npath = {sink}\ninterval = 30s\n"
             f"[state]\npath = {tmp_path}/evald.state\n"
             '[stream "quiet"]\nstream_ttl = 20s\n')
    d = Daemon(tmp_path, args=MANUAL, extra=extra)
    try:
        with d.client() as c, d.client() as user:
            # A connection whose current stream is "quiet" (use, then compact records).
            user.send({"op": "use", "stream": "quiet"})
            user.send([1, 0.9])
            user.send([0, 0.2])
            assert user.request({"op": "snapshot", "id": 1})["n"] == 2
            c.request({"op": "observe", "stream": "busy", "label": 1, "score": 0.5, "id": 1})
            before = c.request({"op": "stats"})
            advance(c, 10)
            c.request({"op": "observe", "stream": "busy", "label": 0, "score": 0.5, "id": 2})
            advance(c, 15)  # T0 + 25: "quiet" has had nothing for 25 s
            reply = c.request({"op": "snapshot", "stream": "quiet"})
            assert reply["error"]["code"] == "unknown_stream"
            stats = c.request({"op": "stats"})
            assert stats["streams_expired"] == 1 and stats["streams"] == 1
            assert stats["state_bytes"] < before["state_bytes"]
            # Its last line came first: the partial interval holding its two records.
            lines = [json.loads(l) for l in sink.read_text().splitlines()]
            assert [(l["stream"], l.get("partial")) for l in lines] == [("quiet", True)]
            assert lines[0]["interval"]["n"] == 2
            # The connection that used it starts it anew, without its old records.
            user.send([1, 0.7])
            assert user.request({"op": "snapshot", "id": 2})["n"] == 1
        assert "event=stream_expired stream=\"quiet\" stream_ttl=20" in d.log_text()
    finally:
        assert d.stop() == 0
    # After a restart only what remained comes back.
    d = Daemon(tmp_path, args=MANUAL, extra=extra)
    try:
        with d.client() as c:
            names = [s["name"] for s in c.request({"op": "streams"})["streams"]]
            assert sorted(names) == ["busy", "quiet"]
            assert c.request({"op": "snapshot", "stream": "quiet"})["n"] == 1
    finally:
        assert d.stop() == 0


def test_a_restored_stream_keeps_its_quiet_time(tmp_path):
    extra = f"[state]\npath = {tmp_path}/evald.state\n[defaults]\n"
    d = Daemon(tmp_path, args=MANUAL, extra=extra)
    with d.client() as c:
        c.request({"op": "observe", "stream": "x", "label": 1, "score": 0.5, "id": 1})
    assert d.stop() == 0
    # Restarted with a ttl: the clock starts at T0 again, where x was last active.
    d = Daemon(tmp_path, args=MANUAL, defaults={"stream_ttl": "1m"},
               extra=f"[state]\npath = {tmp_path}/evald.state\n")
    try:
        with d.client() as c:
            advance(c, 30)
            assert c.request({"op": "snapshot", "stream": "x"})["n"] == 1
            advance(c, 31)
            assert c.request({"op": "snapshot", "stream": "x"})["error"]["code"] == \
                "unknown_stream"
    finally:
        assert d.stop() == 0
