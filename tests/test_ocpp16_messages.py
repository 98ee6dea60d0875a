"""The pure 1.6 <-> 2.0.1 translation and the seqNo book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms.gateway import schemas
from csms.gateway.v16 import configuration, messages, outbound
from csms.gateway.v16.sequence import SeqBook, kind_of
from csms.ocpp_errors import CommandRejected, ErrorCode, OcppError, wire_code

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_every_16_request_schema_is_found_and_compiles() -> None:
    actions = schemas.actions("v16")
    assert {"StartTransaction", "StopTransaction", "MeterValues", "Heartbeat"} <= actions
    assert not any(action.endswith("Response") for action in actions)
    schemas.validate("v16", "Heartbeat", "Request", {})
    schemas.validate("v16", "StartTransaction", "Response", {
        "transactionId": 1, "idTagInfo": {"status": "Accepted"}
    })  # fmt: skip


def test_error_codes_are_spelled_for_the_link() -> None:
    assert wire_code(ErrorCode.FORMAT_VIOLATION, "v16") == "FormationViolation"
    assert wire_code(ErrorCode.FORMAT_VIOLATION, "v201") == "FormatViolation"
    assert wire_code(ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION, "v16") == (
        "OccurenceConstraintViolation"
    )
    assert wire_code(ErrorCode.NOT_SUPPORTED, "v16") == "NotSupported"


def test_translated_16_messages_are_valid_201_messages() -> None:
    start = {"connectorId": 2, "idTag": "T", "meterStart": 10, "timestamp": "2026-12-01T00:00:00Z"}
    schemas.validate("v201", "TransactionEvent", "Request", messages.started(start, 7, "ISO14443"))
    stop = {"transactionId": 7, "meterStop": 20, "timestamp": "2026-12-01T01:00:00Z"}
    schemas.validate("v201", "TransactionEvent", "Request", messages.ended(stop, None))
    boot = {"chargePointVendor": "V", "chargePointModel": "M", "iccid": "1"}
    schemas.validate("v201", "BootNotification", "Request", messages.boot_notification(boot))
    status = {"connectorId": 0, "errorCode": "NoError", "status": "Charging"}
    translated = messages.status_notification(status, "2026-12-01T00:00:00Z")
    schemas.validate("v201", "StatusNotification", "Request", translated)
    assert (translated["evseId"], translated["connectorId"]) == (0, 0)
    assert translated["connectorStatus"] == "Occupied"


def test_signed_values_are_kept_aside_and_numbers_converted() -> None:
    values = [
        {
            "timestamp": "2026-12-01T00:00:00Z",
            "sampledValue": [
                {"value": "1.5", "unit": "kWh"},
                {"value": "AbCd==", "format": "SignedData"},
            ],
        }
    ]
    assert messages.meter_values(values) == [
        {"timestamp": "2026-12-01T00:00:00Z", "sampledValue": [
            {"value": 1.5, "unitOfMeasure": {"unit": "kWh"}}
        ]}
    ]  # fmt: skip
    event = messages.updated({"connectorId": 1, "transactionId": 3, "meterValue": values})
    assert event["customData"]["request"]["meterValue"] == values
    with pytest.raises(OcppError) as refused:
        messages.meter_values([{"timestamp": "x", "sampledValue": [{"value": "n/a"}]}])
    assert refused.value.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


def test_id_tag_info_keeps_what_16_can_say() -> None:
    info = {
        "status": "NotAtThisTime",
        "cacheExpiryDateTime": "2027-01-01T00:00:00Z",
        "groupIdToken": {"idToken": "G" * 21, "type": "Central"},
    }
    assert messages.id_tag_info(info) == {"status": "Invalid", "expiryDate": "2027-01-01T00:00:00Z"}


def test_a_message_seen_again_gets_its_number_again() -> None:
    book = SeqBook()
    assert book.number("Started", T0) == 0
    assert book.number("Updated", T0 + timedelta(minutes=1)) == 1
    assert book.number("Started", T0) == 0
    assert book.number("Ended", T0 + timedelta(minutes=2)) == 2
    again = SeqBook.of(
        [
            ("Started", "Authorized", T0, 0, {}),
            ("Ended", "StopAuthorized", T0 + timedelta(minutes=2), 2, {}),
        ]
    )
    assert again.number("Ended", T0 + timedelta(minutes=2)) == 2
    assert again.number("Updated", T0 + timedelta(minutes=3)) == 3


@given(st.lists(st.integers(min_value=0, max_value=20), max_size=60))
def test_numbers_are_contiguous_and_stable(minutes: list[int]) -> None:
    book = SeqBook()
    numbers = [
        book.number("Updated:MeterValuePeriodic", T0 + timedelta(minutes=m)) for m in minutes
    ]
    assert sorted(set(numbers)) == list(range(len(set(minutes))))
    for minute, number in zip(minutes, numbers, strict=True):
        assert book.number("Updated:MeterValuePeriodic", T0 + timedelta(minutes=minute)) == number
    # A status change in the same second as a meter value is another message.
    if minutes:
        status = book.number("Updated:ChargingStateChanged", T0 + timedelta(minutes=minutes[0]))
        assert status == len(set(minutes))


def test_meter_values_split_per_measurand_in_one_second_are_distinct_messages() -> None:
    # Many chargers send one MeterValues per measurand with the same timestamp: each is its
    # own message; only the very same content again is a resend.
    def updated(measurand: str, value: float) -> dict[str, object]:
        sampled = [{"value": value, "measurand": measurand}]
        return {"eventType": "Updated", "meterValue": [{"sampledValue": sampled}], "seqNo": 9}

    energy = kind_of("Updated", "MeterValuePeriodic", updated("Energy.Active.Import.Register", 1))
    power = kind_of("Updated", "MeterValuePeriodic", updated("Power.Active.Import", 1))
    book = SeqBook()
    assert (book.number(energy, T0), book.number(power, T0)) == (0, 1)
    resent = kind_of("Updated", "MeterValuePeriodic", updated("Power.Active.Import", 1))
    assert book.number(resent, T0) == 1
    assert kind_of("Started", "Authorized", updated("x", 1)) == "Started"


def test_16_commands_go_as_they_are_and_201_ones_are_translated() -> None:
    as_is = outbound.prepare("Reset", {"type": "Soft"})
    assert (as_is.action, as_is.payload, as_is.asked) == ("Reset", {"type": "Soft"}, None)
    reset = outbound.prepare("Reset", {"type": "Immediate"})
    assert (reset.action, reset.payload, reset.asked) == ("Reset", {"type": "Hard"}, "Reset")
    profile = {
        "evseId": 0,
        "chargingProfile": {
            "id": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargingStationMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [
                {
                    "id": 1,
                    "startSchedule": "2026-12-01T00:00:00Z",
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 31.66, "numberPhases": 3},
                        {"startPeriod": 60, "limit": -16},
                    ],
                }
            ],
        },
    }
    sent = outbound.prepare("SetChargingProfile", profile)
    schemas.validate("v16", sent.action, "Request", sent.payload)
    converted = sent.payload["csChargingProfiles"]
    assert converted["chargingProfilePurpose"] == "ChargePointMaxProfile"
    periods = converted["chargingSchedule"]["chargingSchedulePeriod"]
    assert [p["limit"] for p in periods] == [31.7, 0.0]
    assert sent.back({"status": "Accepted"}) == {"status": "Accepted"}
    with pytest.raises(CommandRejected) as refused:
        sent.back({"status": "NotSupported"})
    assert refused.value.code == ErrorCode.NOT_SUPPORTED
    external = {**profile["chargingProfile"], "chargingProfilePurpose": "PriorityCharging"}
    with pytest.raises(OcppError):
        outbound.prepare("SetChargingProfile", {"evseId": 1, "chargingProfile": external})


def test_configuration_keys_land_where_the_planner_reads_them() -> None:
    keys = [
        {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,RemoteTrigger"},
        {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current"},
        {"key": "VendorThing", "readonly": False},
    ]
    items = {
        (i["component"]["name"], i["variable"]["name"]): i["variableAttribute"][0]
        for i in configuration.report_data(keys)
    }
    assert items[("SmartChargingCtrlr", "Available")]["value"] == "false"
    assert items[("SmartChargingCtrlr", "RateUnit")]["value"] == "A"
    assert "value" not in items[(configuration.CONFIGURATION, "VendorThing")]
    assert items[(configuration.CONFIGURATION, "VendorThing")]["mutability"] == "ReadWrite"


def test_a_201_reservation_goes_to_a_16_station_as_its_reserve_now() -> None:
    sent = outbound.prepare(
        "ReserveNow",
        {
            "id": 9,
            "expiryDateTime": "2026-12-02T10:00:00Z",
            "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
            "groupIdToken": {"idToken": "FLEET", "type": "Central"},
            "evseId": 2,
        },
    )
    schemas.validate("v16", sent.action, "Request", sent.payload)
    assert sent.payload == {
        "reservationId": 9,
        "connectorId": 2,
        "expiryDate": "2026-12-02T10:00:00Z",
        "idTag": "TAG-1",
        "parentIdTag": "FLEET",
    }
    assert sent.back({"status": "Occupied"}) == {"status": "Occupied"}
