"""cmake --install into a temporary prefix: every file in its place, the unit valid, the man pages clean."""
import os
import shutil
import stat
import subprocess

import pytest

BUILD = os.environ["EVALD_BUILD_DIR"]
SOURCE = os.path.join(os.path.dirname(__file__), "../..")


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefix")
    r = subprocess.run(["cmake", "--install", BUILD, "--prefix", str(root)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return root


def test_binaries_man_pages_configuration_and_unit_are_installed(prefix):
    for path in ("sbin/evald", "bin/evalctl", "bin/evald-eval"):
        mode = os.stat(prefix / path).st_mode
        assert stat.S_ISREG(mode) and mode & stat.S_IXUSR, path
    for path in ("share/man/man8/evald.8", "share/man/man1/evalctl.1",
                 "lib/systemd/system/evald.service"):
        text = (prefix / path).read_text()
        assert "@" not in text.replace("$MAINPID", ""), f"{path} has an unfilled @VAR@"
    example = open(os.path.join(SOURCE, "conf/evald.ini")).read()
    assert (prefix / "etc/evald/evald.ini").read_text() == example


def test_the_installed_configuration_checks(prefix):
    r = subprocess.run([str(prefix / "sbin/evald"), "--check-config",
                        str(prefix / "etc/evald/evald.ini")], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr


def test_the_unit_runs_the_installed_daemon_hardened(prefix):
    unit = (prefix / "lib/systemd/system/evald.service").read_text()
    keys = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#")
    assert keys["ExecStart"].startswith(f"{prefix}/sbin/evald --config {prefix}/etc/evald/evald.ini")
    assert keys["DynamicUser"] == "yes" and keys["NoNewPrivileges"] == "yes"
    assert keys["StateDirectory"] == "evald" and keys["WorkingDirectory"] == "/var/lib/evald"
    assert keys["RuntimeDirectory"] == "evald" and "/run/evald/evald.sock" in keys["ExecStart"]
    assert int(keys["LimitNOFILE"]) >= 65536
    if not shutil.which("systemd-analyze"):
        return  # verified where systemd is installed
    r = subprocess.run(["systemd-analyze", "verify", str(prefix / "lib/systemd/system/evald.service")],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "MANPATH": str(prefix / "share/man")})
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("page", ["share/man/man8/evald.8", "share/man/man1/evalctl.1"])
def test_the_man_pages_render_without_warnings(prefix, page):
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(prefix / page)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    if shutil.which("man"):
        r = subprocess.run(["man", "-l", str(prefix / page)], capture_output=True, text=True,
                           timeout=60, env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_STDERR": "1"})
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert ("evald" in r.stdout) and "SYNOPSIS" in r.stdout
