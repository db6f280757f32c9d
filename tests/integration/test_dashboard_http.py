"""The HTTP side of the dashboard: its files (gzip, ETag, size) and /series."""
import gzip
import http.client
import json
import os

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from conftest import MANUAL, Daemon, advance

DASHBOARD = os.path.join(os.path.dirname(__file__), "../../src/server/dashboard")
CHART_JS = "/usr/share/javascript/chart.js/chart.min.js"


def get(d, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), body


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    assert d.stop() == 0, d.log_text()[-2000:]


def test_the_files_are_served_gzipped_with_etags_and_small(daemon):
    files = {"/": os.path.join(DASHBOARD, "index.html"), "/app.js": os.path.join(DASHBOARD, "app.js"),
             "/app.css": os.path.join(DASHBOARD, "app.css"), "/chart.min.js": CHART_JS}
    total = 0
    for path, source in files.items():
        want = open(source, "rb").read()
        status, headers, body = get(daemon, path, {"Accept-Encoding": "gzip, deflate"})
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == want
        assert headers["Cache-Control"] == "no-cache" and headers["Vary"] == "Accept-Encoding"
        total += len(body)
        status, plain, body = get(daemon, path)  # no Accept-Encoding: as it is
        assert status == 200 and "Content-Encoding" not in plain and body == want
        status, again, body = get(daemon, path, {"If-None-Match": headers["ETag"]})
        assert status == 304 and body == b"" and again["ETag"] == headers["ETag"]
    assert total < 150_000, total  # the page and its library, gzipped
    status, headers, _ = get(daemon, "/")
    assert headers["Content-Type"] == "text/html; charset=utf-8"


def test_series_gives_each_steps_figures(tmp_path):
    extra = ('[stream "m"]\nwindow_slot = 10s\nwindow_max = 1h\ndrift_reference = ref\n'
             '[stream "ref"]\nwindow_max = 0\n')
    d = Daemon(tmp_path, args=MANUAL, extra=extra)
    rng = np.random.default_rng(5)
    steps = []
    try:
        with d.client("unix") as c:
            ref = np.floor(rng.random(3000) * 1000) / 1000
            c.send({"op": "observe", "stream": "ref", "labels": [0] * 3000, "scores": ref.tolist()})
            for k in range(6):  # six slots of 10 s, each with its own records
                n = 200 + 50 * k
                s = np.floor(rng.random(n) * 1000) / 1000
                y = (rng.random(n) < s ** (1 + k / 3)).astype(int)
                c.send({"op": "observe", "stream": "m", "labels": y.tolist(), "scores": s.tolist()})
                steps.append((y, s))
                advance(c, 10)
            c.request({"op": "ping", "id": 0})
        status, _, body = get(d, "/series?stream=m&window=60s&step=10s")
        assert status == 200, body
        reply = json.loads(body)
        points = reply["points"]
        assert len(points) == 6 and reply["step"] == 10 and reply["window"] == 60
        # The window ends with the current slot (empty): the six slots fed are points 0-4 and
        # the one before them fell out, so compare the last five fed with points 0-4.
        for point, (y, s) in zip(points[:5], steps[1:]):
            assert point["n"] == len(y) and point["positives"] == int(y.sum())
            assert point["average_precision"] == pytest.approx(average_precision_score(y, s),
                                                               rel=1e-12)
            assert point["roc_auc"] == pytest.approx(roc_auc_score(y, s), rel=1e-12)
            pred = s >= 0.5
            row = point["thresholds"][0]
            assert row["threshold"] == 0.5
            assert row["precision"] == pytest.approx((pred & (y == 1)).sum() / pred.sum())
            assert row["recall"] == pytest.approx((pred & (y == 1)).sum() / y.sum())
            assert point["drift"]["psi"] >= 0 and 0 <= point["drift"]["ks"] <= 1
            assert point["to"] - point["from"] == 10
        assert points[5]["n"] == 0 and points[5]["average_precision"] is None
        for query, status_want, says in (
                ("stream=m&window=60s&step=7s", 400, "multiple of the stream's window_slot"),
                ("stream=m&window=24h&step=10s", 400, "at most window_max"),
                ("stream=m&window=1h&step=10s&x=1", 200, None),
                ("stream=nope&window=1h&step=10s", 404, "no stream called 'nope'"),
                ("window=1h", 400, "stream= must name a stream")):
            status, _, body = get(d, "/series?" + query)
            assert status == status_want, body
            if says:
                assert says in json.loads(body)["error"]["message"]
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]


def test_series_carries_label_coverage_for_a_stream_that_joins(tmp_path):
    d = Daemon(tmp_path, args=MANUAL)
    try:
        with d.client("unix") as c:
            c.request({"op": "predict", "id": 1, "stream": "j", "ids": list(range(10)),
                       "scores": [0.1 * i for i in range(10)]})
            c.request({"op": "label", "id": 2, "stream": "j", "ids": list(range(4)),
                       "labels": [1, 0, 1, 0]})
        status, _, body = get(d, "/series?stream=j&window=60s&step=10s")
        point = json.loads(body)["points"][-1]
        # matched / (matched + expired + evicted): the 6 unlabelled ones still wait.
        assert status == 200 and point["coverage"] == 1.0 and point["n"] == 4
        status, _, body = get(d, "/streams")
        listed = json.loads(body)["streams"][0]
        assert listed["labels"]["pending"] == 6 and listed["window_slot"] == 10
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]
