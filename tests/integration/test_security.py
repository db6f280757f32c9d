"""Who may reach evald: the Unix socket's permissions, group and peers."""
import grp
import os
import pwd
import stat
import subprocess

import pytest

from conftest import EVALD, Daemon, Prometheus


def start_fails(tmp_path, server_lines):
    """evald's exit status and stderr for a configuration that must not start."""
    config = tmp_path / "bad.ini"
    config.write_text("[server]\nlisten =\n" + f"unix = {tmp_path / 'bad.sock'}\n" +
                      server_lines + "\n[http]\nlisten =\n")
    run = subprocess.run([EVALD, "--config", str(config)], capture_output=True, text=True,
                         timeout=60)
    return run.returncode, run.stderr


def test_the_socket_is_created_with_unix_mode_and_group(tmp_path):
    group = grp.getgrgid(os.getgid()).gr_name
    for mode, extra in ((0o660, {}), (0o600, {"unix_mode": "0600"}),
                        (0o640, {"unix_mode": "640", "unix_group": group})):
        d = Daemon(tmp_path, server=extra)
        try:
            st = os.stat(d.sock)
            assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == mode, oct(st.st_mode)
            assert st.st_gid == os.getgid()
            with d.client("unix") as c:
                assert c.request({"op": "ping"})["ok"]
        finally:
            assert d.stop() == 0, d.log_text()[-2000:]


def test_a_peer_outside_unix_peers_is_refused(tmp_path):
    me = pwd.getpwuid(os.getuid()).pw_name
    d = Daemon(tmp_path, server={"unix_peers": "65534"})  # only nobody
    try:
        with d.client("unix") as c:
            reply = c.recv()
            assert reply["error"]["code"] == "forbidden"
            assert f"uid {os.getuid()} may not connect" in reply["error"]["message"]
            assert c.recv() is None  # and the connection is closed
        with d.client("tcp") as c:  # unix_peers is about the Unix socket only
            assert c.request({"op": "ping"})["ok"]
        stats_log = d.log_text()
        assert "reason=unix_peers" in stats_log
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]
    for peers in (me, f"nobody, {os.getuid()}"):
        d = Daemon(tmp_path, server={"unix_peers": peers})
        try:
            with d.client("unix") as c:
                assert c.request({"op": "ping"})["ok"]
        finally:
            assert d.stop() == 0, d.log_text()[-2000:]


@pytest.mark.parametrize("lines,says", [
    ("unix_group = no-such-group-here", "[server] unix_group: 'no-such-group-here' is no group"),
    ("unix_peers = no-such-user-here", "[server] unix_peers: 'no-such-user-here' is no user"),
    ("unix_mode = 0999", "'0999' is not permission bits in octal"),
    ("unix_mode = 01777", "'01777' is not permission bits in octal"),
])
def test_bad_socket_settings_stop_the_start(tmp_path, lines, says):
    code, err = start_fails(tmp_path, lines)
    assert code == 2 and says in err, err


TOKENS = {"write": "w-7f3a9c1e5b", "read": "r-2d8b6e4f0a", "admin": "a-9c5e1b7d3f",
          "both": "rw-4a6c8e0b2d"}


def tokens_file(tmp_path, mode=0o600, lines=None):
    path = tmp_path / "tokens"
    path.write_text(lines if lines is not None else (
        "# role token\n"
        f"write {TOKENS['write']}\nread {TOKENS['read']}\nadmin {TOKENS['admin']}\n\n"
        f"read {TOKENS['both']}\nwrite {TOKENS['both']}\n"))
    os.chmod(path, mode)
    return path


def auth_daemon(tmp_path, unix="trust"):
    return Daemon(tmp_path, args=["--clock", "manual"],
                  extra=f"[auth]\ntokens_file = {tokens_file(tmp_path)}\nunix = {unix}\n")


OPS = {  # each op, and the role it needs ("any": write or read)
    "observe": ("write", {"op": "observe", "stream": "s", "label": 1, "score": 0.5}),
    "predict": ("write", {"op": "predict", "stream": "s", "id": "p1", "score": 0.5}),
    "label": ("write", {"op": "label", "stream": "s", "id": "p1", "label": 1}),
    "use": ("write", {"op": "use", "stream": "s"}),
    "snapshot": ("read", {"op": "snapshot", "stream": "s"}),
    "streams": ("read", {"op": "streams"}),
    "stats": ("read", {"op": "stats"}),
    "drift": ("read", {"op": "drift", "stream": "s", "reference": {"stream": "s"}}),
    "ping": ("any", {"op": "ping"}),
    "reset": ("admin", {"op": "reset", "stream": "s"}),
}


def allowed(role, need):
    return role == "admin" or need == "any" and role in ("write", "read", "both") or \
        need == role or role == "both" and need in ("write", "read")


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_every_op_against_every_identity(tmp_path, transport):
    d = auth_daemon(tmp_path, unix="token")
    try:
        with d.client(transport) as c:  # a stream to read, made by an admin
            assert c.request({"op": "auth", "token": TOKENS["admin"], "id": 0})["roles"] == [
                "admin"]
            assert c.request({"op": "observe", "stream": "s", "label": 0, "score": 0.1,
                              "id": 1})["ok"]
        for who in ("none", "wrong", "write", "read", "admin", "both"):
            for name, (need, request) in OPS.items():
                with d.client(transport) as c:
                    if who != "none":
                        token = TOKENS.get(who, "not-a-token")
                        reply = c.request({"op": "auth", "token": token, "id": "a"})
                        assert reply["ok"] == (who != "wrong"), (who, reply)
                    reply = c.request(dict(request) if "id" in request
                                      else dict(request, id=name))
                    if who in ("none", "wrong"):
                        want = "unauthorized"
                    else:
                        want = None if allowed(who, need) else "forbidden"
                    got = None if reply.get("ok") else reply["error"]["code"]
                    assert got == want, (transport, who, name, reply)
                    if want == "forbidden":
                        assert f"needs the {need} role" in reply["error"]["message"]
        with d.client(transport) as c:
            c.request({"op": "auth", "token": TOKENS["admin"], "id": 0})
            stats = c.request({"op": "stats", "id": 1})
            # the admin's first record, then one from each identity that may observe
            # (write, admin, both): nothing from a refused request
            assert stats["records_accepted"] == 1 + 3
            # no token: the op refused; a wrong one: the auth and then the op
            assert stats["auth_failures"] == len(OPS) + 2 * len(OPS)
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]
        log = d.log.read_text()
        assert not any(t in log for t in TOKENS.values())  # never logged


def test_three_failures_close_the_connection_and_trusted_unix_needs_no_token(tmp_path):
    d = auth_daemon(tmp_path)  # [auth] unix = trust
    try:
        with d.client("tcp") as c:
            for i in range(2):
                reply = c.request({"op": "auth", "token": "nope", "id": i})
                assert reply["error"]["code"] == "unauthorized"
            reply = c.request({"op": "snapshot", "stream": "s", "id": 2})
            assert reply["error"]["code"] == "unauthorized"
            assert "three failures: closing" in reply["error"]["message"]
            assert c.recv() is None
        with d.client("unix") as c:
            assert c.request({"op": "observe", "stream": "u", "label": 1, "score": 0.9,
                              "id": 1})["ok"]
            assert c.request({"op": "reset", "stream": "u", "id": 2})["ok"]
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]
    assert "peer=127.0.0.1:" in d.log.read_text()  # failures are logged with the peer


@pytest.mark.parametrize("mode,lines,says", [
    (0o644, None, "may be read by others than its owner (mode 644); chmod 600 it"),
    (0o600, "write ok-token\nreader bad-role\n", "line 2: the role is not write, read or admin"),
    (0o600, "write one two\n", "line 1: a line is a role and one token"),
])
def test_a_bad_tokens_file_stops_the_start(tmp_path, mode, lines, says):
    path = tokens_file(tmp_path, mode, lines)
    code, err = start_fails(tmp_path, f"\n[auth]\ntokens_file = {path}")
    assert code == 2 and says in err, err
    assert "ok-token" not in err and "two" not in err


def test_sighup_reloads_the_tokens_and_a_bad_file_keeps_the_old(tmp_path):
    import signal
    import time
    d = auth_daemon(tmp_path)
    path = tmp_path / "tokens"
    try:
        def roles(token):
            with d.client("tcp") as c:
                reply = c.request({"op": "auth", "token": token, "id": 1})
                return reply.get("roles") or reply["error"]["code"]

        assert roles("new-token-1") == "unauthorized" and roles(TOKENS["read"]) == ["read"]
        path.write_text("admin new-token-1\n")
        d.proc.send_signal(signal.SIGHUP)
        for _ in range(100):  # bounded: up to 10 s for the reload
            if "tokens_reloaded" in d.log.read_text():
                break
            time.sleep(0.1)
        assert roles("new-token-1") == ["admin"] and roles(TOKENS["read"]) == "unauthorized"
        os.chmod(path, 0o644)  # a bad file: the tokens already read stay
        d.proc.send_signal(signal.SIGHUP)
        for _ in range(100):
            if "tokens_not_reloaded" in d.log.read_text():
                break
            time.sleep(0.1)
        assert roles("new-token-1") == ["admin"]
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]
    assert "new-token-1" not in d.log.read_text()


def test_http_needs_a_bearer_token_with_the_read_role_and_prometheus_sends_one(tmp_path):
    import http.client
    import json
    import time
    d = auth_daemon(tmp_path)
    prom = None
    try:
        with d.client("unix") as c:  # trusted
            c.request({"op": "observe", "stream": "m", "label": 1, "score": 0.9, "id": 1})

        def get(path, token=None):
            conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token
                         else {})
            r = conn.getresponse()
            body = r.read()
            conn.close()
            return r.status, dict(r.getheaders()), body

        for path in ("/metrics", "/snapshot?stream=m", "/streams", "/series?stream=m"):
            status, headers, _ = get(path)
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), path
            assert get(path, "wrong-token")[0] == 401
            assert get(path, TOKENS["write"])[0] == 403
            assert get(path, TOKENS["read"])[0] == 200
            assert get(path, TOKENS["admin"])[0] == 200
        assert get("/healthz")[0] == 200 and get("/")[0] == 200  # the page asks for a token
        status, _, body = get("/snapshot?stream=m", TOKENS["both"])
        assert status == 200 and json.loads(body)["n"] == 1
        # A real Prometheus scrapes with its authorization setting; without it, it cannot.
        target = f"static_configs: [{{targets: ['127.0.0.1:{d.http_port}']}}]"
        prom = Prometheus(tmp_path, (
            "global: {scrape_interval: 1s}\nscrape_configs:\n"
            f"  - job_name: with_token\n    authorization: {{credentials: {TOKENS['read']}}}\n"
            f"    {target}\n"
            f"  - job_name: without\n    {target}\n"))

        def query(q):
            return {r["metric"].get("job"): float(r["value"][1]) for r in prom.query(q)}

        up = {}
        for _ in range(120):  # bounded: up to 60 s for both jobs' first scrapes
            try:
                up = query("up")
                if len(up) == 2 and query("evald_records_total"):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert up == {"with_token": 1.0, "without": 0.0}
        assert query('evald_records_total{stream="m"}') == {"with_token": 1.0}
    finally:
        if prom:
            prom.stop()
        assert d.stop() == 0, d.log_text()[-2000:]
    log = d.log.read_text()
    assert "transport=http" in log and not any(t in log for t in TOKENS.values())


def test_evalctl_and_the_python_client_present_their_tokens(tmp_path):
    import sys
    from conftest import EVALCTL
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../clients/python/src"))
    import evald
    d = auth_daemon(tmp_path)
    try:
        def token_file(name):
            path = tmp_path / f"{name}.token"
            path.write_text(TOKENS[name] + "\n")
            return str(path)

        target = f"tcp://127.0.0.1:{d.port}"

        def evalctl(*args, env=None):
            return subprocess.run([EVALCTL, "--connect", target, *args], capture_output=True,
                                  text=True, timeout=60, env=env)

        refused = evalctl("streams")
        assert refused.returncode == 1 and "unauthorized" in refused.stderr
        ok = evalctl("--token-file", token_file("read"), "streams")
        assert ok.returncode == 0, ok.stderr
        env = dict(os.environ, EVALD_TOKEN_FILE=token_file("write"))
        forbidden = evalctl("streams", env=env)
        assert forbidden.returncode == 1 and "forbidden" in forbidden.stderr
        assert "needs the read role" in forbidden.stderr
        for out in (refused, ok, forbidden):
            assert not any(t in out.stdout + out.stderr for t in TOKENS.values())
        # The Python client, and its sender, on every connection.
        with evald.Client(target, token=TOKENS["both"]) as c:
            assert c.observe([1, 0], [0.9, 0.2], stream="py") == 2
            assert c.snapshot(stream="py").n == 2
        with pytest.raises(evald.AuthError) as e:
            with evald.Client(target, token="wrong") as c:
                c.ping()
        assert e.value.code == "unauthorized"
        with pytest.raises(evald.AuthError) as e:
            with evald.Client(target, token=TOKENS["read"]) as c:
                c.observe([1], [0.5], stream="py")
        assert e.value.code == "forbidden"
        with evald.Sender(target, stream="py", token=TOKENS["write"]) as sender:
            sender.observe([1], [0.7])
            assert sender.flush(30) and sender.stats()["sent"] == 1
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]


def test_a_token_is_harmless_without_a_tokens_file(tmp_path):
    d = Daemon(tmp_path)
    try:
        with d.client("tcp") as c:
            reply = c.request({"op": "auth", "token": "anything", "id": 1})
            assert reply["roles"] == ["write", "read", "admin"]
            assert c.request({"op": "reset", "stream": "x", "id": 2})["error"]["code"] == \
                "unknown_stream"  # allowed, and answered as without a token
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]
