"""Smoke runs of the benchmarks that need a daemon: tiny sizes, only to keep them working.

They print figures and assert no time (docs/performance.md); here each must
finish, report every payload shape, and agree with what evald counted.
"""
import os
import subprocess
import sys

BENCH = os.environ.get("EVALD_BENCH")
HERE = os.path.dirname(__file__)


def test_ingest_bench_reports_every_shape(start_daemon):
    d = start_daemon()
    out = subprocess.run([BENCH, "--records", "3000", "--clients", "1,2", "--rounds", "20", d.sock],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for shape in ("float64", "float32", "typed 1000, f8", "typed 1000, f4", "compact",
                  "single-record"):
        assert sum(shape in line for line in out.stdout.splitlines()) == 2, out.stdout
    assert "no curve, under typed ingest" in out.stdout
    with d.client() as c:
        # Per shape: 3000 records from one client, then 1000 from each of two (whole
        # batches); the bench itself fails unless evald counted each run exactly.
        assert c.request({"op": "stats"})["records_accepted"] >= 6 * (3000 + 2000)


def test_ingest_bench_sends_predictions_and_labels(start_daemon):
    d = start_daemon()
    out = subprocess.run([BENCH, "--records", "4000", "--clients", "1,2", "--rounds", "0",
                          "--shapes", "predict,label,repredict,tpredict,tlabel", d.sock],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for shape in ("predict, 1000 int ids", "label, 1000 int ids", "predict, grown index",
                  "predict typed", "label typed"):
        assert sum(shape in line for line in out.stdout.splitlines()) == 2, out.stdout
    with d.client() as c:
        stats = c.request({"op": "stats"})
        # Each run sends 4000 ids: predictions three times (twice plain, once typed), labels
        # twice (plain, typed), the typed ones to streams of their own; all of them matched.
        assert stats["predictions_accepted"] == 3 * 2 * 4000
        assert stats["labels_accepted"] == 2 * 2 * 4000
        assert stats["labels"]["matched"] == 2 * 2 * 4000


def test_sklearn_comparison_agrees_with_sklearn(start_daemon):
    d = start_daemon()
    script = os.path.join(HERE, "../../bench/sklearn_compare.py")
    out = subprocess.run([sys.executable, script, d.sock, "2000"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    row = out.stdout.splitlines()[1].split()
    assert row[0] == "2000"
    ap_sklearn, ap_evald = float(row[4]), float(row[5])
    assert abs(ap_sklearn - ap_evald) < 0.01


def test_startup_bench_restores_a_state_file():
    evald = os.environ["EVALD_BIN"]
    script = os.path.join(HERE, "../../bench/startup.py")
    out = subprocess.run([sys.executable, script, evald, "5"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "5 streams x 1000 bins restored" in out.stdout


def test_ingest_bench_presents_a_token(start_daemon, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("admin bench-token-1\n")
    os.chmod(tokens, 0o600)
    (tmp_path / "bench.token").write_text("bench-token-1\n")
    d = start_daemon(extra=f"[auth]\ntokens_file = {tokens}\nunix = token\n")
    args = [BENCH, "--records", "2000", "--clients", "1", "--rounds", "10", "--shapes", "typed64",
            d.sock]
    (tmp_path / "wrong.token").write_text("not-the-token\n")
    refused = subprocess.run(args[:-1] + ["--token-file", str(tmp_path / "wrong.token"), d.sock],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "refused the token" in refused.stderr
    out = subprocess.run(args[:-1] + ["--token-file", str(tmp_path / "bench.token"), d.sock],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "typed 1000, f8" in out.stdout and "bench-token-1" not in out.stdout + out.stderr
