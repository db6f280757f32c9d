"""Delayed labels: predictions now, labels later, joined by id, on a manual clock.

Every figure is checked against scikit-learn on the pairs that joined, or
against counts made here from what was sent.
"""
import json
import os
import time
import urllib.request

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from conftest import MANUAL, T0, Daemon, advance




def predict(c, stream, ids, scores, **extra):
    req = {"op": "predict", "stream": stream, "ids": list(ids),
           "scores": [float(s) for s in scores], "id": "p"}
    req.update(extra)
    reply = c.request(req)
    assert reply["ok"], reply
    return reply


def label(c, stream, ids, labels):
    reply = c.request({"op": "label", "stream": stream, "ids": list(ids),
                       "labels": [int(v) for v in labels]})
    assert reply["ok"], reply
    return reply


def scores_on_edges(rng, y):
    """Scores on the default 1000-bin edges, so that the binned figures are exact."""
    return np.round(rng.beta(2 + 2 * y, 2 + 2 * (1 - y)), 3)


def assert_matches_sklearn(snap, y, s):
    assert snap["n"] == len(y)
    assert snap["positives"] == int(np.sum(y))
    assert snap["average_precision"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert snap["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_random_label_delays_join_into_what_sklearn_computes(start_daemon):
    d = start_daemon(defaults={"window_slot": "10s", "window_max": "1h", "label_ttl": "1h"},
                     args=MANUAL)
    rng = np.random.default_rng(11)
    n = 3000
    y = (rng.random(n) < 0.3).astype(int)
    s = scores_on_edges(rng, y)
    delay = rng.integers(0, 1800, n)  # seconds from prediction to label
    labelled = rng.random(n) < 0.8     # the rest never get a label
    with d.client() as c:
        advance(c, 0)
        # Predictions in ten batches 10 s apart; labels come when their delay is over.
        pred_time = np.repeat(np.arange(10) * 10.0, n // 10)
        for k in range(10):
            idx = np.arange(k * n // 10, (k + 1) * n // 10)
            r = predict(c, "m", [int(i) for i in idx], s[idx])
            assert (r["accepted"], r["duplicates"]) == (len(idx), 0)
            advance(c, 10)
        # Now at T0 + 100. Every 100 s, the labels whose time has come are sent.
        due = pred_time + delay
        arrival = np.maximum(100, np.floor(due / 100) * 100 + 100)
        for t in range(100, 2000, 100):
            idx = np.nonzero(labelled & (arrival == t))[0]
            if len(idx):
                r = label(c, "m", [int(i) for i in idx], y[idx])
                assert (r["matched"], r["waiting"]) == (len(idx), 0)
            advance(c, 100)
        snap = c.request({"op": "snapshot", "stream": "m"})
        joined = labelled  # every label came within label_ttl (1800 s < 1 h)
        assert_matches_sklearn(snap, y[joined], s[joined])
        lab = snap["labels"]
        assert lab["predictions"] == n
        assert lab["matched"] == int(joined.sum())
        assert lab["pending"] == n - int(joined.sum())
        assert lab["expired"] == lab["evicted"] == lab["unmatched_labels"] == 0
        assert lab["coverage"] == 1.0  # resolved predictions were all labelled
        # Delays: each quantile is at least the true one and less than 2^(1/4) times it.
        d_true = (arrival - pred_time)[joined]
        for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
            want = float(np.quantile(d_true, q, method="inverted_cdf"))
            assert want <= lab["delay"][key] < want * 2 ** 0.25 + 1e-9, (key, lab["delay"], want)
        assert lab["delay"]["max"] == d_true.max()
        # Past label_ttl, the rest expire: coverage is then the labelled share.
        advance(c, 3600)
        lab = c.request({"op": "snapshot", "stream": "m"})["labels"]
        assert lab["expired"] == n - int(joined.sum()) and lab["pending"] == 0
        assert lab["coverage"] == pytest.approx(joined.sum() / n, abs=1e-15)


def test_labels_may_come_first_and_wait_for_their_prediction(start_daemon):
    d = start_daemon(defaults={"label_wait": "5m"}, args=MANUAL)
    with d.client() as c:
        advance(c, 0)
        r = label(c, "m", ["a", "b", "c"], [1, 0, 1])
        assert (r["matched"], r["waiting"], r["duplicates"]) == (0, 3, 0)
        advance(c, 200)  # within label_wait: "a" and "b" join when their predictions come
        r = predict(c, "m", ["a", "b"], [0.9, 0.2])
        assert r["accepted"] == 2
        # A label for an id whose label waits is a duplicate; the first stands.
        r = label(c, "m", ["c"], [0])
        assert (r["matched"], r["waiting"], r["duplicates"]) == (0, 0, 1)
        advance(c, 101 + 2)  # past label_wait (and the slice it ends in): "c" gives up
        r = predict(c, "m", ["c"], [0.7])
        snap = c.request({"op": "snapshot", "stream": "m"})
        lab = snap["labels"]
        assert (lab["matched"], lab["unmatched_labels"], lab["duplicate_labels"]) == (2, 1, 1)
        assert (lab["pending"], lab["waiting_labels"]) == (1, 0)
        assert snap["n"] == 2 and snap["positives"] == 1
        # The label that came first joined with a delay of 0: its prediction's time is later.
        assert lab["delay"]["max"] == 0


@pytest.mark.parametrize("on_expiry", ["drop", "negative", "positive"])
def test_expiry_counts_as_on_expiry_says(start_daemon, on_expiry):
    d = start_daemon(defaults={"label_ttl": "10m", "on_expiry": on_expiry}, args=MANUAL)
    rng = np.random.default_rng(5)
    n = 500
    y = (rng.random(n) < 0.5).astype(int)
    s = scores_on_edges(rng, y)
    with d.client() as c:
        advance(c, 0)
        predict(c, "m", range(n), s)
        label(c, "m", range(0, n, 2), y[0::2])  # half are labelled, half never are
        advance(c, 600 + 10)  # past label_ttl and the slice it ends in
        snap = c.request({"op": "snapshot", "stream": "m"})
        lab = snap["labels"]
        assert (lab["matched"], lab["expired"], lab["pending"]) == (250, 250, 0)
        yy, ss = list(y[0::2]), list(s[0::2])
        if on_expiry != "drop":
            yy += [int(on_expiry == "positive")] * 250
            ss += list(s[1::2])
        assert_matches_sklearn(snap, np.array(yy), np.array(ss))
        assert lab["coverage"] == 0.5
        # A prediction older than label_ttl when it comes expires at once.
        predict(c, "m", ["old"], [0.5], times=[T0 + 610 - 700])
        lab = c.request({"op": "snapshot", "stream": "m"})["labels"]
        assert lab["expired"] == 251 and lab["pending"] == 0


def test_duplicate_predictions_keep_the_first(start_daemon):
    d = start_daemon(args=MANUAL)
    with d.client() as c:
        advance(c, 0)
        r = predict(c, "m", [1, 2, 3], [0.1, 0.2, 0.3])
        assert (r["accepted"], r["duplicates"]) == (3, 0)
        r = predict(c, "m", [2, 3, 4], [0.9, 0.9, 0.4])  # a retry, and one new
        assert (r["accepted"], r["duplicates"]) == (1, 2)
        label(c, "m", [1, 2, 3, 4], [0, 1, 1, 0])
        snap = c.request({"op": "snapshot", "stream": "m"})
        assert_matches_sklearn(snap, np.array([0, 1, 1, 0]), np.array([0.1, 0.2, 0.3, 0.4]))
        lab = snap["labels"]
        assert (lab["predictions"], lab["duplicate_predictions"], lab["matched"]) == (4, 2, 4)


def test_eviction_makes_room_under_max_pending(start_daemon):
    d = start_daemon(defaults={"max_pending": "100"}, args=MANUAL)
    with d.client() as c:
        advance(c, 0)
        for k in range(3):  # 300 predictions, 100 per second: the oldest 200 go
            predict(c, "m", range(100 * k, 100 * k + 100), [0.5] * 100)
            advance(c, 1)
        r = label(c, "m", [0, 250], [1, 1])  # 0 was evicted: its label waits in vain
        assert (r["matched"], r["waiting"]) == (1, 1)
        lab = c.request({"op": "snapshot", "stream": "m"})["labels"]
        # The waiting label took a place too, evicting one more prediction.
        assert lab["predictions"] == 300 and lab["matched"] == 1
        assert lab["evicted"] == 201 and lab["pending"] == 98 and lab["waiting_labels"] == 1
        assert lab["coverage"] == pytest.approx(1 / 202)
        stats = c.request({"op": "stats"})
        assert stats["labels"]["evicted"] == 201 and stats["labels"]["pending"] == 98
    assert "labels_evicted" in d.log_text()


def test_windows_count_pairs_at_their_prediction_time(start_daemon):
    d = start_daemon(defaults={"window_slot": "10s", "window_max": "1m"}, args=MANUAL)
    rng = np.random.default_rng(8)
    with d.client() as c:
        advance(c, 0)
        y1, y2 = (rng.random(300) < 0.4).astype(int), (rng.random(300) < 0.4).astype(int)
        s1, s2 = scores_on_edges(rng, y1), scores_on_edges(rng, y2)
        predict(c, "m", range(300), s1)              # in slot T0
        advance(c, 30)
        predict(c, "m", range(300, 600), s2)         # in slot T0 + 30
        advance(c, 15)                               # T0 + 45
        label(c, "m", range(600), np.concatenate([y1, y2]))
        # The last 10 s window covers [T0 + 30, T0 + 50): the second batch only, joined later.
        w = c.request({"op": "snapshot", "stream": "m", "window": "10s"})
        assert w["from"] == T0 + 30
        assert_matches_sklearn(w, y2, s2)
        assert w["labels"]["predictions"] == 300 and w["labels"]["matched"] == 300
        assert w["labels"]["pending"] == 0
        whole = c.request({"op": "snapshot", "stream": "m", "window": "1m"})
        assert_matches_sklearn(whole, np.concatenate([y1, y2]), np.concatenate([s1, s2]))
        # The class-free histogram of predictions comes with the curve.
        h = c.request({"op": "snapshot", "stream": "m", "window": "10s", "curve": True})
        hist = h["labels"]["score_histogram"]
        want, _ = np.histogram(s2, bins=np.array(hist["edges"]))
        # numpy closes the last bin on the right, as evald's last bin holds 1.0.
        assert hist["weights"] == [int(v) for v in want]


def test_event_times_place_predictions_and_refuse_bad_ones(start_daemon):
    d = start_daemon(defaults={"window_slot": "10s", "window_max": "1m"}, args=MANUAL)
    with d.client() as c:
        advance(c, 600)
        now = T0 + 600
        r = predict(c, "m", [1, 2], [0.3, 0.6], times=[now - 3600, now - 5])
        assert r["accepted"] == 2
        lab = c.request({"op": "snapshot", "stream": "m"})["labels"]
        assert lab["late"] == 1  # older than the windows: in the total only
        w = c.request({"op": "snapshot", "stream": "m", "window": "1m"})["labels"]
        assert (w["predictions"], w["late"]) == (1, 0)
        for bad in ([now + 120, now], [float("nan"), now], [-1.0, now]):
            reply = c.request({"op": "predict", "stream": "m", "ids": [7, 8], "scores": [0.1, 0.2],
                               "times": bad})
            assert reply["error"]["code"] == "bad_time" and reply["error"]["index"] == 0, reply
        assert c.request({"op": "snapshot", "stream": "m"})["labels"]["predictions"] == 2


@pytest.mark.parametrize("bad,got", [
    ("x" * 129, "a string of 129 bytes"),
    (b"\x00\x01", "binary data"),
    (None, "nil"),
    (1.5, "1.5"),
    ({"a": 1}, "a map"),
    (-3, "-3"),
    ("", "a string of 0 bytes"),
])
def test_hostile_ids_refuse_the_whole_batch(start_daemon, bad, got):
    d = start_daemon(args=MANUAL)
    with d.client() as c:
        for op, col in (("predict", "scores"), ("label", "labels")):
            reply = c.request({"op": op, "stream": "m", "ids": [1, bad, 3], col: [0, 1, 0],
                               "id": "r"})
            assert reply["error"]["code"] == "bad_id", reply
            assert reply["error"]["index"] == 1
            assert got in reply["error"]["message"]
        # The single form, where the request's id is the record's.
        reply = c.request({"op": "predict", "stream": "m", "id": bad, "score": 0.5})
        assert reply["error"]["code"] == "bad_id", reply
        # Nothing of the refused batches was applied.
        r = c.request({"op": "predict", "stream": "m", "id": 1, "score": 0.5})
        assert (r["accepted"], r["duplicates"]) == (1, 0)
        lab = c.request({"op": "snapshot", "stream": "m"})["labels"]
        assert (lab["predictions"], lab["waiting_labels"]) == (1, 0)


def test_ids_of_128_bytes_and_integers_are_distinct_from_their_strings(start_daemon):
    d = start_daemon(args=MANUAL)
    with d.client() as c:
        long_a, long_b = "a" * 127 + "1", "a" * 127 + "2"
        r = predict(c, "m", [5, "5", long_a, long_b, 2 ** 64 - 1], [0.1, 0.2, 0.3, 0.4, 0.5])
        assert (r["accepted"], r["duplicates"]) == (5, 0)
        r = label(c, "m", ["5", long_b, 2 ** 64 - 1], [1, 1, 0])
        assert r["matched"] == 3
        snap = c.request({"op": "snapshot", "stream": "m"})
        assert_matches_sklearn(snap, np.array([1, 1, 0]), np.array([0.2, 0.4, 0.5]))


def test_observe_and_predict_share_a_stream(start_daemon):
    d = start_daemon(args=MANUAL)
    rng = np.random.default_rng(2)
    y = (rng.random(400) < 0.5).astype(int)
    s = scores_on_edges(rng, y)
    with d.client() as c:
        c.request({"op": "observe", "stream": "m", "labels": [int(v) for v in y[:200]],
                   "scores": [float(v) for v in s[:200]], "id": 0})
        predict(c, "m", range(200), s[200:])
        label(c, "m", range(200), y[200:])
        snap = c.request({"op": "snapshot", "stream": "m"})
        assert_matches_sklearn(snap, y, s)
        assert snap["labels"]["matched"] == 200
        # A stream that never took predictions or labels has no labels section.
        c.request({"op": "observe", "stream": "plain", "label": 1, "score": 0.5, "id": 1})
        assert "labels" not in c.request({"op": "snapshot", "stream": "plain"})


def test_single_forms_and_replies(start_daemon):
    d = start_daemon(args=MANUAL)
    with d.client() as c:
        r = c.request({"op": "predict", "stream": "m", "id": "tx-1", "score": 0.8, "weight": 2.0})
        assert r == {"ok": True, "id": "tx-1", "accepted": 1, "duplicates": 0}
        r = c.request({"op": "label", "stream": "m", "id": "tx-1", "label": True})
        assert r == {"ok": True, "id": "tx-1", "matched": 1, "waiting": 0, "duplicates": 0}
        snap = c.request({"op": "snapshot", "stream": "m"})
        assert snap["positives"] == 2.0  # the prediction's weight
        reply = c.request({"op": "predict", "stream": "m", "ids": [1, 2], "scores": [0.5]})
        assert reply["error"]["code"] == "length_mismatch"
        reply = c.request({"op": "label", "stream": "m", "ids": [1], "labels": [2]})
        assert reply["error"]["code"] == "bad_label" and reply["error"]["index"] == 0
        reply = c.request({"op": "predict", "stream": "m", "ids": [1], "labels": [1]})
        assert reply["error"]["code"] == "bad_request"
        reply = c.request({"op": "predict", "stream": "m", "score": 0.5})
        assert reply["error"]["code"] == "bad_request"
        assert "predict needs an id" in reply["error"]["message"]


def state_extra(tmp_path):
    return f"[state]\npath = {tmp_path}/evald.state\ncheckpoint_interval = 1h\n"


def test_a_restart_continues_every_join(tmp_path):
    rng = np.random.default_rng(4)
    n = 2000
    y = (rng.random(n) < 0.3).astype(int)
    s = scores_on_edges(rng, y)
    w = np.where(rng.random(n) < 0.2, 2.5, 1.0)
    d = Daemon(tmp_path, args=MANUAL, extra=state_extra(tmp_path))
    with d.client() as c:
        predict(c, "m", range(n), s, weights=[float(v) for v in w])
        label(c, "m", range(0, n, 2), y[0::2])          # half join now
        r = label(c, "m", ["early-1", "early-2"], [1, 0])  # labels ahead of predictions
        assert r["waiting"] == 2
        before = c.request({"op": "snapshot", "stream": "m"})
    assert d.stop() == 0
    d = Daemon(tmp_path, args=MANUAL, extra=state_extra(tmp_path))
    try:
        with d.client() as c:
            after = c.request({"op": "snapshot", "stream": "m"})
            assert after == before
            label(c, "m", range(1, n, 2), y[1::2])      # the other half joins after the restart
            predict(c, "m", ["early-1", "early-2"], [0.9, 0.1])
            snap = c.request({"op": "snapshot", "stream": "m"})
            yy = np.concatenate([y, [1, 0]])
            ss = np.concatenate([s, [0.9, 0.1]])
            ww = np.concatenate([w, [1.0, 1.0]])
            assert snap["n"] == pytest.approx(float(ww.sum()))  # n is a weight sum
            assert snap["positives"] == pytest.approx(float(np.sum(ww * yy)))
            assert snap["average_precision"] == pytest.approx(
                average_precision_score(yy, ss, sample_weight=ww), abs=1e-12)
            assert snap["roc_auc"] == pytest.approx(roc_auc_score(yy, ss, sample_weight=ww),
                                                    abs=1e-12)
            lab = snap["labels"]
            assert (lab["predictions"], lab["matched"], lab["pending"], lab["waiting_labels"]) == \
                (n + 2, n + 2, 0, 0)
    finally:
        assert d.stop() == 0


class JoinModel:
    """What the join holds after each request, with nothing expiring."""

    def __init__(self):
        self.pending, self.waiting, self.pairs = {}, {}, []
        self.predictions = 0

    def apply(self, op, ids, values):
        for i, v in zip(ids, values):
            if op == "predict":
                self.predictions += 1
                if i in self.waiting:
                    self.pairs.append((self.waiting.pop(i), v))
                else:
                    self.pending[i] = v
            elif i in self.pending:
                self.pairs.append((v, self.pending.pop(i)))
            elif i not in self.waiting:
                self.waiting[i] = v

    def signature(self):
        pos = sum(y for y, _ in self.pairs)
        return (self.predictions, len(self.pairs), len(self.pending), len(self.waiting), pos)


def test_kill_9_in_the_middle_of_joins_restores_a_moment_of_them(tmp_path, monkeypatch):
    """Every restored state is the join after some prefix of the requests: nothing counted twice."""
    monkeypatch.setenv("EVALD_CHECKPOINT_DELAY_MS", "2")
    rng = np.random.default_rng(2027)
    log = []  # every predict and label request sent, in order
    next_id = 0
    mid_write = 0
    for run in range(16):
        d = Daemon(tmp_path, extra=state_extra(tmp_path), args=MANUAL)
        try:
            with d.client() as c:
                snap = c.request({"op": "snapshot", "stream": "k"})
                if snap["ok"]:
                    lab = snap["labels"]
                    sig = (lab["predictions"], lab["matched"], lab["pending"],
                           lab["waiting_labels"], snap["positives"])
                    assert snap["n"] == lab["matched"]
                    model, k = JoinModel(), 0
                    while model.signature() != sig:
                        assert k < len(log), (run, sig, model.signature())
                        model.apply(*log[k])
                        k += 1
                    log = log[:k]  # what the restored state holds
                    if model.pairs:
                        yy = np.array([p[0] for p in model.pairs])
                        ss = np.array([p[1] for p in model.pairs])
                        if 0 < yy.sum() < len(yy):
                            assert snap["roc_auc"] == pytest.approx(roc_auc_score(yy, ss),
                                                                    abs=1e-12)
                else:
                    log = []
                for _ in range(int(rng.integers(1, 8))):
                    ids = list(range(next_id, next_id + 200))
                    next_id += 200
                    # On bin edges and below 0.99, so that no two scores share a bin.
                    sc = [float(v) for v in np.round(rng.random(200) * 0.99, 3)]
                    predict(c, "k", ids, sc)
                    log.append(("predict", ids, sc))
                    # Labels for half of some earlier predictions, and a few ahead of theirs.
                    back = [i for i in range(max(0, next_id - 600), next_id) if i % 2 == 0]
                    back += [next_id + 5, next_id + 7]
                    ys = [int(i % 3 == 0) for i in back]
                    label(c, "k", back, ys)
                    log.append(("label", back, ys))
                before = c.request({"op": "stats"})["checkpoints"]
                assert c.request({"op": "checkpoint"})["ok"]
                if run % 2 == 0:
                    for _ in range(600):  # bounded: 30 s
                        if c.request({"op": "stats"})["checkpoints"] > before:
                            break
                        time.sleep(0.05)
                    ids = list(range(next_id, next_id + 50))
                    next_id += 50
                    predict(c, "k", ids, [0.5] * 50)
                    log.append(("predict", ids, [0.5] * 50))
                else:
                    time.sleep(float(rng.uniform(0, 0.02)))
        finally:
            d.proc.kill()
            d.proc.wait()
        mid_write += os.path.exists(f"{tmp_path}/evald.state.tmp")
    print(f"{mid_write} of 16 kills during a checkpoint write")


def test_metrics_and_sink_lines_carry_the_label_counters(start_daemon, tmp_path):
    path = tmp_path / "sink.jsonl"
    d = start_daemon(defaults={"window_slot": "10s", "window_max": "5m", "max_pending": "150"},
                     args=MANUAL, extra=f"[sink]\npath = {path}\ninterval = 30s\n")
    with d.client() as c:
        advance(c, 0)
        predict(c, "m", range(200), [0.25] * 200)  # the oldest 50 evicted at max_pending 150
        label(c, "m", range(50, 130), [1] * 80)    # 80 matched, 70 pending
        label(c, "m", ["x"], [0])                  # one waits
        predict(c, "m", [60], [0.5])               # matched already, so pending anew: 71
        advance(c, 30)
        body = urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}/metrics").read().decode()
        metrics = {}
        for line in body.splitlines():
            if line.startswith("evald_") and 'stream="m"' in line:
                name, value = line.split("{")[0], float(line.rsplit(" ", 1)[1])
                metrics[name] = value
        assert metrics["evald_predictions_total"] == 201
        assert metrics["evald_predictions_matched_total"] == 80
        assert metrics["evald_predictions_evicted_total"] == 50
        assert metrics["evald_pending_predictions"] == 71
        assert metrics["evald_waiting_labels"] == 1
        assert metrics["evald_label_coverage"] == pytest.approx(80 / 130)
        assert "# TYPE evald_pending_predictions gauge" in body
        assert 'evald_rejected_records_total{reason="bad_id"} 0' in body
        lines = [json.loads(l) for l in path.read_text().splitlines()]
        assert [l["stream"] for l in lines] == ["m"]
        lab = lines[0]["labels"]
        assert lab["total"]["matched"] == 80 and lab["total"]["pending"] == 71
        assert lab["interval"]["predictions"] == 201 and lab["interval"]["evicted"] == 50
        assert lab["interval"]["pending"] == 71
        # An interval with predictions but no labels yet still has its line.
        predict(c, "quiet", range(5), [0.5] * 5)
        advance(c, 30)
        lines = [json.loads(l) for l in path.read_text().splitlines()]
        quiet = [l for l in lines if l["stream"] == "quiet"]
        assert len(quiet) == 1 and quiet[0]["interval"]["n"] == 0
        assert quiet[0]["labels"]["interval"]["pending"] == 5
        stats = c.request({"op": "stats"})
        assert stats["predictions_accepted"] == 206 and stats["labels_accepted"] == 81
        assert stats["labels"]["matched"] == 80 and stats["labels"]["waiting_labels"] == 1


def test_labels_of_their_own_time(start_daemon):
    d = start_daemon(defaults={"label_wait": "5m"}, args=MANUAL)
    with d.client() as c:
        advance(c, 1000)
        now = T0 + 1000
        predict(c, "m", [1, 2], [0.4, 0.6], times=[now - 900, now - 800])
        # The delay runs to the label's own time, not to its arrival.
        r = c.request({"op": "label", "stream": "m", "ids": [1, 2], "labels": [0, 1],
                       "times": [now - 600, now - 100]})
        assert r["matched"] == 2
        lab = c.request({"op": "snapshot", "stream": "m"})["labels"]
        assert lab["delay"]["max"] == 700
        assert 300 <= lab["delay"]["p50"] < 300 * 2 ** 0.25
        # A label older than label_wait has waited already: it ends unmatched at once.
        r = c.request({"op": "label", "stream": "m", "ids": [3, 4], "labels": [1, 1],
                       "times": [now - 301, now - 10]})
        assert (r["matched"], r["waiting"]) == (0, 1)
        lab = c.request({"op": "snapshot", "stream": "m"})["labels"]
        assert (lab["unmatched_labels"], lab["waiting_labels"]) == (1, 1)
        reply = c.request({"op": "label", "stream": "m", "ids": [5], "labels": [1],
                           "times": [now + 3600]})
        assert reply["error"]["code"] == "bad_time"


def test_http_snapshots_carry_labels_and_reset_forgets_the_join(start_daemon):
    d = start_daemon(args=MANUAL)
    with d.client() as c:
        predict(c, "m", [1, 2, 3], [0.2, 0.4, 0.8])
        label(c, "m", [1, 9], [0, 1])
        url = f"http://127.0.0.1:{d.http_port}/snapshot?stream=m"
        snap = json.loads(urllib.request.urlopen(url).read())
        assert snap["labels"]["matched"] == 1 and snap["labels"]["pending"] == 2
        assert snap["labels"]["waiting_labels"] == 1
        assert c.request({"op": "reset", "stream": "m", "id": 1})["ok"]
        snap = c.request({"op": "snapshot", "stream": "m"})
        assert "labels" not in snap and snap["n"] == 0
        # The pending predictions went with the reset: a label for one now waits.
        r = label(c, "m", [2], [1])
        assert (r["matched"], r["waiting"]) == (0, 1)
