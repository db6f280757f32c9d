"""The engine against scikit-learn on the raw records.

Each dataset goes through evald-eval (the engine behind a CSV reader) and
through sklearn. Where every bin is resolved (scores on bin edges) the two
must agree to 1e-12, curve points included; elsewhere sklearn's value must
lie inside evald's certified bounds, and at 1000 bins the AP estimate must
be within 1e-4 on smooth score distributions.
"""
import json
import os
import re
import subprocess
from dataclasses import dataclass, field

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

EVAL = os.environ.get("EVALD_EVAL", "build/evald-eval")
EXACT = 1e-12


def run_eval(tmp_path, y, s, w=None, args=(), check=True):
    lines = ["label,score" + (",weight" if w is not None else "")]
    if w is None:
        lines += [f"{int(a)},{float(b)!r}" for a, b in zip(y, s)]
    else:
        lines += [f"{int(a)},{float(b)!r},{float(c)!r}" for a, b, c in zip(y, s, w)]
    path = tmp_path / "records.csv"
    path.write_text("\n".join(lines) + "\n")
    with open(path) as f:
        proc = subprocess.run([EVAL, *args], stdin=f, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)
    return proc


def edges(tmp_path, args):
    return np.array(run_eval(tmp_path, [], [], args=[*args, "--edges"])["edges"])


@dataclass
class Dataset:
    name: str
    y: np.ndarray
    s: np.ndarray
    w: np.ndarray = None
    args: list = field(default_factory=list)
    quantized: bool = False  # every score on a bin edge: every bin resolved
    smooth: bool = False  # the AP estimate must be within 1e-4


def make_datasets(tmp_path):
    rng = np.random.default_rng(20261125)
    out = []

    def labels(n, prevalence):
        y = (rng.random(n) < prevalence).astype(int)
        y[0], y[1] = 1, 0  # both classes, always
        return y

    def scores(y, sep=1.0):
        # positives score higher on average; a logistic of a normal margin
        z = rng.normal(size=y.size) + sep * (2 * y - 1)
        return 1 / (1 + np.exp(-z))

    def on_edges(y, args, spread=1.0):
        e = edges(tmp_path, args)
        bins = e.size - 1
        pos = rng.beta(2 + 3 * spread, 2, size=y.size)
        neg = rng.beta(2, 2 + 3 * spread, size=y.size)
        k = np.floor(np.where(y == 1, pos, neg) * bins).astype(int)
        return e[np.clip(k, 0, bins - 1)]

    # Scores exactly on bin edges: every bin resolved, exact equality required.
    for n, prev, args, weighted in [
        (10, 0.5, ["--bins", "10"], False),
        (1000, 0.5, ["--bins", "100"], False),
        (100_000, 0.5, [], False),
        (100_000, 0.001, [], False),
        (20_000, 0.3, ["--spacing", "logit"], False),
        (20_000, 0.01, ["--spacing", "logit", "--bins", "5000"], True),
        (50_000, 0.2, ["--bins", "64", "--range", "-2,3"], True),
        (5000, 0.5, ["--bins", "1"], False),
    ]:
        y = labels(n, prev)
        w = rng.uniform(0.1, 5, size=n) if weighted else None
        out.append(Dataset(f"edges n={n} prev={prev} {' '.join(args)} w={weighted}",
                           y, on_edges(y, args), w, args, quantized=True))

    # Scores rounded to two decimals lie on the default edges k/1000: heavy ties, still exact.
    y = labels(200_000, 0.4)
    out.append(Dataset("two decimals, ties", y, np.round(scores(y), 2), quantized=True))

    # Continuous scores: bounds must contain sklearn; smooth ones need AP within 1e-4.
    for n, prev, args, weighted, smooth in [
        (10, 0.5, [], False, False),
        (100, 0.5, [], False, False),
        (10_000, 0.5, ["--bins", "50"], False, False),
        (100_000, 0.5, [], False, True),
        (1_000_000, 0.5, [], False, True),
        (1_000_000, 0.001, [], False, False),
        (200_000, 0.1, [], True, True),
        (200_000, 0.3, ["--spacing", "logit"], False, True),
        (200_000, 0.3, ["--spacing", "logit", "--logit-limits", "-8,8", "--bins", "200"], True, False),
        (50_000, 0.5, ["--bins", "7"], True, False),
    ]:
        y = labels(n, prev)
        w = rng.uniform(0.1, 5, size=n) if weighted else None
        out.append(Dataset(f"continuous n={n} prev={prev} {' '.join(args)} w={weighted}",
                           y, scores(y, 1.5), w, args, smooth=smooth))

    # Scores crowded near 0 (a rare-event model), where uniform bins lose almost everything.
    y, s = crowded_near_zero(rng)
    out.append(Dataset("crowded near 0, logit", y, s, args=["--spacing", "logit"], smooth=True))
    out.append(Dataset("crowded near 0, uniform", y, s))
    # Margins outside the range: clamped into the end bins, still bounded.
    y = labels(50_000, 0.5)
    out.append(Dataset("margins outside [0,1]", y, rng.normal(size=y.size) * 2 + 2 * y - 1))
    return out


def crowded_near_zero(rng, n=200_000):
    y = (rng.random(n) < 0.05).astype(int)
    z = rng.normal(size=n) * 1.5 + np.where(y == 1, -6.0, -9.0)
    return y, 1 / (1 + np.exp(-z))


def sk_curve(d):
    """sklearn's PR and ROC points at every distinct score, thresholds descending."""
    p, r, t = precision_recall_curve(d.y, d.s, sample_weight=d.w)
    fpr, tpr, rt = roc_curve(d.y, d.s, sample_weight=d.w, drop_intermediate=False)
    return t[::-1], p[:-1][::-1], r[:-1][::-1], fpr[1:], tpr[1:], rt[1:]


def sk_confusion(d, t):
    tn, fp, fn, tp = confusion_matrix(d.y, d.s >= t, labels=[0, 1], sample_weight=d.w).ravel()
    return tp, fp, tn, fn


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    return make_datasets(tmp_path_factory.mktemp("edges"))


def test_at_least_twenty_datasets(datasets):
    assert len(datasets) >= 20
    assert any(d.y.size >= 1_000_000 for d in datasets)
    assert any(d.y.size <= 10 for d in datasets)


def test_against_sklearn(datasets, tmp_path):
    print()
    for d in datasets:
        thresholds = [0.3, 0.5, 0.9]
        args = [*d.args, "--curve", "--at", "0.25", "--at", "0.5", "--at", "0.75"]
        for t in thresholds:
            args += ["--threshold", repr(t)]
        snap = run_eval(tmp_path, d.y, d.s, d.w, args)
        ap = average_precision_score(d.y, d.s, sample_weight=d.w)
        auc = roc_auc_score(d.y, d.s, sample_weight=d.w)
        total_w = d.w if d.w is not None else np.ones(d.y.size)
        assert snap["n"] == pytest.approx(total_w.sum(), rel=1e-12), d.name
        assert snap["positives"] == pytest.approx(total_w[d.y == 1].sum(), rel=1e-12), d.name

        ap_lo, ap_hi = snap["average_precision_bounds"]
        auc_lo, auc_hi = snap["roc_auc_bounds"]
        print(f"{d.name:70s} AP err {abs(snap['average_precision'] - ap):.2e} "
              f"width {ap_hi - ap_lo:.2e}  AUC err {abs(snap['roc_auc'] - auc):.2e} "
              f"width {auc_hi - auc_lo:.2e}")
        assert ap_lo - EXACT <= ap <= ap_hi + EXACT, d.name
        assert auc_lo - EXACT <= auc <= auc_hi + EXACT, d.name
        assert ap_lo <= snap["average_precision"] <= ap_hi, d.name
        assert auc_lo <= snap["roc_auc"] <= auc_hi, d.name

        # Configured thresholds are counted exactly at ingest, whatever the data.
        for row in snap["thresholds"]:
            tp, fp, tn, fn = sk_confusion(d, row["threshold"])
            if row["threshold"] in thresholds:
                assert row["exact"], d.name
            if row["exact"]:
                got = [row["tp"], row["fp"], row["tn"], row["fn"]]
                assert got == pytest.approx([tp, fp, tn, fn], rel=1e-12, abs=1e-9), d.name

        if d.quantized:
            assert snap["average_precision"] == pytest.approx(ap, abs=EXACT), d.name
            assert snap["roc_auc"] == pytest.approx(auc, abs=EXACT), d.name
            assert ap_lo == ap_hi and auc_lo == auc_hi, d.name
            t, p, r, fpr, tpr, rt = sk_curve(d)
            c = snap["curve"]
            assert np.array_equal(np.array(c["threshold"]), t), d.name
            assert np.array_equal(rt, t), d.name
            np.testing.assert_allclose(c["precision"], p, rtol=0, atol=EXACT, err_msg=d.name)
            np.testing.assert_allclose(c["recall"], r, rtol=0, atol=EXACT, err_msg=d.name)
            np.testing.assert_allclose(c["recall"], tpr, rtol=0, atol=EXACT, err_msg=d.name)
            np.testing.assert_allclose(c["fpr"], fpr, rtol=0, atol=EXACT, err_msg=d.name)
        if d.smooth:
            assert snap["average_precision"] == pytest.approx(ap, abs=1e-4), d.name


def test_logit_spacing_resolves_scores_crowded_near_zero(tmp_path):
    """Almost every score is below 0.001: logit bins keep AP accurate where uniform ones cannot."""
    y, s = crowded_near_zero(np.random.default_rng(3))
    ap = average_precision_score(y, s)
    logit = run_eval(tmp_path, y, s, args=["--spacing", "logit"])
    uniform = run_eval(tmp_path, y, s)

    def width(snap):
        lo, hi = snap["average_precision_bounds"]
        assert lo <= ap <= hi
        return hi - lo

    assert logit["average_precision"] == pytest.approx(ap, abs=1e-4)
    assert abs(uniform["average_precision"] - ap) > 1e-2
    assert width(logit) < width(uniform) / 10


def test_curve_points_are_sklearn_points_on_continuous_data(tmp_path):
    """Each evald curve point is one of sklearn's: same threshold, same precision and recall."""
    rng = np.random.default_rng(7)
    y = (rng.random(30_000) < 0.3).astype(int)
    s = rng.beta(2 + 3 * y, 2 + 3 * (1 - y))
    snap = run_eval(tmp_path, y, s, args=["--bins", "200", "--curve"])
    p, r, t = precision_recall_curve(y, s)
    at = {thr: (pp, rr) for thr, pp, rr in zip(t, p[:-1], r[:-1])}
    c = snap["curve"]
    assert len(c["threshold"]) == 200
    for thr, pp, rr in zip(c["threshold"], c["precision"], c["recall"]):
        assert thr in at
        assert pp == pytest.approx(at[thr][0], abs=EXACT)
        assert rr == pytest.approx(at[thr][1], abs=EXACT)


def test_best_f1_and_operating_points_match_sklearn_on_resolved_bins(tmp_path):
    rng = np.random.default_rng(11)
    y = (rng.random(50_000) < 0.2).astype(int)
    s = np.round(rng.beta(2 + 4 * y, 2 + 2 * (1 - y)), 2)
    snap = run_eval(tmp_path, y, s, args=["--precision-at-recall", "0.8",
                                          "--recall-at-precision", "0.6"])
    p, r, t = precision_recall_curve(y, s)
    p, r = p[:-1], r[:-1]
    f1 = 2 * p * r / (p + r)
    best = np.argmax(f1[::-1])  # highest threshold wins a tie
    best = len(f1) - 1 - best
    assert snap["best_f1"]["f1"] == pytest.approx(f1[best], abs=EXACT)
    assert snap["best_f1"]["threshold"] == t[best]
    ok = r >= 0.8
    assert snap["precision_at_recall"][0]["point"]["precision"] == pytest.approx(p[ok].max(), abs=EXACT)
    ok = p >= 0.6
    assert snap["recall_at_precision"][0]["point"]["recall"] == pytest.approx(r[ok].max(), abs=EXACT)


def test_undefined_metrics_are_null(tmp_path):
    snap = run_eval(tmp_path, [0, 0, 0], [0.1, 0.6, 0.7])
    assert snap["average_precision"] is None and snap["roc_auc"] is None
    assert snap["average_precision_bounds"] == [None, None]
    row = snap["thresholds"][0]
    assert row["recall"] is None and row["precision"] == 0.0
    snap = run_eval(tmp_path, [1, 1], [0.1, 0.2])
    row = snap["thresholds"][0]
    assert row["precision"] is None and row["fpr"] is None and row["recall"] == 0.0


def test_bad_input_names_its_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,score\n1,0.5\n# a comment\n\n2,0.4\n")
    with open(bad) as f:
        proc = subprocess.run([EVAL], stdin=f, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "line 5" in proc.stderr and "label must be 0, 1" in proc.stderr
    bad.write_text("1,0.5\n0,nan\n")
    with open(bad) as f:
        proc = subprocess.run([EVAL], stdin=f, capture_output=True, text=True)
    assert proc.returncode == 2 and "line 2" in proc.stderr and "score" in proc.stderr
    proc = subprocess.run([EVAL, "--bins", "0"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert proc.returncode == 2 and "--bins" in proc.stderr


def test_worked_example_in_docs_matches_sklearn(tmp_path):
    """docs/metrics.md shows a worked example; its records and figures must be sklearn's."""
    doc = open(os.path.join(os.path.dirname(__file__), "../../docs/metrics.md")).read()
    section = doc.split("## Worked example", 1)[1]
    csv = re.search(r"```csv\n(.*?)```", section, re.S).group(1)
    rows = [line.split(",") for line in csv.strip().splitlines()[1:]]
    y = np.array([int(a) for a, _ in rows])
    s = np.array([float(b) for _, b in rows])
    stated = dict(re.findall(r"^\| (\w+) \| ([0-9.]+) \|", section, re.M))
    assert float(stated["average_precision"]) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert float(stated["roc_auc"]) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    args = re.search(r"evald-eval (.*?) <", section).group(1).split()
    snap = run_eval(tmp_path, y, s, args=args)
    assert snap["average_precision"] == pytest.approx(float(stated["average_precision"]), abs=1e-12)
    assert snap["roc_auc"] == pytest.approx(float(stated["roc_auc"]), abs=1e-12)
    tp, fp, tn, fn = sk_confusion(Dataset("doc", y, s), 0.5)
    row = snap["thresholds"][0]
    assert [row["tp"], row["fp"], row["tn"], row["fn"]] == [tp, fp, tn, fn]
    assert float(stated["precision"]) == pytest.approx(tp / (tp + fp), abs=1e-12)


def test_within_bin_estimates_follow_the_score_means(tmp_path):
    """Ten bins, positives crowding the top of each and negatives its bottom.

    Every bin mixes the classes, so AUC and AP rest on the within-bin
    estimate. Taking the classes as evenly interleaved in each bin puts
    the AUC near the middle of its bounds, about 5% of their width from
    sklearn's; the per-bin score means put it within 1%.
    """
    rng = np.random.default_rng(11)
    n = 20000
    s = np.r_[np.sqrt(rng.random(n)), 1 - np.sqrt(rng.random(n))]
    y = np.r_[np.ones(n), np.zeros(n)].astype(int)
    snap = run_eval(tmp_path, y, s, args=("--bins", "10"))
    for key, exact in (("roc_auc", roc_auc_score(y, s)),
                       ("average_precision", average_precision_score(y, s))):
        lo, hi = snap[key + "_bounds"]
        assert lo <= exact <= hi
        assert abs(snap[key] - exact) < 0.01 * (hi - lo), key
