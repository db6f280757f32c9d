#!/usr/bin/python3
"""AP and ROC-AUC error against scikit-learn, uniform and logit bins, on four score distributions.

For each distribution, 10^6 records are counted by evald-eval (the engine,
no daemon) with 1000 uniform bins and with 1000 logit bins, and the
estimates compared with average_precision_score and roc_auc_score on the
same records (the estimates use the per-bin score means and step sums;
docs/metrics.md also gives the figures before them). Prints the absolute
errors and the widths of the certified bounds. Asserts nothing:
docs/metrics.md records the figures.

    bench/spacing_accuracy.py [EVALD_EVAL]      (default build/evald-eval)

Run it with /usr/bin/python3 (Debian's python3-sklearn and -numpy).
"""
import json
import subprocess
import sys

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

N = 1_000_000


def distributions(rng):
    """(name, labels, scores): the four cases the issue names."""
    y = rng.random(N) < 0.5
    yield "balanced", y, np.clip(rng.normal(0.4 + 0.2 * y, 0.15), 0, 1)
    y = rng.random(N) < 0.002
    z = rng.normal(-6 + 3 * y, 1.5)  # log-odds: scores crowd near 0
    yield "rare positives (0.2%)", y, 1 / (1 + np.exp(-z))
    y = rng.random(N) < 0.3
    z = rng.normal(-4 + 8 * y, 1.2)  # scores crowd near 0 and near 1
    yield "strongly separated", y, 1 / (1 + np.exp(-z))
    y = rng.random(N) < 0.4
    mode = rng.random(N) < 0.5
    s = np.where(mode, rng.beta(2, 8, N), rng.beta(8, 2, N))
    s = np.where(y, np.clip(s + 0.1, 0, 1), s)
    yield "bimodal", y, s


def evaluate(tool, y, s, spacing):
    lines = "\n".join(f"{int(a)},{b!r}" for a, b in zip(y, s.tolist()))
    out = subprocess.run([tool, "--spacing", spacing], input=lines, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def main():
    tool = sys.argv[1] if len(sys.argv) > 1 else "build/evald-eval"
    rng = np.random.default_rng(2026)
    print(f"{'distribution':24} {'spacing':8} {'|AP err|':>10} {'AP bound':>10} "
          f"{'|AUC err|':>10} {'AUC bound':>10}")
    for name, y, s in distributions(rng):
        ap, auc = average_precision_score(y, s), roc_auc_score(y, s)
        for spacing in ("uniform", "logit"):
            snap = evaluate(tool, y, s, spacing)
            apb, aucb = snap["average_precision_bounds"], snap["roc_auc_bounds"]
            print(f"{name:24} {spacing:8} {abs(snap['average_precision'] - ap):10.2e} "
                  f"{apb[1] - apb[0]:10.2e} {abs(snap['roc_auc'] - auc):10.2e} "
                  f"{aucb[1] - aucb[0]:10.2e}", flush=True)


if __name__ == "__main__":
    main()
