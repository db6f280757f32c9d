"""Addresses, the connection, and records as evald takes them on the wire."""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from typing import Any, Sequence

import msgpack
import numpy as np

from ._errors import BadInputError, EvaldConnectionError, from_reply

DEFAULT_ADDRESS = "tcp://127.0.0.1:7390"
WEIGHT_MAX = 1e12
ID_BYTES_MAX = 128


@dataclass(frozen=True)
class Address:
    """Where evald listens: a Unix socket path, or a TCP host and port."""

    unix: str | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        return f"unix:{self.unix}" if self.unix else f"tcp://{self.host}:{self.port}"


def parse_address(address: str | None) -> Address:
    """``unix:PATH``, ``tcp://HOST:PORT``, ``HOST:PORT`` or a path with a ``/``;
    None means ``$EVALD_CONNECT``, then ``tcp://127.0.0.1:7390``."""
    text = address or os.environ.get("EVALD_CONNECT") or DEFAULT_ADDRESS
    if text.startswith("unix:"):
        return Address(unix=text[5:])
    if text.startswith("tcp://"):
        text = text[6:]
    elif "/" in text:
        return Address(unix=text)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"evald address {address!r} is not unix:PATH, tcp://HOST:PORT, "
                         "HOST:PORT or a socket path")
    return Address(host=host.strip("[]"), port=int(port))


class Connection:
    """One socket to evald, and the replies read from it."""

    def __init__(self, address: Address, timeout: float | None,
                 token: str | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self.token = token
        self.sock: socket.socket | None = None
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)

    def open(self) -> None:
        """Connects, unless connected; raises EvaldConnectionError if evald is not there."""
        if self.sock is not None:
            return
        try:
            if self.address.unix:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self.address.unix)
            else:
                sock = socket.create_connection((self.address.host, self.address.port),
                                                timeout=self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise EvaldConnectionError(f"cannot connect to evald at {self.address}: {e}") from e
        self.sock = sock
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        if self.token is not None:  # on every connection, a reconnection too
            self.send(msgpack.packb({"op": "auth", "token": self.token, "id": "auth"}))
            reply = self.recv()
            if not reply.get("ok"):
                self.close()
                raise from_reply(reply.get("error", {}))

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def stale(self) -> bool:
        """True if the peer closed the connection (or it broke) since the last reply."""
        if self.sock is None:
            return True
        self.sock.settimeout(0.0)  # a socket with a timeout would wait for data first
        try:
            data = self.sock.recv(1 << 16, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        finally:
            self.sock.settimeout(self.timeout)
        return data == b""

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.close()
            raise EvaldConnectionError(f"sending to evald at {self.address}: {e}") from e

    def recv(self) -> dict[str, Any]:
        """The next reply."""
        assert self.sock is not None
        while True:
            for reply in self.unpacker:
                return reply
            try:
                data = self.sock.recv(1 << 16)
            except OSError as e:
                self.close()
                raise EvaldConnectionError(f"reading from evald at {self.address}: {e}") from e
            if not data:
                self.close()
                raise EvaldConnectionError(f"evald at {self.address} closed the connection")
            self.unpacker.feed(data)


def _typed(a: np.ndarray) -> dict[str, Any]:
    """A one-dimensional array as msgpack-numpy packs it, which evald reads in place."""
    return {"nd": True, "type": a.dtype.str, "kind": "", "shape": [len(a)], "data": a.tobytes()}


def packb(request: dict[str, Any]) -> bytes:
    """A request's bytes; numpy columns go as typed columns."""
    return msgpack.packb(request, use_bin_type=True,
                         default=lambda o: _typed(o) if isinstance(o, np.ndarray) else o)


@dataclass
class Column:
    """One column of records, checked, as it goes on the wire: a numpy array
    (a typed column) or a list (a MessagePack array)."""

    name: str
    values: np.ndarray | list[Any]
    bytes_per_record: int

    def __len__(self) -> int:
        return len(self.values)

    def chunk(self, start: int, stop: int) -> np.ndarray | list[Any]:
        return self.values[start:stop]


def _bad(code: str, field: str, index: int, what: str) -> BadInputError:
    return BadInputError(code, f"record {index}: {field} {what}", index)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def labels_column(y: Any, name: str = "labels") -> Column:
    """Labels, 0 or 1: bools and integers as they are; floats only if every
    one is exactly 0 or 1. numpy arrays go as 1-byte typed columns."""
    if isinstance(y, np.ndarray):
        a = np.asarray(y).reshape(-1)
        if a.dtype == np.bool_:
            return Column(name, np.ascontiguousarray(a), 1)
        if a.dtype.kind not in "iuf":
            raise BadInputError("bad_label", f"{name} must be bools, integers or floats, "
                                f"not {a.dtype}")
        bad = (a != 0) & (a != 1)
        if bad.any():
            i = _first(bad)
            raise _bad("bad_label", "label", i, f"must be 0, 1, true or false, got {a[i]!r}")
        return Column(name, a.astype(np.uint8), 1)
    values = list(y)
    for i, v in enumerate(values):
        if not (isinstance(v, (bool, np.bool_)) or
                (isinstance(v, (int, np.integer)) and v in (0, 1))):
            raise _bad("bad_label", "label", i, f"must be 0, 1, true or false, got {v!r}")
    return Column(name, [bool(v) if isinstance(v, np.bool_) else int(v) for v in values], 2)


def reals_column(x: Any, name: str, field: str, low: float | None = None,
                 high: float | None = None, low_open: bool = False) -> Column:
    """Finite numbers, within [low, high] (or (low, high] if low_open). float32
    and float64 arrays go as they are; other numeric arrays as float64."""
    code = {"scores": "bad_score", "weights": "bad_weight", "times": "bad_time"}[name]
    if isinstance(x, np.ndarray):
        a = np.asarray(x).reshape(-1)
        if a.dtype.kind not in "iuf":
            raise BadInputError(code, f"{name} must be numbers, not {a.dtype}")
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float64)
        a = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), copy=False))
        values: np.ndarray | list[Any] = a
        bad = ~np.isfinite(a)
        if low is not None:
            bad |= (a <= low) if low_open else (a < low)
        if high is not None:
            bad |= a > high
        if bad.any():
            i = _first(bad)
            raise _bad(code, field, i, f"must be {_range(low, high, low_open)}, got {a[i]!r}")
        return Column(name, values, a.dtype.itemsize)
    out = []
    for i, v in enumerate(x):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                                  np.floating)):
            raise _bad(code, field, i, f"must be a number, got {v!r}")
        f = float(v)
        if (not math.isfinite(f) or (low is not None and (f <= low if low_open else f < low))
                or (high is not None and f > high)):
            raise _bad(code, field, i, f"must be {_range(low, high, low_open)}, got {v!r}")
        out.append(v.item() if isinstance(v, (np.integer, np.floating)) else v)
    return Column(name, out, 9)


def _range(low: float | None, high: float | None, low_open: bool) -> str:
    if low is None:
        return "a finite number"
    if high is None:
        return f"a finite number >= {low:g}"
    return f"a finite number {'>' if low_open else '>='} {low:g} and <= {high:g}"


def ids_column(ids: Any) -> Column:
    """Ids: strings of 1 to 128 bytes, or integers from 0 to 2^64 - 1; integer
    arrays go as 8-byte typed columns."""
    if isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
        a = np.asarray(ids).reshape(-1)
        if a.dtype.kind == "i":
            bad = a < 0
            if bad.any():
                i = _first(bad)
                raise _bad("bad_id", "id", i, f"must be >= 0, got {a[i]!r}")
        a = np.ascontiguousarray(a.astype("<u8" if a.dtype.kind == "u" else "<i8"))
        return Column("ids", a, 8)
    out: list[Any] = []
    longest = 9
    for i, v in enumerate(ids.tolist() if isinstance(ids, np.ndarray) else ids):
        if isinstance(v, int) and not isinstance(v, bool):
            if not 0 <= v < 1 << 64:
                raise _bad("bad_id", "id", i, f"must be an integer from 0 to 2^64 - 1, got {v}")
            out.append(v)
            continue
        if isinstance(v, bytes):  # evald takes ids as strings, not binaries
            try:
                v = v.decode()
            except UnicodeDecodeError:
                raise _bad("bad_id", "id", i, "as bytes must be UTF-8 (it goes as a string)")
        if not isinstance(v, str):
            raise _bad("bad_id", "id", i, f"must be a string or an integer, got {v!r}")
        size = len(v.encode())
        if not 1 <= size <= ID_BYTES_MAX:
            raise _bad("bad_id", "id", i, f"must be 1 to {ID_BYTES_MAX} bytes, got {size}")
        longest = max(longest, size + 2)
        out.append(v)
    return Column("ids", out, longest)


def batch_size(columns: Sequence[Column], max_batch: int, max_message_bytes: int) -> int:
    """Records per request: at most max_batch, and few enough that the request fits."""
    per_record = sum(c.bytes_per_record for c in columns) + 1
    room = max(max_message_bytes - 4096, per_record)
    return max(1, min(max_batch, room // per_record))


def check_lengths(columns: Sequence[Column]) -> int:
    """The common length of the columns; BadInputError (length_mismatch) if they differ."""
    n = len(columns[0])
    for c in columns[1:]:
        if len(c) != n:
            raise BadInputError("length_mismatch",
                                f"{columns[0].name} has {n} records and {c.name} {len(c)}")
    return n
