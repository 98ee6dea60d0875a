"""Random frames for every station-to-CSMS action, from the action's own JSON schema:
schema-valid, or broken in exactly one known way together with the CALLERROR code that
break must get. Shared by tests/test_fuzz_actions.py and benchmarks/fuzz.py.

Driven by a `random.Random`, so hypothesis chooses the seed in the test and the benchmark
makes 100,000 frames without hypothesis' per-example cost.
"""

from __future__ import annotations

import copy
import json
import math
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

#: OCPP 2.0.1 messages a Charging Station sends to the CSMS (part 2, one per use case).
STATION_ACTIONS_V201 = (
    "Authorize",
    "BootNotification",
    "ClearedChargingLimit",
    "DataTransfer",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyReport",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
)

#: OCPP 2.1 keeps those and adds, among the messages this CSMS handles, BatterySwap.
STATION_ACTIONS_V21 = (*STATION_ACTIONS_V201, "BatterySwap")

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

#: Answers a schema-valid request may get besides a CALLRESULT: an action this CSMS does
#: not handle, and values the schema allows but the data cannot be (a meter value whose
#: multiplier overflows it, a time no calendar has, seqNos scattered beyond the bound).
VALID_REFUSALS = frozenset(
    {"NotSupported", "PropertyConstraintViolation", "OccurrenceConstraintViolation"}
)

_ALPHABET = 'aZ09 -_.:/"\\[]{}é€\u2028😀'
_DATE_TIMES = (
    "2026-11-24T08:00:00Z",
    "2026-11-24T08:00:00.123456789Z",
    "2026-11-24t08:00:00z",
    "2026-11-24T08:00:00+05:30",
    "2026-11-24T08:00:00.1-23:59",
    "2016-12-31T23:59:60Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-01:00",
    "1970-01-01T00:00:00Z",
)
_NUMBERS = (0.0, -1.5, 1.0, 1e300, -1e300, 5e-324, 1e-9, 123456789.125)
_WRONG_TYPE = {
    "string": 12345,
    "integer": "7",
    "number": "7.5",
    "boolean": "true",
    "object": [],
    "array": {},
}


@dataclass(frozen=True, slots=True)
class Case:
    action: str
    #: The frame's text (not always producible by json.dumps: NaN, deep nesting).
    text: str
    #: None for a schema-valid payload, else the OCPP-J code its single break must get.
    expected: str | None
    #: What was done to the payload, for failure messages and the benchmark's table.
    how: str


@cache
def _schema(version: str, action: str) -> dict[str, Any]:
    path = resources.files("ocpp") / version / "schemas" / f"{action}Request.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


#: A place in a payload: (container, key or index, the value's schema, schema of the
#: object holding it or None for array items).
Site = tuple[Any, Any, dict[str, Any], dict[str, Any] | None]


class PayloadGenerator:
    def __init__(self, version: str = "v201", actions: tuple[str, ...] = STATION_ACTIONS_V201):
        self.version = version
        self.actions = actions

    def valid(self, action: str, rnd: random.Random) -> dict[str, Any]:
        schema = _schema(self.version, action)
        payload: dict[str, Any] = self._value(schema, schema, rnd, 0)
        return payload

    def case(self, rnd: random.Random, action: str | None = None) -> Case:
        action = action or rnd.choice(self.actions)
        payload = self.valid(action, rnd)
        if rnd.random() < 0.4:
            return Case(action, _frame(action, payload), None, "valid")
        return self._broken(action, payload, rnd)

    # --- valid values ---------------------------------------------------------------------

    def _value(
        self, schema: dict[str, Any], node: dict[str, Any], rnd: random.Random, depth: int
    ) -> Any:
        node = _resolve(schema, node)
        if "enum" in node:
            return rnd.choice(node["enum"])
        kind = node.get("type")
        if kind == "object":
            required = set(node.get("required", ()))
            return {
                name: self._value(schema, sub, rnd, depth + 1)
                for name, sub in node.get("properties", {}).items()
                if name in required or (depth < 4 and rnd.random() < 0.4)
            }
        if kind == "array":
            low = node.get("minItems", 0)
            high = low if depth >= 4 else min(node.get("maxItems", low + 3), low + 3)
            return [
                self._value(schema, node["items"], rnd, depth + 1)
                for _ in range(rnd.randint(low, high))
            ]
        if kind == "string":
            if node.get("format") == "date-time":
                return rnd.choice(_DATE_TIMES)
            low = node.get("minLength", 0)
            high = max(low, min(node.get("maxLength", 40), 40))
            length = rnd.choice((low, high, rnd.randint(low, high)))
            return "".join(rnd.choice(_ALPHABET) for _ in range(length))
        if kind == "integer":
            # Some 2.1 schemas bound integers with floats (`"minimum": 0.0`).
            low = max(math.ceil(node.get("minimum", INT32_MIN)), INT32_MIN)
            high = min(math.floor(node.get("maximum", INT32_MAX)), INT32_MAX)
            return rnd.choice((low, high, min(max(0, low), high), rnd.randint(low, high)))
        if kind == "number":
            value = rnd.choice(_NUMBERS)
            low, high = node.get("minimum"), node.get("maximum")
            if (low is not None and value < low) or (high is not None and value > high):
                return low if low is not None else high
            return value
        if kind == "boolean":
            return rnd.random() < 0.5
        return None

    # --- one break ------------------------------------------------------------------------

    def _sites(
        self, schema: dict[str, Any], node: dict[str, Any], value: Any, out: list[Site]
    ) -> None:
        node = _resolve(schema, node)
        if isinstance(value, dict):
            for name, sub in node.get("properties", {}).items():
                if name in value:
                    out.append((value, name, _resolve(schema, sub), node))
                    self._sites(schema, sub, value[name], out)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                out.append((value, index, _resolve(schema, node["items"]), None))
                self._sites(schema, node["items"], item, out)

    def _broken(self, action: str, payload: dict[str, Any], rnd: random.Random) -> Case:
        schema = _schema(self.version, action)
        payload = copy.deepcopy(payload)
        root: Site = ({"": payload}, "", schema, None)
        sites: list[Site] = [root]
        self._sites(schema, schema, payload, sites)
        breaks = []
        for site in sites:
            container, key, node, _ = site
            value = container[key]
            if site is not root:
                # A payload that is not an object is a broken frame, not a schema break.
                breaks.append(("nested 40 deep", site))
                if node.get("type") in ("number", "integer"):
                    breaks.append(("NaN", site))
                if node.get("type") in _WRONG_TYPE and "enum" not in node:
                    breaks.append(("wrong type", site))
            if node.get("type") == "object" and node.get("required"):
                breaks.append(("missing required field", site))
            if node.get("type") == "object" and node.get("additionalProperties") is False:
                breaks.append(("unknown field", site))
            if "enum" in node:
                breaks.append(("value not in enum", site))
            if node.get("type") == "string" and "maxLength" in node and "enum" not in node:
                breaks.append(("string too long", site))
            if node.get("type") == "integer":
                breaks.append(("integer beyond 32 bits", site))
            if node.get("type") == "array" and value and node.get("maxItems", 99) < 50:
                breaks.append(("too many items", site))
        how, (container, key, node, _) = rnd.choice(breaks)
        text = None
        if how == "missing required field":
            del container[key][rnd.choice(node["required"])]
            code = "OccurrenceConstraintViolation"
        elif how == "unknown field":
            container[key]["notInTheSchema"] = 1
            code = "FormatViolation"
        elif how == "wrong type":
            container[key] = _WRONG_TYPE[node["type"]]
            code = "TypeConstraintViolation"
        elif how == "value not in enum":
            container[key] = "NotAnEnumValue"
            code = "PropertyConstraintViolation"
        elif how == "string too long":
            container[key] = "x" * (node["maxLength"] + 1)
            code = "TypeConstraintViolation"
        elif how == "integer beyond 32 bits":
            container[key] = rnd.choice((INT32_MAX + 1, INT32_MIN - 1, 10**30, 1e30))
            code = "PropertyConstraintViolation"
        elif how == "NaN":
            container[key] = "@@NAN@@"
            text = _frame(action, payload).replace(
                '"@@NAN@@"', rnd.choice(("NaN", "Infinity", "-Infinity", "1e400"))
            )
            code = "PropertyConstraintViolation"
        elif how == "too many items":
            extra = node["maxItems"] + 1 - len(container[key])
            container[key] = container[key] + [copy.deepcopy(container[key][0])] * extra
            code = "OccurrenceConstraintViolation"
        else:  # nested 40 deep
            container[key] = "@@DEEP@@"
            text = _frame(action, payload).replace('"@@DEEP@@"', "[" * 40 + "]" * 40)
            code = "FormatViolation"
        return Case(action, text or _frame(action, payload), code, how)


def _frame(action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, "@@ID@@", action, payload])


def with_id(case: Case, unique_id: str) -> str:
    """The case's frame carrying `unique_id` (ids must be unique per connection)."""
    return case.text.replace('"@@ID@@"', json.dumps(unique_id), 1)


def outcome(case: Case, answer: list[Any]) -> tuple[str, str | None]:
    """(outcome label, what is wrong with the answer or None)."""
    if answer[0] == 3:
        label = "CALLRESULT"
        if case.expected is not None:
            return label, f"{case.how}: accepted, expected {case.expected}"
        return label, None
    code = answer[2]
    label = f"CALLERROR {code}"
    if code == "InternalError":
        return label, f"{case.how}: InternalError"
    if case.expected is None:
        wrong = None if code in VALID_REFUSALS else f"valid payload refused with {code}"
        return label, wrong
    if code != case.expected:
        return label, f"{case.how}: {code}, expected {case.expected}"
    return label, None
