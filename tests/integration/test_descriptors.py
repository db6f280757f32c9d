"""Descriptors: caps fitted to the file limit, HTTP connections capped and timed out."""
import json
import resource
import socket
import time
import urllib.request

from conftest import MANUAL, Daemon, advance



def raise_own_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))



def http_get(port, path):
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read())


def test_a_low_file_limit_lowers_the_caps_and_says_so(tmp_path):
    d = Daemon(tmp_path, args=MANUAL, fd_limit=256)
    try:
        log = d.log_text()
        # 1024 + 64 + a reserve of 48 do not fit in 256: HTTP gets an eighth of 208.
        assert "event=fd_limit_low" in log, log
        assert "max_connections=1024->182" in log and "http_max_connections=64->26" in log
    finally:
        assert d.stop() == 0


def test_idle_and_slow_http_clients_never_lock_out_producers(tmp_path):
    raise_own_limit(4096)
    d = Daemon(tmp_path, args=MANUAL, fd_limit=256)
    idle, slow = [], []
    try:
        # 2,000 connections that send nothing, and 200 that send headers a byte at a time.
        for _ in range(2000):
            s = socket.create_connection(("127.0.0.1", d.http_port))
            idle.append(s)
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", d.http_port))
            s.sendall(b"G")
            slow.append(s)
        for k in range(3):
            for s in slow:
                try:
                    s.sendall(b"ET /metrics HTTP/1.1\r\n"[k:k + 1])
                except OSError:
                    pass  # closed to make room: expected for most of them
        # Producers still connect and are answered.
        with d.client() as c:
            for i in range(20):
                with d.client() as p:
                    r = p.request({"op": "observe", "stream": "m", "labels": [1, 0],
                                   "scores": [0.9, 0.1], "id": i})
                    assert r["accepted"] == 2, r
            assert c.request({"op": "snapshot", "stream": "m"})["n"] == 40
            # HTTP answers too: a new connection makes room by closing the longest waiting.
            assert http_get(d.http_port, "/snapshot?stream=m")["n"] == 40
            stats = c.request({"op": "stats"})
            assert stats["http_connections"] <= 26
            assert stats["http_closed_for_room"] >= 2200 - 26
            # Past header_timeout, whatever is left of them is closed and counted.
            advance(c, 11)
            stats = c.request({"op": "stats"})
            assert stats["http_connections"] == 0, stats
            # Every one of the 2,200 was closed and counted (the snapshot's closed itself).
            assert stats["http_closed_for_room"] + stats["http_timeouts"] == 2200
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}/metrics").read()
            room = [l for l in metrics.decode().splitlines()
                    if l.startswith('evald_http_closed_total{reason="room"}')]
            assert room and int(room[0].split()[-1]) >= stats["http_closed_for_room"]
    finally:
        for s in idle + slow:
            s.close()
        assert d.stop() == 0


def test_keep_alive_connections_close_after_idle_timeout(tmp_path):
    d = Daemon(tmp_path, args=MANUAL, http={"idle_timeout": "30s", "header_timeout": "5s"})
    try:
        s = socket.create_connection(("127.0.0.1", d.http_port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in s.recv(4096)
        with d.client() as c:
            advance(c, 10)  # past header_timeout, but idle between requests: kept
            assert c.request({"op": "stats"})["http_connections"] == 1
            advance(c, 25)  # past idle_timeout
            stats = c.request({"op": "stats"})
            assert stats["http_connections"] == 0 and stats["http_timeouts"] == 1
        assert s.recv(4096) == b""  # closed by evald
        # A request begun but not finished in header_timeout is closed too.
        s2 = socket.create_connection(("127.0.0.1", d.http_port))
        s2.sendall(b"GET /metr")
        with d.client() as c:
            for _ in range(100):  # bounded: the request's bytes must have arrived
                if c.request({"op": "stats"})["http_connections"] == 1:
                    break
                time.sleep(0.01)
            advance(c, 6)
            assert c.request({"op": "stats"})["http_timeouts"] == 2
        assert s2.recv(4096) == b""
        s.close()
        s2.close()
    finally:
        assert d.stop() == 0
