"""The synchronous client: records in, snapshots out."""

from __future__ import annotations

import itertools
from typing import Any, Iterator, NamedTuple, Sequence

from . import _wire
from ._errors import EvaldConnectionError, EvaldError, from_reply
from ._snapshot import Snapshot

ArrayLike = Any


class PredictResult(NamedTuple):
    """What `Client.predict` did: predictions taken, and those for an id already pending."""

    accepted: int
    duplicates: int


class LabelResult(NamedTuple):
    """What `Client.label` did: labels joined to a pending prediction, held for one
    that has not come, and those for an id whose label already waits."""

    matched: int
    waiting: int
    duplicates: int


class Limits(NamedTuple):
    """The server's limits that size a client's requests (its ping reply)."""

    max_batch: int
    max_message_bytes: int
    max_clock_skew: int


def record_columns(ids: ArrayLike, labels: ArrayLike, scores: ArrayLike,
                   weights: ArrayLike, times: ArrayLike) -> list[_wire.Column]:
    """The checked columns of an observe, predict or label request, of equal length."""
    columns = []
    if ids is not None:
        columns.append(_wire.ids_column(ids))
    if labels is not None:
        columns.append(_wire.labels_column(labels))
    if scores is not None:
        columns.append(_wire.reals_column(scores, "scores", "score"))
    if weights is not None:
        columns.append(_wire.reals_column(weights, "weights", "weight", 0.0, _wire.WEIGHT_MAX,
                                          low_open=True))
    if times is not None:
        columns.append(_wire.reals_column(times, "times", "time", 0.0))
    _wire.check_lengths(columns)
    return columns


class Client:
    """A connection to evald, for one thread.

    Parameters
    ----------
    address : str, optional
        ``"unix:/run/evald/evald.sock"``, ``"tcp://127.0.0.1:7390"``, ``"HOST:PORT"``
        or a socket path. Default: ``$EVALD_CONNECT``, then ``tcp://127.0.0.1:7390``.
    timeout : float or None, default=30.0
        Seconds to wait for evald to connect or answer; None waits for ever.
    token : str, optional
        The token to present ([auth] tokens_file), on every connection.

    Notes
    -----
    A client is not thread-safe: give each thread its own, or use a `Sender`,
    which any thread may feed. A broken connection is made again once before a
    request raises `EvaldConnectionError`; `observe` is not sent again once any of
    it may have reached evald, since it would count twice.

    Examples
    --------
    >>> with evald.Client("unix:/run/evald/evald.sock") as c:
    ...     c.observe(y_true, y_score, stream="fraud")
    ...     snap = c.snapshot(stream="fraud", curve=True)
    ...     precision, recall, thresholds = snap.precision_recall_curve()
    """

    def __init__(self, address: str | None = None, *, timeout: float | None = 30.0,
                 token: str | None = None) -> None:
        self.address = _wire.parse_address(address)
        self._conn = _wire.Connection(self.address, timeout, token)
        self._ids = itertools.count(1)
        self._limits: Limits | None = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection; the next request opens a new one."""
        self._conn.close()

    # -- requests ----------------------------------------------------------

    def _ready(self) -> None:
        """A connection that evald has not closed since the last reply."""
        if self._conn.stale():
            self._conn.close()
        self._conn.open()

    def _call(self, request: dict[str, Any], retry: bool = True) -> dict[str, Any]:
        """One request and its reply; raises the reply's error. Read-only and
        idempotent requests are sent again once on a new connection if this one broke."""
        request = dict(request, id=next(self._ids))
        data = _wire.packb(request)
        for attempt in (0, 1):
            self._ready()
            try:
                self._conn.send(data)
                reply = self._conn.recv()
                break
            except EvaldConnectionError:
                if attempt or not retry:
                    raise
        if "id" not in reply and not reply.get("ok", False):
            # An error evald could not tie to a request (message_too_large,
            # invalid_msgpack, too_many_connections): it closes the connection.
            self._conn.close()
            raise from_reply(reply.get("error", {}))
        if reply.get("id") != request["id"]:
            self._conn.close()
            raise EvaldConnectionError(f"evald answered request {reply.get('id')!r}, "
                                       f"expected {request['id']}: the connection was reset")
        if not reply.get("ok", False):
            raise from_reply(reply.get("error", {}))
        return reply

    def limits(self) -> Limits:
        """The server's max_batch, max_message_bytes and max_clock_skew (asked once)."""
        if self._limits is None:
            reply = self._call({"op": "ping"})
            self._limits = Limits(int(reply.get("max_batch", 100_000)),
                                  int(reply.get("max_message_bytes", 1 << 20)),
                                  int(reply.get("max_clock_skew", 60)))
        return self._limits

    def _batches(self, op: str, stream: str, columns: Sequence[_wire.Column],
                 retry: bool) -> Iterator[dict[str, Any]]:
        """Sends the columns in requests of at most max_batch records that fit
        max_message_bytes; yields each reply. A refused request raises with the
        record index counted over the whole input."""
        limits = self.limits()
        n = len(columns[0]) if columns else 0
        size = _wire.batch_size(columns, limits.max_batch, limits.max_message_bytes)
        for start in range(0, n, size):
            request: dict[str, Any] = {"op": op, "stream": stream}
            for c in columns:
                request[c.name] = c.chunk(start, start + size)
            try:
                yield self._call(request, retry=retry)
            except EvaldError as e:
                if e.index is not None:
                    e.index += start
                if start:
                    e.message += (f" ({start} records of this call were counted before "
                                  "this request was refused)")
                    e.args = (f"{e.code}: {e.message}",)
                raise

    def observe(self, y_true: ArrayLike, y_score: ArrayLike, stream: str = "default",
                sample_weight: ArrayLike | None = None, times: ArrayLike | None = None) -> int:
        """Counts records whose labels are known.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            Labels, 0 or 1 (bools, integers, or floats that are exactly 0 or 1).
        y_score : array-like of shape (n_samples,)
            Scores, finite numbers.
        stream : str, default="default"
            The stream, made on first use.
        sample_weight : array-like of shape (n_samples,), optional
            Weights, > 0 and at most 1e12.
        times : array-like of shape (n_samples,), optional
            Event times in Unix seconds; default: when evald receives them.

        Returns
        -------
        int
            Records accepted.

        Raises
        ------
        BadInputError
            Before anything is sent, for a bad label, score, weight or time (``.index``
            names the first) or columns of different lengths: nothing is counted.
        """
        columns = record_columns(None, y_true, y_score, sample_weight, times)
        return sum(int(r["accepted"]) for r in self._batches("observe", stream, columns, False))

    def predict(self, ids: ArrayLike, y_score: ArrayLike, stream: str = "default",
                sample_weight: ArrayLike | None = None,
                times: ArrayLike | None = None) -> PredictResult:
        """Sends predictions whose labels come later, by id (a string of 1 to 128
        bytes or an integer from 0 to 2^64 - 1). Sending one again is harmless: evald
        keeps the first and counts the others as duplicates."""
        columns = record_columns(ids, None, y_score, sample_weight, times)
        accepted = duplicates = 0
        for r in self._batches("predict", stream, columns, True):
            accepted += int(r["accepted"])
            duplicates += int(r["duplicates"])
        return PredictResult(accepted, duplicates)

    def label(self, ids: ArrayLike, y_true: ArrayLike, stream: str = "default",
              times: ArrayLike | None = None) -> LabelResult:
        """Sends the labels of earlier (or later) predictions, by id; ``times`` are
        when each outcome became known."""
        columns = record_columns(ids, y_true, None, None, times)
        matched = waiting = duplicates = 0
        for r in self._batches("label", stream, columns, True):
            matched += int(r["matched"])
            waiting += int(r["waiting"])
            duplicates += int(r["duplicates"])
        return LabelResult(matched, waiting, duplicates)

    def snapshot(self, stream: str = "default", window: str = "total",
                 thresholds: Sequence[float] | None = None, curve: bool = False,
                 operating_points: dict[str, Sequence[float]] | None = None,
                 calibration: dict[str, Any] | bool | None = None) -> Snapshot:
        """The figures of a stream over a window.

        Parameters
        ----------
        stream : str, default="default"
        window : str, default="total"
            ``"total"`` or a duration such as ``"5m"``, ``"1h"``.
        thresholds : sequence of float, optional
            Thresholds to report besides the stream's configured ones (`Snapshot.at`).
        curve : bool, default=False
            Include the PR and ROC curves (`Snapshot.precision_recall_curve`).
        operating_points : dict, optional
            ``{"recall": [0.9], "precision": [...], "fpr": [...]}``: the threshold
            that meets each target.
        calibration : dict or bool, optional
            ``True``, or ``{"bins": 10, "strategy": "uniform" | "quantile"}``.
        """
        request: dict[str, Any] = {"op": "snapshot", "stream": stream, "window": window,
                                   "curve": bool(curve)}
        if thresholds is not None:
            request["thresholds"] = [float(t) for t in thresholds]
        if operating_points:
            request["operating_points"] = {k: [float(t) for t in v]
                                           for k, v in operating_points.items()}
        if calibration:
            request["calibration"] = {} if calibration is True else dict(calibration)
        return Snapshot(self._call(request))

    def drift(self, stream: str = "default", window: str = "total",
              reference_stream: str | None = None,
              reference_window: str | None = None) -> dict[str, Any]:
        """How far a window's scores moved from a reference stream's total, or
        another window of the same stream: ``psi``, ``psi_expected``, ``js``,
        ``hellinger``, ``ks`` with ``ks_bounds`` and ``ks_p_value``, ``w1_std`` with
        ``w1_std_bounds``, ``n`` and ``reference_n`` (docs/protocol.md)."""
        reference: dict[str, str] = {}
        if reference_stream is not None:
            reference["stream"] = reference_stream
        if reference_window is not None:
            reference["window"] = reference_window
        if not reference:
            raise ValueError("drift needs reference_stream, reference_window, or both")
        reply = self._call({"op": "drift", "stream": stream, "window": window,
                            "reference": reference})
        return {k: v for k, v in reply.items() if k not in ("ok", "id")}

    def streams(self) -> list[dict[str, Any]]:
        """Every stream: ``name``, ``n``, ``positives``, ``negatives``."""
        return list(self._call({"op": "streams"})["streams"])

    def stats(self) -> dict[str, Any]:
        """The server's counters."""
        return {k: v for k, v in self._call({"op": "stats"}).items() if k not in ("ok", "id")}

    def reset(self, stream: str) -> None:
        """Forgets every record of a stream; its configuration stays."""
        self._call({"op": "reset", "stream": stream}, retry=False)

    def ping(self) -> str:
        """evald's version."""
        return str(self._call({"op": "ping"})["version"])
