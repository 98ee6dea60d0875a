"""The OCPP-J error vocabulary, free of I/O: CALLERROR codes, the error a handler raises to
answer with one, and the ways an outbound command can fail.

Error codes are those of OCPP-J 2.0.1 part 4 (FormatViolation, not 1.6's
FormationViolation). Blocks and services raise and catch these; only the gateway turns them
into frames, spelled for the link's version (`wire_code`).
"""

from __future__ import annotations

from typing import Any


class ErrorCode:
    FORMAT_VIOLATION = "FormatViolation"
    GENERIC_ERROR = "GenericError"
    INTERNAL_ERROR = "InternalError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    PROTOCOL_ERROR = "ProtocolError"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    SECURITY_ERROR = "SecurityError"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"


#: 2.0.1 code -> its OCPP-J 1.6 spelling (section 4.2.3). 1.6 has no RpcFrameworkError or
#: MessageTypeNotSupported: a frame that is no OCPP-J message breaks the PDU structure.
_V16_CODES = {
    ErrorCode.FORMAT_VIOLATION: "FormationViolation",
    ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurenceConstraintViolation",
    ErrorCode.RPC_FRAMEWORK_ERROR: "FormationViolation",
    ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED: "NotSupported",
}


def wire_code(code: str, version: str) -> str:
    """The CALLERROR code as a link of `version` ("v16", "v201", "v21") spells it."""
    return _V16_CODES.get(code, code) if version == "v16" else code


class OcppError(Exception):
    """An error that becomes a CALLERROR with `code`; raised by validation and handlers."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.details = details or {}


class CommandError(Exception):
    """An outbound CALL did not get a CALLRESULT."""


class StationNotConnected(CommandError):
    pass


class CommandTimeout(CommandError):
    pass


class CommandQueueFull(CommandError):
    pass


class CommandRejected(CommandError):
    """The station answered with a CALLERROR."""

    def __init__(self, code: str, description: str, details: dict[str, Any]):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details
