#!/usr/bin/python3
"""How long evald's loop is held by a join of many pending predictions.

Starts evald (real clock) with one stream whose max_pending and label_ttl
allow PENDING predictions, sends them in batches of 1000 over the Unix
socket, then asks for a checkpoint and waits for the predictions to
expire. It prints, from evald's own stats:
  - checkpoint_pause_ms: the longest slice the checkpoint copy held the loop;
  - expiry_pause_ms: the longest turn that ended waits;
  - state_bytes per pending prediction, and the checkpoint's size and time.
It asserts nothing: the figures go in docs/performance.md.

    bench/pending.py EVALD [PENDING]      (default PENDING: 10,000,000)

Run it with /usr/bin/python3 (Debian's python3-msgpack and -numpy).
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import msgpack
import numpy as np

TTL = 60    # seconds: the predictions expire while the benchmark waits
EVERY = int(os.environ.get("EVERY", "10"))  # seconds between checkpoints


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


def request(sock, unpacker, req):
    sock.sendall(msgpack.packb(req))
    for reply in unpacker:
        return reply
    while True:
        unpacker.feed(sock.recv(1 << 16))
        for reply in unpacker:
            return reply


def start(evald, tmp, pending, state):
    """Starts evald for PENDING predictions; with state, checkpoints every EVERY seconds."""
    sock_path = os.path.join(tmp, "evald.sock")
    config = os.path.join(tmp, "evald.ini")
    with open(config, "w") as f:
        f.write(f"[server]\nlisten =\nunix = {sock_path}\nlog_level = debug\n"
                f"max_batch = 1000\n[http]\nlisten =\n"
                f"[defaults]\nlabel_ttl = {TTL}s\nmax_pending = {pending}\n")
        if state:
            f.write(f"[state]\npath = {tmp}/evald.state\ncheckpoint_interval = {EVERY}s\n")
    proc = subprocess.Popen([evald, "--config", config], stderr=subprocess.PIPE, text=True)
    proc.checkpoints = []  # the checkpoint_written lines, as they come

    def read_log():
        for line in proc.stderr:
            if "event=checkpoint_written" in line:
                proc.checkpoints.append(line.strip())
    threading.Thread(target=read_log, daemon=True).start()
    for _ in range(100):
        if os.path.exists(sock_path):
            break
        time.sleep(0.05)
    return proc, connect(sock_path)


def fill(sock, unpacker, pending):
    """Sends PENDING predictions in batches of 1000; returns the stats once all are pending."""
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    ids = np.arange(pending, dtype=np.uint64)
    for k in range(0, pending, 1000):
        sock.sendall(msgpack.packb({"op": "predict", "stream": "p",
                                    "ids": ids[k:k + 1000].tolist(),
                                    "scores": rng.random(min(1000, pending - k)).tolist()}))
    stats = request(sock, unpacker, {"op": "stats", "id": 1})
    assert stats["labels"]["pending"] == pending, stats["labels"]
    print(f"{pending:,} predictions sent and pending in {time.perf_counter() - t:.1f} s "
          f"(the Python client packing them is the bound here)")
    return stats


def main():
    evald = sys.argv[1]
    pending = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000

    # Checkpoints of a full join, and nothing expiring yet.
    tmp = tempfile.mkdtemp()
    proc, sock = start(evald, tmp, pending, True)
    unpacker = msgpack.Unpacker(raw=False)
    try:
        stats = fill(sock, unpacker, pending)
        print(f"state_bytes: {stats['state_bytes'] / pending:.1f} bytes per pending prediction "
              f"(the join, the stream's total, slots and prediction histograms)")
        # The next timed checkpoint holds every prediction: its longest slice is the figure.
        s = wait_checkpoint(sock, unpacker, stats["checkpoints"] + 1)
        time.sleep(0.2)
        fields = dict(kv.split("=", 1) for kv in proc.checkpoints[-1].split() if "=" in kv)
        print(f"checkpoint of {s['labels']['pending']:,} pending: "
              f"{int(fields['bytes']) / 1e6:.0f} MB in {float(fields['ms']) / 1e3:.1f} s; "
              f"{fields['slices']} loop slices copying it, the longest "
              f"{s['checkpoint_pause_ms']:.2f} ms ({fields['cpu_pause_ms']} ms of CPU time), "
              f"{fields['slices_over_1ms']} over 1 ms")
    finally:
        sock.close()
        proc.terminate()
        proc.wait()

    # Expiry of a full join, with no checkpoint writing beside it.
    proc, sock = start(evald, tempfile.mkdtemp(), pending, False)
    unpacker = msgpack.Unpacker(raw=False)
    try:
        fill(sock, unpacker, pending)
        t0 = time.perf_counter()
        while True:
            s = request(sock, unpacker, {"op": "stats", "id": 3})
            if s["labels"]["pending"] == 0 or time.perf_counter() - t0 > TTL * 10:
                break
            time.sleep(0.5)
        print(f"expiry: {s['labels']['expired']:,} expired in {s['expiry_turns']} loop turns, "
              f"the longest {s['expiry_pause_ms']:.2f} ms, {s['expiry_slow_turns']} over 1 ms")
    finally:
        sock.close()
        proc.terminate()
        proc.wait()


def wait_checkpoint(sock, unpacker, count):
    """Waits until count checkpoints are written; returns the stats then."""
    while True:
        s = request(sock, unpacker, {"op": "stats", "id": 4})
        if s["checkpoints"] >= count:
            return s
        time.sleep(0.1)


if __name__ == "__main__":
    main()
