"""Durable state: stop and start, kill -9 at random moments, and damaged files."""
import glob
import os
import random
import signal
import subprocess
import time

import msgpack
import numpy as np
import pytest

from conftest import EVALD, Daemon

MANUAL = ["--clock", "manual"]


def state_config(tmp_path, interval="10s"):
    return {"state": f"[state]\npath = {tmp_path}/evald.state\ncheckpoint_interval = {interval}\n"}


def snapshots(c, names):
    out = {}
    for name in names:
        for window in ("total", "30s"):
            snap = c.request({"op": "snapshot", "stream": name, "window": window, "curve": True,
                              "thresholds": [0.25, 0.75]})
            out[(name, window)] = snap
    return out


def test_stop_and_start_keeps_every_snapshot(tmp_path):
    extra = f"[state]\npath = {tmp_path}/evald.state\n[stream \"logit\"]\nspacing = logit\n"
    rng = np.random.default_rng(1)
    d = Daemon(tmp_path, args=MANUAL, extra=extra)
    with d.client() as c:
        for k in range(5):
            for name in ("a", "logit"):
                y = (rng.random(500) < 0.3).astype(int)
                s = rng.random(500)
                w = rng.uniform(0.5, 2, 500)
                c.send({"op": "observe", "stream": name, "labels": y.tolist(),
                        "scores": s.tolist(), "weights": w.tolist()})
            c.request({"op": "advance_clock", "seconds": 10})
        c.send([2, 0.5])  # rejected: the counters survive too
        c.recv()
        before = snapshots(c, ("a", "logit"))
        stats = c.request({"op": "stats"})
    assert d.stop() == 0
    assert "final=true" in d.log_text()

    d = Daemon(tmp_path, args=MANUAL, extra=extra)
    try:
        assert "state_restored" in d.log_text() and "streams=2 records=5000" in d.log_text()
        with d.client() as c:
            c.request({"op": "advance_clock", "seconds": 50})  # the same clock as before
            after = snapshots(c, ("a", "logit"))
            restored = c.request({"op": "stats"})
        assert after == before
        assert restored["records_accepted"] == stats["records_accepted"] == 5000
        assert restored["records_rejected"]["bad_label"] == 1
    finally:
        assert d.stop() == 0


def test_kill_9_at_random_moments_always_restores_a_consistent_prefix(tmp_path, monkeypatch):
    # Slow the checkpoint writes so that a kill just after one starts lands in the middle of it.
    monkeypatch.setenv("EVALD_CHECKPOINT_DELAY_MS", "3")
    extra = f"[state]\npath = {tmp_path}/evald.state\ncheckpoint_interval = 1h\n"
    rand = random.Random(2026)
    positives = []  # positives of each batch the daemon's state holds, in order
    sent = mid_write = 0

    def batch(c):
        nonlocal sent
        rng = np.random.default_rng(sent)
        y = [int(v) for v in rng.random(100) < 0.3]
        reply = c.request({"op": "observe", "stream": "k", "labels": y,
                           "scores": rng.random(100).tolist(), "id": sent})
        assert reply["accepted"] == 100
        positives.append(sum(y))
        sent += 1

    for run in range(50):
        d = Daemon(tmp_path, extra=extra, args=MANUAL, server={"log_level": "info"})
        try:
            with d.client() as c:
                snap = c.request({"op": "snapshot", "stream": "k"})
                n = 0 if not snap["ok"] else snap["n"]
                assert n % 100 == 0 and n // 100 <= len(positives), (run, n, len(positives))
                kept = positives[: n // 100]
                assert (0 if not snap["ok"] else snap["positives"]) == sum(kept), run
                positives = kept
                for _ in range(rand.randint(1, 30)):
                    batch(c)
                before = c.request({"op": "stats"})["checkpoints"]
                assert c.request({"op": "checkpoint", "id": run})["ok"]
                if run % 2 == 0:  # kill once it is written, after records it does not hold
                    for _ in range(600):  # bounded: 30 s
                        if c.request({"op": "stats"})["checkpoints"] > before:
                            break
                        time.sleep(0.05)
                    for _ in range(rand.randint(0, 5)):
                        batch(c)
                else:  # kill while it is being copied or written
                    time.sleep(rand.uniform(0, 0.03))
        finally:
            d.proc.kill()  # SIGKILL: no final checkpoint
            d.proc.wait()
        if os.path.exists(f"{tmp_path}/evald.state.tmp"):
            mid_write += 1  # killed while a checkpoint was being written
        assert not os.path.exists(f"{tmp_path}/evald.state") or \
            open(f"{tmp_path}/evald.state", "rb").read(8) == b"\x89EVALD\r\n"
    assert mid_write > 0
    d = Daemon(tmp_path, extra=extra)
    try:
        with d.client() as c:
            snap = c.request({"op": "snapshot", "stream": "k"})
            assert snap["n"] <= sent * 100
        print(f"{sent} batches sent, {mid_write} of 50 kills during a checkpoint write")
    finally:
        assert d.stop() == 0


def good_state(tmp_path):
    """A real state file, written by a daemon that saw a few records."""
    extra = f"[state]\npath = {tmp_path}/evald.state\n"
    d = Daemon(tmp_path, extra=extra)
    with d.client() as c:
        c.request({"op": "observe", "stream": "s", "labels": [1, 0, 1], "scores": [0.9, 0.2, 0.6],
                   "id": 1})
    assert d.stop() == 0
    return tmp_path / "evald.state", extra


def start_fails(tmp_path, extra, *args):
    config = tmp_path / "bad.ini"
    config.write_text(f"[server]\nlisten = 127.0.0.1:0\nunix = {tmp_path}/b.sock\n" + extra)
    return subprocess.run([EVALD, "--config", str(config), *args], capture_output=True, text=True,
                          timeout=60)


def damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) - 7])
    elif how == "flipped":
        path.write_bytes(data[:-20] + bytes([data[-20] ^ 0x10]) + data[-19:])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "foreign":
        path.write_text("[server]\nlisten = 1\n")
    elif how == "version":
        header = msgpack.packb({"format": 99, "evald": "9.9.9", "created": 1.0,
                                "body_bytes": 0, "crc32": 0})
        path.write_bytes(b"\x89EVALD\r\n" + header)


@pytest.mark.parametrize("how,problem", [
    ("truncated", "truncated"), ("flipped", "CRC"), ("empty", "empty"),
    ("foreign", "magic"), ("version", "format version 99")])
def test_a_damaged_state_file_refuses_the_start(tmp_path, how, problem):
    path, extra = good_state(tmp_path)
    damage(path, how)
    proc = start_fails(tmp_path, extra)
    assert proc.returncode == 2, proc.stderr
    assert str(path) in proc.stderr and problem in proc.stderr
    assert "--discard-bad-state" in proc.stderr
    assert path.exists()  # never deleted or overwritten


def test_discard_bad_state_moves_the_file_aside_and_starts_empty(tmp_path):
    path, extra = good_state(tmp_path)
    damage(path, "flipped")
    bad = path.read_bytes()
    d = Daemon(tmp_path, extra=extra, args=["--discard-bad-state"])
    try:
        aside = glob.glob(f"{path}.corrupt-*")
        assert len(aside) == 1 and open(aside[0], "rb").read() == bad
        assert "state_discarded" in d.log_text()
        with d.client() as c:
            assert c.request({"op": "streams"})["streams"] == []
    finally:
        assert d.stop() == 0


def test_a_changed_configuration_keeps_the_stored_one_and_says_so(tmp_path):
    path, extra = good_state(tmp_path)
    d = Daemon(tmp_path, extra=extra, defaults={"bins": 10, "spacing": "logit"})
    try:
        assert "stream_config_changed" in d.log_text()
        with d.client() as c:
            snap = c.request({"op": "snapshot", "stream": "s"})
            assert (snap["bins"], snap["spacing"], snap["n"]) == (1000, "uniform", 3)
            c.send({"op": "observe", "stream": "new", "label": 1, "score": 0.5})
            assert c.request({"op": "snapshot", "stream": "new"})["bins"] == 10
    finally:
        assert d.stop() == 0


def test_a_checkpoint_interval_over_49_days_keeps_its_length(tmp_path):
    # 4294968 s is 4294968000 ms: in 32 bits that wraps to 704 ms.
    extra = f"[state]\npath = {tmp_path}/evald.state\ncheckpoint_interval = 4294968s\n"
    d = Daemon(tmp_path, extra=extra)
    try:
        assert "event=checkpoint_timer every_ms=4294968000" in d.log_text()
        with d.client() as c:  # the testing aid needs --clock manual
            assert c.request({"op": "checkpoint"})["error"]["code"] == "unknown_op"
    finally:
        assert d.stop() == 0
