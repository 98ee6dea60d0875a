"""OCPP-J framing (RPC over websocket), pure: text in, message values out, and back.

The error vocabulary (codes, OcppError) lives in `csms.ocpp_errors`, free of I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from csms import strict_json
from csms.ocpp_errors import ErrorCode, OcppError

#: Longest unique id the RPC framework allows.
MAX_UNIQUE_ID_LENGTH = 36


class MessageType(IntEnum):
    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4


class FrameError(OcppError):
    """The frame itself is broken; `unique_id` is set when it could still be read."""

    def __init__(self, code: str, description: str, unique_id: str | None = None):
        super().__init__(code, description)
        self.unique_id = unique_id


@dataclass(frozen=True, slots=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    unique_id: str
    code: str
    description: str
    details: dict[str, Any]


Message = Call | CallResult | CallError


def parse_frame(text: str | bytes) -> Message:
    """Decode one websocket message into a Call, CallResult or CallError.

    Raises FrameError with an RPC error code; its unique_id is None when even the message
    id could not be read (the frame is then only logged, since no reply can be matched).
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, f"not UTF-8: {error}") from error
    try:
        frame = strict_json.loads(text)
    except strict_json.TooDeep as error:
        # Not parsed (that is the point), so the id is read from the frame's head.
        head = _CALL_HEAD.match(text)
        raise FrameError(
            ErrorCode.FORMAT_VIOLATION, str(error), head.group(1) if head else None
        ) from None
    except strict_json.NotFinite as error:
        raise FrameError(_NON_FINITE_CODE, str(error), _call_id(text)) from None
    except strict_json.JsonRejected as error:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, str(error)) from error
    if not isinstance(frame, list) or len(frame) < 3:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "not an OCPP-J array")
    unique_id = frame[1]
    if not isinstance(unique_id, str) or not unique_id or len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "message id missing or invalid")
    kind = frame[0]
    if kind == MessageType.CALL and not isinstance(kind, bool):
        if len(frame) != 4 or not isinstance(frame[2], str):
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR, "CALL needs [2, id, action, {}]", unique_id
            )
        if not isinstance(frame[3], dict):
            raise FrameError(ErrorCode.FORMAT_VIOLATION, "CALL payload is not an object", unique_id)
        return Call(unique_id, frame[2], frame[3])
    if kind == MessageType.CALLRESULT and not isinstance(kind, bool):
        if len(frame) != 3 or not isinstance(frame[2], dict):
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR, "CALLRESULT needs [3, id, {}]", unique_id
            )
        return CallResult(unique_id, frame[2])
    if kind == MessageType.CALLERROR and not isinstance(kind, bool):
        if len(frame) != 5 or not isinstance(frame[2], str) or not isinstance(frame[4], dict):
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR, "CALLERROR needs [4, id, code, text, {}]", unique_id
            )
        return CallError(unique_id, frame[2], str(frame[3]), frame[4])
    raise FrameError(
        ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, f"message type {kind!r} not supported", unique_id
    )


#: `[2, "<id>"` at the start of a frame: the message id of a CALL too deep to parse.
_CALL_HEAD = re.compile(rf'\s*\[\s*2\s*,\s*"([^"\\]{{1,{MAX_UNIQUE_ID_LENGTH}}})"')

#: NaN, Infinity or an overflowing number: the payload holds a value no field may take.
_NON_FINITE_CODE = ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


def _call_id(text: str) -> str | None:
    """The message id of a CALL whose values were refused, or None if it has none."""
    try:
        frame = strict_json.loads_lenient(text)
    except ValueError:
        return None
    if not isinstance(frame, list) or len(frame) != 4 or frame[0] != MessageType.CALL:
        return None
    unique_id = frame[1]
    valid = isinstance(unique_id, str) and 0 < len(unique_id) <= MAX_UNIQUE_ID_LENGTH
    return unique_id if valid else None


def _dumps(frame: list[Any]) -> str:
    return strict_json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def call_frame(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return _dumps([MessageType.CALL, unique_id, action, payload])


def call_result_frame(unique_id: str, payload: dict[str, Any]) -> str:
    return _dumps([MessageType.CALLRESULT, unique_id, payload])


def call_error_frame(
    unique_id: str, code: str, description: str, details: dict[str, Any] | None = None
) -> str:
    return _dumps([MessageType.CALLERROR, unique_id, code, description[:255], details or {}])
