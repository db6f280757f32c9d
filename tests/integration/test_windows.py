"""Sliding windows and the periodic sink, on a manual clock: nothing sleeps for time to pass."""
import json
import os
import signal
import time
import urllib.request

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from conftest import MANUAL, T0, advance




def batch(rng, n):
    y = (rng.random(n) < 0.4).astype(int)
    s = np.round(rng.beta(2 + 2 * y, 2 + 2 * (1 - y)), 3)  # on the default edges: exact
    return y, s


def observe(c, stream, y, s):
    reply = c.request({"op": "observe", "stream": stream, "labels": [int(v) for v in y],
                       "scores": [float(v) for v in s], "id": 1})
    assert reply["accepted"] == len(y)


def test_window_snapshots_match_sklearn_on_their_interval(start_daemon):
    d = start_daemon(defaults={"window_slot": "10s", "window_max": "1m"}, args=MANUAL)
    rng = np.random.default_rng(3)
    with d.client() as c:
        assert advance(c, 0) == T0
        sent = []  # (arrival time, labels, scores)
        for k in range(8):  # one batch in each of eight slots: T0 .. T0 + 70
            y, s = batch(rng, 400)
            observe(c, "m", y, s)
            sent.append((T0 + 10 * k, y, s))
            advance(c, 10)
        now = advance(c, 0)
        assert now == T0 + 80
        snap = c.request({"op": "snapshot", "stream": "m", "window": "30s"})
        # The last three whole slots (50, 60, 70) and the current partial one (80).
        assert (snap["window"], snap["from"], snap["to"]) == ("30s", T0 + 50, T0 + 80)
        y = np.concatenate([b[1] for b in sent if b[0] >= T0 + 50])
        s = np.concatenate([b[2] for b in sent if b[0] >= T0 + 50])
        assert snap["n"] == len(y) == 1200
        assert snap["average_precision"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
        assert snap["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        total = c.request({"op": "snapshot", "stream": "m"})
        assert (total["window"], total["from"], total["to"]) == ("total", T0, T0 + 80)
        assert total["n"] == 8 * 400
        # The longest window reaches back to T0 + 20: the first two slots have expired.
        full = c.request({"op": "snapshot", "stream": "m", "window": "1m"})
        assert full["from"] == T0 + 20 and full["n"] == 6 * 400


def test_bad_windows_say_what_is_allowed(start_daemon):
    d = start_daemon(defaults={"window_slot": "10s", "window_max": "1h"},
                     extra='[stream "nowin"]\nwindow_max = 0\n', args=MANUAL)
    with d.client() as c:
        c.send({"op": "observe", "stream": "w", "label": 1, "score": 0.5})
        c.send({"op": "observe", "stream": "nowin", "label": 1, "score": 0.5})
        for window in ("15s", "2h", "forever", "10", "0s"):
            reply = c.request({"op": "snapshot", "stream": "w", "window": window})
            assert reply["error"]["code"] == "bad_window", window
            assert "multiple of 10s" in reply["error"]["message"]
        reply = c.request({"op": "snapshot", "stream": "nowin", "window": "10s"})
        assert reply["error"]["code"] == "bad_window" and "window_max = 0" in reply["error"]["message"]
        assert c.request({"op": "snapshot", "stream": "nowin"})["n"] == 1
        assert c.request({"op": "snapshot", "stream": "w", "window": "1h"})["n"] == 1


def test_idle_streams_free_their_slots(start_daemon):
    d = start_daemon(defaults={"window_slot": "10s", "window_max": "1m"}, args=MANUAL)
    with d.client() as c:
        c.send({"op": "observe", "stream": "idle", "label": 1, "score": 0.5})
        base = c.request({"op": "stats"})["state_bytes"]
        for _ in range(5):
            c.send({"op": "observe", "stream": "idle", "label": 0, "score": 0.2})
            advance(c, 10)
        busy = c.request({"op": "stats"})["state_bytes"]
        # Four more slots of one record each: logs of records, not 1000 bins of cells.
        assert base < busy < base + 4 * 1000 * 48 // 10
        advance(c, 120)
        idle = c.request({"op": "stats"})["state_bytes"]
        assert idle < base  # even the first slot is gone; the total stays
        assert c.request({"op": "snapshot", "stream": "idle"})["n"] == 6


def read_lines(path):
    if not os.path.exists(path):
        return []
    text = open(path).read()
    assert text == "" or text.endswith("\n")  # never a half line
    return [json.loads(line) for line in text.splitlines()]


def test_sink_writes_a_line_per_active_stream_and_interval(start_daemon, tmp_path):
    path = tmp_path / "sink.jsonl"
    d = start_daemon(defaults={"window_slot": "10s", "window_max": "5m"}, args=MANUAL,
                     extra=f"[sink]\npath = {path}\ninterval = 30s\nstreams = model-*\n")
    rng = np.random.default_rng(9)
    with d.client() as c:
        advance(c, 0)
        sent = {}
        for k in range(9):  # a batch every 10 s for 90 s: intervals [0,30) [30,60) [60,90)
            y, s = batch(rng, 200)
            observe(c, "model-a", y, s)
            observe(c, "other", y, s)  # not matched by the streams pattern
            sent.setdefault(k // 3, []).append((y, s))
            if k == 4:
                y2, s2 = batch(rng, 50)
                observe(c, "model-b", y2, s2)  # active in one interval only
            advance(c, 10)
        lines = read_lines(path)
        assert [(l["stream"], l["from"] - T0, l["to"] - T0) for l in lines] == [
            ("model-a", 0, 30), ("model-a", 30, 60), ("model-b", 30, 60), ("model-a", 60, 90)]
        for line in (l for l in lines if l["stream"] == "model-a"):
            k = int((line["from"] - T0) // 30)
            y = np.concatenate([b[0] for b in sent[k]])
            s = np.concatenate([b[1] for b in sent[k]])
            assert line["interval"]["n"] == len(y)
            assert line["interval"]["average_precision"] == pytest.approx(
                average_precision_score(y, s), abs=1e-12)
            assert line["interval"]["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
            assert line["total"]["n"] == 600 * (k + 1)
            row = line["interval"]["thresholds"][0]
            assert row["threshold"] == 0.5 and row["exact"]
            assert row["tp"] == int(((s >= 0.5) & (y == 1)).sum())
            assert "partial" not in line and line["late"] == 0
        assert c.request({"op": "stats"})["sink_lines"] == 4


def test_sighup_reopens_the_sink_and_shutdown_writes_the_partial_interval(start_daemon, tmp_path):
    path = tmp_path / "sink.jsonl"
    d = start_daemon(defaults={"window_slot": "10s"}, args=MANUAL,
                     extra=f"[sink]\npath = {path}\ninterval = 20s\nthresholds = 0.3,0.7\n")
    with d.client() as c:
        advance(c, 0)
        observe(c, "s", [1, 0], [0.8, 0.2])
        advance(c, 20)
        assert len(read_lines(path)) == 1
        os.rename(path, str(path) + ".1")  # what logrotate does
        d.proc.send_signal(signal.SIGHUP)
        for _ in range(200):  # bounded: the signal is handled within a loop iteration
            if "sink_reopened" in d.log_text():
                break
            time.sleep(0.01)
        assert "sink_reopened" in d.log_text()
        observe(c, "s", [1, 1, 0], [0.9, 0.6, 0.4])
        advance(c, 20)
        observe(c, "s", [0], [0.75])  # the partial interval [T0 + 40, stop)
        advance(c, 5)
    assert [l["from"] - T0 for l in read_lines(str(path) + ".1")] == [0]
    assert d.stop() == 0
    lines = read_lines(path)
    assert [(l["from"] - T0, l.get("partial", False)) for l in lines] == [(20, False), (40, True)]
    last = lines[-1]
    assert last["to"] == T0 + 45 and last["interval"]["n"] == 1 and last["total"]["n"] == 6
    # [sink] thresholds replace the stream's own in the lines.
    assert [r["threshold"] for r in last["interval"]["thresholds"]] == [0.3, 0.7]
    assert last["interval"]["thresholds"][1]["fp"] == 1


def test_advance_clock_needs_a_manual_clock(daemon):
    with daemon.client() as c:
        reply = c.request({"op": "advance_clock", "seconds": 5})
        assert reply["error"]["code"] == "unknown_op" and "--clock manual" in reply["error"]["message"]


def test_a_failing_sink_is_counted_and_the_daemon_keeps_running(start_daemon):
    # /dev/full accepts the open and fails every write with ENOSPC.
    d = start_daemon(args=MANUAL, extra="[sink]\npath = /dev/full\ninterval = 10s\n")
    with d.client() as c:
        observe(c, "s", [1, 0], [0.9, 0.1])
        advance(c, 30)
        stats = c.request({"op": "stats"})
        assert stats["sink_write_errors"] >= 1 and stats["sink_lines"] == 0
        observe(c, "s", [1], [0.7])
        assert c.request({"op": "snapshot", "stream": "s"})["n"] == 3
    assert "sink_write_failed" in d.log_text()
    assert d.stop() == 0


def test_event_times_put_records_in_the_windows_of_their_time(start_daemon, tmp_path):
    """Records sent now with their own times: each window matches sklearn on the records whose
    time falls in it, older ones count in the total only (late), and a time too far ahead,
    negative or NaN refuses the whole batch."""
    d = start_daemon(defaults={"window_slot": "10s", "window_max": "10m"},
                     server={"max_clock_skew": "30s"}, args=MANUAL)
    rng = np.random.default_rng(11)
    with d.client() as c:
        now = advance(c, 3600)  # T0 + 1h: the ring holds [now - 10m, now]
        y, s = batch(rng, 6000)
        t = now - rng.random(6000) * 1200 + 20  # from 20 min ago to 20 s ahead
        reply = c.request({"op": "observe", "stream": "m", "labels": [int(v) for v in y],
                           "scores": [float(v) for v in s], "times": [float(v) for v in t],
                           "id": 1})
        assert reply["accepted"] == 6000
        late = t < now - 600
        for window in ("10s", "1m", "5m", "10m"):
            snap = c.request({"op": "snapshot", "stream": "m", "window": window})
            inside = (np.minimum(t, now) >= snap["from"]) & ~late  # ahead: the current slot
            assert snap["n"] == inside.sum() and snap["late"] == late.sum()
            assert snap["average_precision"] == pytest.approx(
                average_precision_score(y[inside], s[inside]), abs=1e-12)
            assert snap["roc_auc"] == pytest.approx(roc_auc_score(y[inside], s[inside]), abs=1e-12)
        total = c.request({"op": "snapshot", "stream": "m"})
        assert total["n"] == 6000 and total["late"] == late.sum()
        assert total["average_precision"] == pytest.approx(average_precision_score(y, s), abs=1e-12)

        for bad, index, what in ((now + 31, 1, "ahead of evald's clock"), (-1.0, 1, "time must be"),
                                 (float("nan"), 1, "time must be")):
            reply = c.request({"op": "observe", "stream": "m", "labels": [1, 0],
                               "scores": [0.5, 0.5], "times": [now, bad], "id": 2})
            assert reply["error"]["code"] == "bad_time" and reply["error"]["index"] == index
            assert what in reply["error"]["message"]
        one = c.request({"op": "observe", "stream": "m", "label": 1, "score": 0.5,
                         "time": now + 29, "id": 3})
        assert one["accepted"] == 1
        stats = c.request({"op": "stats"})
        assert stats["records_late"] == late.sum()
        assert stats["records_rejected"]["bad_time"] == 6
        assert c.request({"op": "snapshot", "stream": "m"})["n"] == 6001  # nothing of the bad ones
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}/metrics", timeout=30).read()
    assert f'evald_late_records_total{{stream="m"}} {late.sum()}\n'.encode() in metrics
    assert d.stop() == 0
