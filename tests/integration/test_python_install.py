"""The Python client installs into a fresh venv with no network, as its README says."""
import os
import shutil
import subprocess

from conftest import Daemon

PACKAGE = os.path.join(os.path.dirname(__file__), "../../clients/python")


def test_the_client_installs_into_a_fresh_venv_and_talks_to_evald(tmp_path):
    # A copy, so that the build's by-products stay out of the source tree.
    package = shutil.copytree(PACKAGE, tmp_path / "python", ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__"))
    venv = tmp_path / ".venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index",
                          "--no-build-isolation", "--quiet", str(package)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    d = Daemon(tmp_path)
    try:
        script = ("import evald, numpy as np\n"
                  f"c = evald.Client('unix:{d.sock}')\n"
                  "print(evald.__file__)\n"
                  "print(c.observe(np.array([1, 0]), np.array([0.9, 0.2])))\n"
                  "print(c.snapshot().roc_auc)\n")
        run = subprocess.run([str(venv / "bin" / "python"), "-c", script], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        where, accepted, auc = run.stdout.split()
        assert where.startswith(str(venv)) and accepted == "2" and float(auc) == 1.0
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]
