#!/usr/bin/python3
"""Start-up time of evald: from exec to its "started" log line, when every
listener is bound and the state file, if any, is restored. Measured with
no state, then with a state file of STREAMS streams of 1000 bins with
records in every bin (written by the daemon itself at shutdown).

    bench/startup.py EVALD [STREAMS]      (default STREAMS: 1000)

Run it with /usr/bin/python3 (Debian's python3-msgpack and -numpy).
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import msgpack
import numpy as np

ROUNDS = 10


def start(evald, config):
    """Starts evald; returns (process, seconds until it logged event=started)."""
    t = time.perf_counter()
    proc = subprocess.Popen([evald, "--config", config], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "event=started" in line:
            elapsed = time.perf_counter() - t
            # Keep reading its log, or a full pipe would block the daemon.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, elapsed
    proc.wait()
    raise SystemExit(f"evald exited with {proc.returncode} before it started")


def stop(proc):
    proc.terminate()
    if proc.wait(timeout=60) != 0:
        raise SystemExit(f"evald exited with {proc.returncode}")


def fill(sock_path, streams):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    scores = ((np.arange(4000) % 1000) + 0.5) / 1000
    labels = (np.arange(4000) % 3 == 0).astype(int).tolist()
    for i in range(streams):
        s.sendall(msgpack.packb({"op": "observe", "stream": f"stream-{i}",
                                 "labels": labels, "scores": scores.tolist()}))
    s.sendall(msgpack.packb({"op": "stats", "id": 1}))
    unpacker = msgpack.Unpacker(raw=False)
    while True:
        unpacker.feed(s.recv(1 << 16))
        for reply in unpacker:
            if reply.get("id") == 1:
                s.close()
                return reply["records_accepted"]


def timed(evald, config, label):
    times = []
    for _ in range(ROUNDS):
        proc, t = start(evald, config)
        times.append(t)
        stop(proc)
    print(f"{label:<44} {statistics.median(times) * 1e3:>8.1f} ms {max(times) * 1e3:>8.1f} ms",
          flush=True)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    evald = sys.argv[1]
    streams = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "evald.sock")
        state = os.path.join(tmp, "evald.state")
        config = os.path.join(tmp, "evald.ini")
        with open(config, "w") as f:
            f.write(f"[server]\nlisten =\nunix = {sock}\nlog_level = info\n"
                    f"max_streams = {max(streams, 1)}\n[state]\npath = {state}\n")
        print(f"{'start-up, exec to listening':<44} {'median':>11} {'max':>11}")
        timed(evald, config, "no state file")
        proc, _ = start(evald, config)
        fill(sock, streams)
        stop(proc)  # writes the state file
        size = os.path.getsize(state) / 1e6
        timed(evald, config, f"{streams} streams x 1000 bins restored ({size:.0f} MB)")


if __name__ == "__main__":
    main()
