"""Operating points: the threshold meeting a recall, precision or FPR target, as a brute-force
search over scikit-learn's precision_recall_curve and roc_curve chooses it."""
import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve

from conftest import Daemon

CONFIGURED = [0.37, 0.5]  # thresholds counted exactly at ingest: candidates too


def candidates(y, s):
    """Every exact threshold and its counts: sklearn's curve points, then the configured ones."""
    pos, neg = int(y.sum()), int((1 - y).sum())
    out = {}
    precision, recall, pr_t = precision_recall_curve(y, s)
    fpr, tpr, roc_t = roc_curve(y, s, drop_intermediate=False)
    fpr_at = dict(zip(roc_t.tolist(), fpr.tolist()))
    for p, r, t in zip(precision[:-1], recall[:-1], pr_t):
        tp = round(r * pos)
        fp = round(tp / p - tp) if p > 0 else int((s >= t).sum()) - tp
        out[float(t)] = (tp, fp, float(p), float(r), fpr_at[t])
    for t in CONFIGURED:
        tp, fp = int(((s >= t) & (y == 1)).sum()), int(((s >= t) & (y == 0)).sum())
        out[t] = (tp, fp, tp / (tp + fp) if tp + fp else float("nan"), tp / pos, fp / neg)
    return out


def brute_force(cands, kind, target):
    """The definitions of docs/metrics.md, over every candidate."""
    if kind == "recall":
        ok = [t for t, c in cands.items() if c[3] >= target]
        return max(ok) if ok else None
    if kind == "precision":
        ok = [t for t, c in cands.items() if c[2] >= target]
        return min(ok) if ok else None
    ok = [t for t, c in cands.items() if c[4] <= target]
    return min(ok) if ok else None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_operating_points_match_a_search_of_sklearns_curves(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = 4000
    # Scores at bin centres, repeated: each bin holds one distinct score, so the bins
    # resolve the data and evald's curve has sklearn's thresholds.
    s = (rng.integers(0, 1000, n) + 0.5) / 1000
    y = (rng.random(n) < 0.15 + 0.7 * s).astype(int)
    targets = {"recall": [0.0, 0.5, 0.9, 0.99, 1.0], "precision": [0.3, 0.7, 0.9, 0.999, 1.0],
               "fpr": [0.0, 0.01, 0.1, 0.5, 1.0]}
    d = Daemon(tmp_path, defaults={"thresholds": ",".join(map(str, CONFIGURED))})
    try:
        with d.client("unix") as c:
            c.send({"op": "observe", "stream": "m", "labels": y.tolist(), "scores": s.tolist()})
            snap = c.request({"op": "snapshot", "stream": "m", "operating_points": targets})
            assert snap["ok"], snap
        cands = candidates(y, s)
        pos, neg = int(y.sum()), n - int(y.sum())
        assert list(snap["operating_points"]) == ["recall", "precision", "fpr"]
        for kind, wanted in targets.items():
            rows = snap["operating_points"][kind]
            assert [r["target"] for r in rows] == wanted  # in request order
            for row in rows:
                t = brute_force(cands, kind, row["target"])
                if t is None:
                    assert row["threshold"] is None and row["tp"] is None, row
                    continue
                tp, fp, precision, recall, fpr = cands[t]
                assert row["threshold"] == t, (kind, row, t)
                assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (tp, fp, pos - tp,
                                                                        neg - fp)
                assert row["exact"] is True
                assert row["recall"] == pytest.approx(recall, abs=1e-12)
                assert row["fpr"] == pytest.approx(fpr, abs=1e-12)
                assert row["precision"] == pytest.approx(precision, abs=1e-12)
                assert row["f1"] == pytest.approx(2 * tp / (2 * tp + fp + pos - tp), abs=1e-12)
    finally:
        assert d.stop() == 0, d.log_text()


def test_targets_none_can_meet_and_bad_targets(tmp_path):
    d = Daemon(tmp_path)
    try:
        with d.client("unix") as c:
            # Negatives only: no recall or precision is defined.
            c.send({"op": "observe", "stream": "neg", "labels": [0, 0, 0],
                    "scores": [0.2, 0.4, 0.6]})
            snap = c.request({"op": "snapshot", "stream": "neg",
                              "operating_points": {"recall": [0.5], "fpr": [0.0, 0.5]}})
            assert snap["operating_points"]["recall"][0]["threshold"] is None
            fpr0, fpr_half = snap["operating_points"]["fpr"]
            # No threshold that holds records flags none of them: FPR 0 is not met.
            assert fpr0["threshold"] is None
            # FPR 1/3 at 0.6 and at the configured 0.5, 2/3 at 0.4: the lowest is 0.5.
            assert (fpr_half["threshold"], fpr_half["fp"], fpr_half["tn"]) == (0.5, 1, 2)
            for bad, says in [({"recall": [1.5]}, "operating_points.recall[0] must be a number "
                                                  "from 0 to 1"),
                              ({"f1": [0.5]}, "takes recall, precision and fpr"),
                              ({"recall": []}, "list of 1 to 16 targets"),
                              ({"recall": [0.1] * 17}, "list of 1 to 16 targets"),
                              ([0.5], "must be a map")]:
                reply = c.request({"op": "snapshot", "stream": "neg", "operating_points": bad})
                assert reply["error"]["code"] == "bad_request" and says in reply["error"]["message"]
    finally:
        assert d.stop() == 0, d.log_text()
