"""The background sender: records leave the caller's thread at once, and evald
being down or slow never reaches it."""

from __future__ import annotations

import atexit
import collections
import itertools
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from . import _wire
from ._client import ArrayLike, record_columns
from ._errors import EvaldConnectionError, EvaldError

_live: "weakref.WeakSet[Sender]" = weakref.WeakSet()


@dataclass
class _Batch:
    """The records of one call, queued: its op, stream and columns as given."""

    op: str
    stream: str
    columns: dict[str, Any]
    n: int


def _copy(values: ArrayLike) -> Any:
    """The caller's values, copied so that changing them later changes nothing here."""
    if type(values) is np.ndarray:
        return values.copy() if values.ndim == 1 else values.reshape(-1).copy()
    return list(values)


class Sender:
    """Sends records from a background thread; its methods only enqueue.

    Parameters
    ----------
    address : str, optional
        As for `Client`.
    stream : str, default="default"
        The stream of calls that name none.
    max_queue : int, default=1_000_000
        Records that may wait to be sent.
    on_full : {"drop", "block"}, default="drop"
        When the queue is full: drop the newest call's records (counted in
        ``stats()["dropped"]``), or wait for room.
    flush_interval : float, default=0.1
        Seconds the thread waits to gather records into one request.
    timeout : float, default=10.0
        Seconds to wait for evald on a connection before it counts as broken.
    token : str, optional
        The token to present ([auth] tokens_file), on every connection.

    Notes
    -----
    Nothing evald does reaches the caller: no call waits on the network or
    raises because evald is down or slow. Records evald refuses (a NaN score, a
    label of 2) are counted in ``stats()["errors"]`` by code. A background thread
    batches, sends, and reconnects with backoff; requests that were in flight
    when a connection broke are sent again, so across a clean restart of evald
    (which answers every request it applied before closing) each record counts
    once. At interpreter exit the queue is flushed for up to 5 s. In a child
    made by ``os.fork()`` the sender starts empty, with its own connection.
    """

    def __init__(self, address: str | None = None, *, stream: str = "default",
                 max_queue: int = 1_000_000, on_full: Literal["drop", "block"] = "drop",
                 flush_interval: float = 0.1, timeout: float = 10.0,
                 token: str | None = None) -> None:
        if on_full not in ("drop", "block"):
            raise ValueError(f"on_full must be 'drop' or 'block', not {on_full!r}")
        self.address = _wire.parse_address(address)
        self.stream = stream
        self.max_queue = int(max_queue)
        self.on_full = on_full
        self.flush_interval = float(flush_interval)
        self.timeout = timeout
        self.token = token
        self._start()
        _live.add(self)

    def _start(self) -> None:
        """Empty state and a thread of its own (at construction and after a fork)."""
        self._cond = threading.Condition()
        self._queue: collections.deque[_Batch] = collections.deque()
        self._queued = 0       # records in the queue
        self._in_flight = 0    # records sent, not yet answered
        self._closed = False
        self._stop = threading.Event()  # set by close: ends a backoff at once
        self._counts = {"sent": 0, "dropped": 0, "reconnects": 0}
        self._errors: collections.Counter[str] = collections.Counter()
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._run, name="evald-sender", daemon=True)
        self._thread.start()

    # -- the caller's side -------------------------------------------------

    def _put(self, op: str, stream: str | None, columns: dict[str, Any]) -> None:
        copied = {}
        for k, v in columns.items():
            if v is not None:
                copied[k] = _copy(v)
        n = len(copied["scores"] if "scores" in copied else copied["labels"])
        batch = _Batch(op, stream or self.stream, copied, n)
        with self._cond:
            if self._closed:
                self._counts["dropped"] += n
                return
            while self._queued + n > self.max_queue and self._queued:
                if self.on_full == "drop":
                    self._counts["dropped"] += n
                    return
                self._cond.wait()
                if self._closed:
                    self._counts["dropped"] += n
                    return
            self._queue.append(batch)
            self._queued += n
            if len(self._queue) == 1:  # the thread waits only on an empty queue
                self._cond.notify_all()

    def observe(self, y_true: ArrayLike, y_score: ArrayLike, stream: str | None = None,
                sample_weight: ArrayLike | None = None, times: ArrayLike | None = None) -> None:
        """Queues records whose labels are known; as `Client.observe`."""
        self._put("observe", stream, {"labels": y_true, "scores": y_score,
                                      "weights": sample_weight, "times": times})

    def predict(self, ids: ArrayLike, y_score: ArrayLike, stream: str | None = None,
                sample_weight: ArrayLike | None = None, times: ArrayLike | None = None) -> None:
        """Queues predictions; as `Client.predict`."""
        self._put("predict", stream, {"ids": ids, "scores": y_score, "weights": sample_weight,
                                      "times": times})

    def label(self, ids: ArrayLike, y_true: ArrayLike, stream: str | None = None,
              times: ArrayLike | None = None) -> None:
        """Queues labels; as `Client.label`."""
        self._put("label", stream, {"ids": ids, "labels": y_true, "times": times})

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until every queued record is sent and answered (or dropped); False
        if the timeout passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._queued or self._in_flight:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float | None = 5.0) -> None:
        """Flushes for up to timeout seconds, then stops the thread; what is still
        queued is counted as dropped."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._counts["dropped"] += self._queued
            self._queue.clear()
            self._queued = 0
            self._cond.notify_all()
        self._stop.set()
        self._thread.join(timeout)

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """``sent`` (records evald accepted), ``dropped``, ``queued``, ``reconnects``
        and ``errors`` (records evald refused, by code)."""
        with self._cond:
            return {**self._counts, "queued": self._queued + self._in_flight,
                    "errors": dict(self._errors)}

    # -- the thread's side -------------------------------------------------

    def _take(self) -> list[_Batch]:
        """Waits for records (or flush_interval), then takes what is queued."""
        with self._cond:
            if not self._queue and not self._closed:
                self._cond.wait(self.flush_interval)
            taken = list(self._queue)
            self._queue.clear()
            n = sum(b.n for b in taken)
            self._queued -= n
            self._in_flight += n
            return taken

    def _requeue(self, units: list[_Unit]) -> None:
        """Puts records whose answer never came back at the front, to be sent again."""
        with self._cond:
            for u in reversed(units):
                self._queue.appendleft(u.as_batch())
                self._queued += u.n
                self._in_flight -= u.n
            self._cond.notify_all()

    def _done(self, n: int, sent: int, error: str | None) -> None:
        """n records leave the flight: sent accepted, the rest refused with error."""
        with self._cond:
            self._in_flight -= n
            self._counts["sent"] += sent
            if error:
                self._errors[error] += n - sent
            self._cond.notify_all()

    def _connect(self, conn: _wire.Connection) -> tuple[int, int] | None:
        """Opens the connection and reads the server's limits; None if evald is not there."""
        try:
            conn.open()
            conn.send(_wire.packb({"op": "ping", "id": 0}))
            reply = conn.recv()
        except EvaldError:
            conn.close()
            return None
        return int(reply.get("max_batch", 100_000)), int(reply.get("max_message_bytes", 1 << 20))

    def _run(self) -> None:
        conn = _wire.Connection(self.address, self.timeout, self.token)
        limits: tuple[int, int] | None = None
        backoff, connected_once = 0.05, False
        while True:
            with self._cond:
                if self._closed and not self._queue:
                    conn.close()
                    return
            if conn.sock is None:
                limits = self._connect(conn)
                if limits is None:
                    self._stop.wait(backoff)  # not the condition: callers' puts would wake it
                    backoff = min(backoff * 2, 2.0)
                    continue
                with self._cond:
                    self._counts["reconnects"] += connected_once
                connected_once, backoff = True, 0.05
            assert limits is not None
            units = self._units(self._take(), limits)
            if units and not self._send(conn, units):
                conn.close()

    def _units(self, batches: list[_Batch], limits: tuple[int, int]) -> list[_Unit]:
        """The batches as requests within the server's limits: runs of one op,
        stream and column types joined first, then checked as a Client checks
        records, once per run. A run with a bad record is checked batch by batch,
        and the batches with one are counted as refused, by code."""
        units: list[_Unit] = []
        run: list[_Batch] = []
        for b in batches + [None]:  # type: ignore[list-item]
            if run and (b is None or b.op != run[0].op or b.stream != run[0].stream or
                        not _same_types(run[0].columns, b.columns) or
                        sum(r.n for r in run) + b.n > limits[0]):
                units += self._checked(run, limits)
                run = []
            if b is not None:
                run.append(b)
        return units

    def _checked(self, run: list[_Batch], limits: tuple[int, int]) -> list[_Unit]:
        """The requests of a run of batches alike, checked whole (or one by one)."""
        first = run[0]
        joined = {k: _join([b.columns[k] for b in run]) for k in first.columns}
        try:
            columns = record_columns(joined.get("ids"), joined.get("labels"),
                                     joined.get("scores"), joined.get("weights"),
                                     joined.get("times"))
        except EvaldError as e:
            if len(run) == 1:
                self._done(first.n, 0, e.code)
                return []
            return [u for b in run for u in self._checked([b], limits)]
        size = _wire.batch_size(columns, *limits)
        n = len(columns[0])
        return [_Unit(first.op, first.stream, [c.chunk(start, start + size) for c in columns],
                      [c.name for c in columns], min(size, n - start))
                for start in range(0, n, size)]

    def _send(self, conn: _wire.Connection, units: list[_Unit]) -> bool:
        """Sends the units, 256 requests at a time pipelined, reading their answers
        after each group (so that evald's unread replies stay small); False if the
        connection broke, with the unanswered units queued again."""
        answered = 0
        try:
            for group in range(0, len(units), 256):
                for u in units[group:group + 256]:
                    conn.send(_wire.packb(u.request(next(self._ids))))
                for u in units[group:group + 256]:
                    reply = conn.recv()
                    if reply.get("ok"):
                        self._done(u.n, u.n, None)
                    else:
                        self._done(u.n, 0, str(reply.get("error", {}).get("code", "internal")))
                    answered += 1
        except EvaldConnectionError:
            self._requeue(units[answered:])
            return False
        return True


@dataclass
class _Unit:
    """The records of one request: checked columns of one op and stream."""

    op: str
    stream: str
    values: list[Any]
    names: list[str]
    n: int

    def request(self, request_id: int) -> dict[str, Any]:
        return {"op": self.op, "stream": self.stream, "id": request_id,
                **dict(zip(self.names, self.values))}

    def as_batch(self) -> _Batch:
        return _Batch(self.op, self.stream, dict(zip(self.names, self.values)), self.n)


def _same_types(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True if two batches' columns can be joined: the same names, each numpy of one
    dtype or both lists."""
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if isinstance(x, np.ndarray) != isinstance(y, np.ndarray):
            return False
        if isinstance(x, np.ndarray) and x.dtype != y.dtype:
            return False
    return True


def _join(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [v for p in parts for v in p]


def _after_fork_in_child() -> None:
    """A child starts each sender afresh: the parent sends what it had queued."""
    for s in list(_live):
        s._start()


def _at_exit() -> None:
    for s in list(_live):
        s.close(timeout=5.0)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
