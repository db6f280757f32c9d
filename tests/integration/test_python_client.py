"""The Python client (clients/python) against a real evald: every method, scikit-learn's
shapes and values, typed columns against lists, and the error families."""
import os
import sys

import numpy as np
import pytest
from sklearn.metrics import (average_precision_score, precision_recall_curve, roc_auc_score,
                             roc_curve)

from conftest import Daemon

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../clients/python/src"))
import evald  # noqa: E402


def on_edges(rng, n, bins=1000):
    """Scores on the edges of 1000 uniform bins (below 1, which shares the last bin)."""
    return np.floor(rng.random(n) * bins) / bins


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    assert d.stop() == 0, d.log_text()[-2000:]


def test_every_method(daemon):
    rng = np.random.default_rng(1)
    s = on_edges(rng, 3000)
    y = (rng.random(3000) < s).astype(int)
    with evald.Client(f"unix:{daemon.sock}") as c:
        assert c.ping() == "0.1.0"
        assert c.limits() == evald.Limits(100_000, 1 << 20, 60)
        assert c.observe(y, s, stream="m") == 3000
        assert c.predict(["a", "b", 7], [0.9, 0.2, 0.4], stream="j") == (3, 0)
        assert c.predict(["a"], [0.9], stream="j") == (0, 1)
        assert c.label(["a", "b", "zz"], [1, 0, 1], stream="j") == (2, 1, 0)
        snap = c.snapshot(stream="j")
        assert snap.labels["matched"] == 2 and snap.labels["pending"] == 1
        names = {st["name"]: st for st in c.streams()}
        assert names["m"]["n"] == 3000 and names["j"]["n"] == 2
        assert c.stats()["records_accepted"] == 3000
        drift = c.drift(stream="m", reference_stream="m")
        assert drift["psi"] == pytest.approx(0.0, abs=1e-12) and drift["n"] == 3000
        snap = c.snapshot(stream="m", window="total", thresholds=[0.25],
                          operating_points={"recall": [0.9]}, calibration=True)
        assert snap.at(0.25).tp == np.sum((s >= 0.25) & (y == 1))
        assert snap.operating_points["recall"][0]["target"] == 0.9
        assert len(snap.calibration["bins"]) == 10
        assert snap.n == 3000 and snap.positives == y.sum() and snap.negatives == 3000 - y.sum()
        assert snap.to_dict()["stream"] == "m"
        with pytest.raises(KeyError, match="thresholds=\\[0.7\\]"):
            snap.at(0.7)
        with pytest.raises(ValueError, match="curve=True"):
            snap.roc_curve()
        c.reset("m")
        assert c.snapshot(stream="m").n == 0


@pytest.mark.parametrize("weighted", [False, True])
def test_curves_and_scores_are_sklearns_on_scores_on_bin_edges(daemon, weighted):
    rng = np.random.default_rng(2)
    s = on_edges(rng, 20_000)
    y = (rng.random(20_000) < s ** 2).astype(int)
    w = rng.uniform(0.5, 3.0, 20_000) if weighted else None
    with evald.Client(f"unix:{daemon.sock}") as c:
        c.observe(y, s, stream="m", sample_weight=w)
        snap = c.snapshot(stream="m", curve=True)
    for got, want in zip(snap.precision_recall_curve(),
                         precision_recall_curve(y, s, sample_weight=w)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    for got, want in zip(snap.roc_curve(),
                         roc_curve(y, s, sample_weight=w, drop_intermediate=False)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert snap.average_precision == pytest.approx(
        average_precision_score(y, s, sample_weight=w), rel=1e-12)
    assert snap.roc_auc == pytest.approx(roc_auc_score(y, s, sample_weight=w), rel=1e-12)
    assert snap.bounds["roc_auc"][0] == snap.bounds["roc_auc"][1]


def test_typed_columns_and_lists_give_identical_snapshots(daemon):
    rng = np.random.default_rng(3)
    s = rng.random(5000)
    y = rng.random(5000) < s
    w = rng.uniform(0.5, 2.0, 5000)
    with evald.Client(f"unix:{daemon.sock}") as c:
        c.observe(y, s, stream="typed", sample_weight=w)                  # bool, f8, f8
        c.observe(y.tolist(), s.tolist(), stream="lists", sample_weight=w.tolist())
        c.observe(y.astype(np.float64), s, stream="floats", sample_weight=w)  # 0.0 and 1.0
        snaps = [c.snapshot(stream=n, curve=True).to_dict() for n in ("typed", "lists", "floats")]
    for snap in snaps:
        for key in ("stream", "from", "to"):
            snap.pop(key)
    assert snaps[0] == snaps[1] == snaps[2]


def test_large_inputs_are_split_at_max_batch_and_max_message_bytes(tmp_path):
    d = Daemon(tmp_path, server={"max_batch": 1000, "max_message_bytes": 4096})
    try:
        rng = np.random.default_rng(4)
        s, y = rng.random(10_500), rng.random(10_500) < 0.5
        with evald.Client(f"unix:{d.sock}") as c:
            assert c.observe(y, s, stream="m") == 10_500          # 36 records a request
            assert c.observe(y.tolist(), s.tolist(), stream="m") == 10_500
            assert c.snapshot(stream="m").n == 21_000
            ids = [f"id-{i}" for i in range(3000)]
            assert c.predict(ids, s[:3000], stream="j").accepted == 3000
            assert c.label(ids, y[:3000], stream="j").matched == 3000
            # A refusal the client cannot foresee (a time ahead of evald's clock):
            # its index counts over the whole input, and the message says what was counted.
            times = np.zeros(10_500)
            times[5500] = 4e9
            with pytest.raises(evald.BadInputError) as e:
                c.observe(y, s, stream="t", times=times)
            assert e.value.code == "bad_time" and e.value.index == 5500
            assert "records of this call were counted before" in e.value.message
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]


def test_refused_input_is_checked_before_anything_is_sent(daemon):
    with evald.Client(f"unix:{daemon.sock}") as c:
        cases = [
            (lambda: c.observe([0, 1, 2], [0.1, 0.2, 0.3]), "bad_label", 2),
            (lambda: c.observe(np.array([0, 1, 0.5]), np.zeros(3)), "bad_label", 2),
            (lambda: c.observe([1.0, 0.0], [0.1, 0.2]), "bad_label", 0),  # as evald: not 1.0
            (lambda: c.observe(np.ones(3), [0.1, np.nan, 0.2]), "bad_score", 1),
            (lambda: c.observe([1, 0], [0.1, 0.2], sample_weight=[1.0, 0.0]), "bad_weight", 1),
            (lambda: c.observe([1, 0], [0.1, 0.2], sample_weight=[1.0, 2e12]), "bad_weight", 1),
            (lambda: c.observe([1, 0], [0.1, 0.2], times=[-1.0, 5.0]), "bad_time", 0),
            (lambda: c.observe([1, 0], [0.1]), "length_mismatch", None),
            (lambda: c.predict(["", "b"], [0.1, 0.2]), "bad_id", 0),
            (lambda: c.predict(["a", "x" * 129], [0.1, 0.2]), "bad_id", 1),
            (lambda: c.predict(np.array([3, -1]), [0.1, 0.2]), "bad_id", 1),
            (lambda: c.predict([1.5], [0.1]), "bad_id", 0),
        ]
        for call, code, index in cases:
            with pytest.raises(evald.BadInputError) as e:
                call()
            assert (e.value.code, e.value.index) == (code, index), e.value
        assert c.streams() == []  # nothing reached evald


def test_each_error_code_raises_its_family(tmp_path):
    d = Daemon(tmp_path, server={"max_streams": 2, "max_message_bytes": 4096},
               extra='[stream "other"]\nbins = 10\n')
    try:
        with evald.Client(f"unix:{d.sock}") as c:
            c.observe([1, 0], [0.9, 0.1], stream="a")
            c.observe([1, 0], [0.9, 0.1], stream="other")
            cases = [
                (lambda: c.observe([1], [0.5], stream="new"), evald.LimitError,
                 "too_many_streams"),
                (lambda: c.snapshot(stream="a", thresholds=list(range(600))), evald.LimitError,
                 "message_too_large"),
                (lambda: c.snapshot(stream="nope"), evald.UnknownStreamError, "unknown_stream"),
                (lambda: c.reset("nope"), evald.UnknownStreamError, "unknown_stream"),
                (lambda: c.snapshot(stream="a", window="7s"), evald.BadInputError, "bad_window"),
                (lambda: c.snapshot(stream="a", thresholds=[float("nan")]), evald.BadInputError,
                 "bad_threshold"),
                (lambda: c.snapshot(stream="a", calibration={"bins": 0}), evald.BadInputError,
                 "bad_request"),
                (lambda: c.snapshot(stream="\x01"), evald.BadInputError, "bad_stream"),
                (lambda: c.drift(stream="a", reference_stream="other"), evald.BadInputError,
                 "bad_reference"),
                (lambda: c.observe([1], [0.5], stream="a", times=[4e9]), evald.BadInputError,
                 "bad_time"),
            ]
            for call, family, code in cases:
                with pytest.raises(family) as e:
                    call()
                assert e.value.code == code and isinstance(e.value, evald.EvaldError), e.value
                assert e.value.message
            # message_too_large closes the connection; the client made a new one.
            assert c.ping() == "0.1.0"
        for code in ("unknown_op", "invalid_msgpack", "bad_request"):
            assert issubclass(evald._errors.error_class(code), evald.BadInputError)
        for code in ("out_of_memory", "too_many_connections"):
            assert issubclass(evald._errors.error_class(code), evald.LimitError)
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]


def test_a_client_reconnects_once_and_then_raises(tmp_path):
    d = Daemon(tmp_path)
    c = evald.Client(f"unix:{d.sock}")
    try:
        c.observe([1, 0], [0.9, 0.1], stream="m")
        assert d.stop() == 0
        with pytest.raises(evald.EvaldConnectionError) as e:
            c.snapshot(stream="m")
        assert e.value.code == "connection" and isinstance(e.value, ConnectionError)
        d = Daemon(tmp_path)  # the same socket path: a restarted evald
        assert c.observe([1], [0.5], stream="m") == 1  # a new connection, made at once
        assert c.snapshot(stream="m").n == 1
    finally:
        c.close()
        assert d.stop() == 0


def test_address_forms(daemon, monkeypatch):
    tcp = f"127.0.0.1:{daemon.port}"
    for address in (f"unix:{daemon.sock}", daemon.sock, tcp, f"tcp://{tcp}"):
        with evald.Client(address) as c:
            assert c.ping() == "0.1.0"
    monkeypatch.setenv("EVALD_CONNECT", f"tcp://{tcp}")
    with evald.Client() as c:
        assert c.ping() == "0.1.0"
    with pytest.raises(ValueError, match="is not unix:PATH"):
        evald.Client("nonsense")


def test_server_limits_raise_limit_errors(tmp_path):
    d = Daemon(tmp_path, server={"max_memory": "1MiB", "max_connections": 1})
    try:
        with evald.Client(f"unix:{d.sock}") as c:
            with pytest.raises(evald.LimitError) as e:
                for i in range(100):  # bounded: about 15 streams of 1000 bins fit in 1 MiB
                    c.observe([1], [0.5], stream=f"s{i}")
            assert e.value.code == "out_of_memory" and "max_memory" in e.value.message
            with evald.Client(f"unix:{d.sock}") as second:  # past max_connections
                with pytest.raises(evald.LimitError) as e:
                    second.ping()
                assert e.value.code == "too_many_connections"
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]
