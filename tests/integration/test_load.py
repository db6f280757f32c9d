"""Load: 200 producers over TCP and Unix sockets, hostile clients mixed in, a snapshot reader
all along; every good record counted exactly, the snapshot equal to scikit-learn's, RSS bounded."""
import socket
import threading
import time

import msgpack
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from conftest import Daemon

CLIENTS = 200
PER_CLIENT = 25_000  # 5,000,000 records in all
RSS_BOUND_MB = 400   # the sanitized build (ASan quarantine capped below); measured 162


def records(k):
    rng = np.random.default_rng(1000 + k)
    y = (rng.random(PER_CLIENT) < 0.3).astype(int)
    s = np.round(rng.beta(2 + 2 * y, 2 + 2 * (1 - y)), 3)  # on bin edges: exact
    return y, s


def producer(d, k, errors):
    try:
        y, s = records(k)
        with d.client("tcp" if k % 2 else "unix") as c:
            c.send({"op": "use", "stream": "load"})
            if k % 4 == 0:  # compact records, in large writes
                for i in range(0, PER_CLIENT, 5000):
                    c.send_raw(b"".join(msgpack.packb([int(a), float(b)])
                                        for a, b in zip(y[i:i + 5000], s[i:i + 5000])))
            else:
                for i in range(0, PER_CLIENT, 2500):
                    c.send({"op": "observe", "labels": y[i:i + 2500].tolist(),
                            "scores": s[i:i + 2500].tolist()})
            assert c.request({"op": "ping", "id": k})["id"] == k  # all read and applied
    except Exception as e:  # reported by the test
        errors.append((k, e))


def hostile(d, kind, stop):
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            if kind == "garbage":
                s.sendall(msgpack.packb([1, 0.5]) + b"\xc1" * 100)
            elif kind == "huge":
                s.sendall(b"\xdd\xff\xff\xff\xff")
            elif kind == "bad":
                s.sendall(msgpack.packb({"op": "observe", "stream": "load", "labels": [1, 2],
                                         "scores": [0.5, 0.5]}) * 50)
            else:  # asks for curves and never reads
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                for _ in range(200):
                    s.sendall(msgpack.packb({"op": "snapshot", "stream": "load", "curve": True}) * 10)
            time.sleep(0.05)
            s.close()
        except OSError:
            time.sleep(0.05)


def test_two_hundred_producers_with_hostile_clients(tmp_path, monkeypatch):
    monkeypatch.setenv("ASAN_OPTIONS", "quarantine_size_mb=16:malloc_context_size=5")
    d = Daemon(tmp_path, server={"log_level": "info", "max_output_bytes": 1 << 20})
    try:
        errors, stop = [], threading.Event()
        reads = []

        def reader():
            with d.client() as c:
                while not stop.is_set():
                    snap = c.request({"op": "snapshot", "stream": "load"})
                    reads.append(snap.get("n", 0))
                    time.sleep(0.02)

        side = [threading.Thread(target=hostile, args=(d, kind, stop))
                for kind in ("garbage", "huge", "bad", "slow")]
        side.append(threading.Thread(target=reader))
        with d.client() as c:  # the stream exists before the reader asks
            c.request({"op": "observe", "stream": "load", "labels": [], "scores": [], "id": 0})
        for t in side:
            t.start()
        producers = [threading.Thread(target=producer, args=(d, k, errors)) for k in range(CLIENTS)]
        for t in producers:
            t.start()
        for t in producers:
            t.join(600)
        stop.set()
        for t in side:
            t.join(60)
        assert not errors, errors[:3]
        assert not any(t.is_alive() for t in producers + side)
        assert reads and reads == sorted(reads)  # the reader saw the counts only grow

        y = np.concatenate([records(k)[0] for k in range(CLIENTS)])
        s = np.concatenate([records(k)[1] for k in range(CLIENTS)])
        with d.client() as c:
            snap = c.request({"op": "snapshot", "stream": "load"})
            stats = c.request({"op": "stats"})
        assert snap["n"] == CLIENTS * PER_CLIENT == len(y)
        assert snap["positives"] == y.sum()
        assert snap["average_precision"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
        assert snap["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert stats["records_accepted"] >= CLIENTS * PER_CLIENT
        assert stats["errors"]["invalid_msgpack"] > 0 and stats["errors"]["message_too_large"] > 0
        assert stats["records_rejected"]["bad_label"] > 0
        status = open(f"/proc/{d.proc.pid}/status").read()
        peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
        print(f"peak RSS {peak_mb:.0f} MB; {stats['slow_clients_dropped']} slow clients dropped")
        assert peak_mb < RSS_BOUND_MB
    finally:
        assert d.stop() == 0
