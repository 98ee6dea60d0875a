"""SwapService from fakes of its ports: the commands a swap sends to the station, by
protocol version, and how station messages and refusals are answered."""

from __future__ import annotations

from typing import Any

import pytest

from csms.blocks.ports import Version
from csms.ocpp_errors import ErrorCode, OcppError
from swap_orchestrator.live import VENDOR_ID, SwapService
from tests.fakes import FakeClock, FakeLinks, FakeSender, FakeWriter
from tests.test_swaplive_api import STATION, battery_swap_events, station_doc, vehicle_doc


def service(version: Version | None = "v21") -> tuple[SwapService, FakeSender, FakeWriter]:
    clock = FakeClock()
    links = FakeLinks(**({STATION: version} if version else {}))
    sender, writer = FakeSender(), FakeWriter()
    swap = SwapService(clock, links, sender, writer)
    swap.add_station(station_doc())
    return swap, sender, writer


def report(swap: SwapService, vehicle: str, stage: str, n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"rsu-{n}",
        "vehicle": vehicle,
        "stage": stage,
        "observed_at": swap.clock().isoformat(),
        **fields,
    }


async def into_bay_and_scanned(swap: SwapService, sender: FakeSender) -> None:
    first = await swap.request_swap(STATION, vehicle_doc("car-1", "V-B1"))
    assert (first.action, first.bay) == ("prepare", 1)
    await swap.perceive(STATION, [report(swap, "car-1", "approach", 1, path_clear=True)])
    told = await swap.vehicle_position("car-1", "ready")
    assert (told.action, told.bay) == ("drive_to_bay", 1)
    await swap.perceive(STATION, [report(swap, "car-1", "bay", 2, lateral_offset_mm=10)])
    await swap.vehicle_position("car-1", "in_bay")
    await sender.wait_for(1)
    assert sender.calls[0] == (
        STATION,
        "DataTransfer",
        {"vendorId": VENDOR_ID, "messageId": "Scan", "data": {"vehicle": "car-1", "bay": 1}},
    )
    await swap.perceive(STATION, [report(swap, "car-1", "bay", 3)])
    scan = {"vehicle": "car-1", "bay": 1, "report": report(swap, "car-1", "underbody", 4)}
    answer = await swap.data_transfer(
        STATION, {"vendorId": VENDOR_ID, "messageId": "ScanDone", "data": scan}
    )
    assert answer == {"status": "Accepted"}
    await sender.wait_for(2)


@pytest.mark.parametrize("version", ["v21", "v201"])
async def test_a_swap_is_requested_in_the_station_protocol_and_its_events_are_written(
    version: Version,
) -> None:
    swap, sender, writer = service(version)
    await into_bay_and_scanned(swap, sender)
    station_id, action, payload = sender.calls[1]
    if version == "v21":
        assert action == "RequestBatterySwap"
        request = payload
    else:
        assert (action, payload["messageId"]) == ("DataTransfer", "RequestBatterySwap")
        request = payload["data"]
    assert station_id == STATION
    assert request["customData"] == {
        "vendorId": VENDOR_ID,
        "bay": 1,
        "batteryOut": "V-B1",
        "batteryIn": "R1",
    }
    for swap_event in battery_swap_events(request):
        assert await swap.on_battery_swap(STATION, swap_event) == {}
        await swap.perceive(STATION, [report(swap, "car-1", "bay", 5)])
    assert swap.instruction("car-1").action == "leave"
    assert swap.view(STATION)["swaps"] == 1
    # Every input's events go to the durable writer before it is answered.
    assert writer.submitted >= 5
    await swap.stop()


async def test_a_refused_swap_holds_the_vehicle_in_the_bay() -> None:
    swap, sender, _ = service("v21")
    sender.answer = lambda _s, action, _p: (
        {"status": "Rejected"} if action == "RequestBatterySwap" else {"status": "Accepted"}
    )
    await into_bay_and_scanned(swap, sender)
    assert swap.instruction("car-1").action == "hold"
    held = [v for v in swap.view(STATION)["visits"] if v["vehicle"] == "car-1"]
    assert held and held[0]["held"]
    await swap.stop()  # the retry after a pause is not part of this test


async def test_battery_swap_for_an_unknown_request_is_a_callerror() -> None:
    swap, _, _ = service()
    swap_event = {"eventType": "BatteryIn", "requestId": 99, "batteryData": []}
    with pytest.raises(OcppError) as refused:
        await swap.on_battery_swap(STATION, swap_event)
    assert refused.value.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


async def test_unknown_vendor_messages_and_bad_data_are_answered_not_raised() -> None:
    swap, sender, _ = service()
    unknown = {"vendorId": VENDOR_ID, "messageId": "Teleport", "data": {}}
    assert await swap.data_transfer(STATION, unknown) == {"status": "UnknownMessageId"}
    broken = {"vendorId": VENDOR_ID, "messageId": "BayStatus", "data": {"bay": 7}}
    answer = await swap.data_transfer(STATION, broken)
    assert answer["status"] == "Rejected"
    assert sender.calls == []
