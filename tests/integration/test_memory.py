"""max_memory: one budget for stream state, and what happens, visibly, when it is reached.

5,000 streams of 1000 bins, 200 window slots of 10 s on a manual clock,
max_memory = 256MiB: 25 new streams join in every slot, and every stream
made so far gets a batch in every slot, until the budget is spent. With
EVALD_RSS_CHECK set (a build without sanitizers) the daemon's resident set
is held to max_memory plus the fixed overhead docs/limits.md states.
"""
import json
import os
import random
import time
import urllib.request

import msgpack

from conftest import MANUAL, T0, Daemon, advance

MAX_MEMORY = 256 << 20
SLOTS = 200
NEW_PER_SLOT = 25
PER_BATCH = 4
# docs/limits.md: what a 1000-bin stream with 200 slots costs before its first
# slot, counted as the allocator holds it (cells 48,000 B, ring 8,000 B, the rest).
STREAM_COST_MAX = 60_000
# docs/limits.md: RSS beyond state_bytes (binary, libraries, buffers, allocator slack).
RSS_OVERHEAD = 16 << 20


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def pipelined(c, requests):
    """Sends every request at once, then reads one reply per request, in order."""
    c.send_raw(b"".join(msgpack.packb(r, use_bin_type=True) for r in requests))
    return [c.recv() for _ in requests]


def test_the_budget_refuses_new_streams_and_slots_but_never_an_accepted_record(tmp_path):
    d = Daemon(tmp_path, server={"max_memory": "256MiB"}, args=MANUAL,
               defaults={"window_slot": "10s", "window_max": f"{10 * (SLOTS - 1)}s"})
    rng = random.Random(14)
    sent = {}  # stream -> records accepted
    slots = {}  # stream -> the slots it got a batch in
    first_refusal = None  # the slot of the first stream refused, and state_bytes after it
    incomplete_seen = complete_seen = 0
    try:
        with d.client("unix") as c:
            for t in range(SLOTS):
                if t:
                    advance(c, 10)
                names = [f"s{i}" for i in range(NEW_PER_SLOT * (t + 1))]
                requests = [{"op": "observe", "id": i, "stream": name,
                             "labels": [rng.random() < 0.3 for _ in range(PER_BATCH)],
                             "scores": [rng.random() for _ in range(PER_BATCH)]}
                            for i, name in enumerate(names)]
                for name, reply in zip(names, pipelined(c, requests)):
                    if reply["ok"]:
                        assert reply["accepted"] == PER_BATCH
                        sent[name] = sent.get(name, 0) + PER_BATCH
                        slots.setdefault(name, set()).add(t)
                        continue
                    # Only streams never made are refused, whole, and the error names the budget.
                    assert reply["error"]["code"] == "out_of_memory", reply
                    assert "max_memory" in reply["error"]["message"]
                    assert name not in sent
                    if first_refusal is None:
                        first_refusal = (t, None)
                stats = c.request({"op": "stats"})
                assert stats["state_bytes"] <= MAX_MEMORY
                if first_refusal and first_refusal[1] is None:
                    # The new streams come last in a slot, and once one is refused so is
                    # every later one: nothing grew after the first refusal.
                    first_refusal = (t, stats["state_bytes"])
                # A 10 s window (this slot and the last) of a few streams: complete exactly
                # when its slots kept every batch.
                for name in rng.sample(sorted(sent), min(5, len(sent))):
                    snap = c.request({"op": "snapshot", "stream": name, "window": "10s"})
                    want = PER_BATCH * len(slots[name] & {t - 1, t})
                    assert snap["complete"] == (snap["n"] == want), snap
                    incomplete_seen += not snap["complete"]
                    complete_seen += snap["complete"]
                if t == SLOTS // 2 and os.environ.get("EVALD_RSS_CHECK"):
                    assert rss_bytes(d.proc.pid) <= MAX_MEMORY + RSS_OVERHEAD

            # The budget ran out while streams were still being made, and only then.
            assert first_refusal is not None
            # What was left could not hold the next stream: its cost, and, had the registry's
            # arrays been due to double then, their growth (176 bytes a stream at most).
            assert 0 <= MAX_MEMORY - first_refusal[1] < STREAM_COST_MAX + 176 * len(sent)
            stats = c.request({"op": "stats"})
            assert stats["max_memory"] == MAX_MEMORY
            assert stats["streams"] == len(sent) < NEW_PER_SLOT * SLOTS
            assert stats["streams_refused"] >= NEW_PER_SLOT * SLOTS - len(sent)
            assert stats["errors"]["out_of_memory"] == stats["streams_refused"]
            assert stats["records_accepted"] == sum(sent.values())
            assert stats["slots_refused"] > 0
            assert incomplete_seen and complete_seen

            # Every accepted record is in its stream's total; what its slots lost is counted.
            listed = {s["name"]: s["n"] for s in c.request({"op": "streams"})["streams"]}
            assert listed == sent
            window = f"{10 * (SLOTS - 1)}s"
            snaps = pipelined(c, [{"op": "snapshot", "id": name, "stream": name, "window": window}
                                  for name in sorted(sent)])
            lost = 0
            for snap in snaps:
                name = snap["id"]
                assert snap["slots_refused"] == sent[name] - snap["n"]
                assert snap["complete"] == (snap["n"] == sent[name])
                lost += sent[name] - snap["n"]
            assert lost == stats["slots_refused"]

            if os.environ.get("EVALD_RSS_CHECK"):
                rss = rss_bytes(d.proc.pid)
                print(f"RSS {rss / 2**20:.1f} MiB, state_bytes {stats['state_bytes'] / 2**20:.1f}"
                      f" MiB, max_memory {MAX_MEMORY / 2**20:.0f} MiB")
                assert rss <= MAX_MEMORY + RSS_OVERHEAD
        log = d.log_text()
        assert "event=stream_refused" in log and "event=memory_budget" in log
    finally:
        assert d.stop() == 0, d.log_text()[-3000:]


def test_pending_predictions_are_evicted_oldest_first_when_the_budget_is_reached(tmp_path):
    d = Daemon(tmp_path, server={"max_memory": "4MiB"}, args=MANUAL,
               defaults={"window_max": "0"})
    n, batch = 0, 20_000
    try:
        with d.client("unix") as c:
            for _ in range(20):  # bounded: the budget holds far fewer than 400,000
                reply = c.request({"op": "predict", "id": 1, "stream": "m",
                                   "ids": list(range(n, n + batch)),
                                   "scores": [0.5] * batch})
                assert reply["ok"], reply
                n += batch
                if c.request({"op": "stats"})["pending_evicted_memory"]:
                    break
            stats = c.request({"op": "stats"})
            assert stats["state_bytes"] <= 4 << 20
            evicted = stats["pending_evicted_memory"]
            assert evicted > 0
            lab = c.request({"op": "snapshot", "stream": "m"})["labels"]
            # Every prediction is accepted and counted: waiting, or evicted as at max_pending.
            assert lab["predictions"] == n
            assert lab["pending"] + lab["evicted"] == n and lab["evicted"] == evicted
            # The oldest went: the newest id still finds its prediction, the first does not.
            newest = c.request({"op": "label", "id": 2, "stream": "m", "ids": [n - 1],
                                "labels": [1]})
            assert newest["matched"] == 1
            oldest = c.request({"op": "label", "id": 3, "stream": "m", "ids": [0], "labels": [1]})
            assert oldest["matched"] == 0
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}/metrics",
                                             timeout=30).read().decode()
            assert f'evald_memory_refused_total{{what="pending"}} {evicted}' in metrics
            advance(c, 1)  # a tick, which logs what the budget refused
        assert "event=memory_budget" in d.log_text()
    finally:
        assert d.stop() == 0, d.log_text()[-3000:]


def test_with_checkpoints_streams_take_half_the_budget_and_every_checkpoint_fits(tmp_path):
    state = tmp_path / "evald.state"
    extra = f"[state]\npath = {state}\ncheckpoint_interval = 1s\n"
    d = Daemon(tmp_path, server={"max_memory": "8MiB"}, extra=extra)
    made = 0
    try:
        with d.client("unix") as c:
            for i in range(1000):  # bounded: about 70 streams fit in 4 MiB
                reply = c.request({"op": "observe", "id": i, "stream": f"s{i}",
                                   "label": 1, "score": 0.5})
                if not reply["ok"]:
                    assert reply["error"]["code"] == "out_of_memory"
                    assert "4194304 of them for streams" in reply["error"]["message"]
                    break
                made += 1
            assert 0 < made < 1000
            stats = c.request({"op": "stats"})
            assert stats["state_bytes"] <= 4 << 20
            for _ in range(200):  # up to 20 s for a checkpoint of the full budget
                stats = c.request({"op": "stats"})
                if stats["checkpoints"]:
                    break
                time.sleep(0.1)
            assert stats["checkpoints"] >= 1 and stats["checkpoint_errors"] == 0
        assert d.stop() == 0, d.log_text()
        d = Daemon(tmp_path, server={"max_memory": "8MiB"}, extra=extra)
        with d.client("unix") as c:
            assert len(c.request({"op": "streams"})["streams"]) == made
    finally:
        assert d.stop() == 0, d.log_text()[-3000:]


def test_a_sink_line_over_a_slot_that_lost_records_says_it_is_incomplete(tmp_path):
    sink = tmp_path / "sink.jsonl"

    def make_streams(c):
        for i in range(5):
            reply = c.request({"op": "observe", "id": i, "stream": f"s{i}",
                               "label": 1, "score": 0.5})
            assert reply["ok"], reply

    # What five streams of one record take, measured without a budget; then
    # a budget 16 KiB above it: room for a slot's log, not for its cells.
    d = Daemon(tmp_path, args=MANUAL)
    try:
        with d.client("unix") as c:
            make_streams(c)
            budget = c.request({"op": "stats"})["state_bytes"] + 16 * 1024
    finally:
        assert d.stop() == 0, d.log_text()[-3000:]
    d = Daemon(tmp_path, server={"max_memory": str(budget)}, args=MANUAL,
               extra=f"[sink]\npath = {sink}\ninterval = 10s\n")
    try:
        with d.client("unix") as c:
            make_streams(c)
            reply = c.request({"op": "observe", "stream": "s5", "label": 1, "score": 0.5})
            assert reply["error"]["code"] == "out_of_memory"
            advance(c, 10)
            # A new slot of s0 fills with records until its log can grow no more.
            n = 0
            for _ in range(20):
                reply = c.request({"op": "observe", "id": 1, "stream": "s0",
                                   "labels": [0, 1] * 500, "scores": [0.25, 0.75] * 500})
                assert reply["ok"], reply
                n += 1000
                if c.request({"op": "stats"})["slots_refused"]:
                    break
            refused = c.request({"op": "stats"})["slots_refused"]
            assert refused > 0
            advance(c, 10)
        lines = [json.loads(l) for l in sink.read_text().splitlines()]
        line = [l for l in lines if l["stream"] == "s0" and l["from"] == T0 + 10][0]
        assert line["complete"] is False
        assert line["interval"]["n"] == n - refused
        assert line["total"]["n"] == n + 1
        assert all("complete" not in l for l in lines if l is not line)
    finally:
        assert d.stop() == 0, d.log_text()[-3000:]
