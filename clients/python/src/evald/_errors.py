"""The exceptions a refused request raises, one family per kind of cause."""

from __future__ import annotations

from typing import Any, Mapping


class EvaldError(Exception):
    """A request evald refused, or could not be sent.

    Attributes
    ----------
    code : str
        The wire code (``"bad_label"``, ``"unknown_stream"``, ...), or
        ``"connection"`` when evald could not be reached.
    message : str
        evald's message: what was wrong, where, and what to do.
    index : int or None
        The first bad record of a batch, counted from 0 over the whole
        input, when the error is about one record.
    """

    def __init__(self, code: str, message: str, index: int | None = None) -> None:
        self.code = code
        self.message = message
        self.index = index
        super().__init__(f"{code}: {message}")


class BadInputError(EvaldError, ValueError):
    """Records or a request that evald does not take: a bad label, score,
    weight, time, id, stream name, window, threshold or field."""


class UnknownStreamError(EvaldError, LookupError):
    """A snapshot, drift or reset of a stream evald does not hold."""


class LimitError(EvaldError):
    """A limit of the server: too many streams, its memory budget, a request
    too large, too many connections."""


class AuthError(EvaldError, PermissionError):
    """A missing or unknown token (``unauthorized``), or one without the role an
    op needs (``forbidden``)."""


class EvaldConnectionError(EvaldError, ConnectionError):
    """evald could not be reached, or the connection broke mid-request."""

    def __init__(self, message: str) -> None:
        super().__init__("connection", message)


_FAMILIES: dict[str, type[EvaldError]] = {
    **dict.fromkeys(
        ("bad_request", "unknown_op", "bad_label", "bad_score", "bad_weight", "bad_time",
         "bad_id", "length_mismatch", "bad_stream", "bad_window", "bad_threshold",
         "bad_reference", "invalid_msgpack"), BadInputError),
    "unknown_stream": UnknownStreamError,
    "unauthorized": AuthError,
    "forbidden": AuthError,
    **dict.fromkeys(
        ("too_many_streams", "out_of_memory", "message_too_large", "too_many_connections"),
        LimitError),
}


def error_class(code: str) -> type[EvaldError]:
    """The exception class of a wire code; `EvaldError` itself for a code it does not know."""
    return _FAMILIES.get(code, EvaldError)


def from_reply(error: Mapping[str, Any], offset: int = 0) -> EvaldError:
    """The exception for a reply's ``"error"`` map; `offset` is added to its record index."""
    code = str(error.get("code", "internal"))
    index = error.get("index")
    return error_class(code)(code, str(error.get("message", "")),
                             None if index is None else int(index) + offset)
