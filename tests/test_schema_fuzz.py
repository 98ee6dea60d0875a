"""Schema-violating payloads: every one is refused with an OCPP-J code, none crashes."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from csms.gateway import schemas
from csms.ocpp_errors import ErrorCode, OcppError

VALIDATION_CODES = {
    ErrorCode.FORMAT_VIOLATION,
    ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    ErrorCode.TYPE_CONSTRAINT_VIOLATION,
}
INBOUND = [
    "Authorize",
    "BootNotification",
    "Heartbeat",
    "MeterValues",
    "NotifyEVChargingNeeds",
    "NotifyReport",
    "StatusNotification",
    "TransactionEvent",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)

VALID_TX = {
    "eventType": "Started",
    "timestamp": "2026-11-24T08:00:00Z",
    "triggerReason": "Authorized",
    "seqNo": 0,
    "transactionInfo": {"transactionId": "tx-1"},
}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(INBOUND), st.dictionaries(st.text(max_size=20), json_values, max_size=6))
def test_random_payloads_pass_or_get_a_validation_code(
    action: str, payload: dict[str, Any]
) -> None:
    try:
        schemas.validate("v201", action, "Request", payload)
    except OcppError as error:
        assert error.code in VALIDATION_CODES
        assert error.description


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(VALID_TX)), json_values)
def test_each_broken_field_of_a_valid_event_is_refused_or_still_valid(
    field: str, value: Any
) -> None:
    payload = {**VALID_TX, field: value}
    try:
        schemas.validate("v201", "TransactionEvent", "Request", payload)
    except OcppError as error:
        assert error.code in VALIDATION_CODES
    else:
        # Whatever passed must really be a valid value of that field.
        assert _plausible(field, value), (field, value)


def _plausible(field: str, value: Any) -> bool:
    if field == "seqNo":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if field == "timestamp":
        return isinstance(value, str)
    if field == "transactionInfo":
        return isinstance(value, dict) and isinstance(value.get("transactionId"), str)
    return value == VALID_TX[field] or isinstance(value, str)


def test_removing_a_required_field_is_an_occurrence_violation() -> None:
    for field in VALID_TX:
        payload = {k: v for k, v in VALID_TX.items() if k != field}
        try:
            schemas.validate("v201", "TransactionEvent", "Request", payload)
        except OcppError as error:
            assert error.code == ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
        else:
            raise AssertionError(f"{field} is required")
