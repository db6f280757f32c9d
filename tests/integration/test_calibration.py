"""Calibration groups, ECE and MCE against scikit-learn's calibration_curve and a brute-force oracle."""
import http.client
import json

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from conftest import Daemon

N = 20000


def miscalibrated(seed, n=N):
    """Scores in (0, 1) and labels drawn from a distorted version of them."""
    rng = np.random.default_rng(seed)
    s = rng.beta(2, 3, n)
    y = (rng.random(n) < s ** 1.4).astype(int)
    return y, s


def snapshot(c, stream, **calibration):
    reply = c.request({"op": "snapshot", "stream": stream, "calibration": calibration})
    assert reply["ok"], reply
    return reply


def observe(c, stream, y, s, w=None):
    for i in range(0, len(y), 5000):
        req = {"op": "observe", "id": i, "stream": stream, "labels": y[i:i + 5000].tolist(),
               "scores": s[i:i + 5000].tolist()}
        if w is not None:
            req["weights"] = w[i:i + 5000].tolist()
        reply = c.request(req)
        assert reply["ok"], reply


def calibrations(tmp_path, y, s, *specs, w=None, extra=""):
    """The calibration each spec asks for, of one stream "m" of the records (y, s, w)."""
    d = Daemon(tmp_path, extra=extra)
    try:
        with d.client("unix") as c:
            observe(c, "m", y, s, w)
            return [snapshot(c, "m", **spec)["calibration"] for spec in specs]
    finally:
        assert d.stop() == 0


def oracle(y, s, w, lo, hi, last):
    """n, mean score, fraction positive of the records in [lo, hi) (or [lo, hi] for the last)."""
    inside = (s >= lo) & ((s <= hi) if last else (s < hi))
    n = w[inside].sum()
    return n, (w * s)[inside].sum() / n, (w * y)[inside].sum() / n


def oracle_ece(y, s, w, edges):
    """ECE over groups [edges[g], edges[g+1]), the last closed, and the largest gap."""
    ece, mce = 0.0, 0.0
    for g in range(len(edges) - 1):
        last = g == len(edges) - 2
        inside = (s >= edges[g]) & ((s <= edges[g + 1]) if last else (s < edges[g + 1]))
        n = w[inside].sum()
        if n == 0:
            continue
        gap = abs((w * y)[inside].sum() / n - (w * s)[inside].sum() / n)
        ece += n * gap
        mce = max(mce, gap)
    return ece / w.sum(), mce


def test_uniform_groups_are_sklearns_calibration_curve(tmp_path):
    y, s = miscalibrated(1)
    # {} takes the defaults: 10 uniform groups.
    cals = calibrations(tmp_path, y, s, {}, {"bins": 20, "strategy": "uniform"})
    for k, got in zip((10, 20), cals):
        prob_true, prob_pred = calibration_curve(y, s, n_bins=k, strategy="uniform")
        groups = got["bins"]
        assert len(groups) == len(prob_true)
        assert [g["mean_score"] for g in groups] == pytest.approx(prob_pred, rel=1e-12,
                                                                   abs=1e-15)
        assert [g["fraction_positive"] for g in groups] == pytest.approx(prob_true, rel=1e-12)
        assert all(g["exact"] for g in groups)
        counts = np.bincount(np.searchsorted(np.linspace(0, 1, k + 1)[1:-1], s))
        counts = counts[counts > 0]
        assert [g["n"] for g in groups] == counts.tolist()
        ece = np.sum(counts / len(y) * np.abs(prob_true - prob_pred))
        assert got["ece"] == pytest.approx(ece, rel=1e-12)
        assert got["ece_bounds"] == [got["ece"], got["ece"]]
        assert got["mce"] == pytest.approx(np.max(np.abs(prob_true - prob_pred)), rel=1e-12)
        for g in groups:
            lo, hi = g["fraction_positive_ci"]
            assert lo <= g["fraction_positive"] <= hi and lo < hi


def test_empty_groups_are_left_out_as_sklearn_does(tmp_path):
    rng = np.random.default_rng(2)
    s = np.concatenate([rng.uniform(0.05, 0.25, 3000), rng.uniform(0.75, 0.95, 3000)])
    y = (rng.random(6000) < s).astype(int)
    (cal,) = calibrations(tmp_path, y, s, {"bins": 10})
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10)
    assert len(cal["bins"]) == len(prob_true) == 6  # groups 3 to 6 hold no score
    assert [g["mean_score"] for g in cal["bins"]] == pytest.approx(prob_pred, rel=1e-12)


@pytest.mark.parametrize("config,groups", [
    ("bins = 1000", 7),             # 7 does not divide 1000: boundaries fall inside bins
    ("bins = 90\nspacing = logit", 10),
    ("bins = 33", 10),
])
def test_boundaries_inside_bins_are_placed_and_bounded(tmp_path, config, groups):
    y, s = miscalibrated(3)
    w = np.random.default_rng(4).uniform(0.5, 2.0, len(y))
    (cal,) = calibrations(tmp_path, y, s, {"bins": groups}, w=w,
                          extra=f'[stream "m"]\n{config}\n')
    # The ECE of the groups cut exactly at g / groups lies within the bounds.
    ece, _ = oracle_ece(y, s, w, np.arange(groups + 1) / groups)
    lo, hi = cal["ece_bounds"]
    assert lo - 1e-12 <= ece <= hi + 1e-12
    assert lo <= cal["ece"] <= hi
    # Each group is exact on its own edges: n, mean score and fraction positive.
    for i, g in enumerate(cal["bins"]):
        n, mean, frac = oracle(y, s, w, g["lo"], g["hi"], i == len(cal["bins"]) - 1)
        assert g["n"] == pytest.approx(n, rel=1e-12)
        assert g["mean_score"] == pytest.approx(mean, rel=1e-12)
        assert g["fraction_positive"] == pytest.approx(frac, rel=1e-12)
    assert not all(g["exact"] for g in cal["bins"])
    # ECE and MCE from the groups as reported.
    edges = [g["lo"] for g in cal["bins"]] + [cal["bins"][-1]["hi"]]
    ece_reported, mce = oracle_ece(y, s, w, np.array(edges))
    assert cal["ece"] == pytest.approx(ece_reported, rel=1e-9)
    assert cal["mce"] == pytest.approx(mce, rel=1e-9)


def test_a_boundary_inside_a_bin_whose_records_lie_on_one_side_is_exact(tmp_path):
    # 3 groups of 1000 bins: boundaries at 1/3 and 2/3 fall inside bins 333 and 666;
    # no record lies in those bins, so each group is exact.
    rng = np.random.default_rng(5)
    s = rng.random(10000)
    s = s[(np.floor(s * 1000) != 333) & (np.floor(s * 1000) != 666)]
    y = (rng.random(len(s)) < s).astype(int)
    (cal,) = calibrations(tmp_path, y, s, {"bins": 3})
    prob_true, prob_pred = calibration_curve(y, s, n_bins=3)
    assert all(g["exact"] for g in cal["bins"])
    assert cal["ece_bounds"][0] == cal["ece_bounds"][1] == cal["ece"]
    assert [g["mean_score"] for g in cal["bins"]] == pytest.approx(prob_pred, rel=1e-12)
    assert [g["fraction_positive"] for g in cal["bins"]] == pytest.approx(prob_true, rel=1e-12)


def test_quantile_groups_hold_equal_shares_on_bin_edges(tmp_path):
    y, s = miscalibrated(6)
    (cal,) = calibrations(tmp_path, y, s, {"bins": 8, "strategy": "quantile"})
    groups = cal["bins"]
    assert len(groups) == 8
    w = np.ones(len(y))
    for i, g in enumerate(groups):
        n, mean, frac = oracle(y, s, w, g["lo"], g["hi"], i == len(groups) - 1)
        assert g["n"] == n and g["exact"]
        assert g["mean_score"] == pytest.approx(mean, rel=1e-12)
        assert g["fraction_positive"] == pytest.approx(frac, rel=1e-12)
        # A share of N / 8, give or take a bin's records (1000 bins: about 20 each).
        assert abs(n - len(y) / 8) < 200
    assert cal["ece_bounds"] == [cal["ece"], cal["ece"]]


def test_calibration_is_nil_where_scores_are_not_probabilities(tmp_path):
    d = Daemon(tmp_path, extra='[stream "margins"]\nrange = -5,5\n')
    try:
        with d.client("unix") as c:
            c.send({"op": "observe", "stream": "margins", "labels": [1, 0],
                       "scores": [2.0, -1.0]})
            c.send({"op": "observe", "stream": "outside", "labels": [1, 0],
                       "scores": [1.5, 0.2]})
            c.send({"op": "observe", "stream": "fine", "labels": [1, 0],
                       "scores": [0.5, 0.2]})
            assert snapshot(c, "margins")["calibration"] is None
            assert snapshot(c, "outside")["calibration"] is None
            assert snapshot(c, "fine")["calibration"] is not None
            assert "calibration" not in c.request({"op": "snapshot", "stream": "fine"})
    finally:
        assert d.stop() == 0


@pytest.mark.parametrize("calibration,says", [
    ({"bins": 0}, "calibration.bins must be a whole number from 1 to 1000"),
    ({"bins": 1001}, "calibration.bins must be a whole number from 1 to 1000"),
    ({"bins": 2.5}, "calibration.bins must be a whole number from 1 to 1000"),
    ({"strategy": "kmeans"}, 'calibration.strategy must be "uniform" or "quantile"'),
    ({"bins": 5, "extra": 1}, "calibration takes only bins and strategy"),
    ([10], "calibration must be a map"),
])
def test_a_bad_calibration_request_says_what_is_wrong(tmp_path, calibration, says):
    d = Daemon(tmp_path)
    try:
        with d.client("unix") as c:
            c.send({"op": "observe", "stream": "m", "label": 1, "score": 0.5})
            reply = c.request({"op": "snapshot", "stream": "m", "calibration": calibration})
            assert reply["error"]["code"] == "bad_request"
            assert says in reply["error"]["message"]
    finally:
        assert d.stop() == 0


def test_http_snapshot_carries_calibration(tmp_path):
    y, s = miscalibrated(7, 5000)
    d = Daemon(tmp_path)
    try:
        with d.client("unix") as c:
            observe(c, "m", y, s)
            want = snapshot(c, "m", bins=5, strategy="quantile")["calibration"]
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
        conn.request("GET", "/snapshot?stream=m&calibration=5&strategy=quantile")
        r = conn.getresponse()
        got = json.loads(r.read())
        assert r.status == 200 and got["calibration"] == want
        conn.request("GET", "/snapshot?stream=m&calibration=0")
        r = conn.getresponse()
        assert r.status == 400 and "calibration=0" in json.loads(r.read())["error"]["message"]
        conn.close()
    finally:
        assert d.stop() == 0


def test_sink_lines_carry_the_intervals_calibration(tmp_path):
    from conftest import advance
    sink = tmp_path / "sink.jsonl"
    y, s = miscalibrated(8, 4000)
    d = Daemon(tmp_path, args=("--clock", "manual"),
               extra=f'[sink]\npath = {sink}\ninterval = 60s\ncalibration = 5\n'
                     '[stream "margins"]\nrange = -5,5\n')
    try:
        with d.client("unix") as c:
            observe(c, "m", y, s)
            c.send({"op": "observe", "stream": "margins", "labels": [1, 0],
                    "scores": [2.0, -1.0]})
            advance(c, 60)
        lines = {l["stream"]: l for l in map(json.loads, sink.read_text().splitlines())}
        cal = lines["m"]["interval"]["calibration"]
        prob_true, prob_pred = calibration_curve(y, s, n_bins=5)
        assert [g["mean_score"] for g in cal["bins"]] == pytest.approx(prob_pred, rel=1e-12)
        assert [g["fraction_positive"] for g in cal["bins"]] == pytest.approx(prob_true,
                                                                              rel=1e-12)
        assert "calibration" not in lines["m"]["total"]
        assert lines["margins"]["interval"]["calibration"] is None
    finally:
        assert d.stop() == 0, d.log_text()
