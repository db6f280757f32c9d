"""Shared fixtures: a real evald on a run-time port and a temp Unix socket, and a client."""
import os
import signal
import socket
import subprocess
import sys
import time

import msgpack
import pytest

# The tests need Debian's interpreter with python3-sklearn, not whatever is first on PATH.
if not sys.executable.startswith("/usr/bin/python3"):
    raise SystemExit(f"run the tests with /usr/bin/python3, not {sys.executable}")

BUILD = os.environ.get("EVALD_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
EVALD = os.environ.get("EVALD_BIN", os.path.join(BUILD, "evald"))
EVALCTL = os.environ.get("EVALCTL_BIN", os.path.join(BUILD, "evalctl"))
START_TIMEOUT = 60.0
T0 = 1_800_000_000.0  # where a manual clock starts
MANUAL = ["--clock", "manual"]


def advance(c, seconds):
    """Moves a manual clock (evald --clock manual) on; returns evald's time."""
    reply = c.request({"op": "advance_clock", "seconds": seconds, "id": "clock"})
    assert reply["ok"], reply
    return reply["now"]


class Daemon:
    """evald started on a temp config; stopped with SIGTERM, killed if it will not stop."""

    def __init__(self, tmp_path, server=None, defaults=None, extra="", args=(), http=None,
                 fd_limit=None):
        self.dir = tmp_path
        self.sock = str(tmp_path / "evald.sock")
        self.log = tmp_path / "evald.log"
        server = {"listen": "127.0.0.1:0", "unix": self.sock, "log_level": "debug", **(server or {})}
        lines = ["[server]"] + [f"{k} = {v}" for k, v in server.items()]
        lines += ["[defaults]"] + [f"{k} = {v}" for k, v in (defaults or {}).items()]
        http = {"listen": "127.0.0.1:0", **(http or {})}
        lines += ["[http]"] + [f"{k} = {v}" for k, v in http.items()]
        self.config = tmp_path / "evald.ini"
        self.config.write_text("\n".join(lines) + "\n" + extra)
        wrapper = os.environ.get("EVALD_WRAPPER", "").split()  # e.g. valgrind and its flags
        limit = None
        if fd_limit:  # the daemon's own descriptor limit, soft and hard
            import resource

            def limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
        self.proc = subprocess.Popen([*wrapper, EVALD, "--config", str(self.config), *args],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "w"),
                                     preexec_fn=limit)
        self.port = None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            for line in self.log.read_text().splitlines():
                if "event=started" in line:
                    self._find_port()
                    return
            time.sleep(0.02)
        self.proc.kill()  # never leave a daemon behind, even one that did not start
        self.proc.wait()
        raise RuntimeError(f"evald did not start:\n{self.log.read_text()}")

    def _find_port(self):
        self.http_port = None
        for line in self.log.read_text().splitlines():
            if "transport=tcp" in line:
                self.port = int(line.rsplit(":", 1)[1])
            if "transport=http" in line:
                self.http_port = int(line.rsplit(":", 1)[1])

    def client(self, transport="tcp"):
        return Client(("127.0.0.1", self.port) if transport == "tcp" else self.sock)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_text(self):
        return self.log.read_text()


class Client:
    def __init__(self, address, timeout=30.0):
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)

    def send(self, obj):
        self.sock.sendall(msgpack.packb(obj, use_bin_type=True))

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self):
        """The next reply, or None when the server closed the connection."""
        while True:
            for obj in self.unpacker:
                return obj
            data = self.sock.recv(1 << 16)
            if not data:
                return None
            self.unpacker.feed(data)

    def request(self, obj):
        self.send(obj)
        return self.recv()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    assert d.stop() == 0, d.log_text()


@pytest.fixture
def start_daemon(tmp_path_factory):
    """Starts daemons with custom settings; each is stopped at the end."""
    started = []

    def start(**kwargs):
        d = Daemon(tmp_path_factory.mktemp("evald"), **kwargs)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


class Prometheus:
    """Debian's Prometheus on a run-time port, scraping as config_yaml says; stopped by stop()."""

    def __init__(self, tmp_path, config_yaml):
        import shutil
        binary = shutil.which("prometheus")
        assert binary, "scripts/deps installs Debian's prometheus"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = tmp_path / "prometheus.yml"
        config.write_text(config_yaml)
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path}/tsdb",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"))

    def query(self, q):
        """The result vector of a PromQL query: a list of {"metric", "value"}."""
        import json
        import urllib.parse
        import urllib.request
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        return json.load(urllib.request.urlopen(url, timeout=10))["data"]["result"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)

