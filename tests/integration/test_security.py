"""Who may reach evald: the Unix socket's permissions, group and peers."""
import grp
import os
import pwd
import stat
import subprocess

import pytest

from conftest import EVALD, Daemon


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
