"""The examples run against a real evald and print what they promise."""
import os
import subprocess

from conftest import Daemon

EXAMPLES = os.path.join(os.path.dirname(__file__), "../../examples")


def test_monitor_model_serves_scores_and_prints_snapshots_and_drift(tmp_path):
    d = Daemon(tmp_path)
    try:
        run = subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLES, "monitor_model.py"),
                              "--connect", f"unix:{d.sock}", "--seconds", "4"],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert len(lines) >= 2 and all("ROC-AUC" in l and "PSI" in l for l in lines)
        last = lines[-1].split()
        assert int(last[1]) > 0  # records joined from predictions and their late labels
        assert "coverage" in last and last[last.index("coverage") + 1] != "-"
    finally:
        assert d.stop() == 0, d.log_text()[-2000:]
