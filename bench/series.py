#!/usr/bin/python3
"""What /series costs: a stream with 24 h of 1-minute slots, each holding records,
and the time of GET /series?window=24h&step=1m (1440 points) and step=10m.

    bench/series.py build/evald [records_per_slot]      (default 1000)

Starts its own evald on a manual clock, on run-time ports in a temp dir. Prints
figures; asserts nothing (docs/performance.md).
"""
import os
import sys
import tempfile
import time
import urllib.request

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
os.environ.setdefault("EVALD_BIN", os.path.abspath(sys.argv[1]))
from conftest import MANUAL, Daemon, advance  # noqa: E402


def main():
    per_slot = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    import pathlib
    d = Daemon(pathlib.Path(tempfile.mkdtemp()), args=MANUAL, server={"log_level": "info"},
               extra='[stream "m"]\nwindow_slot = 60s\nwindow_max = 24h\n')
    try:
        rng = np.random.default_rng(1)
        with d.client("unix") as c:
            for _ in range(1440):
                s = rng.random(per_slot)
                y = (rng.random(per_slot) < s).astype(int)
                c.send({"op": "observe", "stream": "m", "labels": y.tolist(), "scores": s.tolist()})
                advance(c, 60)
        for step in ("1m", "10m"):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                with urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}/series?stream=m"
                                            f"&window=24h&step={step}") as r:
                    body = r.read()
                times.append(time.perf_counter() - t)
            print(f"/series window=24h step={step}: {len(body) / 1024:.0f} KiB, "
                  f"best {min(times) * 1e3:.1f} ms, median {sorted(times)[2] * 1e3:.1f} ms")
    finally:
        d.stop()


if __name__ == "__main__":
    main()
