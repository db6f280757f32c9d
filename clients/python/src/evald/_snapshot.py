"""A snapshot reply, read the way scikit-learn's metrics are read."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np


def _num(v: Any) -> float:
    """A reply's number as a float; nil (undefined) as NaN, never as 0."""
    return math.nan if v is None else float(v)


def _pair(v: Any) -> tuple[float, float]:
    return (math.nan, math.nan) if v is None else (_num(v[0]), _num(v[1]))


@dataclass(frozen=True)
class ThresholdRow:
    """The confusion at one threshold (a record is positive iff score >= threshold),
    its rates and their Wilson 95% intervals. Undefined rates are NaN."""

    threshold: float
    exact: bool
    tp: float
    fp: float
    tn: float
    fn: float
    precision: float
    recall: float
    f1: float
    accuracy: float
    fpr: float
    specificity: float
    precision_ci: tuple[float, float]
    recall_ci: tuple[float, float]
    specificity_ci: tuple[float, float]
    insufficient: bool

    @classmethod
    def from_reply(cls, row: Mapping[str, Any]) -> "ThresholdRow":
        values: dict[str, Any] = {}
        for f in fields(cls):
            v = row.get(f.name)
            if f.name in ("exact", "insufficient"):
                values[f.name] = bool(v)
            elif f.name.endswith("_ci"):
                values[f.name] = _pair(v)
            else:
                values[f.name] = _num(v)
        return cls(**values)


class Snapshot:
    """What evald holds of one stream over one window.

    Attributes
    ----------
    stream, window : str
    n, positives, negatives : float
        Weight sums (record counts when unweighted).
    records, out_of_range, late : int
    average_precision, roc_auc : float
        Estimates; exact wherever the bins resolve the scores. NaN when undefined.
    bounds : dict of str to (float, float)
        Certified bounds of ``"average_precision"`` and ``"roc_auc"``: scikit-learn's
        value on the same records lies within them.
    roc_auc_ci : (float, float)
        DeLong's 95% interval, widened by the bounds.
    brier, log_loss : float
        Exact from running sums; NaN unless the scores are probabilities on [0, 1].
    thresholds : list of ThresholdRow
        The stream's configured thresholds, then those asked for.
    labels : dict or None
        The delayed-labels section, for a stream that takes predictions and labels.
    operating_points, calibration : dict or None
        As asked for in `Client.snapshot`.
    """

    def __init__(self, reply: Mapping[str, Any]) -> None:
        self._reply = {k: v for k, v in reply.items() if k not in ("ok", "id")}
        r = self._reply
        self.stream: str = r["stream"]
        self.window: str = r["window"]
        self.n = _num(r.get("n"))
        self.positives = _num(r.get("positives"))
        self.negatives = _num(r.get("negatives"))
        self.records = int(r.get("records", 0))
        self.out_of_range = int(r.get("out_of_range", 0))
        self.late = int(r.get("late", 0))
        self.complete = bool(r.get("complete", True))
        self.average_precision = _num(r.get("average_precision"))
        self.roc_auc = _num(r.get("roc_auc"))
        self.bounds = {"average_precision": _pair(r.get("average_precision_bounds")),
                       "roc_auc": _pair(r.get("roc_auc_bounds"))}
        self.roc_auc_ci = _pair(r.get("roc_auc_ci"))
        self.brier = _num(r.get("brier"))
        self.log_loss = _num(r.get("log_loss"))
        self.best_f1: dict[str, float] = {k: _num(v) for k, v in (r.get("best_f1") or {}).items()}
        self.thresholds = [ThresholdRow.from_reply(row) for row in r.get("thresholds", [])]
        self.labels: dict[str, Any] | None = r.get("labels")
        self.operating_points: dict[str, Any] | None = r.get("operating_points")
        self.calibration: dict[str, Any] | None = r.get("calibration")

    def __repr__(self) -> str:
        return (f"Snapshot(stream={self.stream!r}, window={self.window!r}, n={self.n:g}, "
                f"average_precision={self.average_precision:.6g}, roc_auc={self.roc_auc:.6g})")

    def at(self, threshold: float) -> ThresholdRow:
        """The row of one threshold: a configured one, or one asked for in `Client.snapshot`."""
        for row in self.thresholds:
            if row.threshold == threshold:
                return row
        have = ", ".join(f"{row.threshold:g}" for row in self.thresholds)
        raise KeyError(f"no row for threshold {threshold:g} (this snapshot has {have}); "
                       f"ask for it with snapshot(..., thresholds=[{threshold:g}])")

    def _curve(self) -> dict[str, np.ndarray]:
        curve = self._reply.get("curve")
        if curve is None:
            raise ValueError("this snapshot has no curve: ask for it with "
                             "snapshot(..., curve=True)")
        return {k: np.array([_num(v) for v in col], dtype=float) for k, col in curve.items()}

    def precision_recall_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(precision, recall, thresholds)`` in the shapes and order of
        `sklearn.metrics.precision_recall_curve`: one point per bin that holds
        records (scikit-learn's own points when each bin holds one distinct score),
        thresholds increasing, precision and recall with a last point (1, 0)."""
        c = self._curve()
        tp, fp = c["tp"], c["fp"]
        precision = np.zeros_like(tp)
        np.divide(tp, tp + fp, out=precision, where=(tp + fp) != 0)
        recall = tp / self.positives if self.positives > 0 else np.ones_like(tp)
        return (np.hstack((precision[::-1], 1.0)), np.hstack((recall[::-1], 0.0)),
                c["threshold"][::-1].copy())

    def roc_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fpr, tpr, thresholds)`` as `sklearn.metrics.roc_curve` gives them with
        ``drop_intermediate=False``: from (0, 0), thresholds decreasing, the first
        one above every score."""
        c = self._curve()
        tps, fps = np.r_[0.0, c["tp"]], np.r_[0.0, c["fp"]]
        t = c["threshold"]
        thresholds = np.r_[t[0] + 1 if len(t) else math.inf, t]
        fpr = fps / self.negatives if self.negatives > 0 else np.full(fps.shape, math.nan)
        tpr = tps / self.positives if self.positives > 0 else np.full(tps.shape, math.nan)
        return fpr, tpr, thresholds

    def to_dict(self) -> dict[str, Any]:
        """The reply as evald sent it, without ``ok`` and the request's ``id``."""
        return dict(self._reply)
