#!/usr/bin/python3
"""What a snapshot costs with evald and without it.

Without evald, a user keeps every record and recomputes the query with
scikit-learn: average_precision_score and precision_recall_curve over all
N records. With evald the same query is one snapshot (AP and the PR
curve) of a stream that already holds the N records. This sends N records
to a running evald, then times both and prints the ratio.

    bench/sklearn_compare.py SOCKET [N ...]      (default N: 1e5 1e6 1e7)

Run it with /usr/bin/python3 (Debian's python3-sklearn, -numpy, -msgpack).
"""
import socket
import statistics
import sys
import time

import msgpack
import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

BATCH = 100_000  # evald's default max_batch
SNAPSHOTS = 200


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.unpacker = msgpack.Unpacker(raw=False)

    def send(self, msg):
        self.sock.sendall(msgpack.packb(msg, use_bin_type=True))

    def request(self, msg):
        self.send(msg)
        for reply in self.unpacker:
            return reply
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("evald closed the connection")
            self.unpacker.feed(data)
            for reply in self.unpacker:
                return reply


def data(n, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    # Scores that separate the classes imperfectly, with a few ties.
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.18), 0.0, 1.0)
    s = np.round(s, 6)
    return y, s


def load(client, name, y, s):
    for i in range(0, len(y), BATCH):
        client.send({"op": "observe", "stream": name,
                     "labels": y[i:i + BATCH].tolist(), "scores": s[i:i + BATCH].tolist()})
    while client.request({"op": "snapshot", "stream": name, "curve": False}).get("records") != len(y):
        time.sleep(0.01)


def time_evald(client, name):
    times = []
    for _ in range(SNAPSHOTS):
        t = time.perf_counter()
        reply = client.request({"op": "snapshot", "stream": name, "curve": True})
        times.append(time.perf_counter() - t)
    assert reply["ok"], reply
    return statistics.median(times), reply


def time_sklearn(y, s, rounds):
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        ap = average_precision_score(y, s)
        precision_recall_curve(y, s)
        best = min(best, time.perf_counter() - t)
    return best, ap


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sizes = [int(float(a)) for a in sys.argv[2:]] or [10**5, 10**6, 10**7]
    client = Client(sys.argv[1])
    print(f"{'N':>10} {'sklearn':>11} {'evald':>11} {'ratio':>9} "
          f"{'AP sklearn':>12} {'AP evald':>12} {'|diff|':>9} {'bound width':>11}")
    for n in sizes:
        name = f"sklearn-compare-{n}-{time.time_ns()}"
        y, s = data(n, seed=n)
        load(client, name, y, s)
        t_evald, reply = time_evald(client, name)
        t_sk, ap = time_sklearn(y, s, rounds=1 if n >= 10**7 else 3)
        est = reply["average_precision"]
        lo, hi = reply["average_precision_bounds"]
        print(f"{n:>10} {t_sk * 1e3:>9.1f}ms {t_evald * 1e6:>9.0f}us {t_sk / t_evald:>9.0f} "
              f"{ap:>12.8f} {est:>12.8f} {abs(est - ap):>9.1e} {hi - lo:>11.1e}", flush=True)


if __name__ == "__main__":
    main()
