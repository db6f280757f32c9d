"""The Python client's background Sender against a real evald: an evald stopped and
restarted under it, a fork, a full queue, and records evald refuses."""
import os
import sys
import time

import numpy as np
import pytest

from conftest import Daemon

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../clients/python/src"))
import evald  # noqa: E402


def stateful(tmp_path):
    return Daemon(tmp_path, extra=f"[state]\npath = {tmp_path / 'evald.state'}\n")


def test_an_evald_restarted_under_the_sender_counts_every_record_once(tmp_path):
    d = stateful(tmp_path)
    rng = np.random.default_rng(1)
    y, s = rng.random(1000) < 0.5, rng.random(1000)
    sender = evald.Sender(f"unix:{d.sock}", stream="m", flush_interval=0.01)
    given = 0
    try:
        for i in range(300):  # bounded: about 3 s of sending
            sender.observe(y, s)  # never raises, whatever evald is doing
            given += 1000
            if i == 100:
                assert d.stop() == 0  # a clean stop writes its last checkpoint
            if i == 150:
                d = stateful(tmp_path)
            time.sleep(0.01)
        assert sender.flush(timeout=60)
        st = sender.stats()
        assert st["queued"] == 0 and st["errors"] == {}
        assert st["sent"] + st["dropped"] == given
        assert st["reconnects"] >= 1
        with evald.Client(f"unix:{d.sock}") as c:
            n = c.snapshot(stream="m").n
        # Every record sent is counted, none twice; the rest are counted as dropped.
        assert n == st["sent"]
    finally:
        sender.close()
        assert d.stop() == 0, d.log_text()[-2000:]


def test_a_forked_child_sends_its_own_records_and_not_the_parents(tmp_path):
    d = Daemon(tmp_path)
    try:
        sender = evald.Sender(f"unix:{d.sock}", stream="f", flush_interval=0.01)
        sender.observe(np.ones(500, dtype=bool), np.full(500, 0.9))  # queued in the parent
        pid = os.fork()
        if pid == 0:  # the child: a sender of its own, empty
            code = 1
            try:
                sender.observe(np.zeros(300, dtype=bool), np.full(300, 0.1))
                ok = sender.flush(timeout=30)
                st = sender.stats()
                code = 0 if ok and st["sent"] == 300 and st["dropped"] == 0 else 2
            finally:
                os._exit(code)
        sender.observe(np.ones(200, dtype=bool), np.full(200, 0.8))
        assert sender.flush(timeout=30)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert sender.stats()["sent"] == 700
        with evald.Client(f"unix:{d.sock}") as c:
            snap = c.snapshot(stream="f")
        assert (snap.n, snap.positives, snap.negatives) == (1000, 700, 300)
        sender.close()
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]


def test_a_full_queue_drops_the_newest_and_counts_it(tmp_path):
    sender = evald.Sender(f"unix:{tmp_path / 'nobody.sock'}", max_queue=5000)
    started = time.monotonic()
    for _ in range(10):
        sender.observe(np.ones(1000, dtype=bool), np.full(1000, 0.5))
    assert time.monotonic() - started < 5  # the caller never waits on the network
    st = sender.stats()
    assert (st["queued"], st["dropped"], st["sent"]) == (5000, 5000, 0)
    assert not sender.flush(timeout=0.2)
    sender.close(timeout=0.2)
    assert sender.stats()["dropped"] == 10_000


def test_refused_records_are_counted_by_code_and_the_rest_sent(tmp_path):
    d = Daemon(tmp_path)
    try:
        with evald.Sender(f"unix:{d.sock}", stream="e") as sender:
            sender.observe([1, 0], [0.9, 0.1])
            sender.observe([1, 2, 0], [0.9, 0.5, 0.1])  # a label of 2: the call is refused
            sender.observe(np.ones(3), [0.9, np.nan, 0.1])
            sender.predict(["a", "b"], [0.7, 0.2])
            sender.label(["a", "b"], [True, False])
            assert sender.flush(timeout=30)
            st = sender.stats()
        assert st["errors"] == {"bad_label": 3, "bad_score": 3}
        assert st["sent"] == 6
        with evald.Client(f"unix:{d.sock}") as c:
            assert c.snapshot(stream="e").n == 4  # two observed, two joined
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]


@pytest.mark.parametrize("on_full", ["block"])
def test_a_blocking_sender_waits_for_room_instead_of_dropping(tmp_path, on_full):
    d = Daemon(tmp_path)
    try:
        with evald.Sender(f"unix:{d.sock}", stream="b", max_queue=2000,
                          on_full=on_full) as sender:
            for _ in range(20):
                sender.observe(np.ones(1000, dtype=bool), np.full(1000, 0.5))
            assert sender.flush(timeout=30)
            assert sender.stats()["dropped"] == 0 and sender.stats()["sent"] == 20_000
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]


def test_a_sender_flushes_at_interpreter_exit(tmp_path):
    import subprocess
    d = Daemon(tmp_path)
    try:
        src = os.path.join(os.path.dirname(__file__), "../../clients/python/src")
        script = (f"import sys; sys.path.insert(0, {src!r})\n"
                  "import evald, numpy as np\n"
                  f"s = evald.Sender('unix:{d.sock}', stream='exit', flush_interval=5)\n"
                  "s.observe(np.ones(2500, dtype=bool), np.full(2500, 0.7))\n")  # no flush
        run = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True,
                             text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        with evald.Client(f"unix:{d.sock}") as c:
            assert c.snapshot(stream="exit").n == 2500
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]
