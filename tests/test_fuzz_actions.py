"""Fuzz every station-to-CSMS action over a real websocket: schema-valid frames and frames
broken in one known way. Each gets a CALLRESULT or the right CALLERROR, never InternalError;
the link stays up, and a neighbour station keeps charging and being billed."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms.app import Csms
from csms.blocks.stations import add_station
from csms.db.models import Transaction
from tests.ocpp_fuzz import STATION_ACTIONS_V201, PayloadGenerator, outcome, with_id
from tests.ocpp_wire import WirePeer, open_peer
from tests.stations import tx_event

PASSWORD = "correct-horse-battery"
GENERATOR = PayloadGenerator()


@dataclass
class Bench:
    fuzzed: WirePeer
    neighbour: WirePeer
    ids: itertools.count[int]
    neighbour_seq: itertools.count[int]


@pytest.fixture
async def bench(csms: Csms) -> AsyncIterator[Bench]:
    await add_station("FUZZ-1", PASSWORD)
    await add_station("NEIGHBOUR", PASSWORD)
    fuzzed = await open_peer(csms, "FUZZ-1", PASSWORD)
    neighbour = await open_peer(csms, "NEIGHBOUR", PASSWORD)
    started = await neighbour.call(
        "TransactionEvent", tx_event("Started", 0, 0, "n-tx", import_wh=0)
    )
    assert started[0] == 3
    yield Bench(fuzzed, neighbour, itertools.count(), itertools.count(1))
    await fuzzed.close()
    await neighbour.close()


@pytest.mark.parametrize("action", STATION_ACTIONS_V201)
@settings(
    max_examples=25,
    deadline=None,
    # One CSMS and one pair of links for all examples: that the link survives them all
    # is part of what is tested.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rnd=st.randoms(use_true_random=False))
async def test_every_frame_gets_a_result_or_the_right_error_and_nothing_breaks(
    bench: Bench, action: str, rnd: random.Random
) -> None:
    case = GENERATOR.case(rnd, action)
    unique_id = f"f{next(bench.ids)}"
    await bench.fuzzed.send_raw(with_id(case, unique_id))
    answer = await bench.fuzzed.expect_call()
    assert answer[1] == unique_id, answer
    _, wrong = outcome(case, answer)
    assert wrong is None, (wrong, case.text[:400], answer)
    assert (await bench.fuzzed.call("Heartbeat", {}))[0] == 3

    seq = next(bench.neighbour_seq)
    update = tx_event("Updated", seq, seq * 0.1, "n-tx", import_wh=seq * 10)
    assert (await bench.neighbour.call("TransactionEvent", update))[0] == 3
    billed = await Transaction.get(station_id="NEIGHBOUR", transaction_id="n-tx")
    assert billed.energy_wh == seq * 10 and billed.data_quality == {}
