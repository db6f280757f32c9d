"""Typed columns: numpy arrays packed by Debian's msgpack-numpy count exactly as plain arrays."""
import msgpack
import msgpack_numpy
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from conftest import Daemon


def typed(obj):
    """A request packed as a numpy producer packs it: arrays as msgpack-numpy maps."""
    return msgpack.packb(obj, default=msgpack_numpy.encode, use_bin_type=True)


def snapshot(c, stream, window="total"):
    reply = c.request({"op": "snapshot", "stream": stream, "window": window, "curve": True,
                       "thresholds": [0.3, 0.7]})
    assert reply["ok"], reply
    return {k: v for k, v in reply.items() if k not in ("stream", "from", "to")}


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    assert d.stop() == 0, d.log_text()


@pytest.mark.parametrize("score_type", ["<f4", "<f8"])
@pytest.mark.parametrize("label_type", ["|b1", "|u1", "|i1", "<i8"])
def test_typed_and_plain_batches_give_identical_snapshots(daemon, score_type, label_type):
    rng = np.random.default_rng(15)
    n = 5000
    y = rng.random(n) < 0.3
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).astype(score_type)
    w = rng.uniform(0.5, 2.0, n)
    labels = y.astype(label_type)
    # The same scores, widened as evald reads them, as plain msgpack floats.
    plain = {"labels": [bool(v) for v in y], "scores": [float(v) for v in s],
             "weights": [float(v) for v in w]}
    with daemon.client("unix") as c:
        for start in range(0, n, 1000):
            part = slice(start, start + 1000)
            c.send_raw(typed({"op": "observe", "stream": "typed", "labels": labels[part],
                              "scores": s[part], "weights": w[part]}))
            c.send({"op": "observe", "stream": "plain",
                    **{k: v[part] for k, v in plain.items()}})
        a, b = snapshot(c, "typed"), snapshot(c, "plain")
        assert a == b
        assert a["records"] == n
        # And against scikit-learn, where the bins allow (the bounds hold the exact values).
        ap = average_precision_score(y, s.astype(float), sample_weight=w)
        auc = roc_auc_score(y, s.astype(float), sample_weight=w)
        assert a["average_precision_bounds"][0] - 1e-12 <= ap <= a["average_precision_bounds"][1] + 1e-12
        assert a["roc_auc_bounds"][0] - 1e-12 <= auc <= a["roc_auc_bounds"][1] + 1e-12


def test_typed_times_predictions_and_labels(daemon):
    rng = np.random.default_rng(16)
    n = 2000
    ids = np.arange(n, dtype="<u8") * 7919
    scores = rng.random(n)
    labels = (rng.random(n) < 0.4)
    with daemon.client("unix") as c:
        for stream, pack in (("typed", typed), ("plain", None)):
            req_p = {"op": "predict", "id": 1, "stream": stream, "ids": ids, "scores": scores}
            req_l = {"op": "label", "id": 2, "stream": stream, "ids": ids.astype("<i8"),
                     "labels": labels.astype("|u1")}
            if pack is None:
                req_p = {**req_p, "ids": ids.tolist(), "scores": scores.tolist()}
                req_l = {**req_l, "ids": ids.tolist(), "labels": labels.tolist()}
                assert c.request(req_p)["ok"]
                assert c.request(req_l)["matched"] == n
            else:
                c.send_raw(pack(req_p))
                assert c.recv()["ok"]
                c.send_raw(pack(req_l))
                assert c.recv()["matched"] == n
        a, b = snapshot(c, "typed"), snapshot(c, "plain")
        for snap in (a, b):
            del snap["labels"]["delay"]  # how long the labels took: the clock's, not ours
        assert a == b and a["records"] == n
        # Event times as a typed column, float64 and float32 alike: older than the ring, late.
        for ttype in ("<f8", "<f4"):
            c.send_raw(typed({"op": "observe", "id": 3, "stream": f"timed{ttype}",
                              "labels": labels[:10], "scores": scores[:10],
                              "times": np.full(10, 1.0e9, dtype=ttype)}))
            reply = c.recv()
            assert reply["ok"] and reply["accepted"] == 10, reply
            assert c.request({"op": "snapshot", "stream": f"timed{ttype}"})["late"] == 10


def bad_column(field, array):
    ops = {"scores": ("observe", "labels"), "weights": ("observe", None),
           "times": ("observe", None), "labels": ("observe", "scores"),
           "ids": ("predict", "scores")}
    op, _ = ops[field]
    n = len(array)
    req = {"op": op, "id": 9, "stream": "m"}
    if op == "observe":
        req.update({"labels": np.zeros(n, dtype="|u1"), "scores": np.zeros(n)})
    else:
        req.update({"ids": np.arange(n, dtype="<u8"), "scores": np.zeros(n)})
    req[field] = array
    return req


REFUSED = [
    ("scores", np.zeros(3, dtype="<f2"), "type '<f2' is not taken"),
    ("scores", np.zeros(3, dtype=">f8"), "type '>f8' is not taken"),
    ("scores", np.zeros(3, dtype="<i8"), "type '<i8' is not taken"),
    ("scores", np.zeros((3, 1)), "shape must be [n]"),
    ("scores", np.array([0.1, None, 0.3], dtype=object), "is not taken"),
    ("weights", np.zeros(3, dtype=[("a", "<f8")]), "is not taken"),
    ("labels", np.zeros(3, dtype="<f8"), "type '<f8' is not taken"),
    ("labels", np.zeros(3, dtype="<i4"), "type '<i4' is not taken"),
    ("labels", np.zeros(3, dtype=">i8"), "type '>i8' is not taken"),
    ("ids", np.zeros(3, dtype="<i4"), "type '<i4' is not taken"),
    ("times", np.zeros(3, dtype="<u8"), "type '<u8' is not taken"),
]


@pytest.mark.parametrize("field,array,says", REFUSED,
                         ids=[f"{f}-{a.dtype.str}-{a.shape}" for f, a, _ in REFUSED])
def test_each_refused_type_is_a_bad_request_naming_field_and_type(daemon, field, array, says):
    with daemon.client("unix") as c:
        c.send_raw(typed(bad_column(field, array)))
        reply = c.recv()
        assert not reply["ok"] and reply["error"]["code"] == "bad_request", reply
        assert reply["error"]["message"].startswith(f"{field}: "), reply
        assert says in reply["error"]["message"], reply
        assert c.request({"op": "stats"})["records_accepted"] == 0


def test_bad_values_in_typed_columns_name_their_index(daemon):
    with daemon.client("unix") as c:
        scores = np.array([0.1, 0.2, np.nan, 0.4], dtype="<f4")
        c.send_raw(typed({"op": "observe", "id": 1, "stream": "m",
                          "labels": np.zeros(4, dtype="|b1"), "scores": scores}))
        err = c.recv()["error"]
        assert (err["code"], err["index"]) == ("bad_score", 2)
        assert "got nan" in err["message"]
        labels = np.array([0, 1, 2, 1], dtype="|u1")
        c.send_raw(typed({"op": "observe", "id": 2, "stream": "m", "labels": labels,
                          "scores": np.zeros(4)}))
        err = c.recv()["error"]
        assert (err["code"], err["index"]) == ("bad_label", 2) and "got 2" in err["message"]
        labels = np.array([0, -1, 1, 1], dtype="|i1")
        c.send_raw(typed({"op": "observe", "id": 3, "stream": "m", "labels": labels,
                          "scores": np.zeros(4)}))
        err = c.recv()["error"]
        assert (err["code"], err["index"]) == ("bad_label", 1) and "got -1" in err["message"]
        ids = np.array([5, -3], dtype="<i8")
        c.send_raw(typed({"op": "predict", "id": 4, "stream": "m", "ids": ids,
                          "scores": np.zeros(2)}))
        err = c.recv()["error"]
        assert (err["code"], err["index"]) == ("bad_id", 1) and "got -3" in err["message"]
        w = np.array([1.0, 0.0], dtype="<f8")
        c.send_raw(typed({"op": "observe", "id": 5, "stream": "m",
                          "labels": np.zeros(2, dtype="|b1"), "scores": np.zeros(2),
                          "weights": w}))
        err = c.recv()["error"]
        assert (err["code"], err["index"]) == ("bad_weight", 1)
        # Mixed: a typed column and a plain one of another length.
        c.send_raw(typed({"op": "observe", "id": 6, "stream": "m",
                          "labels": np.zeros(3, dtype="|b1"), "scores": [0.5, 0.5]}))
        err = c.recv()["error"]
        assert err["code"] == "length_mismatch" and "labels has 3" in err["message"]
        # Data that does not fill the shape.
        bad = {b"nd": True, b"type": "<f8", b"kind": b"", b"shape": [3], b"data": b"\0" * 16}
        c.send({"op": "observe", "id": 7, "stream": "m", "labels": [0, 1, 0], "scores": bad})
        err = c.recv()["error"]
        assert err["code"] == "bad_request"
        assert "data holds 16 bytes, but shape [3] of <f8 needs 24" in err["message"]
        assert c.request({"op": "stats"})["records_accepted"] == 0
        assert c.request({"op": "ping", "id": 8})["ok"]


def test_a_typed_batch_is_bounded_by_max_batch(tmp_path):
    d = Daemon(tmp_path, server={"max_batch": 100})
    try:
        with d.client("unix") as c:
            c.send_raw(typed({"op": "observe", "id": 1, "stream": "m",
                              "labels": np.zeros(101, dtype="|b1"), "scores": np.zeros(101)}))
            err = c.recv()["error"]
            assert err["code"] == "bad_request" and "exceeds max_batch (100)" in err["message"]
    finally:
        assert d.stop() == 0
