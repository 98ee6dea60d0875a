"""The limit detectors live, over real websockets (issue 19): an EVSE far below its limit
while its ISO 15118 car asks for more (the car's NotifyEVChargingNeeds and the
transaction's chargingState say so), and an EVSE that draws over its rated power where no
profile of the planner is in force (the station refuses smart charging). Emulated stations
under a grid topology, on SQLite and PostgreSQL; healthy peers raise nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from charge_point_emulator.clock import SimClock
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.faults import Fault, FaultKind
from charge_point_emulator.scenario import EvseSpec
from charge_point_emulator.station import EmulatedStation
from csms.analytics.ev_demand import ev_max_w, needs_max_w
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station
from csms.db.models import Alert
from csms.grid.live_state import save_topology
from csms.grid.topology import loads_topology
from tests.test_live_topology import topology_toml
from tests.waiting import eventually

PASSWORD = "emulated-station-password"
SPEED = 600.0
EVSE_W = 22_000.0
#: An ISO 15118 car that would take 22 kW for hours.
CAR = EvSpec(capacity_wh=100_000, max_ac_w=EVSE_W, iso15118=True)

StationFactory = Callable[..., Awaitable[EmulatedStation]]


@pytest.fixture
async def make_station(csms: Csms) -> AsyncIterator[StationFactory]:
    started: list[EmulatedStation] = []

    async def factory(station_id: str, *faults: Fault) -> EmulatedStation:
        await add_station(station_id, PASSWORD)
        station = EmulatedStation(
            station_id,
            PASSWORD,
            f"ws://127.0.0.1:{csms.ocpp_port}/ocpp",
            evses=(EvseSpec(max_power_w=EVSE_W),),
            clock=SimClock(SPEED),
            sample_interval_s=60,
            tick_real_s=0.02,
            response_timeout_s=3.0,
            faults=faults,
        )
        started.append(station)
        await station.start()
        await station.wait_until(lambda: station.online, within_s=30)
        return station

    yield factory
    for station in started:
        await station.stop()


async def grid(csms: Csms, stations: list[str], evse_kw: float) -> None:
    text = topology_toml(
        {sid: "site-a" for sid in stations}, transformer_w=1_000_000, evse_kw=evse_kw
    )
    _, document = loads_topology(text)
    await save_topology(document, csms.clock())
    await csms.plan_state.topology()  # the ratings the analytics read, now


async def alerts(station_id: str, kind: str) -> list[Alert]:
    return await Alert.filter(station_id=station_id, kind=kind)


async def test_far_below_the_limit_while_the_car_asks_for_more_is_alerted(
    csms: Csms, make_station: StationFactory
) -> None:
    await grid(csms, ["WEAK-1", "FINE-1"], evse_kw=22)
    await add_token("RFID-UL")
    weak = await make_station("WEAK-1", Fault(FaultKind.UNDER_DELIVERY, at_s=600.0, evse=1))
    fine = await make_station("FINE-1")
    for station in (weak, fine):
        station.arrive(1, CAR, 0.2, 0.9, 6 * 3600, "RFID-UL")

    async def alerted() -> bool:
        return bool(await alerts("WEAK-1", "under_limit"))

    await eventually(alerted)
    [alert] = await alerts("WEAK-1", "under_limit")
    assert alert.readings["ev_max_w"] > 20_000  # what the car announced, within the rating
    assert alert.readings["power_w"] < 0.5 * min(alert.readings["limit_w"], EVSE_W)
    assert "under 50%" in alert.reason
    # The healthy peer, with the same car, raised nothing.
    await csms.safety.drained()
    assert await Alert.filter(station_id="FINE-1").count() == 0


async def test_over_the_rated_power_without_a_profile_is_alerted(
    csms: Csms, make_station: StationFactory
) -> None:
    # Rated 15 kW in the topology, the hardware gives 22 kW; it refuses smart charging, so
    # no profile of the planner is in force: the rating is the limit it breaks.
    await grid(csms, ["HOG-1"], evse_kw=15)
    await add_token("RFID-OL")
    hog = await make_station("HOG-1", Fault(FaultKind.NO_SMART_CHARGING))
    hog.arrive(1, CAR, 0.2, 0.9, 6 * 3600, "RFID-OL")

    async def alerted() -> bool:
        return bool(await alerts("HOG-1", "over_limit"))

    await eventually(alerted)
    [alert] = await alerts("HOG-1", "over_limit")
    assert alert.readings["limit_w"] == 15_000.0
    assert alert.readings["power_w"] > alert.threshold > 15_000.0
    assert "rated limit" in alert.reason
    assert csms.planner.installed_limit_w("HOG-1", 1, alert.transaction_id, alert.raised_at) is None


@pytest.mark.parametrize(
    ("state", "announced", "rating", "expected"),
    [
        ("Charging", 22_000.0, 11_000.0, 11_000.0),
        ("Charging", 7_400.0, 22_000.0, 7_400.0),
        ("Charging", None, 22_000.0, None),  # an AC car may want less: unknown
        ("SuspendedEVSE", None, 22_000.0, 22_000.0),
        ("SuspendedEV", 22_000.0, 22_000.0, None),
        ("EVConnected", 22_000.0, 22_000.0, None),
        (None, 22_000.0, None, 22_000.0),
    ],
)
def test_what_the_ev_asks_for(
    state: str | None, announced: float | None, rating: float | None, expected: float | None
) -> None:
    assert ev_max_w(state, announced, rating) == expected


def test_needs_max_power_from_ac_dc_and_v2x_needs() -> None:
    ac = {
        "requestedEnergyTransfer": "AC_single_phase",
        "acChargingParameters": {
            "energyAmount": 1,
            "evMinCurrent": 6,
            "evMaxCurrent": 32,
            "evMaxVoltage": 230,
        },
    }
    assert needs_max_w({"chargingNeeds": ac}) == 32 * 230
    dc = {"dcChargingParameters": {"evMaxCurrent": 100, "evMaxVoltage": 400, "evMaxPower": 50_000}}
    assert needs_max_w({"chargingNeeds": dc}) == 50_000
    assert needs_max_w({"chargingNeeds": {"v2xChargingParameters": {"maxChargePower": 9e3}}}) == 9e3
    assert needs_max_w({"chargingNeeds": {"requestedEnergyTransfer": "DC"}}) is None
