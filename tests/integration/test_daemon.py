"""The real evald, end to end: protocol v1 over TCP and Unix sockets, against scikit-learn."""
import os
import signal
import socket
import subprocess
import threading
import time

import msgpack
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from conftest import EVALD, Client, Daemon

EXACT = 1e-12


def send_batches(client, y, s, w=None, stream=None, size=1000):
    for i in range(0, len(y), size):
        req = {"op": "observe", "labels": [int(v) for v in y[i:i + size]],
               "scores": [float(v) for v in s[i:i + size]], "id": i}
        if w is not None:
            req["weights"] = [float(v) for v in w[i:i + size]]
        if stream:
            req["stream"] = stream
        reply = client.request(req)
        assert reply == {"ok": True, "id": i, "accepted": len(req["labels"])}


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_snapshot_matches_sklearn(daemon, transport):
    rng = np.random.default_rng(5 if transport == "tcp" else 6)
    n = 30_000
    y = (rng.random(n) < 0.3).astype(int)
    continuous = rng.beta(2 + 3 * y, 2 + 2 * (1 - y))
    quantized = np.round(continuous, 3)  # on the default edges k/1000: every bin resolved
    w = rng.uniform(0.5, 2.0, size=n)
    with daemon.client(transport) as c:
        send_batches(c, y, quantized, stream="quantized")
        send_batches(c, y, continuous, w, stream="continuous")

        snap = c.request({"op": "snapshot", "stream": "quantized", "curve": True,
                          "thresholds": [0.25, 0.7]})
        assert snap["ok"] and snap["n"] == n and snap["positives"] == int(y.sum())
        assert snap["average_precision"] == pytest.approx(average_precision_score(y, quantized), abs=EXACT)
        assert snap["roc_auc"] == pytest.approx(roc_auc_score(y, quantized), abs=EXACT)
        assert snap["average_precision_bounds"][0] == snap["average_precision_bounds"][1]
        p, r, t = precision_recall_curve(y, quantized)
        assert snap["curve"]["threshold"] == list(t[::-1])
        np.testing.assert_allclose(snap["curve"]["precision"], p[:-1][::-1], atol=EXACT, rtol=0)
        np.testing.assert_allclose(snap["curve"]["recall"], r[:-1][::-1], atol=EXACT, rtol=0)
        rows = {row["threshold"]: row for row in snap["thresholds"]}
        for thr in (0.5, 0.25, 0.7):
            pred = quantized >= thr
            row = rows[thr]
            assert row["exact"]
            assert (row["tp"], row["fp"]) == (int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum()))
            assert (row["fn"], row["tn"]) == (int((~pred & (y == 1)).sum()), int((~pred & (y == 0)).sum()))

        snap = c.request({"op": "snapshot", "stream": "continuous"})
        ap = average_precision_score(y, continuous, sample_weight=w)
        auc = roc_auc_score(y, continuous, sample_weight=w)
        lo, hi = snap["average_precision_bounds"]
        assert lo - EXACT <= ap <= hi + EXACT
        lo, hi = snap["roc_auc_bounds"]
        assert lo - EXACT <= auc <= hi + EXACT
        assert snap["n"] == pytest.approx(w.sum(), rel=1e-12)
        assert "curve" not in snap


def test_compact_records_go_to_the_current_stream(daemon):
    with daemon.client() as c:
        c.send([1, 0.9])
        c.send([0, 0.2, 2.0])
        c.send([True, 0.6])
        c.send({"op": "use", "stream": "other"})  # no id: no reply
        c.send([0, 0.7])
        assert c.request({"op": "use", "stream": "third", "id": "u"}) == {"ok": True, "id": "u"}
        c.send([1, 0.1])
        c.send({"op": "observe", "label": 0, "score": 0.4})  # the current stream too
        assert c.request({"op": "ping", "id": 1}) == {
            "ok": True, "id": 1, "version": "0.1.0", "max_batch": 100000,
            "max_message_bytes": 1 << 20, "max_clock_skew": 60}
        streams = {s["name"]: s for s in c.request({"op": "streams"})["streams"]}
        default = streams["default"]
        assert {k: default[k] for k in ("name", "n", "positives", "negatives")} == {
            "name": "default", "n": 4, "positives": 2, "negatives": 2}
        assert (default["window_slot"], default["window_max"], default["thresholds"]) == (
            10, 3600, [0.5])
        assert default["last_active"] > 1e9 and "labels" not in default and "drift" not in default
        assert streams["other"]["n"] == 1 and streams["other"]["negatives"] == 1
        assert streams["third"]["n"] == 2 and streams["third"]["positives"] == 1
        snap = c.request({"op": "snapshot"})  # the connection's current stream
        assert snap["stream"] == "third"


def test_single_observe_and_weights(daemon):
    with daemon.client() as c:
        assert c.request({"op": "observe", "stream": "w", "label": 1, "score": 0.8,
                          "weight": 2.5, "id": 3}) == {"ok": True, "id": 3, "accepted": 1}
        c.send({"op": "observe", "stream": "w", "label": 0, "score": np.float32(0.3).item()})
        snap = c.request({"op": "snapshot", "stream": "w"})
        assert snap["n"] == 3.5 and snap["positives"] == 2.5 and snap["negatives"] == 1


ERROR_CASES = [
    ("bad_request", b"\xa5hello"),
    ("bad_request", {"stream": "x"}),
    ("bad_request", {"op": "ping", "bogus": 1}),
    ("bad_request", [1]),
    ("bad_request", {"op": "observe", "labels": [1], "score": 0.5}),
    ("unknown_op", {"op": "explode"}),
    ("bad_label", {"op": "observe", "label": 2, "score": 0.5}),
    ("bad_label", {"op": "observe", "label": -1, "score": 0.5}),
    ("bad_label", {"op": "observe", "label": 0.5, "score": 0.5}),
    ("bad_label", {"op": "observe", "label": "1", "score": 0.5}),
    ("bad_score", {"op": "observe", "label": 1, "score": float("nan")}),
    ("bad_score", {"op": "observe", "label": 1, "score": float("inf")}),
    ("bad_score", [1, "0.5"]),
    ("bad_weight", {"op": "observe", "label": 1, "score": 0.5, "weight": 0}),
    ("bad_weight", [1, 0.5, -2.0]),
    ("length_mismatch", {"op": "observe", "labels": [1, 0], "scores": [0.5]}),
    ("bad_stream", {"op": "use", "stream": ""}),
    ("bad_stream", {"op": "observe", "stream": "x" * 129, "label": 1, "score": 0.5}),
    ("bad_stream", {"op": "snapshot", "stream": "new\nline"}),
    ("unknown_stream", {"op": "snapshot", "stream": "never-seen"}),
    ("unknown_stream", {"op": "reset", "stream": "never-seen"}),
    ("bad_window", {"op": "snapshot", "stream": "s", "window": "forever"}),
    ("bad_threshold", {"op": "snapshot", "stream": "s", "thresholds": [float("nan")]}),
    ("bad_threshold", {"op": "snapshot", "stream": "s", "thresholds": "0.5"}),
]


@pytest.mark.parametrize("code,request_", ERROR_CASES)
def test_each_error_code_changes_nothing_and_keeps_the_connection(daemon, code, request_):
    with daemon.client() as c:
        assert c.request({"op": "observe", "stream": "s", "label": 1, "score": 0.5, "id": 0})["ok"]
        before = c.request({"op": "streams"})
        if isinstance(request_, bytes):
            c.send_raw(request_)
        else:
            if isinstance(request_, dict):
                request_ = {**request_, "id": 77}
            c.send(request_)
        reply = c.recv()
        assert reply["ok"] is False
        assert reply["error"]["code"] == code, reply
        assert reply["error"]["message"]
        if isinstance(request_, dict):
            assert reply["id"] == 77
        assert c.request({"op": "streams"}) == before
        assert c.request({"op": "ping"})["ok"]  # the connection is still open


def test_a_bad_batch_changes_nothing_and_names_the_first_bad_index(daemon):
    with daemon.client() as c:
        reply = c.request({"op": "observe", "stream": "b", "labels": [1, 0, 1, 1],
                           "scores": [0.9, 0.1, float("nan"), 0.4], "weights": [1, 1, 1, 0],
                           "id": "x"})
        assert reply["error"]["code"] == "bad_score" and reply["error"]["index"] == 2
        assert reply["id"] == "x"
        assert c.request({"op": "snapshot", "stream": "b"})["error"]["code"] == "unknown_stream"
        stats = c.request({"op": "stats"})
        assert stats["records_rejected"]["bad_score"] == 4
        assert stats["errors"]["bad_score"] == 1
        assert stats["records_accepted"] == 0


def test_too_many_streams(start_daemon):
    d = start_daemon(server={"max_streams": 2})
    with d.client() as c:
        for name in ("a", "b"):
            assert c.request({"op": "observe", "stream": name, "label": 1, "score": 0.5, "id": 1})["ok"]
        reply = c.request({"op": "observe", "stream": "c", "label": 1, "score": 0.5, "id": 2})
        assert reply["error"]["code"] == "too_many_streams"
        assert len(c.request({"op": "streams"})["streams"]) == 2
        assert c.request({"op": "observe", "stream": "a", "label": 0, "score": 0.5, "id": 3})["ok"]
    assert d.stop() == 0


def test_message_too_large_replies_then_closes(start_daemon):
    d = start_daemon(server={"max_message_bytes": 1024})
    with d.client() as c, d.client() as other:
        c.send({"op": "observe", "labels": [1] * 300, "scores": [0.5] * 300})
        reply = c.recv()
        assert reply["error"]["code"] == "message_too_large"
        assert c.recv() is None
        # A header announcing 2^32 - 1 elements is refused from its five bytes.
        other.send_raw(b"\xdd\xff\xff\xff\xff")
        assert other.recv()["error"]["code"] == "message_too_large"
        assert other.recv() is None
    with d.client() as c:
        assert c.request({"op": "ping"})["ok"]
        assert c.request({"op": "stats"})["errors"]["message_too_large"] == 2
    assert d.stop() == 0


def test_invalid_msgpack_closes_only_that_connection(daemon):
    with daemon.client() as bad, daemon.client("unix") as good:
        good.send([1, 0.7])
        bad.send([0, 0.2])
        bad.send_raw(b"\x92\x01\xc1")
        assert bad.recv()["error"]["code"] == "invalid_msgpack"
        assert bad.recv() is None
        good.send([0, 0.4])
        snap = good.request({"op": "snapshot"})
        assert snap["n"] == 3  # both connections' good records counted, nothing else


def test_requests_split_byte_by_byte_and_merged(daemon):
    with daemon.client() as c:
        data = b"".join(msgpack.packb(r) for r in (
            [1, 0.9], {"op": "observe", "labels": [0, 1], "scores": [0.1, 0.8], "id": 1},
            {"op": "ping", "id": 2}))
        for b in data:
            c.send_raw(bytes([b]))
        assert c.recv() == {"ok": True, "id": 1, "accepted": 2}
        assert c.recv()["id"] == 2
        c.send_raw(data)  # all three in one write
        assert c.recv()["accepted"] == 2
        assert c.recv()["id"] == 2
        assert c.request({"op": "snapshot"})["n"] == 6


def test_fifty_concurrent_clients_are_counted_exactly(daemon):
    clients, per_client = 50, 20_000
    errors = []

    def produce(k):
        try:
            rng = np.random.default_rng(k)
            y = (rng.random(per_client) < 0.25).astype(int)
            s = rng.random(per_client)
            with daemon.client("tcp" if k % 2 else "unix") as c:
                if k % 5 == 0:  # compact records, then a ping to know they were read
                    c.send_raw(b"".join(msgpack.packb([int(a), float(b)]) for a, b in zip(y, s)))
                    assert c.request({"op": "ping", "id": k})["id"] == k
                else:
                    send_batches(c, y, s, stream="default", size=500)
            return int(y.sum())
        except Exception as e:  # reported below: a thread's assertion must fail the test
            errors.append(e)
            return 0

    positives = [0] * clients
    threads = [threading.Thread(target=lambda k=k: positives.__setitem__(k, produce(k)))
               for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    with daemon.client() as c:
        snap = c.request({"op": "snapshot"})
        assert snap["n"] == clients * per_client
        assert snap["positives"] == sum(positives)
        stats = c.request({"op": "stats"})
        assert stats["records_accepted"] == clients * per_client
        assert stats["connections_total"] >= clients + 1


def test_reset_starts_a_stream_from_zero(daemon):
    with daemon.client() as c:
        c.send({"op": "observe", "stream": "r", "labels": [1, 0], "scores": [0.6, 0.4]})
        assert c.request({"op": "reset", "stream": "r", "id": 5}) == {"ok": True, "id": 5}
        snap = c.request({"op": "snapshot", "stream": "r"})
        assert snap["n"] == 0 and snap["average_precision"] is None and snap["roc_auc"] is None


def test_stream_sections_override_defaults(start_daemon):
    d = start_daemon(defaults={"bins": 10, "thresholds": "0.3,0.6"},
                     extra='[stream "fraud"]\nspacing = logit\nbins = 200\n')
    with d.client() as c:
        for name in ("fraud", "plain"):
            c.send({"op": "observe", "stream": name, "label": 1, "score": 0.5})
        fraud = c.request({"op": "snapshot", "stream": "fraud"})
        plain = c.request({"op": "snapshot", "stream": "plain"})
    assert (fraud["bins"], fraud["spacing"]) == (200, "logit")
    assert (plain["bins"], plain["spacing"]) == (10, "uniform")
    assert [r["threshold"] for r in fraud["thresholds"]] == [0.3, 0.6]
    assert d.stop() == 0


def test_config_error_names_file_line_and_key(tmp_path):
    bad = tmp_path / "bad.ini"
    bad.write_text("[server]\nlisten = 127.0.0.1:0\n\n[defaults]\nbins = many\n")
    proc = subprocess.run([EVALD, "--config", str(bad)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert f"{bad}:5:" in proc.stderr and "bins" in proc.stderr and "many" in proc.stderr
    bad.write_text("[server]\nmax_conections = 5\n")
    proc = subprocess.run([EVALD, "--config", str(bad)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and f"{bad}:2:" in proc.stderr and "unknown key" in proc.stderr
    bad.write_text("[srever]\nlisten = x\n")
    proc = subprocess.run([EVALD, "--config", str(bad)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "unknown section" in proc.stderr
    proc = subprocess.run([EVALD, "--bogus"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "usage" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_zero_and_removes_the_socket(tmp_path, sig):
    d = Daemon(tmp_path)
    with d.client() as c:
        c.send({"op": "observe", "labels": [1, 0], "scores": [0.6, 0.4]})
        assert c.request({"op": "ping"})["ok"]
        idle = d.client("unix")  # a connection still open at shutdown
        assert d.stop(sig, timeout=10) == 0
        assert c.recv() is None and idle.recv() is None
        idle.close()
    assert not os.path.exists(d.sock)
    assert "event=stopped" in d.log_text()


def test_stale_socket_is_replaced_and_a_live_daemon_is_detected(tmp_path):
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "evald.sock"))
    stale.close()  # the file stays, nobody listens: a dead daemon's leftover
    d = Daemon(tmp_path)
    try:
        assert "stale_socket_removed" in d.log_text()
        with d.client("unix") as c:
            assert c.request({"op": "ping"})["ok"]
        second = subprocess.run([EVALD, "--listen", "", "--http", "", "--unix", d.sock],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert "already listening" in second.stderr
        with d.client("unix") as c:  # the first one is untouched
            assert c.request({"op": "ping"})["ok"]
    finally:
        assert d.stop() == 0


def test_connections_past_max_connections_are_closed(start_daemon):
    d = start_daemon(server={"max_connections": 2})
    with d.client() as a, d.client("unix") as b:
        assert a.request({"op": "ping"})["ok"] and b.request({"op": "ping"})["ok"]
        with d.client() as extra:
            assert extra.recv()["error"]["code"] == "too_many_connections"
            assert extra.recv() is None
        assert a.request({"op": "ping"})["ok"]
    # A freed place can be taken, once evald has seen the two connections close.
    for _ in range(100):
        with d.client() as again:
            reply = again.request({"op": "ping"})
        if reply.get("ok"):
            break
        time.sleep(0.05)
    assert reply["ok"]
    assert "connection_refused" in d.log_text()
    with d.client() as c:
        assert c.request({"op": "stats"})["errors"]["too_many_connections"] >= 1
    assert d.stop() == 0


def test_many_streaming_clients_take_turns_and_lose_nothing(daemon):
    """More clients stream than get a read each loop turn: every record is counted, once, and a
    snapshot asked for meanwhile is answered, on the records counted so far."""
    rng = np.random.default_rng(21)
    clients, per = 12, 40_000
    y = (rng.random((clients, per)) < 0.4).astype(int)
    s = np.round(rng.random((clients, per)) * 0.999, 3)  # on edges k/1000, below the last
    blobs = [b"".join(msgpack.packb([int(a), float(b)]) for a, b in zip(y[k], s[k]))
             for k in range(clients)]
    errors = []

    def stream(k):
        try:
            with daemon.client("unix") as c:
                c.send({"op": "use", "stream": "turns"})
                c.send_raw(blobs[k])  # about 440 KB each: many full 16 KiB reads
                assert c.request({"op": "ping", "id": k})["id"] == k
        except Exception as e:  # reported below, so a stuck client fails the test
            errors.append(e)

    threads = [threading.Thread(target=stream, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    with daemon.client("unix") as c:
        while any(t.is_alive() for t in threads):
            snap = c.request({"op": "snapshot", "stream": "turns"})
            assert snap.get("ok") or snap["error"]["code"] == "unknown_stream"
    for t in threads:
        t.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    with daemon.client() as c:
        snap = c.request({"op": "snapshot", "stream": "turns", "curve": True})
    assert snap["records"] == clients * per
    assert snap["positives"] == int(y.sum())
    ys, ss = y.ravel(), s.ravel()
    assert snap["average_precision"] == pytest.approx(average_precision_score(ys, ss), abs=EXACT)
    precision, recall, thresholds = precision_recall_curve(ys, ss)
    assert snap["curve"]["threshold"] == list(thresholds[::-1])
    np.testing.assert_allclose(snap["curve"]["precision"], precision[:-1][::-1], atol=EXACT, rtol=0)


def test_an_address_in_use_is_named_with_its_cause(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        addr = "127.0.0.1:%d" % taken.getsockname()[1]
        r = subprocess.run([EVALD, "--listen", addr, "--http", "", "--unix", ""],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1
        assert f"listen on {addr} (tcp): Address already in use" in r.stderr
    finally:
        taken.close()


def test_too_few_file_descriptors_fail_the_start_cleanly(tmp_path):
    """Each limit makes a different call fail first: each failure is named, none crashes."""
    import resource

    failed = 0
    for limit in range(3, 40):  # bounded; evald starts well before 40
        log = tmp_path / f"evald-{limit}.log"
        proc = subprocess.Popen(
            [EVALD, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
             "--unix", str(tmp_path / f"e{limit}.sock")],
            stdout=subprocess.DEVNULL, stderr=open(log, "w"),
            preexec_fn=lambda n=limit: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)))
        for _ in range(600):  # bounded: 30 s
            if proc.poll() is not None or "event=started" in log.read_text():
                break
            time.sleep(0.05)
        if proc.poll() is None:  # it started: every lower limit failed
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            break
        text = log.read_text()
        said = [line for line in text.splitlines() if line.startswith("evald: ")]
        if not failed and not said:
            continue  # too few for the loader or the sanitizers' runtime: evald never ran
        assert proc.returncode == 1, text
        assert said and "Too many open files" in said[0], text
        failed += 1
    else:
        pytest.fail("evald did not start with 39 descriptors")
    assert failed > 0


def test_check_config_prints_the_effective_configuration_or_names_the_bad_line(tmp_path):
    good = tmp_path / "good.ini"
    good.write_text("[server]\nmax_batch = 500\n[stream \"fraud\"]\nspacing = logit\n")
    r = subprocess.run([EVALD, "--check-config", str(good), "--listen", "127.0.0.1:9"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "max_batch = 500\n" in r.stdout and "listen = 127.0.0.1:9\n" in r.stdout
    fraud = r.stdout.split('[stream "fraud"]\n')[1]
    assert "spacing = logit\n" in fraud and "bins = 1000\n" in fraud  # the rest from [defaults]
    assert "is valid" in r.stderr

    bad = tmp_path / "bad.ini"
    bad.write_text("[server]\n\nmax_batch = lots\n")
    r = subprocess.run([EVALD, "--check-config", str(bad)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and r.stdout == ""
    assert f"{bad}:3: [server] max_batch: 'lots' is not an integer from 1 to 10000000" in r.stderr
