#!/usr/bin/python3
"""Watch a model in production with evald.

Trains a logistic regression on scikit-learn's breast cancer data (it ships with
scikit-learn: no download), then "serves" it: each second it scores a batch of
requests, sends the scores through a background `evald.Sender` as predictions,
and sends their labels a few batches later, as a real system learns outcomes
late. It also sends the validation scores once to a reference stream. Every few
seconds it prints the stream's snapshot (AP, ROC-AUC with bounds, precision and
recall at 0.5, label coverage) and the drift of the served scores from
validation.

    examples/monitor_model.py [--connect ADDRESS] [--seconds N]

Start evald first (scripts/run). Run with /usr/bin/python3 (Debian's
python3-sklearn), with the client installed or from a checkout.
"""
import argparse
import os
import sys
import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../clients/python/src"))
import evald  # noqa: E402

STREAM, REFERENCE = "breast-cancer", "breast-cancer-validation"
LABEL_DELAY = 3  # batches before a request's outcome is known


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connect", default=None, help="evald's address (default: $EVALD_CONNECT)")
    ap.add_argument("--seconds", type=float, default=30.0, help="how long to serve")
    ap.add_argument("--batch", type=int, default=200, help="requests scored per second")
    args = ap.parse_args()

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)

    with evald.Client(args.connect) as client:
        client.observe(y_test, model.predict_proba(X_test)[:, 1], stream=REFERENCE)

    rng = np.random.default_rng(0)
    waiting: list[tuple[np.ndarray, np.ndarray]] = []  # (ids, labels) not yet known
    next_id, step = 0, 0
    sender = evald.Sender(args.connect, stream=STREAM)
    client = evald.Client(args.connect)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        # Requests: test rows, with noise that grows over time (a drifting input).
        rows = rng.integers(0, len(X_test), args.batch)
        noise = rng.normal(0.0, 0.05 * step, (args.batch, X_test.shape[1])) * X_test.std(0)
        scores = model.predict_proba(X_test[rows] + noise)[:, 1]
        ids = np.arange(next_id, next_id + args.batch, dtype=np.uint64)
        next_id += args.batch
        sender.predict(ids, scores)  # returns at once: the model never waits on evald
        waiting.append((ids, y_test[rows]))
        if len(waiting) > LABEL_DELAY:
            known_ids, labels = waiting.pop(0)
            sender.label(known_ids, labels)
        if step % 3 == 2:
            sender.flush(5.0)
            report(client)
        step += 1
        time.sleep(1.0)
    sender.close()
    report(client)
    client.close()


def fmt(value, spec: str = ".4f") -> str:
    """A figure, or "-" where it is undefined (nil or NaN), never a made-up 0."""
    if value is None or value != value:
        return "-"
    return format(value, spec)


def report(client: evald.Client) -> None:
    try:
        snap = client.snapshot(stream=STREAM, thresholds=[0.5])
        drift = client.drift(stream=STREAM, reference_stream=REFERENCE)
    except evald.EvaldError as e:
        print(f"evald: {e}")
        return
    row = snap.at(0.5)
    lo, hi = snap.bounds["roc_auc"]
    labels = snap.labels or {}
    print(f"n {snap.n:6.0f}  AP {fmt(snap.average_precision)}  ROC-AUC {fmt(snap.roc_auc)} "
          f"[{fmt(lo)}, {fmt(hi)}]  P@0.5 {fmt(row.precision, '.3f')}  "
          f"R@0.5 {fmt(row.recall, '.3f')}  coverage {fmt(labels.get('coverage'), '.2f')}  "
          f"pending {labels.get('pending', 0)}  PSI {fmt(drift['psi'], '.3f')} "
          f"(noise {fmt(drift['psi_expected'], '.3f')})  KS {fmt(drift['ks'], '.3f')}",
          flush=True)


if __name__ == "__main__":
    main()
