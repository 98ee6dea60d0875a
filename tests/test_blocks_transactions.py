"""Transactions over a real websocket: stored before acknowledged, once, in seqNo order."""

from __future__ import annotations

import asyncio

import pytest

from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station
from csms.db.models import MeterValue, Transaction, TransactionEvent
from tests.ocpp_wire import WirePeer, open_peer
from tests.stations import at, tx_event

PASSWORD = "correct-horse-battery"


async def send(peer: WirePeer, payload: dict[str, object]) -> dict[str, object]:
    answer = await peer.call("TransactionEvent", payload)
    assert answer[0] == 3, answer
    result: dict[str, object] = answer[2]
    return result


async def test_started_updated_ended_is_stored_with_energy_and_stop_reason(peer: WirePeer) -> None:
    await add_token("TOKEN-1")
    answer = await send(
        peer, tx_event("Started", 0, 0, import_wh=1000, id_token="TOKEN-1", remote_start_id=7)
    )
    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    await send(peer, tx_event("Updated", 1, 15, import_wh=3750))
    await send(peer, tx_event("Ended", 2, 30, import_wh=6500, stopped_reason="EVDisconnected"))
    row = await Transaction.get(station_id="CS-1", transaction_id="tx-1")
    assert row.state == "ended"
    assert row.energy_wh == pytest.approx(5500)
    assert row.stopped_reason == "EVDisconnected"
    assert row.remote_start_id == 7
    assert row.id_token == "TOKEN-1"
    assert row.seq_gaps == []
    assert await TransactionEvent.filter(transaction_id="tx-1").count() == 3
    assert await MeterValue.filter(transaction_id="tx-1").count() == 3


async def test_same_seq_no_twice_is_stored_once_and_still_answered(peer: WirePeer) -> None:
    await send(peer, tx_event("Started", 0, 0, import_wh=0))
    update = tx_event("Updated", 1, 5, import_wh=900)
    await send(peer, update)
    await send(peer, update)
    assert await TransactionEvent.filter(transaction_id="tx-1", seq_no=1).count() == 1
    assert await MeterValue.filter(transaction_id="tx-1").count() == 2
    assert (await Transaction.get(transaction_id="tx-1")).energy_wh == pytest.approx(900)


async def test_offline_events_in_any_order_are_stored_and_gaps_recorded(peer: WirePeer) -> None:
    events = [
        tx_event("Updated", 3, 45, import_wh=9000, offline=True),
        tx_event("Started", 0, 0, import_wh=1000, offline=True),
        tx_event("Ended", 5, 75, import_wh=12000, offline=True, stopped_reason="Local"),
        tx_event("Updated", 1, 15, import_wh=4000, offline=True),
    ]
    for event in events:
        await send(peer, event)
    row = await Transaction.get(transaction_id="tx-1")
    assert row.state == "ended"
    assert row.energy_wh == pytest.approx(11000)
    assert row.seq_gaps == [[2, 2], [4, 4]]
    stored = await TransactionEvent.filter(transaction_id="tx-1").order_by("seq_no")
    assert [event.seq_no for event in stored] == [0, 1, 3, 5]
    assert all(event.offline for event in stored)
    await send(peer, tx_event("Updated", 2, 30, import_wh=6000, offline=True))
    assert (await Transaction.get(transaction_id="tx-1")).seq_gaps == [[4, 4]]


async def test_energy_in_kwh_and_discharge_from_export_register(peer: WirePeer) -> None:
    await send(peer, tx_event("Started", 0, 0, import_wh=20_000, export_wh=5_000, unit="kWh"))
    await send(peer, tx_event("Updated", 1, 30, import_wh=27_500, export_wh=5_000, unit="kWh"))
    await send(peer, tx_event("Ended", 2, 60, import_wh=27_500, export_wh=9_250, unit="kWh"))
    row = await Transaction.get(transaction_id="tx-1")
    assert row.energy_wh == pytest.approx(7500)
    assert row.discharged_wh == pytest.approx(4250)


async def test_unknown_and_blocked_tokens_get_their_status(peer: WirePeer) -> None:
    await add_token("BLOCKED-1", status="Blocked")
    blocked = await send(peer, tx_event("Started", 0, 0, "tx-a", id_token="BLOCKED-1"))
    assert blocked == {"idTokenInfo": {"status": "Blocked"}}
    unknown = await send(peer, tx_event("Started", 0, 0, "tx-b", id_token="NOBODY"))
    assert unknown == {"idTokenInfo": {"status": "Unknown"}}


async def test_transactions_of_two_stations_do_not_mix(csms: Csms, peer: WirePeer) -> None:
    await add_station("CS-2", PASSWORD)
    other = await open_peer(csms, "CS-2", PASSWORD)
    await send(peer, tx_event("Started", 0, 0, "same-id", import_wh=0))
    await send(other, tx_event("Started", 0, 0, "same-id", import_wh=100))
    await send(other, tx_event("Ended", 1, 10, "same-id", import_wh=600))
    assert (await Transaction.get(station_id="CS-1", transaction_id="same-id")).state == "active"
    ended = await Transaction.get(station_id="CS-2", transaction_id="same-id")
    assert ended.state == "ended" and ended.energy_wh == pytest.approx(500)
    await other.close()


async def test_meter_values_outside_transactions_are_stored_normalised(peer: WirePeer) -> None:
    answer = await peer.call(
        "MeterValues",
        {
            "evseId": 2,
            "meterValue": [
                {
                    "timestamp": "2026-11-24T08:00:00Z",
                    "sampledValue": [
                        {"value": 12.5, "unitOfMeasure": {"unit": "kWh"}},
                        {
                            "value": 7.2,
                            "measurand": "Power.Active.Import",
                            "unitOfMeasure": {"unit": "kW"},
                        },
                    ],
                }
            ],
        },
    )
    assert answer[0] == 3 and answer[2] == {}
    rows = await MeterValue.filter(station_id="CS-1", evse_id=2).order_by("measurand")
    assert [(r.measurand, r.value, r.unit) for r in rows] == [
        ("Energy.Active.Import.Register", 12500.0, "Wh"),
        ("Power.Active.Import", 7200.0, "W"),
    ]


async def test_ended_event_carrying_the_begin_reading_counts_the_whole_session(
    peer: WirePeer,
) -> None:
    """Stations send Transaction.Begin/End readings in Ended (SampledDataTxEndedMeasurands)."""
    await send(peer, tx_event("Started", 0, 0))
    await send(peer, tx_event("Updated", 1, 15, import_wh=3000))
    ended = tx_event("Ended", 2, 30, stopped_reason="Local")
    ended["meterValue"] = [
        {"timestamp": at(0), "sampledValue": [{"value": 1000, "context": "Transaction.Begin"}]},
        {"timestamp": at(30), "sampledValue": [{"value": 5000, "context": "Transaction.End"}]},
    ]
    await send(peer, ended)
    assert (await Transaction.get(transaction_id="tx-1")).energy_wh == pytest.approx(4000)


async def test_readings_at_the_ev_or_inlet_do_not_count_as_delivered_energy(
    peer: WirePeer,
) -> None:
    started = tx_event("Started", 0, 0, import_wh=1000)
    started["meterValue"][0]["sampledValue"].append({"value": 90_000, "location": "EV"})
    await send(peer, started)
    await send(peer, tx_event("Ended", 1, 30, import_wh=2500))
    assert (await Transaction.get(transaction_id="tx-1")).energy_wh == pytest.approx(1500)


async def test_far_apart_seq_nos_cost_nothing_and_are_recorded_as_one_gap(peer: WirePeer) -> None:
    await send(peer, tx_event("Started", 0, 0))
    await send(peer, tx_event("Updated", 2**31 - 1, 5))
    assert (await Transaction.get(transaction_id="tx-1")).seq_gaps == [[1, 2**31 - 2]]


async def test_scattered_seq_nos_beyond_the_bound_are_refused_not_stored(peer: WirePeer) -> None:
    from csms.blocks.transaction_state import MAX_SEQ_RANGES

    for index in range(MAX_SEQ_RANGES):
        await send(peer, tx_event("Updated", index * 2, index))
    answer = await peer.call("TransactionEvent", tx_event("Updated", MAX_SEQ_RANGES * 2, 999))
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"
    assert await TransactionEvent.filter(transaction_id="tx-1").count() == MAX_SEQ_RANGES
    assert (await peer.call("Heartbeat", {}))[0] == 3


async def test_impossible_multiplier_is_refused_with_a_clear_code(peer: WirePeer) -> None:
    event = tx_event("Started", 0, 0, import_wh=1)
    event["meterValue"][0]["sampledValue"][0]["unitOfMeasure"]["multiplier"] = 400
    answer = await peer.call("TransactionEvent", event)
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"


async def test_lowercase_z_timestamps_are_accepted(peer: WirePeer) -> None:
    event = tx_event("Started", 0, 0, import_wh=0)
    event["timestamp"] = event["timestamp"].replace("Z", "z")
    await send(peer, event)
    assert await Transaction.filter(transaction_id="tx-1").exists()


async def test_a_refused_event_never_splits_the_other_stations_group_commit(
    csms: Csms, peer: WirePeer, caplog: pytest.LogCaptureFixture
) -> None:
    from csms.blocks.transaction_state import MAX_SEQ_RANGES

    for index in range(MAX_SEQ_RANGES):
        await send(peer, tx_event("Updated", index * 2, index))
    others = []
    for n in range(2, 6):
        await add_station(f"CS-{n}", PASSWORD)
        others.append(await open_peer(csms, f"CS-{n}", PASSWORD))
    # A window long enough that the five concurrent events share one batch.
    csms.writer.window = 1.0
    batches = csms.writer.batches
    answers = await asyncio.gather(
        peer.call("TransactionEvent", tx_event("Updated", MAX_SEQ_RANGES * 2, 999)),
        *(other.call("TransactionEvent", tx_event("Started", 0, 0)) for other in others),
    )
    assert answers[0][0] == 4 and answers[0][2] == "PropertyConstraintViolation"
    assert all(answer[0] == 3 for answer in answers[1:])
    assert await Transaction.filter(station_id__in=["CS-2", "CS-3", "CS-4", "CS-5"]).count() == 4
    # A failed batch would be retried op by op: one commit per station.
    assert "retrying one by one" not in caplog.text
    assert csms.writer.batches - batches < len(others)
    for other in others:
        await other.close()


async def test_a_queue_replayed_newest_first_is_folded_outside_the_commit(
    csms: Csms, peer: WirePeer
) -> None:
    # 11 kW for 5 hours, a reading every 15 minutes, the register reset once at sample 7.
    readings = [5000.0 + 2750 * n for n in range(21)]
    readings[7] = 0.0
    kinds = ["Started"] + ["Updated"] * 19 + ["Ended"]
    events = [
        tx_event(kind, n, 15 * n, import_wh=wh, offline=True)
        for n, (kind, wh) in enumerate(zip(kinds, readings, strict=True))
    ]
    for event in reversed(events):
        await send(peer, event)
    row = await Transaction.get(transaction_id="tx-1")
    assert row.energy_wh == pytest.approx(2750 * 20)
    assert row.data_quality == {"decreasing_register": 1}
    assert row.state == "ended" and row.seq_gaps == []
    # Every late event found its state cached and was folded before its write op.
    assert csms.transactions.refolds_in_commit == 0
