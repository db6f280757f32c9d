"""evald's Python client: send records to evald, read its snapshots as scikit-learn's."""

from ._client import Client, LabelResult, Limits, PredictResult
from ._errors import (AuthError, BadInputError, EvaldConnectionError, EvaldError, LimitError,
                      UnknownStreamError)
from ._sender import Sender
from ._snapshot import Snapshot, ThresholdRow

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "BadInputError",
    "Client",
    "EvaldConnectionError",
    "EvaldError",
    "LabelResult",
    "LimitError",
    "Limits",
    "PredictResult",
    "Sender",
    "Snapshot",
    "ThresholdRow",
    "UnknownStreamError",
]
