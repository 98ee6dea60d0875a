"""Fuzz every station-to-CSMS action over a real websocket: schema-valid frames and frames
broken in one known way. Each gets a CALLRESULT or the right CALLERROR, never InternalError;
the link stays up, and a neighbour station keeps charging and being billed."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from csms.app import Csms
from csms.blocks.stations import add_station
from csms.db.models import Transaction
from tests.ocpp_fuzz import (
    STATION_ACTIONS_V21,
    STATION_ACTIONS_V201,
    PayloadGenerator,
    outcome,
    with_id,
)
from tests.ocpp_wire import WirePeer, open_peer
from tests.stations import tx_event

PASSWORD = "correct-horse-battery"


@dataclass
class Bench:
    generator: PayloadGenerator
    fuzzed: WirePeer
    neighbour: WirePeer
    ids: itertools.count[int]
    neighbour_seq: itertools.count[int]


@pytest.fixture
async def bench(csms: Csms, request: pytest.FixtureRequest) -> AsyncIterator[Bench]:
    await add_station("FUZZ-1", PASSWORD)
    await add_station("NEIGHBOUR", PASSWORD)
    fuzzed = await open_peer(csms, "FUZZ-1", PASSWORD, request.param)
    neighbour = await open_peer(csms, "NEIGHBOUR", PASSWORD)
    started = await neighbour.call(
        "TransactionEvent", tx_event("Started", 0, 0, "n-tx", import_wh=0)
    )
    assert started[0] == 3
    version = "v21" if request.param == "ocpp2.1" else "v201"
    generator = PayloadGenerator(
        version, STATION_ACTIONS_V21 if version == "v21" else STATION_ACTIONS_V201
    )
    yield Bench(generator, fuzzed, neighbour, itertools.count(), itertools.count(1))
    await fuzzed.close()
    await neighbour.close()


# One CSMS and one pair of links for all examples: that the links survive them all is part
# of what is tested.
FUZZ_SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def every_action(actions: tuple[str, ...]) -> Callable[[Any], Any]:
    """Explicit examples so that each action is fuzzed, whatever hypothesis draws."""

    def decorate(test: Any) -> Any:
        for index, action in enumerate(actions):
            test = example(action=action, seed=index)(test)
        return test

    return decorate


@pytest.mark.parametrize("bench", ["ocpp2.0.1"], indirect=True)
@FUZZ_SETTINGS
@every_action(STATION_ACTIONS_V201)
@given(action=st.sampled_from(STATION_ACTIONS_V201), seed=st.integers(0, 2**32))
async def test_every_ocpp201_action_gets_a_result_or_the_right_error(
    bench: Bench, action: str, seed: int
) -> None:
    await fuzz_once(bench, action, seed)


@pytest.mark.parametrize("bench", ["ocpp2.1"], indirect=True)
@FUZZ_SETTINGS
@every_action(STATION_ACTIONS_V21)
@given(action=st.sampled_from(STATION_ACTIONS_V21), seed=st.integers(0, 2**32))
async def test_every_ocpp21_action_gets_a_result_or_the_right_error(
    bench: Bench, action: str, seed: int
) -> None:
    await fuzz_once(bench, action, seed)


async def fuzz_once(bench: Bench, action: str, seed: int) -> None:
    """One fuzzed frame: the right answer, the link still up, the neighbour still billed."""
    case = bench.generator.case(random.Random(seed), action)
    unique_id = f"f{next(bench.ids)}"
    await bench.fuzzed.send_raw(with_id(case, unique_id))
    answer = await bench.fuzzed.expect_answer()
    assert answer[1] == unique_id, answer
    _, wrong = outcome(case, answer)
    assert wrong is None, (wrong, case.text[:400], answer)
    assert (await bench.fuzzed.call("Heartbeat", {}))[0] == 3

    seq = next(bench.neighbour_seq)
    update = tx_event("Updated", seq, seq * 0.1, "n-tx", import_wh=seq * 10)
    assert (await bench.neighbour.call("TransactionEvent", update))[0] == 3
    billed = await Transaction.get(station_id="NEIGHBOUR", transaction_id="n-tx")
    assert billed.energy_wh == seq * 10 and billed.data_quality == {}
