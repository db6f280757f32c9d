"""Confidence intervals: Wilson's for the rates at each threshold, DeLong's for ROC-AUC."""
import numpy as np
import pytest
from scipy.stats import binomtest, norm

from conftest import Daemon

Z = norm.ppf(0.975)


def wilson(p, n):
    """Wilson's interval in closed form, for a proportion p of n (effective) records."""
    den = 1 + Z * Z / n
    mid = (p + Z * Z / (2 * n)) / den
    half = Z * np.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def delong(y, s):
    """DeLong 1988 by brute force, O(n^2): placements with ties counted half."""
    pos, neg = s[y == 1], s[y == 0]
    v10 = np.array([((neg < x).sum() + 0.5 * (neg == x).sum()) / len(neg) for x in pos])
    v01 = np.array([((pos > x).sum() + 0.5 * (pos == x).sum()) / len(pos) for x in neg])
    auc = v10.mean()
    var = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    return auc, np.sqrt(var)


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path, defaults={"thresholds": "0.3,0.5,0.8"})
    yield d
    assert d.stop() == 0, d.log_text()


@pytest.mark.parametrize("n", [40, 400, 3000])
def test_wilson_intervals_are_scipys_and_delong_is_the_brute_force_one(daemon, n):
    rng = np.random.default_rng(n)
    # Scores at bin centres, so that the bins resolve them and every count is exact.
    s = (rng.integers(0, 1000, n) + 0.5) / 1000
    y = (rng.random(n) < 0.2 + 0.6 * s).astype(int)
    with daemon.client("unix") as c:
        c.send({"op": "observe", "stream": "m", "labels": y.tolist(), "scores": s.tolist()})
        snap = c.request({"op": "snapshot", "stream": "m", "thresholds": [0.65]})
    for row in snap["thresholds"]:
        t = row["threshold"]
        tp = int(((s >= t) & (y == 1)).sum())
        fp = int(((s >= t) & (y == 0)).sum())
        pos, neg = int(y.sum()), n - int(y.sum())
        for key, k, m in (("precision_ci", tp, tp + fp), ("recall_ci", tp, pos),
                          ("specificity_ci", neg - fp, neg)):
            ci = binomtest(k, m).proportion_ci(confidence_level=0.95, method="wilson")
            assert row[key] == pytest.approx([ci.low, ci.high], abs=1e-12), (key, row)
        assert row["insufficient"] == (min(tp + fp, pos, neg) < 10)
    auc, sd = delong(y, s)
    assert snap["roc_auc"] == pytest.approx(auc, abs=1e-12)
    assert snap["roc_auc_bounds"] == pytest.approx([auc, auc], abs=1e-12)
    assert snap["roc_auc_ci"] == pytest.approx([max(0, auc - Z * sd), min(1, auc + Z * sd)],
                                               abs=1e-9)
    assert snap["effective_n"] == [n - int(y.sum()), int(y.sum())]


def test_weighted_streams_use_kishs_effective_numbers(daemon):
    rng = np.random.default_rng(7)
    n = 2000
    s = (rng.integers(0, 1000, n) + 0.5) / 1000
    y = (rng.random(n) < s).astype(int)
    w = rng.choice([0.5, 1.0, 4.0], n)
    with daemon.client("unix") as c:
        c.send({"op": "observe", "stream": "w", "labels": y.tolist(), "scores": s.tolist(),
                "weights": w.tolist()})
        snap = c.request({"op": "snapshot", "stream": "w"})
    kish = [w[y == k].sum() ** 2 / (w[y == k] ** 2).sum() for k in (0, 1)]
    assert snap["effective_n"] == pytest.approx(kish, rel=1e-12)
    row = snap["thresholds"][1]  # 0.5
    recall = w[(s >= 0.5) & (y == 1)].sum() / w[y == 1].sum()
    assert row["recall_ci"] == pytest.approx(wilson(recall, kish[1]), abs=1e-12)
    # The closed form is scipy's where n is whole: the oracle above is the right one.
    ci = binomtest(37, 120).proportion_ci(method="wilson")
    assert wilson(37 / 120, 120) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_binned_scores_widen_the_interval_by_the_bounds(tmp_path):
    d = Daemon(tmp_path, defaults={"bins": "10"})
    try:
        rng = np.random.default_rng(3)
        s = rng.random(500)
        y = (rng.random(500) < s).astype(int)
        with d.client("unix") as c:
            c.send({"op": "observe", "stream": "m", "labels": y.tolist(), "scores": s.tolist()})
            snap = c.request({"op": "snapshot", "stream": "m"})
        lo, hi = snap["roc_auc_bounds"]
        ci_lo, ci_hi = snap["roc_auc_ci"]
        assert hi > lo  # ten bins do not resolve these scores
        assert ci_lo < lo and ci_hi > hi and 0 <= ci_lo and ci_hi <= 1
        # The exact AUC lies inside the bounds, so also inside the interval.
        auc, _ = delong(y, s)
        assert ci_lo <= lo <= auc <= hi <= ci_hi
    finally:
        assert d.stop() == 0


def test_brier_and_log_loss_are_sklearns_and_nil_where_scores_are_not_probabilities(tmp_path):
    from sklearn.metrics import brier_score_loss, log_loss
    d = Daemon(tmp_path, extra='[stream "margins"]\nrange = -5,5\n')
    try:
        rng = np.random.default_rng(21)
        s = rng.random(5000)
        y = (rng.random(5000) < s).astype(int)
        # Scores at and beyond the clipping: 0, 1, and within machine epsilon of them.
        s[:6] = [0.0, 1.0, 1e-300, 1.0 - 1e-17, 0.0, 1.0]
        y[:6] = [1, 0, 1, 0, 0, 1]
        w = rng.uniform(0.2, 3.0, 5000)
        with d.client("unix") as c:
            c.send({"op": "observe", "stream": "p", "labels": y.tolist(), "scores": s.tolist()})
            c.send({"op": "observe", "stream": "pw", "labels": y.tolist(), "scores": s.tolist(),
                    "weights": w.tolist()})
            c.send({"op": "observe", "stream": "margins", "labels": [1, 0], "scores": [2.0, -1.0]})
            c.send({"op": "observe", "stream": "outside", "labels": [1, 0], "scores": [1.5, 0.2]})
            snaps = {n: c.request({"op": "snapshot", "stream": n})
                     for n in ("p", "pw", "margins", "outside")}
        assert snaps["p"]["brier"] == pytest.approx(brier_score_loss(y, s), rel=1e-12)
        assert snaps["pw"]["brier"] == pytest.approx(brier_score_loss(y, s, sample_weight=w),
                                                     rel=1e-12)
        eps = np.finfo(float).eps
        assert snaps["p"]["log_loss"] == pytest.approx(log_loss(y, s, eps=eps), rel=1e-12)
        assert snaps["pw"]["log_loss"] == pytest.approx(log_loss(y, s, eps=eps, sample_weight=w),
                                                        rel=1e-12)
        for name in ("margins", "outside"):
            assert snaps[name]["brier"] is None and snaps[name]["log_loss"] is None
    finally:
        assert d.stop() == 0
