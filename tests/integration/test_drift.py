"""Score drift against a reference: PSI, JS, Hellinger, KS and W1, held to scipy and numpy."""
import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import kolmogorov
from scipy.stats import ks_2samp, wasserstein_distance

from conftest import MANUAL, Daemon, advance

BINS = 1000


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path, args=MANUAL, extra='[stream "coarse"]\nbins = 10\n')
    yield d
    assert d.stop() == 0, d.log_text()


def send(c, stream, scores, labels=None):
    labels = [0] * len(scores) if labels is None else list(labels)
    for i in range(0, len(scores), 50_000):
        c.send({"op": "observe", "stream": stream, "labels": labels[i:i + 50_000],
                "scores": [float(x) for x in scores[i:i + 50_000]]})


def drift(c, name, **reference):
    reply = c.request({"op": "drift", "stream": name, "reference": reference, "id": 1})
    assert reply["ok"], reply
    return reply


def groups(a, b):
    """The groups evald cuts: at the first bin edge where the reference reaches each decile."""
    bins_b = np.bincount(np.minimum((b * BINS).astype(int), BINS - 1), minlength=BINS)
    bins_a = np.bincount(np.minimum((a * BINS).astype(int), BINS - 1), minlength=BINS)
    ga, gb, cum, nxt, cur_a, cur_b = [], [], 0, 1, 0, 0
    for k in range(BINS):
        cur_a += bins_a[k]
        cur_b += bins_b[k]
        cum += bins_b[k]
        cut = False
        while nxt < 10 and cum >= len(b) * nxt / 10:
            nxt += 1
            cut = True
        if cut:
            ga.append(cur_a)
            gb.append(cur_b)
            cur_a = cur_b = 0
    ga.append(cur_a)
    gb.append(cur_b)
    keep = [i for i in range(len(ga)) if ga[i] or gb[i]]
    return np.array(ga, float)[keep], np.array(gb, float)[keep]


@pytest.mark.parametrize("seed", [1, 2])
def test_grouped_measures_match_numpy_and_scipy(daemon, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.beta(2, 5, 20_000), rng.beta(2.4, 5, 15_000)
    with daemon.client("unix") as c:
        send(c, "a", a)
        send(c, "b", b)
        d = drift(c, "a", stream="b")
    ga, gb = groups(a, b)
    n, m, g = len(a), len(b), len(ga)
    assert (d["n"], d["reference_n"], d["groups"]) == (n, m, g)
    p, q = (ga + 0.5) / (n + 0.5 * g), (gb + 0.5) / (m + 0.5 * g)
    assert d["psi"] == pytest.approx(np.sum((p - q) * np.log(p / q)), rel=1e-12)
    assert d["js"] == pytest.approx(jensenshannon(ga / n, gb / m, base=2), rel=1e-9)
    assert d["hellinger"] == pytest.approx(np.sqrt(1 - np.sum(np.sqrt(ga / n * gb / m))),
                                           rel=1e-9)
    assert d["psi_expected"] == pytest.approx((g - 1) * (1 / n + 1 / m), rel=1e-12)
    # Continuous scores: the certified bounds hold the exact statistics.
    ks = ks_2samp(a, b).statistic
    lo, hi = d["ks_bounds"]
    assert lo - 1e-12 <= ks <= hi + 1e-12 and d["ks"] == lo
    w1 = wasserstein_distance(a, b) / b.std()
    lo, hi = d["w1_std_bounds"]
    assert lo - 1e-9 <= w1 <= hi + 1e-9
    assert d["ks_p_value"] == pytest.approx(kolmogorov(np.sqrt(n * m / (n + m)) * d["ks"]),
                                            rel=1e-6, abs=1e-300)


def test_ks_is_exact_on_scores_on_bin_edges(daemon):
    rng = np.random.default_rng(9)
    a = rng.integers(0, BINS, 8000) / BINS  # each score is an edge of the default bins
    b = rng.integers(100, BINS, 6000) / BINS
    with daemon.client("unix") as c:
        send(c, "qa", a)
        send(c, "qb", b)
        d = drift(c, "qa", stream="qb")
    ks = ks_2samp(a, b).statistic
    assert d["ks"] == pytest.approx(ks, abs=1e-12)
    assert d["ks_bounds"] == pytest.approx([ks, ks], abs=1e-12)
    w1 = wasserstein_distance(a, b) / b.std()
    assert d["w1_std"] == pytest.approx(w1, rel=1e-9)
    assert d["w1_std_bounds"][1] - d["w1_std_bounds"][0] < 1e-12


def test_an_earlier_window_or_the_predictions_as_reference(daemon):
    rng = np.random.default_rng(4)
    with daemon.client("unix") as c:
        send(c, "s", rng.beta(2, 5, 5000))
        advance(c, 600)
        send(c, "s", rng.beta(5, 2, 5000))  # the last 10 minutes moved far
        moved = drift(c, "s", window="1h")
        assert moved["window"] == "total" and moved["reference"] == {"stream": "s",
                                                                      "window": "1h"}
        d = c.request({"op": "drift", "stream": "s", "window": "5m",
                       "reference": {"window": "1h"}, "id": 2})
        assert d["n"] == 5000 and d["reference_n"] == 10_000 and d["psi"] > 1
        # A stream that takes predictions is compared by its predictions' scores.
        ids = list(range(3000))
        preds = rng.beta(2, 5, 3000).tolist()
        c.request({"op": "predict", "stream": "p", "ids": ids, "scores": preds, "id": 3})
        same = drift(c, "p", stream="p")
        assert same["n"] == 3000 and same["ks"] == 0 and same["psi"] == 0
        vs = drift(c, "p", stream="s")
        assert vs["n"] == 3000 and vs["reference_n"] == 10_000


def test_references_that_cannot_be_compared_are_refused(daemon):
    with daemon.client("unix") as c:
        send(c, "a", [0.1, 0.2])
        send(c, "coarse", [0.1, 0.2])
        r = c.request({"op": "drift", "stream": "a", "reference": {"stream": "coarse"}, "id": 1})
        assert r["error"]["code"] == "bad_reference" and "other bins" in r["error"]["message"]
        r = c.request({"op": "drift", "stream": "a", "reference": {"stream": "none"}, "id": 1})
        assert r["error"]["code"] == "unknown_stream" and "'none'" in r["error"]["message"]
        for bad in [None, {}, {"stream": "a", "what": 1}, {"window": 5}]:
            r = c.request({"op": "drift", "stream": "a", "reference": bad, "id": 1})
            assert r["error"]["code"] == "bad_request", r
        r = c.request({"op": "drift", "stream": "a", "window": "7s",
                       "reference": {"stream": "a"}, "id": 1})
        assert r["error"]["code"] == "bad_window"


def test_metrics_export_drift_against_the_configured_reference(tmp_path):
    import urllib.request
    d = Daemon(tmp_path, extra='[stream "live"]\ndrift_reference = ref\n')
    try:
        rng = np.random.default_rng(11)
        with d.client("unix") as c:
            send(c, "ref", rng.beta(2, 5, 4000))
            send(c, "live", rng.beta(2.5, 5, 3000))
            send(c, "other", rng.beta(2.5, 5, 300))
            want = c.request({"op": "drift", "stream": "live", "window": "1h",
                              "reference": {"stream": "ref"}, "id": 1})
        text = urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}/metrics",
                                      timeout=30).read().decode()
        got = {l.split("{")[0]: float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("evald_drift_") and 'stream="live",reference="ref"' in l}
        assert got["evald_drift_psi"] == pytest.approx(want["psi"], rel=1e-12)
        assert got["evald_drift_ks"] == pytest.approx(want["ks"], rel=1e-12)
        assert 'stream="other"' not in "".join(l for l in text.splitlines()
                                               if l.startswith("evald_drift_"))
    finally:
        assert d.stop() == 0, d.log_text()


def test_sink_lines_carry_the_intervals_drift(tmp_path):
    import json
    sink = tmp_path / "sink.jsonl"
    d = Daemon(tmp_path, args=MANUAL,
               extra=f'[sink]\npath = {sink}\ninterval = 60s\n[stream "live"]\n'
                     'drift_reference = ref\n')
    try:
        rng = np.random.default_rng(12)
        ref, live = rng.beta(2, 5, 6000), rng.beta(3, 5, 2000)
        with d.client("unix") as c:
            send(c, "ref", ref)
            send(c, "live", live)
            advance(c, 60)
        lines = [json.loads(l) for l in sink.read_text().splitlines()]
        line = [l for l in lines if l["stream"] == "live"][0]
        ga, gb = groups(live, ref)
        n, m, g = len(live), len(ref), len(ga)
        p, q = (ga + 0.5) / (n + 0.5 * g), (gb + 0.5) / (m + 0.5 * g)
        assert line["drift"]["reference"] == "ref"
        assert line["drift"]["psi"] == pytest.approx(np.sum((p - q) * np.log(p / q)), rel=1e-12)
        assert line["drift"]["psi_expected"] == pytest.approx((g - 1) * (1 / n + 1 / m))
        lo = ks_2samp(live, ref).statistic
        assert line["drift"]["ks"] <= lo + 1e-12  # the lower bound, as in the drift reply
        assert "drift" not in [l for l in lines if l["stream"] == "ref"][0]
    finally:
        assert d.stop() == 0, d.log_text()
