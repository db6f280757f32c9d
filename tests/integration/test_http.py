"""The HTTP listener: /metrics against the snapshot and promtool, JSON endpoints, edge cases,
and a real Prometheus server summing two evald instances."""
import http.client
import json
import math
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
from sklearn.metrics import precision_score, recall_score

from conftest import Daemon, Prometheus

SAMPLE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metrics(d):
    """Every sample of /metrics as (name, labels dict, value)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}/metrics", timeout=30).read()
    out = []
    for line in text.decode().splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in LABEL.findall(m[2] or "")}
        out.append((m[1], labels, float(m[3])))
    return out, text


def get(d, path):
    conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def feed(d, stream, y, s):
    with d.client() as c:
        for i in range(0, len(y), 1000):
            reply = c.request({"op": "observe", "stream": stream, "labels": y[i:i + 1000].tolist(),
                               "scores": s[i:i + 1000].tolist(), "id": i})
            assert reply["ok"]


def data(seed, n=20_000):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    s = np.round(rng.beta(2 + 2 * y, 2 + 2 * (1 - y)), 2)  # many scores exactly on edges
    return y, s


def test_metrics_agree_with_the_snapshot_and_count_scores_on_edges_as_evald_does(tmp_path):
    d = Daemon(tmp_path, defaults={"thresholds": "0.3,0.5"})
    try:
        y, s = data(1)
        feed(d, 'model "a"', y, s)
        samples, _ = metrics(d)
        mine = [(n, l, v) for n, l, v in samples if l.get("stream") == 'model "a"']
        value = lambda name, **want: [v for n, l, v in mine if n == name and all(l.get(k) == w for k, w in want.items())]
        with d.client() as c:
            snap = c.request({"op": "snapshot", "stream": 'model "a"'})
        assert value("evald_records_total") == [len(y)]
        assert value("evald_positives_total") == [y.sum()]
        for row in snap["thresholds"]:
            t = repr(row["threshold"])
            for cell in ("tp", "fp", "tn", "fn"):
                assert value("evald_confusion_total", threshold=t, cell=cell) == [row[cell]]
            assert value("evald_precision", threshold=t) == [pytest.approx(row["precision"], abs=1e-15)]
        assert value("evald_average_precision") == [pytest.approx(snap["average_precision"], abs=1e-15)]
        for label in ("0", "1"):
            buckets = sorted((float(l["le"]), v) for n, l, v in mine
                             if n == "evald_score_bucket" and l["label"] == label)
            count = value("evald_score_count", label=label)[0]
            assert buckets[-1] == (math.inf, count)
            assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))  # cumulative
            assert len(buckets) <= 20 + 2 + 1
            cls = s[y == int(label)]
            assert value("evald_score_sum", label=label)[0] == pytest.approx(cls.sum(), rel=1e-12)
            for le, v in buckets[:-1]:
                edge = np.nextafter(le, 1.0)  # the exported le is the double below the edge
                # PromQL's count - bucket must be evald's "score >= edge".
                assert count - v == (cls >= edge).sum(), (label, edge)
            assert any(float(np.nextafter(le, 1.0)) in set(cls.tolist()) for le, _ in buckets[:-1])
        # Undefined gauges are left out, never written as 0.
        feed(d, "negatives only", np.zeros(10, dtype=int), np.linspace(0.1, 0.9, 10))
        samples, _ = metrics(d)
        names = {n for n, l, v in samples if l.get("stream") == "negatives only"}
        assert "evald_precision" in names  # defined: a true 0 where something is predicted positive
        assert not names & {"evald_recall", "evald_average_precision", "evald_roc_auc"}
    finally:
        assert d.stop() == 0


def test_promtool_finds_nothing_to_complain_about(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "scripts/deps installs Debian's prometheus, which ships promtool"
    d = Daemon(tmp_path)
    try:
        feed(d, "a", *data(2, 3000))
        feed(d, "b", *data(3, 3000))
        _, text = metrics(d)
        check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                               timeout=60)
        assert check.returncode == 0 and check.stdout + check.stderr == b"", check
    finally:
        assert d.stop() == 0


def test_json_endpoints(tmp_path):
    d = Daemon(tmp_path, args=["--clock", "manual"])
    try:
        feed(d, "a b", *data(4, 2000))
        status, body = get(d, "/healthz")
        assert status == 200 and json.loads(body)["version"] == "0.1.0"
        status, body = get(d, "/streams")
        assert json.loads(body)["streams"][0]["name"] == "a b"
        status, body = get(d, "/snapshot?stream=a+b&threshold=0.25&threshold=0.75&curve=1&window=1m")
        snap = json.loads(body)
        with d.client() as c:
            want = c.request({"op": "snapshot", "stream": "a b", "thresholds": [0.25, 0.75],
                              "curve": True, "window": "1m"})
        assert status == 200 and snap == want
        assert get(d, "/snapshot?stream=nobody")[0] == 404
        assert json.loads(get(d, "/snapshot?stream=a%20b&window=7s")[1])["error"]["code"] == "bad_window"
        assert get(d, "/snapshot?stream=a%20b&threshold=x")[0] == 400
        assert get(d, "/snapshot")[0] == 400
        # Operating points: the same rows as the protocol's, in the order asked.
        status, body = get(d, "/snapshot?stream=a+b&recall=0.9&fpr=0.1&recall=0.5")
        with d.client() as c:
            want = c.request({"op": "snapshot", "stream": "a b",
                              "operating_points": {"recall": [0.9, 0.5], "fpr": [0.1]}})
        assert status == 200 and json.loads(body) == want
        assert [r["target"] for r in want["operating_points"]["recall"]] == [0.9, 0.5]
        status, body = get(d, "/snapshot?stream=a+b&precision=1.5")
        assert status == 400 and "precision=1.5 is not a target from 0 to 1" in json.loads(body)[
            "error"]["message"]
    finally:
        assert d.stop() == 0


def raw(d, data, read=True):
    s = socket.create_connection(("127.0.0.1", d.http_port), timeout=30)
    s.sendall(data)
    out = b""
    while read:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def test_http_edge_cases(tmp_path):
    d = Daemon(tmp_path)
    try:
        status, body = get(d, "/nowhere")
        assert status == 404 and body == (b"not found; try /, /metrics, /snapshot?stream=S, "
                                          b"/series?stream=S, /streams or /healthz\n")
        for path in ("/metrics", "/nowhere", "/%zz"):  # every length is the body's own
            head = raw(d, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            header, _, rest = head.partition(b"\r\n\r\n")
            length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            assert length == len(rest) and b"\0" not in rest
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
        conn.request("DELETE", "/metrics")
        r = conn.getresponse()
        assert r.status == 405 and r.getheader("Allow") == "GET, HEAD"
        r.read()
        conn.close()
        big = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-Pad-%d: %s\r\n" % (i, b"y" * 200) for i in range(200)) + b"\r\n"
        assert raw(d, big).startswith(b"HTTP/1.1 431")
        assert raw(d, b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 414")
        assert raw(d, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")
        assert raw(d, b"GET /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").startswith(b"HTTP/1.1 413")

        # 100 keep-alive clients, five requests each on one connection.
        errors = []

        def client():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=60)
                for _ in range(5):
                    conn.request("GET", "/healthz")
                    r = conn.getresponse()
                    assert r.status == 200 and r.getheader("Connection") is None
                    r.read()
                conn.close()
            except Exception as e:
                errors.append(e)
        threads = [threading.Thread(target=client) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors and not any(t.is_alive() for t in threads)

        # A client that pipelines requests and never reads is dropped; others are not hurt.
        hog = socket.create_connection(("127.0.0.1", d.http_port), timeout=30)
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        dropped = False
        for _ in range(20_000):  # bounded: at most this many requests
            try:
                hog.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 10)
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
                break
            if "http_client_dropped" in d.log_text():
                dropped = True
                break
        hog.close()
        assert dropped
        assert get(d, "/healthz")[0] == 200
    finally:
        assert d.stop() == 0


def test_streams_past_max_exported_streams_are_left_out_and_logged_once(tmp_path):
    d = Daemon(tmp_path, http={"max_exported_streams": 2})
    try:
        for name in ("a", "b", "c"):
            feed(d, name, *data(5, 100))
        for _ in range(2):
            samples, _ = metrics(d)
        assert {l["stream"] for n, l, v in samples if "stream" in l} == {"a", "b"}
        assert d.log_text().count("metrics_streams_left_out") == 1
    finally:
        assert d.stop() == 0


def test_prometheus_sums_two_instances_to_sklearns_precision_and_recall(tmp_path):
    y, s = data(6, 40_000)
    half = len(y) // 2
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = Daemon(tmp_path / "a"), Daemon(tmp_path / "b")
    prom = None
    try:
        feed(a, "m", y[:half], s[:half])
        feed(b, "m", y[half:], s[half:])
        prom = Prometheus(tmp_path, (
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: evald\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{a.http_port}', '127.0.0.1:{b.http_port}']}}]\n"))

        def query(q):
            result = prom.query(q)
            return float(result[0]["value"][1]) if result else None

        le = repr(float(np.nextafter(0.5, 0)))
        pos_at = f'sum(evald_score_count{{stream="m",label="1"}}) - sum(evald_score_bucket{{stream="m",label="1",le="{le}"}})'
        all_at = f'sum(evald_score_count{{stream="m"}}) - sum(evald_score_bucket{{stream="m",le="{le}"}})'
        precision_q = f"({pos_at}) / ({all_at})"
        recall_q = f'({pos_at}) / sum(evald_score_count{{stream="m",label="1"}})'
        both = 'count(up{job="evald"} == 1)'
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until both instances were scraped
            try:
                if query(both) == 2 and query(precision_q) is not None:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        pred = s >= 0.5
        assert query(precision_q) == pytest.approx(precision_score(y, pred), abs=1e-12)
        assert query(recall_q) == pytest.approx(recall_score(y, pred), abs=1e-12)
        tp = 'sum(evald_confusion_total{stream="m",threshold="0.5",cell="tp"})'
        fp = 'sum(evald_confusion_total{stream="m",threshold="0.5",cell="fp"})'
        assert query(f"{tp} / ({tp} + {fp})") == pytest.approx(precision_score(y, pred), abs=1e-12)
    finally:
        if prom:
            prom.stop()
        assert a.stop() == 0 and b.stop() == 0
