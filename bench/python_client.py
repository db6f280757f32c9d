#!/usr/bin/python3
"""The Python client's costs, against a running evald.

- caller: what `Sender.observe` of a 1000-record numpy batch (bool labels, float64
  scores) costs the calling thread, the sender's thread running beside it;
- sender: records per second from `Sender.observe` calls into evald, from the first
  call until `flush()` returns (every record answered);
- client: records per second of `Client.observe` of 100,000-record numpy batches.

    bench/python_client.py ADDRESS [records]      (default 20,000,000 for the sender)

Run it with /usr/bin/python3. Prints figures; asserts nothing (docs/performance.md).
"""
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../clients/python/src"))
import evald  # noqa: E402


def main():
    address = sys.argv[1]
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000_000
    rng = np.random.default_rng(1)
    y, s = rng.random(1000) < 0.3, rng.random(1000)

    # The caller's cost: blocks of 1000 calls, the median block, per call.
    with evald.Sender(address, stream="bench-caller", max_queue=10_000_000) as sender:
        blocks = []
        for _ in range(20):
            t = time.perf_counter()
            for _ in range(1000):
                sender.observe(y, s)
            blocks.append((time.perf_counter() - t) / 1000)
        sender.flush(60)
    print(f"caller: Sender.observe of 1000 records: median {statistics.median(blocks) * 1e6:.1f} us"
          f", best {min(blocks) * 1e6:.1f} us a call")

    # The sender's rate into evald.
    with evald.Sender(address, stream="bench-sender", max_queue=records,
                      on_full="block") as sender:
        t = time.perf_counter()
        for _ in range(records // 1000):
            sender.observe(y, s)
        ok = sender.flush(600)
        elapsed = time.perf_counter() - t
        st = sender.stats()
    print(f"sender: {records:,} records in {elapsed:.2f} s: {records / elapsed / 1e6:.1f} M/s "
          f"(flushed {ok}, sent {st['sent']:,}, dropped {st['dropped']:,})")

    # The synchronous client, large batches.
    yb, sb = rng.random(100_000) < 0.3, rng.random(100_000)
    with evald.Client(address) as c:
        t = time.perf_counter()
        for _ in range(50):
            c.observe(yb, sb, stream="bench-client")
        elapsed = time.perf_counter() - t
    print(f"client: Client.observe of 100,000 records: {5e6 / elapsed / 1e6:.1f} M/s")


if __name__ == "__main__":
    main()
