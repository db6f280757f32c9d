"""evalctl against a real evald: send and snapshot round trips, and exit codes."""
import json
import subprocess

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from conftest import EVALCTL


def evalctl(daemon, *args, transport="unix", stdin=None):
    target = f"unix:{daemon.sock}" if transport == "unix" else f"tcp://127.0.0.1:{daemon.port}"
    return subprocess.run([EVALCTL, "--connect", target, *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_send_then_snapshot_matches_sklearn(daemon, tmp_path, transport):
    rng = np.random.default_rng(17)
    y = (rng.random(25_000) < 0.4).astype(int)
    s = np.round(rng.beta(2 + 2 * y, 2 + 2 * (1 - y)), 3)
    csv = tmp_path / "records.csv"
    csv.write_text("label,score\n# a model's scores\n" +
                   "".join(f"{a},{b!r}\n" for a, b in zip(y, s)))
    sent = evalctl(daemon, "send", "--stream", "m", "--batch", "700", str(csv), transport=transport)
    assert sent.returncode == 0, sent.stderr
    assert "sent 25000 records to stream m" in sent.stdout
    snap = evalctl(daemon, "snapshot", "--stream", "m", "--json", "--threshold", "0.25",
                   transport=transport)
    assert snap.returncode == 0, snap.stderr
    j = json.loads(snap.stdout)
    assert j["n"] == 25_000 and j["positives"] == int(y.sum())
    assert j["average_precision"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert j["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert [r["threshold"] for r in j["thresholds"]] == [0.5, 0.25]
    table = evalctl(daemon, "snapshot", "--stream", "m", transport=transport)
    assert table.returncode == 0 and "average precision" in table.stdout


def test_send_reads_stdin_tsv_and_weights_and_reports_bad_lines(daemon):
    text = "1\t0.9\t2\n0\t0.1\n\n# comment\n1\t0.6\n2\t0.5\n1\tnope\n0\t0.4\t-1\n"
    sent = evalctl(daemon, "send", "--stream", "t", stdin=text)
    assert sent.returncode == 1
    assert "line 6" in sent.stderr and "label" in sent.stderr
    assert "line 7" in sent.stderr and "score" in sent.stderr
    assert "line 8" in sent.stderr and "weight" in sent.stderr
    assert "sent 3 records" in sent.stdout and "3 lines rejected" in sent.stdout
    j = json.loads(evalctl(daemon, "snapshot", "--stream", "t", "--json").stdout)
    assert j["n"] == 4 and j["positives"] == 3 and j["records"] == 3


def test_other_commands(daemon):
    assert evalctl(daemon, "send", stdin="1,0.8\n0,0.3\n").returncode == 0
    ping = evalctl(daemon, "ping")
    assert ping.returncode == 0 and "evald 0.1.0" in ping.stdout
    streams = evalctl(daemon, "streams", "--json")
    listed = json.loads(streams.stdout)["streams"]
    assert [{k: s[k] for k in ("name", "n", "positives", "negatives")} for s in listed] == [
        {"name": "default", "n": 2, "positives": 1, "negatives": 1}]
    stats = json.loads(evalctl(daemon, "stats", "--json").stdout)
    assert stats["records_accepted"] == 2
    assert "records_accepted" in evalctl(daemon, "stats").stdout
    assert evalctl(daemon, "reset", "--stream", "default").returncode == 0
    assert json.loads(evalctl(daemon, "snapshot", "--json").stdout)["n"] == 0


def test_exit_codes(daemon, tmp_path):
    missing = evalctl(daemon, "snapshot", "--stream", "nobody")
    assert missing.returncode == 1 and "unknown_stream" in missing.stderr
    assert evalctl(daemon, "snapshot", "--window", "1y").returncode == 1
    for usage in (["frobnicate"], ["reset"], ["snapshot", "--threshold", "x"],
                  ["send", "--stream", ""], []):
        proc = evalctl(daemon, *usage)
        assert proc.returncode == 2, usage
        assert "usage" in proc.stderr
    gone = subprocess.run([EVALCTL, "--connect", f"unix:{tmp_path}/absent.sock", "ping"],
                          capture_output=True, text=True, timeout=30)
    assert gone.returncode == 2 and "cannot connect" in gone.stderr
    bad = subprocess.run([EVALCTL, "--connect", "ftp://x", "ping"], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode == 2


def test_every_address_form_reaches_evald(daemon):
    for target in (f"unix:{daemon.sock}", daemon.sock, f"tcp://127.0.0.1:{daemon.port}",
                   f"127.0.0.1:{daemon.port}", f"tcp://localhost:{daemon.port}"):
        r = subprocess.run([EVALCTL, "--connect", target, "ping"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, (target, r.stderr)
    r = subprocess.run([EVALCTL, "--connect", "tcp://127.0.0.1:1", "ping"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "cannot connect to tcp://127.0.0.1:1: Connection refused" in r.stderr


def test_send_predictions_then_labels_joins_them(daemon, tmp_path):
    rng = np.random.default_rng(23)
    n = 5000
    y = (rng.random(n) < 0.3).astype(int)
    s = np.round(rng.beta(2 + 2 * y, 2 + 2 * (1 - y)), 3)
    ids = [f"tx-{i}" if i % 2 else str(i) for i in range(n)]  # string and integer ids
    preds = tmp_path / "predictions.csv"
    preds.write_text("id,score\n" + "".join(f"{i},{v!r}\n" for i, v in zip(ids, s)))
    labels = tmp_path / "labels.tsv"
    order = rng.permutation(n)[: n - 100]  # labels in another order; 100 never come
    labels.write_text("".join(f"{ids[k]}\t{y[k]}\n" for k in order) + "tx-none\t1\n")
    sent = evalctl(daemon, "send", "--predictions", "--stream", "j", "--batch", "999", str(preds))
    assert sent.returncode == 0, sent.stderr
    assert "sent 5000 predictions to stream j (0 duplicates left out)" in sent.stdout
    sent = evalctl(daemon, "send", "--labels", "--stream", "j", str(labels))
    assert sent.returncode == 0, sent.stderr
    assert "sent 4901 labels to stream j: 4900 matched, 1 waiting" in sent.stdout
    j = json.loads(evalctl(daemon, "snapshot", "--stream", "j", "--json").stdout)
    assert j["labels"]["matched"] == 4900 and j["labels"]["pending"] == 100
    yy, ss = y[order], s[order]
    assert j["average_precision"] == pytest.approx(average_precision_score(yy, ss), abs=1e-12)
    assert j["roc_auc"] == pytest.approx(roc_auc_score(yy, ss), abs=1e-12)
    table = evalctl(daemon, "snapshot", "--stream", "j")
    assert "labels" in table.stdout and "pending 100" in table.stdout
    assert "waiting_labels 1" in table.stdout
    bad = evalctl(daemon, "send", "--labels", "--stream", "j", stdin="x" * 129 + ",1\n")
    assert bad.returncode == 1 and "line 1: an id is 1 to 128 bytes" in bad.stderr
    usage = evalctl(daemon, "snapshot", "--labels")
    assert usage.returncode == 2 and "--labels goes with send" in usage.stderr


def test_snapshot_prints_operating_points_and_intervals(daemon, tmp_path):
    csv = tmp_path / "ex.csv"
    csv.write_text("label,score\n1,0.9\n0,0.8\n1,0.7\n0,0.3\n1,0.3\n0,0.1\n")
    assert evalctl(daemon, "send", "--stream", "demo", str(csv)).returncode == 0
    out = evalctl(daemon, "snapshot", "--stream", "demo", "--operating-point", "recall=0.9",
                  "--operating-point", "fpr=0.4")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # recall >= 0.9 first reached at 0.3 (tp 3, fp 2); FPR <= 0.4 lowest at the configured 0.5.
    assert any(l.split()[:5] == ["recall", ">=", "0.9", "0.3", "0.6"] for l in lines), out.stdout
    assert any(l.split()[:4] == ["fpr", "<=", "0.4", "0.5"] for l in lines), out.stdout
    assert "95% CI [0.235265, 1]" in out.stdout  # DeLong, 3 and 3 records
    assert "no (under 10 effective records)" in out.stdout
    j = json.loads(evalctl(daemon, "snapshot", "--stream", "demo", "--json",
                           "--operating-point", "precision=0.6").stdout)
    assert j["operating_points"]["precision"][0]["threshold"] == 0.3
    bad = evalctl(daemon, "snapshot", "--operating-point", "f1=0.5")
    assert bad.returncode == 2 and "is not recall=R, precision=P or fpr=F" in bad.stderr


def test_drift_prints_its_figures(daemon, tmp_path):
    rng = np.random.default_rng(5)
    for name, a in (("now", 2.0), ("then", 2.5)):
        csv = tmp_path / f"{name}.csv"
        csv.write_text("".join(f"0,{x!r}\n" for x in rng.beta(a, 5, 3000)))
        assert evalctl(daemon, "send", "--stream", name, str(csv)).returncode == 0
    out = evalctl(daemon, "drift", "--stream", "now", "--reference-stream", "then")
    assert out.returncode == 0, out.stderr
    assert "against then  window total  n 3000  (10 groups)" in out.stdout
    assert "KS statistic" in out.stdout and "bounds [" in out.stdout
    j = json.loads(evalctl(daemon, "drift", "--stream", "now", "--reference-stream", "then",
                           "--json").stdout)
    ks = [l for l in out.stdout.splitlines() if l.startswith("KS statistic")][0].split()[2]
    assert float(ks) == pytest.approx(j["ks"], rel=1e-5)
    bad = evalctl(daemon, "drift", "--stream", "now")
    assert bad.returncode == 2 and "drift needs --reference-stream" in bad.stderr


def test_snapshot_prints_calibration_brier_and_log_loss(daemon, tmp_path):
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss, log_loss
    rng = np.random.default_rng(23)
    s = rng.random(4000)
    y = (rng.random(4000) < s ** 2).astype(int)
    csv = tmp_path / "cal.csv"
    csv.write_text("label,score\n" + "".join(f"{a},{b!r}\n" for a, b in zip(y, s.tolist())))
    assert evalctl(daemon, "send", "--stream", "cal", str(csv)).returncode == 0
    out = evalctl(daemon, "snapshot", "--stream", "cal", "--calibration=4")
    assert out.returncode == 0, out.stderr
    prob_true, prob_pred = calibration_curve(y, s, n_bins=4)
    rows = [l.split() for l in out.stdout.splitlines()]
    start = next(i for i, r in enumerate(rows) if r[:1] == ["calibration"])
    assert rows[start][1] == "(uniform)"
    table = rows[start + 2:start + 6]
    assert [float(r[3]) for r in table] == pytest.approx(prob_pred, rel=1e-5)
    assert [float(r[4]) for r in table] == pytest.approx(prob_true, rel=1e-5)
    assert all(r[-1] == "yes" for r in table)
    brier = next(r for r in rows if r[:1] == ["Brier"])
    assert float(brier[1]) == pytest.approx(brier_score_loss(y, s), rel=1e-5)
    assert float(brier[4]) == pytest.approx(log_loss(y, s), rel=1e-5)
    j = json.loads(evalctl(daemon, "snapshot", "--stream", "cal", "--json", "--calibration",
                           "--strategy", "quantile").stdout)
    assert j["calibration"]["strategy"] == "quantile" and len(j["calibration"]["bins"]) == 10
    bad = evalctl(daemon, "snapshot", "--calibration=0")
    assert bad.returncode == 2 and "not a number of groups from 1 to 1000" in bad.stderr
    bad = evalctl(daemon, "snapshot", "--strategy", "quantile")
    assert bad.returncode == 2 and "--strategy goes with --calibration" in bad.stderr
